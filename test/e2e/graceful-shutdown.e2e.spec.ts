import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { openDatabase, sqlRows } from '../../src/database/data-source';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { eventually } from '../support/test-ledger';
import { RECORD, eventFields, newWallet, signEvent, type RecordResult, type SignedEventInput } from '../support/factories';
import { freePort } from '../support/service-process';

const ROOT = path.resolve(__dirname, '../..');
const EVENTS = 1000;

interface Service {
  child: ChildProcess;
  port: number;
  adminKey: string;
  output: () => string;
  exit: Promise<number | null>;
  env: NodeJS.ProcessEnv;
}

/** The service as `npm start` runs it, in a directory of its own; PostgreSQL when the suite runs on it. */
async function startService(dir: string, extra: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'),
    NODE_PATH: path.join(ROOT, 'node_modules'),
    PORT: String(port),
    EMBEDDED_CHAIN_PORT: '0',
    DATA_DIR: path.join(dir, 'data'),
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...extra,
  };
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src/main.ts')], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const adminKey = await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${out}`);
    return /admin API key\s+(cl_admin_\S+)/.exec(out)?.[1];
  }, 90_000, 'the start-up banner');
  return { child, port, adminKey, output: () => out, exit, env };
}

async function gql<T>(s: Service, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${s.port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminKey}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

/**
 * A request the service has surely started to receive: the headers and all but the last bytes of
 * the body are sent (and the connection accepted) before `whileInFlight` runs; the rest follows.
 */
async function inFlight(s: Service, body: string, whileInFlight: () => Promise<void>): Promise<{ status: number; text: string }> {
  const bytes = Buffer.from(body);
  const req = http.request({ host: '127.0.0.1', port: s.port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', 'content-length': bytes.length, authorization: `Bearer ${s.adminKey}` } });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.once('error', reject);
    req.once('response', (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.once('error', reject);
    });
  });
  // handled here too: the server may close the connection while the caller is still in `whileInFlight`
  answer.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    req.once('socket', (socket) => socket.once('connect', () => resolve()));
    req.once('error', reject);
  });
  await new Promise<void>((resolve) => req.write(bytes.subarray(0, bytes.length - 10), () => resolve()));
  // the server has read the headers (and begun the body) once it has accepted the connection and had a moment
  await new Promise((r) => setTimeout(r, 300));
  await whileInFlight();
  req.end(bytes.subarray(bytes.length - 10));
  return answer;
}

/** A new connection after the signal: refused, or answered 503 by the readiness probe. */
async function newConnectionTurnedAway(s: Service): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${s.port}/health/ready`, { signal: AbortSignal.timeout(5_000) });
    return res.status === 503;
  } catch {
    return true;
  }
}

/** Every batch complete: its events, leaf indexes 0..n-1, and its stored tree. */
async function batchesComplete(s: Service): Promise<Array<{ seq: string; leaf_count: number; events: number; distinct_leaves: number; tree_levels: number }>> {
  const db = await openDatabase(loadConfig(s.env).database);
  try {
    return await sqlRows(
      db,
      `SELECT b.seq::text AS seq, b.leaf_count,
              (SELECT count(*)::int FROM custody_events e WHERE e.batch_seq = b.seq) AS events,
              (SELECT count(DISTINCT e.leaf_index)::int FROM custody_events e WHERE e.batch_seq = b.seq AND e.leaf_index BETWEEN 0 AND b.leaf_count - 1) AS distinct_leaves,
              (SELECT count(*)::int FROM batch_trees t WHERE t.batch_seq = b.seq) AS tree_levels
         FROM anchor_batches b ORDER BY b.seq`,
    );
  } finally {
    await db.destroy();
  }
}

async function prepare(s: Service, prefix: string): Promise<{ tag: string; events: SignedEventInput[] }> {
  // unique per run: on PostgreSQL the database outlives the test
  const tag = `${prefix}${Math.random().toString(36).slice(2, 8)}`;
  const spec = await gql<{ custodySigningSpec: { domain: { name: string; version: string; chainId: string; verifyingContract: string } } }>(s, `{ custodySigningSpec { domain { name version chainId verifyingContract } } }`);
  const domain: CustodySigningDomain = { ...spec.custodySigningSpec.domain, chainId: BigInt(spec.custodySigningSpec.domain.chainId) };
  const carrier = `${tag}-express`;
  const device = newWallet();
  await gql(s, `mutation($s: String!) { registerOrganization(input: { slug: $s, name: $s, kind: CARRIER }) { id } }`, { s: carrier });
  await gql(s, `mutation($o: String!, $a: String!) { registerSigningKey(input: { organization: $o, address: $a, validFrom: "2020-01-01T00:00:00Z" }) { address } }`, { o: carrier, a: device.address });
  const tracking = Array.from({ length: EVENTS }, (_, i) => `${tag.toUpperCase()}${String(i).padStart(5, '0')}`);
  for (let i = 0; i < tracking.length; i += 25) {
    const part = tracking.slice(i, i + 25);
    await gql(s, `mutation { ${part.map((t, j) => `s${j}: createShipment(input: { trackingNumber: "${t}", carrier: "${carrier}" }) { id }`).join(' ')} }`);
  }
  return { tag, events: await Promise.all(tracking.map((t) => signEvent(domain, device, eventFields({ trackingNumber: t, carrier, custodian: carrier, eventType: 'PICKED_UP' })))) };
}

describe('graceful shutdown (SIGTERM/SIGINT on a real service process)', () => {
  const dirs: string[] = [];
  const running: Service[] = [];
  afterAll(() => {
    for (const s of running) s.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const fresh = (): string => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-shutdown-'));
    dirs.push(dir);
    return dir;
  };

  it('answers a large recordCustodyEvents call in flight at SIGTERM, stores its events, turns new connections away and exits 0', async () => {
    // seals only on request: the events stay PENDING, so the check below counts exactly the call's events
    const s = await startService(fresh(), { BATCH_MAX_EVENTS: '100000', BATCH_MAX_AGE_MS: '3600000', SHUTDOWN_TIMEOUT_MS: '60000' });
    running.push(s);
    const { tag, events } = await prepare(s, 'sdr');
    const before = await gql<{ shipment: { eventCount: number } }>(s, `{ shipment(trackingNumber: "${tag.toUpperCase()}00000", carrier: "${tag}-express") { eventCount } }`);
    expect(before.shipment.eventCount).toBe(0);
    let turnedAway: boolean | undefined;
    const answer = await inFlight(s, JSON.stringify({ query: RECORD, variables: { events } }), async () => {
      s.child.kill('SIGTERM');
      await new Promise((r) => setTimeout(r, 500));
      turnedAway = await newConnectionTurnedAway(s);
    });
    expect(answer.status).toBe(200);
    const results = (JSON.parse(answer.text) as { data: { recordCustodyEvents: RecordResult[] } }).data.recordCustodyEvents;
    expect(results).toHaveLength(EVENTS);
    expect(results.filter((r) => r.outcome === 'ACCEPTED')).toHaveLength(EVENTS);
    expect(turnedAway).toBe(true);
    const code = await Promise.race([s.exit, new Promise<string>((r) => setTimeout(() => r('still running after 60 s'), 60_000))]);
    expect(code).toBe(0);
    expect(s.output()).toMatch(/shutdown: draining 1 request\(s\) in flight/);
    const db = await openDatabase(loadConfig(s.env).database);
    try {
      const ids = events.map((e) => e.eventId);
      const [{ stored }] = await sqlRows<{ stored: number }>(db, `SELECT count(*)::int AS stored FROM custody_events WHERE event_id = ANY($1::text[])`, [ids]);
      expect(stored).toBe(EVENTS);
    } finally {
      await db.destroy();
    }
    for (const b of await batchesComplete(s)) expect(b).toEqual({ ...b, events: b.leaf_count, distinct_leaves: b.leaf_count, tree_levels: expect.any(Number) });
  }, 300_000);

  it('finishes a seal of many events in flight at SIGINT: the batch is whole, and the process exits 0', async () => {
    const s = await startService(fresh(), { BATCH_MAX_EVENTS: '100000', BATCH_MAX_AGE_MS: '3600000', SHUTDOWN_TIMEOUT_MS: '60000' });
    running.push(s);
    const { events } = await prepare(s, 'sds');
    const recorded = await gql<{ recordCustodyEvents: RecordResult[] }>(s, RECORD, { events });
    expect(recorded.recordCustodyEvents.filter((r) => r.outcome === 'ACCEPTED')).toHaveLength(EVENTS);
    const answer = await inFlight(s, JSON.stringify({ query: `mutation { sealBatch { seq leafCount } }` }), async () => {
      s.child.kill('SIGINT');
    });
    expect(answer.status).toBe(200);
    const sealed = (JSON.parse(answer.text) as { data: { sealBatch: { seq: string; leafCount: number } } }).data.sealBatch;
    // on PostgreSQL events other runs left pending are sealed with them
    expect(sealed.leafCount).toBeGreaterThanOrEqual(EVENTS);
    const code = await Promise.race([s.exit, new Promise<string>((r) => setTimeout(() => r('still running after 60 s'), 60_000))]);
    expect(code).toBe(0);
    const db = await openDatabase(loadConfig(s.env).database);
    try {
      const [{ inBatch }] = await sqlRows<{ inBatch: number }>(db, `SELECT count(*)::int AS "inBatch" FROM custody_events WHERE event_id = ANY($1::text[]) AND batch_seq = $2`, [events.map((e) => e.eventId), sealed.seq]);
      expect(inBatch).toBe(EVENTS);
    } finally {
      await db.destroy();
    }
    const batches = await batchesComplete(s);
    expect(batches.map((b) => b.seq)).toContain(sealed.seq);
    for (const b of batches) {
      expect(b.events).toBe(b.leaf_count);
      expect(b.distinct_leaves).toBe(b.leaf_count);
      expect(b.tree_levels).toBeGreaterThan(0);
    }
  }, 300_000);

  it('stops waiting for a request that never finishes after SHUTDOWN_TIMEOUT_MS, says so, and still exits 0 with its database closed', async () => {
    const s = await startService(fresh(), { SHUTDOWN_TIMEOUT_MS: '1000' });
    running.push(s);
    // a client that sends part of a request and then nothing: it would hold the drain until the request timeout
    const cut = await inFlight(s, JSON.stringify({ query: '{ __typename }' }), async () => {
      s.child.kill('SIGTERM');
      await s.exit;
    }).then(
      () => 'answered',
      (err: Error) => err.message,
    );
    expect(cut).not.toBe('answered');
    expect(await s.exit).toBe(0);
    expect(s.output()).toMatch(/shutdown: 1 request\(s\) still in flight after SHUTDOWN_TIMEOUT_MS=1000 ms; their connections are closed/);
    expect(s.output()).toMatch(/shutdown: done, exiting/);
  }, 300_000);
});
