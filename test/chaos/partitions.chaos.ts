import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Wallet } from 'ethers';
import { sqlRows } from '../../src/database/data-source';
import { PARTITION_WIDTH } from '../../src/database/partitions';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, TEST_ADMIN_KEY, type TestLedger } from '../support/test-ledger';
import { sealAndFinalize } from '../support/pod-fixtures';
import { createShipment, eventFields, fetchDomain, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * Issue 10, partitions under load: the archive command detaches a range CONCURRENTLY (another
 * process, the operator's) and the sealer splits the tail into a new range while devices keep
 * sending events. Not one event may fail or go missing.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
const run = promisify(execFile);

describe('partition archive and maintenance while ingesting (chaos)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let key: Wallet;
  let n = 0;
  const q = <T>(sql: string, params: unknown[] = []): Promise<T[]> => sqlRows<T>(t.ledger.runtime.dataSource, sql, params);

  /** Devices sending scans, one call after the other, until `stop` resolves; every outcome. */
  async function ingestUntil(stop: Promise<unknown>): Promise<string[]> {
    let done = false;
    void stop.finally(() => (done = true));
    const outcomes: string[] = [];
    while (!done || outcomes.length < 5) {
      const tracking = `CHAOS-P${n++}`;
      await createShipment(t, tracking, 'acme-parts');
      const [r] = await record(t, [await signEvent(domain, key, eventFields({ trackingNumber: tracking, carrier: 'acme-parts', eventType: 'PICKED_UP', custodian: 'acme-parts' }))]);
      outcomes.push(r.error?.code ?? r.outcome);
    }
    return outcomes;
  }

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-parts', 'CARRIER');
    key = await registerKey(t, 'acme-parts', newWallet());
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('the archive command detaches a FINAL range CONCURRENTLY while events keep arriving; none fails, none is lost', async () => {
    await ingestUntil(Promise.resolve());
    await q(`SELECT setval(pg_get_serial_sequence('custody_events', 'id'), $1)`, [PARTITION_WIDTH + 10]);
    await ingestUntil(Promise.resolve());
    await sealAndFinalize(t);
    const before = (await q<{ n: number }>(`SELECT count(*)::int AS n FROM custody_events_p0`))[0].n;
    expect(before).toBe(5);

    const database = t.ledger.runtime.config.database;
    if (database.kind !== 'postgres') throw new Error('the chaos suite runs on PostgreSQL');
    const detach = run(process.execPath, [path.join('node_modules', '.bin', 'ts-node'), '--transpile-only', 'scripts/archive-partition.ts', 'detach', 'p0'], {
      env: { ...process.env, DATABASE_URL: url, DATABASE_SCHEMA: database.schema, ADMIN_API_KEY: TEST_ADMIN_KEY, NODE_ENV: 'test' },
    });
    const outcomes = await ingestUntil(detach);
    const { stdout } = await detach;
    expect(stdout).toMatch(/^detached p0 \(ids 0 \.\. 1000000\): 5 events and 5 proofs/);
    expect(new Set(outcomes)).toEqual(new Set(['ACCEPTED']));
    // every event sent during the detach is stored (in range 1), and sealed like any other
    const [{ stored }] = await q<{ stored: number }>(`SELECT count(*)::int AS stored FROM custody_events WHERE tracking_number LIKE 'CHAOS-P%'`);
    expect(stored).toBe(n - before);
    await sealAndFinalize(t);
    expect(await q(`SELECT count(*)::int AS n FROM custody_events WHERE batch_seq IS NULL`)).toEqual([{ n: 0 }]);
  }, 120_000);

  it('the sealer splits the tail into a new range while events keep arriving; none fails', async () => {
    // ids that ran past the ranges (as if the sealer had been down): they are in the tail
    await q(`SELECT setval(pg_get_serial_sequence('custody_events', 'id'), $1)`, [3 * PARTITION_WIDTH + 10]);
    await ingestUntil(Promise.resolve());
    expect((await q<{ n: number }>(`SELECT count(*)::int AS n FROM custody_events_tail`))[0].n).toBeGreaterThanOrEqual(5);
    const sealing = sealAndFinalize(t);
    const outcomes = await ingestUntil(sealing);
    expect(new Set(outcomes)).toEqual(new Set(['ACCEPTED']));
    const parts = await q<{ part: string }>(`SELECT DISTINCT tableoid::regclass::text AS part FROM custody_events WHERE id > $1`, [3 * PARTITION_WIDTH]);
    expect(parts.map((p) => p.part).sort()).toEqual(['custody_events_p3']);
    expect(await q(`SELECT count(*)::int AS n FROM custody_events WHERE tracking_number LIKE 'CHAOS-P%'`)).toEqual([{ n: n - 5 }]);
  }, 120_000);
});
