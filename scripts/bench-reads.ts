/**
 * Read and start-up figures, printed with the goal beside each (not a test).
 * Usage: npm run bench:reads [-- --seconds 10 --rate 500 --connections 32 --skip-startup --skip-reads]
 *
 * Reads: a ledger on PGlite in memory (or DATABASE_URL, in a throw-away schema) and the embedded
 * chain, in this process; events seeded through the API (rate limits set high), sealed and
 * anchored. The load comes from a second process (this script with --child load): inclusionProof
 * open loop at a fixed rate (latency counted from when each request was due, so a stalled server
 * is not hidden), then closed loop (N connections back to back) for saturation, then the
 * shipment query with its 250-event timeline. Start-up: `npm start` on a new DATA_DIR (fresh)
 * and again on the same one (restart): time to the first GraphQL answer, resident memory 5 s later.
 */
import { report } from './bench/report';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Wallet, hexlify } from 'ethers';

const ROOT = path.resolve(__dirname, '..');
const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const flag = (name: string): boolean => process.argv.includes(`--${name}`);

// ---- the load generator (a child process) ------------------------------------------------------

interface LoadSpec {
  url: string;
  key: string;
  /** request bodies, sent round-robin */
  bodies: string[];
  mode: 'open' | 'closed';
  /** open: requests per second */
  rate: number;
  /** closed: requests in flight */
  connections: number;
  seconds: number;
}
interface LoadResult {
  sent: number;
  ok: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
  max: number;
  bytes: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function runLoad(spec: LoadSpec): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(spec.connections, 64) });
  const target = new URL(spec.url);
  const latencies: number[] = [];
  let ok = 0;
  let errors = 0;
  let bytes = 0;
  let next = 0;
  const send = (body: string): Promise<void> =>
    new Promise((resolve) => {
      const req = http.request({ agent, hostname: target.hostname, port: target.port, path: target.pathname, method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${spec.key}`, 'content-length': Buffer.byteLength(body) } }, (res) => {
        let size = 0;
        let text = '';
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (text.length < 200) text += chunk.toString();
        });
        res.on('end', () => {
          if (res.statusCode === 200 && !text.startsWith('{"errors"')) ok++;
          else errors++;
          bytes += size;
          resolve();
        });
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(body);
    });
  const body = (): string => spec.bodies[next++ % spec.bodies.length];
  const start = performance.now();
  const end = start + spec.seconds * 1000;
  let sent = 0;
  if (spec.mode === 'open') {
    const interval = 1000 / spec.rate;
    const inFlight: Promise<void>[] = [];
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now();
        // every request that is due by now goes out, its latency counted from when it was due
        while (sent < spec.rate * spec.seconds && start + sent * interval <= now) {
          const due = start + sent * interval;
          sent++;
          inFlight.push(send(body()).then(() => void latencies.push(performance.now() - due)));
        }
        if (sent >= spec.rate * spec.seconds) resolve();
        else setImmediate(tick);
      };
      tick();
    });
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: spec.connections }, async () => {
        while (performance.now() < end) {
          const t0 = performance.now();
          sent++;
          await send(body());
          latencies.push(performance.now() - t0);
        }
      }),
    );
  }
  const elapsed = (performance.now() - start) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { sent, ok, errors, perSecond: ok / elapsed, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1], bytes };
}

/** Runs the load in a second process, so the generator does not share the service's event loop or core. */
function loadFromChild(spec: LoadSpec): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-r', path.join(ROOT, 'bin/ts-register.js'), __filename, '--child', 'load'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as LoadResult) : reject(new Error(`load generator exited with ${code}`))));
    child.stdin.end(JSON.stringify(spec));
  });
}

// ---- start-up ------------------------------------------------------------------------------------

interface StartupFigures {
  ms: number;
  rssMb: number;
}

/** `npm start` on dataDir: time to the first GraphQL answer, RSS of the service 5 s later. */
async function measureStartup(dataDir: string): Promise<StartupFigures> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const t0 = performance.now();
  // npm start as a person runs it; the service's pid comes from its own process tree
  const child = spawn('npm', ['start', '--silent'], { cwd: ROOT, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: String(port), EMBEDDED_CHAIN_PORT: '0', LOG_LEVEL: 'error', ADMIN_API_KEY: '' } });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`npm start exited: ${stderr}`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
        if (res.status === 200) break;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    const ms = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5_000));
    return { ms, rssMb: serviceRssMb(child.pid!) };
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}

/** RSS of the node process running src/main.ts under `pid` (npm, then sh, then node). */
function serviceRssMb(pid: number): number {
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    try {
      // node itself, not the shell npm runs it with
      const argv = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (path.basename(argv[0]) === 'node' && argv.some((a) => a.endsWith('src/main.ts'))) return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))![1]) / 1024;
    } catch {
      // gone
    }
    queue.push(...children(p));
  }
  return NaN;
}

/** --profile FILE: a CPU profile of the service during the measured load (open DevTools or speedscope on it). */
function profiler(file: string | undefined): { start(): Promise<void>; stop(): Promise<void> } {
  if (!file) return { start: async () => undefined, stop: async () => undefined };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Session } = require('node:inspector') as typeof import('node:inspector');
  const session = new Session();
  const post = (method: string): Promise<unknown> => new Promise((resolve, reject) => session.post(method, (err, result) => (err ? reject(err) : resolve(result))));
  return {
    async start() {
      session.connect();
      await post('Profiler.enable');
      await post('Profiler.start');
    },
    async stop() {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

// ---- the reads -----------------------------------------------------------------------------------

async function benchReads(seconds: number, rate: number, connections: number): Promise<void> {
  const { loadConfig } = await import('../src/config/config');
  const { sealAndAnchor, startLedger } = await import('../src/bootstrap');
  const { ZERO_HASH, custodyEventDigest } = await import('../src/signing/custody-signing');
  const adminKey = 'bench-admin-key-0123456789abcdef0123456789';
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-bench-reads-'));
  const env: Record<string, string> = { PORT: '0', EMBEDDED_CHAIN_PORT: '0', DATA_DIR: dataDir, ADMIN_API_KEY: adminKey, LOG_LEVEL: 'error', BATCH_MAX_AGE_MS: '86400000', BATCH_MAX_EVENTS: '100000', RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_EVENTS_PER_MINUTE: '10000000' };
  if (process.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: process.env.DATABASE_URL, DATABASE_SCHEMA: `bench_${randomBytes(4).toString('hex')}` });
  else env.PGLITE_IN_MEMORY = '1';
  const config = loadConfig(env);
  const ledger = await startLedger(config);
  const gql = async (query: string, variables?: unknown, key = adminKey) => {
    const res = await fetch(ledger.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data!;
  };
  try {
    const device = new Wallet(hexlify(randomBytes(32)));
    await gql(`mutation { registerOrganization(input: { slug: "bench-carrier", name: "Bench", kind: CARRIER }) { id } }`);
    await gql(`mutation($a: String!) { registerSigningKey(input: { organization: "bench-carrier", address: $a, validFrom: "2020-01-01T00:00:00Z" }) { address } }`, { a: device.address });
    // the reads are made with a carrier's API key (authentication and scoping as a tenant sees them)
    const carrierKey = ((await gql(`mutation { createApiKey(input: { organization: "bench-carrier", role: "CARRIER", label: "bench" }) { key } }`)) as { createApiKey: { key: string } }).createApiKey.key;
    const shipments = 20;
    const perShipment = 250;
    for (let s = 0; s < shipments; s++) await gql(`mutation($n: String!) { createShipment(input: { trackingNumber: $n, carrier: "bench-carrier" }) { id } }`, { n: `READS${s}` });
    const eventIds: string[] = [];
    for (let s = 0; s < shipments; s++) {
      const events = Array.from({ length: perShipment }, (_, i) => {
        const fields = {
          eventId: hexlify(randomBytes(32)),
          trackingNumber: `READS${s}`,
          carrier: 'bench-carrier',
          eventType: i === 0 ? 'PICKED_UP' : 'ARRIVED_AT_FACILITY',
          custodian: 'bench-carrier',
          occurredAt: BigInt(Date.now() - 3_600_000 + i * 1000),
          latE6: 52_520_008,
          lonE6: 13_404_954,
          accuracyM: 10,
          locationCode: 'DE-BER-HUB-1',
          scanMethod: 'BARCODE',
          evidenceHash: ZERO_HASH,
          dataHash: ZERO_HASH,
        };
        eventIds.push(fields.eventId);
        return { ...fields, occurredAt: fields.occurredAt.toString(), signature: device.signingKey.sign(custodyEventDigest(ledger.runtime.domainSeparator, fields)).serialized };
      });
      await gql(`mutation($e: [SignedCustodyEventInput!]!) { recordCustodyEvents(events: $e) { outcome } }`, { e: events });
    }
    await sealAndAnchor(ledger);
    const final = (await gql(`query($id: String!) { inclusionProof(eventId: $id) { status } }`, { id: eventIds[0] }, carrierKey)) as { inclusionProof: { status: string } };
    const db = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite (memory)';
    console.log(`\nreads on ${db}, ${shipments * perShipment} events in ${shipments} shipments, anchored (first proof ${final.inclusionProof.status}); load from a second process, ${os.cpus().length} cores`);

    const proofQuery = `query Proof($id: String!) { inclusionProof(eventId: $id) { eventId status leaf proof leafIndex batchSeq root chainId contractAddress txHash blockNumber } }`;
    const proofBodies = eventIds.slice(0, 2000).map((id) => JSON.stringify({ query: proofQuery, variables: { id } }));
    const base = { url: ledger.graphqlUrl, key: carrierKey, connections, seconds, rate };
    await loadFromChild({ ...base, bodies: proofBodies, mode: 'closed', seconds: 2 }); // warm-up
    const profile = profiler(process.argv.includes('--profile') ? process.argv[process.argv.indexOf('--profile') + 1] : undefined);
    await profile.start();
    const open = await loadFromChild({ ...base, bodies: proofBodies, mode: 'open' });
    const closed = await loadFromChild({ ...base, bodies: proofBodies, mode: 'closed' });
    const timelineQuery = `query Timeline($n: String!) { shipment(trackingNumber: $n, carrier: "bench-carrier") { trackingNumber status eventCount headLeaf events { eventId eventType custodian occurredAt receivedAt status batchSeq leaf locationCode scanMethod flags } } }`;
    const timelineBodies = Array.from({ length: shipments }, (_, s) => JSON.stringify({ query: timelineQuery, variables: { n: `READS${s}` } }));
    const timeline = await loadFromChild({ ...base, bodies: timelineBodies, mode: 'closed', connections: 8 });
    await profile.stop();
    report({ row: `inclusionProof, open loop at ${rate} req/s: p99`, database: db, value: open.p99, unit: 'ms', goal: { value: 10, higherIsBetter: false }, note: `p50 ${open.p50.toFixed(1)} ms, max ${open.max.toFixed(0)} ms, achieved ${open.perSecond.toFixed(0)} req/s, ${open.errors} errors` });
    report({ row: `inclusionProof, saturation (${connections} connections)`, database: db, value: closed.perSecond, unit: 'req/s', goal: { value: 3_000, higherIsBetter: true }, note: `p50 ${closed.p50.toFixed(1)} ms, p99 ${closed.p99.toFixed(1)} ms, ${closed.errors} errors` });
    report({ row: `shipment with its ${perShipment}-event timeline`, database: db, value: timeline.perSecond, unit: 'req/s', goal: { value: 1_000, higherIsBetter: true }, note: `${(timeline.bytes / Math.max(1, timeline.ok + timeline.errors) / 1024).toFixed(0)} KB each, 8 connections, p99 ${timeline.p99.toFixed(1)} ms, ${timeline.errors} errors` });
  } finally {
    await ledger.close();
    if (config.database.kind === 'postgres') {
      const { dropSchema } = await import('../test/support/test-ledger');
      await dropSchema(config.database.url, config.database.schema);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function benchStartup(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-bench-start-'));
  try {
    console.log(`\nstart-up: npm start on the embedded defaults (PGlite in DATA_DIR, in-process chain); time to the first GraphQL answer, RSS 5 s later`);
    const fresh = await measureStartup(dataDir);
    const restart = await measureStartup(dataDir);
    report({ row: 'npm start to first answer, fresh DATA_DIR', database: 'PGlite (DATA_DIR)', value: fresh.ms / 1000, unit: 's', goal: { value: 3, higherIsBetter: false } });
    report({ row: 'npm start to first answer, restart', database: 'PGlite (DATA_DIR)', value: restart.ms / 1000, unit: 's', goal: { value: 3, higherIsBetter: false } });
    report({ row: 'idle RSS after a fresh start', database: 'PGlite (DATA_DIR)', value: fresh.rssMb, unit: 'MB', goal: { value: 300, higherIsBetter: false }, note: `${restart.rssMb.toFixed(0)} MB after a restart` });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.argv.includes('--child')) {
    const spec = JSON.parse(await new Promise<string>((resolve) => {
      let input = '';
      process.stdin.on('data', (d: Buffer) => (input += d.toString()));
      process.stdin.on('end', () => resolve(input));
    })) as LoadSpec;
    process.stdout.write(JSON.stringify(await runLoad(spec)));
    return;
  }
  console.log(`load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')} (figures on a busy machine are worse)`);
  if (!flag('skip-reads')) await benchReads(arg('seconds', 10), arg('rate', 500), arg('connections', 32));
  if (!flag('skip-startup')) await benchStartup();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
