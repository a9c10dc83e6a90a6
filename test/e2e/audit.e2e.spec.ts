import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { JsonRpcProvider, Wallet, type Wallet as WalletType } from 'ethers';
import type { DataSource } from 'typeorm';
import { deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { ChainClient } from '../../src/anchoring/chain-client';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { auditAnchors, type AuditChain, type AuditReport } from '../../src/audit/anchor-audit';
import { sealAndAnchor } from '../../src/bootstrap';
import type { DatabaseConfig } from '../../src/config/config';
import { openDatabase, sqlRows } from '../../src/database/data-source';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { ExternalNode } from '../support/external-node';
import { dropSchema, startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/** Hardhat's dev account #1: the anchorer; #0 deploys and administers roles. */
const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const ROOT = path.resolve(__dirname, '../..');
const HOUR = 3_600_000;

function runCli(args: string[]): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/custody.js'), 'audit', ...args], { env: { PATH: process.env.PATH }, cwd: ROOT });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ stdout, stderr, code })));
}

const AUDIT_QUERY = `query($from: Uint64, $to: Uint64, $sealed: Int, $pending: Int) {
  auditAnchors(fromSeq: $from, toSeq: $to, sealedSlaMinutes: $sealed, pendingSlaMinutes: $pending) {
    ok fromSeq toSeq batchesChecked eventsChecked chainId contractAddress problems { code severity seq eventId message }
  }
}`;

describe('auditing the anchors: ledger, chain, GraphQL and the custody audit CLI', () => {
  const node = new ExternalNode();
  let provider: JsonRpcProvider;
  let contractAddress: string;
  let t: TestLedger;
  let running = false;
  let database: DatabaseConfig;
  let dataDir: string;
  let domain: CustodySigningDomain;
  let device: WalletType;
  const SLA = { sealedSlaMs: HOUR, pendingSlaMs: HOUR };
  /** event ids per batch, in recording order */
  const batches: string[][] = [];
  let pendingEventId: string;

  const audit = (opts: Partial<Parameters<typeof auditAnchors>[2]> = {}, chain: AuditChain = t.ledger.runtime.chain): Promise<AuditReport> =>
    auditAnchors(t.ledger.runtime.dataSource, chain, { ...SLA, ...opts });
  const sql = <T>(text: string, params: unknown[] = []): Promise<T[]> => sqlRows<T>(t.ledger.runtime.dataSource, text, params);
  const gqlAudit = async (vars: Record<string, unknown> = {}): Promise<AuditReport> => (await mustGql<{ auditAnchors: AuditReport }>(t, AUDIT_QUERY, vars)).auditAnchors;
  const codesFor = (r: AuditReport, seq: string): string[] => r.problems.filter((p) => p.seq === seq).map((p) => p.code).sort();

  beforeAll(async () => {
    await node.start();
    await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    contractAddress = (await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address })).address;
    // PGlite on disk (so the CLI can open it once the service stops), or a schema of the PostgreSQL at DATABASE_URL
    t = await startTestLedger({ CHAIN_RPC_URL: node.url, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, ANCHOR_CONTRACT_ADDRESS: contractAddress, CONFIRMATIONS: '1', PGLITE_IN_MEMORY: '0' });
    running = true;
    database = t.ledger.runtime.config.database;
    dataDir = t.ledger.runtime.config.dataDir;
    domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-express', 'CARRIER');
    device = await registerKey(t, 'acme-express');
    for (const n of ['AUD001', 'AUD002', 'AUD003']) await createShipment(t, n, 'acme-express');
  }, 60_000);

  afterAll(async () => {
    if (running) await t.ledger.close();
    if (database?.kind === 'postgres') await dropSchema(process.env.DATABASE_URL!, database.schema);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    provider?.destroy();
    await node.stop();
  });

  const t0 = Date.now() - 10 * HOUR;
  let minute = 0;
  const sign = async (trackingNumber: string, eventType: string) =>
    signEvent(domain, device, eventFields({ trackingNumber, carrier: 'acme-express', custodian: 'acme-express', eventType, occurredAt: BigInt(t0 + ++minute * 60_000) }));
  const recordAll = async (events: Array<[string, string]>): Promise<string[]> => {
    const signed = [];
    for (const [n, type] of events) signed.push(await sign(n, type));
    const results = await record(t, signed);
    expect(results.map((r) => r.outcome)).toEqual(signed.map(() => 'ACCEPTED'));
    return signed.map((s) => s.eventId);
  };

  it('passes a clean ledger with three anchored batches, with exact counts, in range and over GraphQL', async () => {
    batches.push(await recordAll([['AUD001', 'PICKED_UP'], ['AUD002', 'PICKED_UP']]));
    await sealAndAnchor(t.ledger);
    batches.push(await recordAll([['AUD001', 'ARRIVED_AT_FACILITY'], ['AUD002', 'ARRIVED_AT_FACILITY'], ['AUD003', 'PICKED_UP']]));
    await sealAndAnchor(t.ledger);
    batches.push(await recordAll([['AUD001', 'DEPARTED_FACILITY'], ['AUD003', 'ARRIVED_AT_FACILITY'], ['AUD002', 'DEPARTED_FACILITY'], ['AUD001', 'OUT_FOR_DELIVERY']]));
    await sealAndAnchor(t.ledger);
    const rows = await sql<{ seq: string; status: string; leaf_count: number }>(`SELECT seq, status, leaf_count FROM anchor_batches ORDER BY seq`);
    expect(rows).toEqual([
      { seq: '0', status: 'FINAL', leaf_count: 2 },
      { seq: '1', status: 'FINAL', leaf_count: 3 },
      { seq: '2', status: 'FINAL', leaf_count: 4 },
    ]);

    const progress: Array<[number, number]> = [];
    const report = await audit({ onProgress: (done, total) => progress.push([done, total]) });
    expect(report).toEqual({
      ok: true,
      fromSeq: '0',
      toSeq: '2',
      batchesChecked: 3,
      eventsChecked: 9,
      chainId: '31337',
      contractAddress,
      problems: [],
    });
    expect(progress).toEqual([[0, 3], [1, 3], [2, 3], [3, 3]]);
    expect(await audit({ fromSeq: 1n, toSeq: 1n })).toMatchObject({ ok: true, fromSeq: '1', toSeq: '1', batchesChecked: 1, eventsChecked: 3 });
    expect(await gqlAudit()).toEqual(report);
    expect(await gqlAudit({ from: '2' })).toMatchObject({ ok: true, fromSeq: '2', toSeq: '2', batchesChecked: 1, eventsChecked: 4 });
  });

  it('reports an event row changed in the database as LEAF_MISMATCH naming the batch and the event', async () => {
    const victim = batches[1][1];
    const [{ location_code }] = await sql<{ location_code: string }>(`SELECT location_code FROM custody_events WHERE event_id = $1`, [victim]);
    await sql(`UPDATE custody_events SET location_code = 'TAMPERED' WHERE event_id = $1`, [victim]);
    try {
      const report = await audit();
      expect(report.ok).toBe(false);
      expect(report.problems).toHaveLength(1);
      expect(report.problems[0]).toMatchObject({ code: 'LEAF_MISMATCH', severity: 'ERROR', seq: '1', eventId: victim });
      expect(report.problems[0].message).toContain('batch 1');
      expect(report.problems[0].message).toContain(victim);
      expect(report.problems[0].message).toMatch(/digest/);
      expect(await gqlAudit()).toEqual(report);
    } finally {
      await sql(`UPDATE custody_events SET location_code = $2 WHERE event_id = $1`, [victim, location_code]);
    }
    expect((await audit()).ok).toBe(true);
  });

  it('reports a broken leaf chain (CHAIN_BROKEN) and a changed stored proof (PROOF_MISMATCH)', async () => {
    const victim = batches[2][0]; // AUD001's third event
    const [{ previous_leaf }] = await sql<{ previous_leaf: string }>(`SELECT previous_leaf FROM custody_events WHERE event_id = $1`, [victim]);
    await sql(`UPDATE custody_events SET previous_leaf = $2 WHERE event_id = $1`, [victim, '0x' + '11'.repeat(32)]);
    try {
      const report = await audit();
      expect(report.problems.map((p) => [p.code, p.seq, p.eventId]).sort()).toEqual([
        ['CHAIN_BROKEN', '2', victim],
        ['LEAF_MISMATCH', '2', victim],
      ]);
      expect(report.problems.find((p) => p.code === 'CHAIN_BROKEN')!.message).toContain(batches[1][0]); // names the shipment's previous event
    } finally {
      await sql(`UPDATE custody_events SET previous_leaf = $2 WHERE event_id = $1`, [victim, previous_leaf]);
    }

    // the batch's stored tree (batch_trees): the victim's sibling leaf at level 0, which only the victim's proof contains, flipped
    const flip = `UPDATE batch_trees t SET nodes = overlay(t.nodes PLACING decode(translate(encode(substring(t.nodes FROM (e.leaf_index # 1) * 32 + 1 FOR 32), 'hex'), '0123456789abcdef', 'fedcba9876543210'), 'hex') FROM (e.leaf_index # 1) * 32 + 1 FOR 32)
      FROM custody_events e WHERE e.event_id = $1 AND t.batch_seq = e.batch_seq AND t.level = 0 AND (e.leaf_index # 1) * 32 < octet_length(t.nodes)`; // its own inverse
    expect((await sql<{ n: number }>(`WITH f AS (${flip} RETURNING 1) SELECT count(*)::int AS n FROM f`, [victim]))[0].n).toBe(1);
    try {
      const report = await audit();
      expect(report.problems.map((p) => [p.code, p.seq, p.eventId])).toEqual([['PROOF_MISMATCH', '2', victim]]);
    } finally {
      await sql(flip, [victim]);
    }
    expect((await audit()).ok).toBe(true);
  });

  it('reports a changed stored root as ROOT_MISMATCH and CHAIN_ROOT_MISMATCH for that batch', async () => {
    const [{ root }] = await sql<{ root: string }>(`SELECT root FROM anchor_batches WHERE seq = 2`);
    await sql(`UPDATE anchor_batches SET root = $1 WHERE seq = 2`, ['0x' + 'ab'.repeat(32)]);
    try {
      const report = await audit();
      expect(report.ok).toBe(false);
      expect(codesFor(report, '2')).toEqual(expect.arrayContaining(['CHAIN_ROOT_MISMATCH', 'ROOT_MISMATCH']));
      // the BatchAnchored log carries the real root too
      expect(codesFor(report, '2')).toEqual(['CHAIN_ROOT_MISMATCH', 'LOG_MISMATCH', 'ROOT_MISMATCH']);
      expect(report.problems.every((p) => p.seq === '2' && p.eventId === null)).toBe(true);
      expect(report.problems.find((p) => p.code === 'CHAIN_ROOT_MISMATCH')!.message).toContain(root);
      expect(await gqlAudit()).toEqual(report);
    } finally {
      await sql(`UPDATE anchor_batches SET root = $1 WHERE seq = 2`, [root]);
    }
    expect((await audit()).ok).toBe(true);
  });

  it('reports gaps in the sequence (MISSING_SEQ) and batches only the chain knows (UNKNOWN_ON_CHAIN)', async () => {
    // a stray row two places past the end: seqs 3 and 4 are gaps, and batch 5 has no events and no anchor
    await sql(`INSERT INTO anchor_batches (seq, root, events_root, leaf_count, status) VALUES (5, $1, $1, 1, 'FINAL')`, ['0x' + 'cd'.repeat(32)]);
    try {
      const report = await audit();
      expect(report.problems.map((p) => [p.code, p.seq])).toEqual([
        ['MISSING_SEQ', '3'],
        ['MISSING_SEQ', '4'],
        ['ROOT_MISMATCH', '5'],
        ['ROOT_MISMATCH', '5'],
        ['NOT_ON_CHAIN', '5'],
      ]);
      expect(report).toMatchObject({ toSeq: '5', batchesChecked: 4 });
    } finally {
      await sql(`DELETE FROM anchor_batches WHERE seq = 5`);
    }
    // a chain one batch ahead of the database (seen through a wrapper: the contract only accepts the ledger's own next seq)
    const real = t.ledger.runtime.chain;
    const ahead: AuditChain = {
      chainId: real.chainId,
      contractAddress: real.contractAddress,
      nextSeq: async () => (await real.nextSeq()) + 1n,
      batchRoot: async (seq) => (seq === 3n ? '0x' + 'ef'.repeat(32) : real.batchRoot(seq)),
      findAnchoredLog: (seq) => real.findAnchoredLog(seq),
    };
    const report = await audit({}, ahead);
    expect(report.problems.map((p) => [p.code, p.seq])).toEqual([['UNKNOWN_ON_CHAIN', '3']]);
    expect(report.toSeq).toBe('3');
  });

  it('reports an event pending past the SLA (PENDING_PAST_SLA), also over GraphQL', async () => {
    [pendingEventId] = await recordAll([['AUD003', 'DEPARTED_FACILITY']]);
    expect((await audit()).ok).toBe(true); // within the SLA
    const later = await audit({ now: new Date(Date.now() + 2 * HOUR) });
    expect(later.ok).toBe(false);
    expect(later.problems).toEqual([
      expect.objectContaining({ code: 'PENDING_PAST_SLA', severity: 'WARNING', seq: null, eventId: pendingEventId, message: expect.stringContaining(pendingEventId) }),
    ]);
    const viaGql = await gqlAudit({ pending: 0 });
    expect(viaGql.problems.map((p) => [p.code, p.eventId])).toEqual([['PENDING_PAST_SLA', pendingEventId]]);
    expect((await gqlAudit({ pending: 5 })).ok).toBe(true);
  });

  it('reports a batch the anchorer cannot anchor while the chain is down as SEALED_NOT_ANCHORED', async () => {
    await node.stop();
    const sealed = await mustGql<{ sealBatch: { seq: string } }>(t, `mutation { sealBatch { seq } }`);
    expect(sealed.sealBatch.seq).toBe('3');
    expect((await mustGql<{ batch: { status: string } }>(t, `{ batch(seq: "3") { status } }`)).batch.status).toBe('SEALED');
    // the service's own audit needs the chain: it says so instead of reporting half a result
    const down = await t.gql(AUDIT_QUERY);
    expect(down.errors?.[0].extensions?.code).toBe('CHAIN_UNAVAILABLE');
    // the service stops while the chain is down; the outside auditor sees the chain again
    await t.ledger.close();
    running = false;
    await node.start();

    const ledgerDb = await openDatabase(database);
    const chain = await ChainClient.readOnly(node.url, contractAddress);
    try {
      const now = await auditAnchors(ledgerDb, chain, SLA);
      expect(now).toMatchObject({ ok: true, toSeq: '3', batchesChecked: 4, eventsChecked: 10 });
      const later = await auditAnchors(ledgerDb, chain, { ...SLA, now: new Date(Date.now() + 2 * HOUR) });
      expect(later.problems).toEqual([expect.objectContaining({ code: 'SEALED_NOT_ANCHORED', severity: 'WARNING', seq: '3', eventId: null, message: expect.stringMatching(/batch 3 .*still SEALED/) })]);
    } finally {
      chain.close();
      await ledgerDb.destroy();
    }
  });

  describe('the custody audit CLI against the stopped ledger', () => {
    const where = (): string[] =>
      database.kind === 'postgres' ? ['--database-url', process.env.DATABASE_URL!, '--schema', database.schema] : ['--data-dir', dataDir];

    it('exits 0 on a clean ledger, and 2 with a clear message on usage and connection errors', async () => {
      const [clean, noRpc, badDb] = await Promise.all([
        runCli(['--rpc', node.url, ...where()]),
        runCli(where()),
        runCli(['--rpc', node.url, '--database-url', 'postgres://auditor:s3cr3t-pw@127.0.0.1:1/ledger']),
      ]);
      expect(clean.stderr).toBe(''); // no error, and no progress bar into a pipe
      expect(clean.code).toBe(0);
      expect(clean.stdout).toContain('OK');
      expect(clean.stdout).toContain('4 batch(es), 10 event(s)');
      expect(clean.stdout).toContain(contractAddress);
      expect(noRpc.code).toBe(2);
      expect(noRpc.stderr).toContain('--rpc <json-rpc url> is required');
      expect(badDb.code).toBe(2);
      expect(badDb.stderr).toContain('cannot open the ledger database postgres://auditor:***@127.0.0.1:1/ledger');
      expect(badDb.stderr + badDb.stdout).not.toContain('s3cr3t-pw');
    });

    it('exits 1 naming the late batch, and naming the batch and event after tampering', async () => {
      const late = await runCli(['--rpc', node.url, ...where(), '--sealed-sla-minutes', '0', '--json']);
      expect(late.code).toBe(1);
      const report = JSON.parse(late.stdout) as AuditReport;
      expect(report).toMatchObject({ ok: false, batchesChecked: 4, eventsChecked: 10, contractAddress });
      expect(report.problems.map((p) => [p.code, p.seq])).toEqual([['SEALED_NOT_ANCHORED', '3']]);
      expect(late.stderr).toBe(''); // stderr is a pipe here: no progress bar (and never with --json)

      const victim = batches[0][1];
      const ledgerDb: DataSource = await openDatabase(database);
      try {
        await sqlRows(ledgerDb, `UPDATE custody_events SET location_code = 'TAMPERED' WHERE event_id = $1`, [victim]);
      } finally {
        await ledgerDb.destroy();
      }
      const tampered = await runCli(['--rpc', node.url, ...where()]);
      expect(tampered.code).toBe(1);
      expect(tampered.stdout).toContain('LEAF_MISMATCH');
      expect(tampered.stdout).toContain(`batch 0, event ${victim}`);
      expect(tampered.stdout).not.toContain('SEALED_NOT_ANCHORED');
    });
  });
});
