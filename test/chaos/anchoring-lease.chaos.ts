import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sqlRows } from '../../src/database/data-source';
import { eventually, startTestLedger, TEST_ADMIN_KEY, type TestLedger } from '../support/test-ledger';
import { ANCHORER_KEY, anchoredLogs, batchRow, newRecorder, sealOneBatch, startAnchorNode, type Recorder } from '../support/anchoring-fixtures';

/**
 * Issue 10, "a paused leader stops anchoring for everyone": two service processes on one
 * PostgreSQL schema and one chain. The leader is a real `src/main.ts` process, paused with
 * SIGSTOP; it used to keep its session advisory lock (its TCP session stays open) and nobody
 * anchored. With the lease, the other replica takes over once the lease expires, and the paused
 * one, continued with SIGCONT, leads no more and anchors nothing twice.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

describe('a paused anchoring leader is replaced (chaos)', () => {
  const LEASE_MS = 2000;
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-chaos-'));
  let chain: Awaited<ReturnType<typeof startAnchorNode>>;
  let leader: ChildProcess | undefined;
  let t: TestLedger;
  let r: Recorder;

  const leaseRow = async () => (await sqlRows<{ holder: string; token: string }>(t.ledger.runtime.dataSource, `SELECT holder, token FROM leader_leases WHERE name = 'anchorer'`))[0];
  const heldBy = (pid: number) => async () => ((await leaseRow())?.holder.includes(`:${pid}:`) ? await leaseRow() : undefined);

  beforeAll(async () => {
    chain = await startAnchorNode();
    const env = {
      DATABASE_URL: url,
      DATABASE_SCHEMA: schema,
      CHAIN_RPC_URL: chain.node.url,
      ANCHOR_PRIVATE_KEY: ANCHORER_KEY,
      ANCHOR_CONTRACT_ADDRESS: chain.anchor.target as string,
      CONFIRMATIONS: '1',
      LEADER_LEASE_MS: String(LEASE_MS),
      ANCHORER_INTERVAL_MS: '200',
    };
    // the first replica: a real service process, started as `npm start` does
    leader = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
      cwd: path.resolve(__dirname, '../..'),
      env: { PATH: process.env.PATH, ...env, PORT: '0', DATA_DIR: dataDir, ADMIN_API_KEY: TEST_ADMIN_KEY, LOG_LEVEL: 'warn', BATCH_MAX_AGE_MS: '3600000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    leader.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    leader.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const graphqlUrl = await eventually(async () => {
      if (leader!.exitCode !== null) throw new Error(`the leader process exited: ${output}`);
      return /GraphQL\s+(http\S+)/.exec(output)?.[1];
    }, 90_000, 'the leader process to start');
    // batch 0 goes through the leader process alone, so it is the one that takes the lease (and keeps renewing it)
    const leaderApi = {
      async gql(query: string, variables?: Record<string, unknown>) {
        const res = await fetch(graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` }, body: JSON.stringify({ query, variables }) });
        return { ...((await res.json()) as object), status: res.status };
      },
    } as unknown as TestLedger;
    r = await newRecorder(leaderApi);
    expect(await sealOneBatch(r)).toBe('0');
    // the second replica: in this process, on the same schema
    t = await startTestLedger(env);
    await eventually(async () => ((await batchRow(t, '0')).status === 'FINAL' ? true : undefined), 30_000, 'batch 0 FINAL by the leader process');
  }, 180_000);

  afterAll(async () => {
    if (leader && leader.exitCode === null) {
      leader.kill('SIGCONT');
      leader.kill('SIGTERM');
      await new Promise((resolve) => leader!.once('exit', resolve));
    }
    await t?.stop();
    await chain?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('the other replica anchors within a lease of the leader being paused; the leader, continued, anchors nothing twice', async () => {
    const first = await eventually(heldBy(leader!.pid!), 10_000, 'the process to hold the lease');
    const viaReplica: Recorder = { ...r, t }; // batches from now on are sealed by the in-process replica

    leader!.kill('SIGSTOP');
    const paused = Date.now();
    expect(await sealOneBatch(viaReplica)).toBe('1');
    await eventually(async () => (['ANCHORED', 'FINAL'].includes((await batchRow(t, '1')).status) ? true : undefined), 30_000, 'batch 1 anchored while the leader is paused');
    const tookOver = Date.now() - paused;
    const now = await leaseRow();
    console.log(`leader paused: batch 1 anchored by the other replica ${tookOver} ms later (lease ${LEASE_MS} ms); token ${first.token} → ${now.token}`);
    expect(now.holder).toContain(`:${process.pid}:`);
    expect(BigInt(now.token)).toBeGreaterThan(BigInt(first.token));
    expect(tookOver).toBeLessThan(LEASE_MS + 5_000);

    // the paused leader continues: it finds the lease taken and stays a follower
    leader!.kill('SIGCONT');
    await new Promise((resolve) => setTimeout(resolve, LEASE_MS));
    expect(leader!.exitCode).toBeNull();
    expect((await leaseRow()).holder).toContain(`:${process.pid}:`);
    expect(await sealOneBatch(viaReplica)).toBe('2');
    await eventually(async () => ((await batchRow(t, '2')).status === 'FINAL' ? true : undefined), 30_000, 'batch 2 FINAL');
    expect(await chain.anchor.getFunction('nextSeq')()).toBe(3n);
    for (const seq of [0n, 1n, 2n]) expect(await anchoredLogs(chain.anchor, seq)).toHaveLength(1);
  }, 120_000);
});
