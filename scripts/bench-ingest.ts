/**
 * Ingestion figures beside the machine's limits measured in the same run (printed, not a test):
 * the stateless path per event, signer recovery, recordCustodyEvents end to end, the longest
 * event-loop block, and raw COPY of the same rows into a table of the same shape.
 * Usage: npm run bench:ingest [-- --events 20000 --per-call 1000 --shipments 1000 --concurrency 4 --journeys]
 * Events go out as `concurrency` streams of calls (hubs uploading at once), each stream over its
 * own shipments, about 20 events per shipment like a real parcel's journey.
 * Runs on PGlite in memory, or on DATABASE_URL (in a throw-away schema), with the embedded chain.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { Client } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { createKeccak } from 'hash-wasm';
import secp256k1 from 'secp256k1';
import { computeAddress, hexlify } from 'ethers';
import { loadConfig } from '../src/config/config';
import { startLedger, type RunningLedger } from '../src/bootstrap';
import { ZERO_HASH, custodyEventDigest, custodyLeaf, signaturesHash, type CustodyEventFields } from '../src/signing/custody-signing';
import { keccakReady } from '../src/signing/keccak';
import { SECP256K1_BACKEND, recoverSigners } from '../src/signing/signature-verifier';
import { sqlRows } from '../src/database/data-source';
import { CustodyIngestionService } from '../src/custody/custody-ingestion.service';
import { SealerService } from '../src/batching/sealer.service';
import { report, step } from './bench/report';
import { closeBenchLedger } from './bench/teardown';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

/** --journeys: the j-th of a shipment's n scans */
function journeyStep(j: number, n: number): string {
  if (j === 0) return 'PICKED_UP';
  if (j === n - 1) return 'DELIVERED';
  if (j === n - 2) return 'OUT_FOR_DELIVERY';
  return j % 2 === 1 ? 'ARRIVED_AT_FACILITY' : 'DEPARTED_FACILITY';
}

const perSecond = (count: number, ms: number): number => (count / ms) * 1000;

/** CPU time of every postgres process on this machine (from /proc) and the WAL position; null on PGlite or without /proc. */
async function postgresUsage(): Promise<{ cpuMs: number; walBytes: number } | null> {
  if (!process.env.DATABASE_URL || !existsSync('/proc')) return null;
  const tick = 10; // ms per clock tick (USER_HZ = 100 on Linux)
  let cpuMs = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      cpuMs += (Number(fields[11]) + Number(fields[12])) * tick;
    } catch {
      // the process ended meanwhile
    }
  }
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  const { rows } = await client.query<{ lsn: string }>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS lsn`);
  await client.end();
  return { cpuMs, walBytes: Number(rows[0].lsn) };
}

/** One CSV field as COPY reads it: NULL unquoted-empty, text quoted, arrays as array literals. */
function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text: string;
  if (value instanceof Date) text = value.toISOString();
  else if (Array.isArray(value)) text = `{${value.map((v) => `"${String(v).replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
  else text = String(value);
  return `"${text.replace(/"/g, '""')}"`;
}

/**
 * The limit of the write path: COPY of the rows just ingested into an empty table of the same
 * shape, with the same indexes and keys (`LIKE custody_events INCLUDING ALL`; no foreign keys).
 */
async function copyLimit(ledger: RunningLedger, schema: string): Promise<{ rowsPerSecond: number; rows: number }> {
  const ds = ledger.runtime.dataSource;
  await ds.query(`DROP TABLE IF EXISTS copy_probe`);
  await ds.query(`CREATE TABLE copy_probe (LIKE custody_events INCLUDING ALL)`);
  try {
    const columns = (await sqlRows<{ name: string }>(ds, `SELECT attname AS name FROM pg_attribute WHERE attrelid = 'copy_probe'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`)).map((c) => c.name);
    const rows = await sqlRows<Record<string, unknown>>(ds, `SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM custody_events ORDER BY id`);
    const csv = rows.map((r) => columns.map((c) => csvField(r[c])).join(',')).join('\n') + '\n';
    const sql = `COPY copy_probe (${columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN WITH (FORMAT csv)`;
    let ms: number;
    if (process.env.DATABASE_URL) {
      const client = new Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`SET search_path TO ${schema}`);
      const t0 = performance.now();
      await pipeline(Readable.from([csv]), client.query(copyFrom(sql)));
      ms = performance.now() - t0;
      await client.end();
    } else {
      // PGlite reads COPY input from a blob through its own API, on the ledger's one connection
      const runner = ds.createQueryRunner();
      await runner.connect();
      try {
        const db = (runner as unknown as { databaseConnection: { db: { query(sql: string, params: unknown[], options: { blob: Blob }): Promise<unknown> } } }).databaseConnection.db;
        const t0 = performance.now();
        await db.query(sql.replace('FROM STDIN', `FROM '/dev/blob'`), [], { blob: new Blob([csv]) });
        ms = performance.now() - t0;
      } finally {
        await runner.release();
      }
    }
    const [{ n }] = await sqlRows<{ n: number }>(ds, `SELECT count(*)::int AS n FROM copy_probe`);
    if (n !== rows.length) throw new Error(`COPY stored ${n} of ${rows.length} rows`);
    return { rowsPerSecond: perSecond(rows.length, ms), rows: rows.length };
  } finally {
    await ds.query(`DROP TABLE IF EXISTS copy_probe`);
  }
}

async function main(): Promise<void> {
  const total = arg('events', 20_000);
  const perCall = arg('per-call', 1000);
  const shipments = arg('shipments', Math.max(1, Math.round(total / 20)));
  const concurrency = arg('concurrency', 4);
  const journeys = process.argv.includes('--journeys');
  const database = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite (in memory)';
  const adminKey = 'bench-admin-key-0123456789abcdef0123456789';
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-bench-'));
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  // the benchmark is one client sending as fast as it can: the service's own rate limits would measure themselves
  const env: Record<string, string> = { PORT: '0', EMBEDDED_CHAIN_PORT: '0', DATA_DIR: dataDir, ADMIN_API_KEY: adminKey, LOG_LEVEL: 'error', BATCH_MAX_AGE_MS: '86400000', BATCH_MAX_EVENTS: '100000', MAX_EVENTS_PER_CALL: String(Math.max(perCall, 1000)), RATE_LIMIT_PER_MINUTE: '1000000', RATE_LIMIT_EVENTS_PER_MINUTE: '10000000', MAX_BODY_BYTES: '67108864' };
  if (process.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: process.env.DATABASE_URL, DATABASE_SCHEMA: schema });
  else env.PGLITE_IN_MEMORY = '1';
  const config = loadConfig(env);
  const ledger = await startLedger(config);
  await keccakReady;
  const gql = async (query: string, variables?: unknown) => {
    const res = await fetch(ledger.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ query, variables }) });
    const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown };
    if (body.errors) throw new Error(JSON.stringify(body.errors).slice(0, 300));
    return body.data!;
  };
  try {
    const privateKey = randomBytes(32);
    const address = computeAddress(hexlify(privateKey));
    await gql(`mutation { registerOrganization(input: { slug: "bench-carrier", name: "Bench", kind: CARRIER }) { id } }`);
    await gql(`mutation($a: String!) { registerSigningKey(input: { organization: "bench-carrier", address: $a, validFrom: "2020-01-01T00:00:00Z" }) { address } }`, { a: address });
    for (let s = 0; s < shipments; s++) await gql(`mutation($n: String!) { createShipment(input: { trackingNumber: $n, carrier: "bench-carrier" }) { id } }`, { n: `BENCH${s.toString().padStart(6, '0')}` });

    // devices sign (client side, native libsecp256k1 so the benchmark does not wait on itself)
    // stream k carries the shipments s with s % concurrency == k; within a stream, scans in time order
    const order = Array.from({ length: total }, (_, i) => i).sort((a, b) => (a % shipments) % concurrency - (b % shipments) % concurrency || a - b);
    const fields: CustodyEventFields[] = order.map((i) => ({
      eventId: hexlify(randomBytes(32)),
      trackingNumber: `BENCH${(i % shipments).toString().padStart(6, '0')}`,
      carrier: 'bench-carrier',
      // each shipment starts with a pick-up (custody rules), then facility scans;
      // --journeys: arrivals and departures at hubs, out for delivery and a delivery last (analytics, lane history)
      eventType: journeys ? journeyStep(Math.floor(i / shipments), Math.ceil(total / shipments)) : i < shipments ? 'PICKED_UP' : 'ARRIVED_AT_FACILITY',
      custodian: 'bench-carrier',
      occurredAt: BigInt(Date.now() - 3_600_000 + i),
      latE6: 52_520_008,
      lonE6: 13_404_954,
      accuracyM: 10,
      locationCode: journeys ? `DE-HUB-${Math.floor((Math.floor(i / shipments) - 1) / 2)}` : 'DE-BER-HUB-1',
      scanMethod: 'BARCODE',
      evidenceHash: ZERO_HASH,
      dataHash: ZERO_HASH,
    }));
    const digests = fields.map((f) => custodyEventDigest(ledger.runtime.domainSeparator, f));
    const signatures = digests.map((d) => {
      const { signature, recid } = secp256k1.ecdsaSign(Buffer.from(d.slice(2), 'hex'), privateKey);
      return hexlify(signature) + (27 + recid).toString(16);
    });
    const events = fields.map((f, i) => ({ ...f, occurredAt: f.occurredAt.toString(), signature: signatures[i] }));

    await step('stateless path (digest + leaf), one core', '', async () => {
      const raw = await createKeccak(256);
      const block = new Uint8Array(64);
      const n = 300_000;
      let t0 = performance.now();
      for (let i = 0; i < n; i++) {
        raw.init();
        raw.update(block);
        raw.digest('binary');
      }
      const keccakRate = perSecond(n, performance.now() - t0);
      t0 = performance.now();
      for (let round = 0; round < 3; round++) {
        for (let i = 0; i < total; i++) {
          const digest = custodyEventDigest(ledger.runtime.domainSeparator, fields[i]);
          custodyLeaf(digest, signaturesHash(signatures[i]), ZERO_HASH);
        }
      }
      report({ row: 'stateless path (digest + leaf), one core', database: '', value: perSecond(3 * total, performance.now() - t0), unit: 'events/s', limit: { value: keccakRate, what: 'keccak256 of 64 B, hash-wasm' }, goal: { value: 100_000, higherIsBetter: true }, note: 'digest, signatures hash and leaf: 5 keccaks per event' });
    });

    let recoverPerCore = NaN;
    await step('signer recovery, one core', '', async () => {
      const requests = digests.slice(0, 5000).map((digest, i) => ({ digest, signature: signatures[i] }));
      const t0 = performance.now();
      const results = recoverSigners(requests);
      recoverPerCore = perSecond(requests.length, performance.now() - t0);
      if (results.some((r) => !r.ok || r.signer !== address.toLowerCase())) throw new Error('a signature did not recover to the device');
      report({ row: 'signer recovery, one core', database: '', value: recoverPerCore, unit: 'signatures/s', note: SECP256K1_BACKEND });
    });

    const query = `mutation($e: [SignedCustodyEventInput!]!) { recordCustodyEvents(events: $e) { outcome } }`;
    let ingestRate = NaN;
    await step('recordCustodyEvents', database, async () => {
      const pgBefore = await postgresUsage();
      const appBefore = process.cpuUsage();
      const loop = monitorEventLoopDelay({ resolution: 5 });
      loop.enable();
      const streams = Array.from({ length: concurrency }, (_, k) => events.filter((_, i) => (Number(events[i].trackingNumber.slice(5)) % concurrency) === k));
      const t0 = performance.now();
      await Promise.all(
        streams.map(async (stream) => {
          for (let i = 0; i < stream.length; i += perCall) {
            const data = (await gql(query, { e: stream.slice(i, i + perCall) })) as { recordCustodyEvents: Array<{ outcome: string; error?: { code: string } }> };
            const rejected = data.recordCustodyEvents.filter((r) => r.outcome !== 'ACCEPTED').length;
            if (rejected) throw new Error(`${rejected} events not accepted`);
          }
        }),
      );
      const ms = performance.now() - t0;
      loop.disable();
      const appCpu = process.cpuUsage(appBefore);
      const pgAfter = await postgresUsage();
      ingestRate = perSecond(total, ms);
      const workers = config.signatureWorkers;
      report({ row: 'recordCustodyEvents, 1,000 events per call', database, value: ingestRate, unit: 'events/s', note: `${concurrency} uploads at a time, ${shipments} shipments`, limit: { value: recoverPerCore * Math.max(1, Math.min(workers, os.availableParallelism())), what: `signer recovery on ${Math.max(1, Math.min(workers, os.availableParallelism()))} core(s)` }, goal: { value: 5_000, higherIsBetter: true } });
      // the longest the event loop was held while calls ran (client and service share this process)
      report({ row: 'event loop blocked during 1,000-event calls', database, value: loop.max / 1e6, unit: 'ms (longest)', goal: { value: 50, higherIsBetter: false }, note: `p99 ${(loop.percentile(99) / 1e6).toFixed(1)} ms; includes this client's own JSON work` });
      report({ row: 'service CPU while ingesting', database, value: ((appCpu.user + appCpu.system) / 1000 / total) * 1000, unit: 'ms per 1,000 events', note: 'this process, workers included: HTTP, GraphQL, checks' });
      if (pgBefore && pgAfter) {
        report({ row: 'PostgreSQL CPU while ingesting', database, value: ((pgAfter.cpuMs - pgBefore.cpuMs) / total) * 1000, unit: 'ms per 1,000 events' });
        report({ row: 'WAL written while ingesting', database, value: (pgAfter.walBytes - pgBefore.walBytes) / total, unit: 'bytes per event' });
      }
      // stored per event once sealed: events, keys and the batch trees, with their indexes
      await ledger.app.get(SealerService).sealNow(true);
      const [size] = await sqlRows<{ bytes: string }>(
        ledger.runtime.dataSource,
        `SELECT sum(pg_total_relation_size(c.oid))::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = current_schema() AND c.relkind = 'r' AND (c.relname LIKE 'custody_events%' OR c.relname LIKE 'merkle_proofs%' OR c.relname IN ('custody_event_keys', 'batch_trees'))`,
      );
      report({ row: 'stored per event, sealed (tables + indexes)', database, value: Number(size.bytes) / total, unit: 'bytes', note: 'custody_events, custody_event_keys, batch_trees (merkle_proofs stays empty)' });
    });

    await step('COPY into a table of the same shape', database, async () => {
      const copy = await copyLimit(ledger, schema);
      report({ row: 'raw COPY, same table shape and indexes', database, value: copy.rowsPerSecond, unit: 'rows/s', note: `${copy.rows} rows` });
      const writes = ledger.app.get(CustodyIngestionService).writeStats;
      report({ row: 'insert path of recordCustodyEvents', database, value: perSecond(writes.rows, writes.ms), unit: 'rows/s', limit: { value: copy.rowsPerSecond, what: 'raw COPY of the same rows' }, note: 'the INSERT … FROM unnest of each call (events, keys, extras), timed inside the service' });
      if (Number.isFinite(ingestRate)) {
        const lower = Math.min(copy.rowsPerSecond, recoverPerCore * Math.max(1, Math.min(config.signatureWorkers, os.availableParallelism())));
        report({ row: 'recordCustodyEvents against the lower limit', database, value: ingestRate, unit: 'events/s', limit: { value: lower, what: 'lower of COPY and signer recovery' }, note: 'goal: ≥ 50% of the lower limit' });
      }
    });
  } finally {
    await closeBenchLedger(ledger, schema, dataDir);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
