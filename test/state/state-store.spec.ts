import { randomBytes } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { loadConfig } from '../../src/config/config';
import { openDatabase } from '../../src/database/data-source';
import { batchRootV2, stateRoot, verifyStateProof } from '../../src/state/custody-state';
import { StateStore, proofAt, recordsAt, type StateRecord } from '../../src/state/state-store';
import { dropSchema } from '../support/test-ledger';

const hex32 = (): string => '0x' + randomBytes(32).toString('hex');

/**
 * The PostgreSQL-backed state map against the reference implementation: after every batch the
 * stored root is stateRoot() over every record, and proofs made against the latest and against
 * older states verify. More than ten batches, so ordering by seq is exercised past one digit.
 */
describe('state store: custody-state/1 in the database equals the reference, batch after batch', () => {
  let ds: DataSource;
  const schema = `t_state_${randomBytes(4).toString('hex')}`;
  const store = new StateStore();
  const all = new Map<string, string>();
  const roots = new Map<string, string>();

  beforeAll(async () => {
    const url = process.env.DATABASE_URL;
    ds = await openDatabase(loadConfig({ NODE_ENV: 'test', ADMIN_API_KEY: 'x'.repeat(40), ...(url ? { DATABASE_URL: url, DATABASE_SCHEMA: schema } : { PGLITE_IN_MEMORY: '1' }) }).database);
  });

  afterAll(async () => {
    await ds?.destroy();
    if (process.env.DATABASE_URL) await dropSchema(process.env.DATABASE_URL, schema);
  });

  async function seal(seq: number, records: StateRecord[]): Promise<string> {
    const runner = ds.createQueryRunner();
    await runner.connect();
    await runner.startTransaction();
    try {
      const { root } = await store.apply(runner, String(seq), records);
      const eventsRoot = hex32();
      await runner.query(`INSERT INTO anchor_batches (seq, root, leaf_count, tree_version, events_root, state_root, state_changes) VALUES ($1, $2, 1, 2, $3, $4, $5)`, [seq, batchRootV2(eventsRoot, root), eventsRoot, root, records.length]);
      await runner.commitTransaction();
      return root;
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  }

  const record = (key: string, valueHash: string): StateRecord => ({ kind: 'SHIPMENT', key, valueHash, shipmentId: '00000000-0000-4000-8000-000000000000', carrier: 'c', trackingNumber: key.slice(2, 12), headLeaf: valueHash, eventCount: 1 });

  it('matches stateRoot() after each of 14 batches of new and changed records, including one that rolled back', async () => {
    for (let seq = 0; seq < 14; seq++) {
      const records: StateRecord[] = [];
      // new keys, some sharing their first 16 bits with others (one bucket holds several), and changed ones
      const known = [...all.keys()];
      for (let i = 0; i < 150; i++) records.push(record(hex32(), hex32()));
      for (let i = 0; i < 20; i++) records.push(record('0x' + 'abcd' + randomBytes(30).toString('hex'), hex32()));
      for (let i = 0; i < Math.min(60, known.length); i++) records.push(record(known[(i * 7919 + seq) % known.length], hex32()));
      const unique = [...new Map(records.map((r) => [r.key, r])).values()];
      if (seq === 6) {
        // a sealing transaction that fails after the state was computed leaves no trace
        const runner = ds.createQueryRunner();
        await runner.connect();
        await runner.startTransaction();
        await store.apply(runner, String(seq), [record(hex32(), hex32())]);
        await runner.rollbackTransaction();
        await runner.release();
      }
      const root = await seal(seq, unique);
      for (const r of unique) all.set(r.key, r.valueHash);
      roots.set(String(seq), root);
      expect({ seq, root }).toEqual({ seq, root: stateRoot([...all].map(([key, valueHash]) => ({ key, valueHash }))) });
    }
  });

  it('proves records against the latest state and against an older one', async () => {
    const keys = [...all.keys()];
    for (const [seq, sample] of [['13', keys.slice(-40)], ['4', keys.slice(0, 40)]] as const) {
      const rows = await recordsAt(ds, sample, seq);
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        const proof = await proofAt(ds, r.key, seq, roots.get(seq)!);
        expect(verifyStateProof(roots.get(seq)!, r.key, r.value_hash, proof)).toBe(true);
        expect(verifyStateProof(roots.get(seq === '13' ? '4' : '13')!, r.key, r.value_hash, proof)).toBe(false);
      }
    }
  });
});
