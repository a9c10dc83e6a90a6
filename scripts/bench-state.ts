/**
 * Anchored-state update cost (custody-state/1, StateStore.apply), printed as figures (not a test).
 * Usage: npx ts-node --transpile-only scripts/bench-state.ts [--shipments 1000000] [--touched 10000] [--runs 3] [--keys 1000] [--chunk 50000]
 * Runs on PGlite in memory, or on DATABASE_URL (in a throw-away schema, dropped at the end).
 *
 * Fills the state with N shipment records and some signing-key records (untimed), then times R
 * batch updates of K touched records (~90% existing shipments with a new head, ~10% new ones,
 * plus 10 keys), proofAt against the latest state and a state 5 batches old, and checks the
 * stored root against the reference stateRoot() over every record read back. Prints the
 * machine's limits measured in the same run (keccak of 65 bytes, a plain INSERT … unnest of K
 * rows) so the update time can be read against them.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { Client } from 'pg';
import type { DataSource, QueryRunner } from 'typeorm';
import { createKeccak } from 'hash-wasm';
import { loadConfig } from '../src/config/config';
import { openDatabase, sqlRows } from '../src/database/data-source';
import {
  batchRootV2,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  stateInnerHash,
  stateRoot,
  subtree,
  useFastKeccak,
  verifyStateProof,
  type StateLeaf,
} from '../src/state/custody-state';
import { BUCKET_BITS, StateStore, proofAt, recordsAt, type StateRecord } from '../src/state/state-store';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const CARRIER = 'bench-carrier';
const hex32 = (): string => '0x' + randomBytes(32).toString('hex');
const trackingOf = (i: number): string => `BENCH${i.toString().padStart(8, '0')}`;
/** Same id as PostgreSQL's md5('bench-' || i)::uuid, so shipments rows come from one INSERT … SELECT. */
const shipmentIdOf = (i: number): string => {
  const h = createHash('md5').update(`bench-${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
};
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
const median = (xs: number[]): number => pct([...xs].sort((a, b) => a - b), 50);
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(Math.abs(bytes) < 10485760 ? 1 : 0)} MB`;
const ms = (x: number): string => `${x.toFixed(1)} ms`;

/**
 * The fill computes ~1M keys; it predates the fast encoders in custody-state.ts, so the fill uses
 * the same encoding by hand with the hash-wasm keccak, checked against shipmentStateKey /
 * shipmentStateValue on a sample. The timed updates use the reference functions.
 */
async function fastShipmentHashes(): Promise<{ key: (tracking: string) => string; value: (headLeaf: string, count: number) => string }> {
  const hasher = await createKeccak(256);
  const keccakHex = (data: Buffer): string => {
    hasher.init();
    hasher.update(data);
    return '0x' + hasher.digest('hex');
  };
  const word = (n: number): Buffer => {
    const b = Buffer.alloc(32);
    b.writeUInt32BE(n, 28);
    return b;
  };
  const strTail = (s: string): Buffer => {
    const bytes = Buffer.from(s, 'utf8');
    const padded = Buffer.alloc(Math.ceil(bytes.length / 32) * 32);
    bytes.copy(padded);
    return Buffer.concat([word(bytes.length), padded]);
  };
  const encodeStrings = (strs: string[]): Buffer => {
    const tails = strs.map(strTail);
    const heads: Buffer[] = [];
    let offset = 32 * strs.length;
    for (const t of tails) {
      heads.push(word(offset));
      offset += t.length;
    }
    return Buffer.concat([...heads, ...tails]);
  };
  const key = (tracking: string): string => keccakHex(encodeStrings(['custody-state/1:shipment', CARRIER, tracking]));
  const value = (headLeaf: string, count: number): string => {
    const v = Buffer.alloc(64);
    Buffer.from(headLeaf.slice(2), 'hex').copy(v, 0);
    v.writeBigUInt64BE(BigInt(count), 56);
    return keccakHex(v);
  };
  for (let i = 0; i < 200; i++) {
    const t = trackingOf(randomInt(1e8));
    const h = hex32();
    if (key(t) !== shipmentStateKey(CARRIER, t) || value(h, i) !== shipmentStateValue(h, i)) throw new Error('fast shipment hashing differs from custody-state.ts');
  }
  return { key, value };
}

interface Timed {
  seq: string;
  root: string;
  applyMs: number;
  commitMs: number;
  totalMs: number;
  sql: Map<string, number>;
}

const label = (text: string): string => {
  const t = text.replace(/\s+/g, ' ').trim();
  if (/^SELECT nodes FROM state_tops/.test(t)) return 'SELECT a top';
  if (/CROSS JOIN LATERAL \(SELECT leaves, hash, count FROM state_buckets/.test(t)) return 'SELECT touched buckets';
  if (/^INSERT INTO state_buckets/.test(t)) return 'INSERT state_buckets';
  if (/^INSERT INTO state_tops/.test(t)) return 'INSERT state_tops';
  if (/^DELETE FROM state_tops/.test(t)) return 'DELETE old state_tops';
  if (/^INSERT INTO state_records/.test(t)) return 'INSERT state_records';
  if (/^INSERT INTO anchor_batches/.test(t)) return 'INSERT anchor_batches';
  if (/^COMMIT/.test(t)) return 'COMMIT (deferred FK checks)';
  return t.slice(0, 40);
};

async function main(): Promise<void> {
  const shipments = arg('shipments', 1_000_000);
  const touched = arg('touched', 10_000);
  const runs = arg('runs', 3);
  const keyCount = arg('keys', 1000);
  const chunk = arg('chunk', 50_000);
  const keysPerUpdate = Math.min(10, keyCount);
  const newPerUpdate = Math.round((touched - keysPerUpdate) * 0.1);
  const updatedPerUpdate = touched - keysPerUpdate - newPerUpdate;
  const explainRun = arg('explain', 0) === 1;
  const totalShipments = shipments + newPerUpdate * (runs + 1);

  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { LOG_LEVEL: 'error' };
  if (process.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: process.env.DATABASE_URL, DATABASE_SCHEMA: schema });
  else env.PGLITE_IN_MEMORY = '1';
  const config = loadConfig(env);
  const dataSource = await openDatabase(config.database);
  const rows: Array<[string, string]> = [];
  let failed = false;
  try {
    await useFastKeccak();
    const fast = await fastShipmentHashes();
    const store = new StateStore();
    let nextSeq = 0;
    /** State seq → root, and how many shipments (indices 0..n-1) it holds. */
    const roots = new Map<string, string>();
    const inStateAt = new Map<string, number>();

    /** One sealed batch as the sealer does it: apply, the anchor_batches row, commit. */
    const seal = async (records: StateRecord[], explain?: string[]): Promise<Timed> => {
      const seq = String(nextSeq++);
      const runner = dataSource.createQueryRunner();
      await runner.connect();
      const sql = new Map<string, number>();
      const original = runner.query.bind(runner);
      const explained = async (k: string, text: string, params: unknown[]): Promise<unknown> => {
        const plan = (await original(`EXPLAIN (ANALYZE, BUFFERS) ${text}`, params)) as Array<{ 'QUERY PLAN': string }>;
        const lines = plan.map((p) => p['QUERY PLAN']);
        const keep = lines.filter((line, i) => i < 3 || /Trigger|Execution Time/.test(line));
        explain!.push(`-- ${k}`, ...keep.slice(0, 20).map((line) => `   ${line.trim().slice(0, 150)}`));
        return plan;
      };
      (runner as { query: QueryRunner['query'] }).query = (async (text: string, ...rest: unknown[]) => {
        const k = label(text);
        if (explain && /^(INSERT state_|SELECT touched buckets)/.test(k)) {
          const params = (rest[0] as unknown[]) ?? [];
          await explained(k, text, params);
          if (k.startsWith('INSERT')) return [];
          await explained(
            'alternative: one LATERAL … ORDER BY seq DESC LIMIT 1 per bucket',
            `SELECT w.idx, b.leaves FROM unnest($1::int[]) AS w(idx) CROSS JOIN LATERAL (SELECT s.leaves FROM state_buckets s WHERE s.idx = w.idx ORDER BY s.seq DESC LIMIT 1) b`,
            params,
          );
        }
        const t0 = performance.now();
        try {
          return await (original as (...a: unknown[]) => Promise<unknown>)(text, ...rest);
        } finally {
          sql.set(k, (sql.get(k) ?? 0) + performance.now() - t0);
        }
      }) as QueryRunner['query'];
      try {
        const t0 = performance.now();
        await runner.startTransaction();
        if (explain) {
          await store.apply(runner, seq, records);
          await runner.rollbackTransaction();
          return { seq, root: '', applyMs: 0, commitMs: 0, totalMs: 0, sql };
        }
        const state = await store.apply(runner, seq, records);
        const t1 = performance.now();
        const eventsRoot = hex32();
        await runner.query(
          `INSERT INTO anchor_batches (seq, root, leaf_count, tree_version, events_root, state_root, state_changes) VALUES ($1, $2, 1, 2, $3, $4, $5)`,
          [seq, batchRootV2(eventsRoot, state.root), eventsRoot, state.root, state.changed],
        );
        const t2 = performance.now();
        await runner.commitTransaction();
        const t3 = performance.now();
        roots.set(seq, state.root);
        return { seq, root: state.root, applyMs: t1 - t0, commitMs: t3 - t2, totalMs: t3 - t0, sql };
      } catch (err) {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
        throw err;
      } finally {
        await runner.release();
      }
    };

    // ---- fill (untimed in the results) ----
    const fillStart = performance.now();
    const [{ id: carrierId }] = await sqlRows<{ id: string }>(dataSource, `INSERT INTO organizations (slug, name, kind) VALUES ($1, 'Bench carrier', 'CARRIER') RETURNING id`, [CARRIER]);
    await dataSource.query(
      `INSERT INTO shipments (id, carrier_id, tracking_number)
       SELECT md5('bench-' || i)::uuid, $1, 'BENCH' || lpad(i::text, 8, '0') FROM generate_series(0, $2::int - 1) AS i`,
      [carrierId, totalShipments],
    );
    const [probe] = await sqlRows<{ id: string; tracking_number: string }>(dataSource, `SELECT id, tracking_number FROM shipments WHERE tracking_number = $1`, [trackingOf(12345 % totalShipments)]);
    if (probe.id !== shipmentIdOf(12345 % totalShipments)) throw new Error('shipment ids differ between PostgreSQL and the script');
    const shipmentsMs = performance.now() - fillStart;

    const counts = new Uint32Array(totalShipments);
    const shipmentRecord = (i: number, reference: boolean): StateRecord => {
      const headLeaf = hex32();
      const eventCount = ++counts[i];
      const trackingNumber = trackingOf(i);
      return {
        kind: 'SHIPMENT',
        key: reference ? shipmentStateKey(CARRIER, trackingNumber) : fast.key(trackingNumber),
        valueHash: reference ? shipmentStateValue(headLeaf, eventCount) : fast.value(headLeaf, eventCount),
        shipmentId: shipmentIdOf(i),
        carrier: CARRIER,
        trackingNumber,
        headLeaf,
        eventCount,
      };
    };
    const keyAddresses = Array.from({ length: keyCount }, () => '0x' + randomBytes(20).toString('hex'));
    const keyRecord = (address: string, revoked: boolean): StateRecord => {
      const validFromMs = '1577836800000';
      const revokedAtMs = revoked ? String(Date.now()) : null;
      return { kind: 'SIGNING_KEY', key: signingKeyStateKey(address), valueHash: signingKeyStateValue(CARRIER, validFromMs, revokedAtMs), address, organization: CARRIER, validFromMs, revokedAtMs };
    };
    let inState = 0;
    let applyFillMs = 0;
    for (let from = 0; from < shipments; from += chunk) {
      const to = Math.min(shipments, from + chunk);
      const records: StateRecord[] = [];
      if (from === 0) for (const a of keyAddresses) records.push(keyRecord(a, false));
      for (let i = from; i < to; i++) records.push(shipmentRecord(i, false));
      const t = await seal(records);
      applyFillMs += t.totalMs;
      inState = to;
      inStateAt.set(t.seq, inState);
      process.stderr.write(`\rfill: ${to}/${shipments} (seq ${t.seq}, ${t.totalMs.toFixed(0)} ms)   `);
    }
    process.stderr.write('\n');
    const fillMs = performance.now() - fillStart;
    const fillSeqs = nextSeq;

    // ---- timed updates ----
    const updates: Array<Timed & { rssDelta: number; buildMs: number }> = [];
    const updateRecords = (): StateRecord[] => {
      const picked = new Set<number>();
      while (picked.size < updatedPerUpdate) picked.add(randomInt(inState));
      const records: StateRecord[] = [...picked].map((i) => shipmentRecord(i, true));
      for (let i = inState; i < inState + newPerUpdate; i++) records.push(shipmentRecord(i, true));
      const keyPicked = new Set<number>();
      while (keyPicked.size < keysPerUpdate) keyPicked.add(randomInt(keyCount));
      for (const k of keyPicked) records.push(keyRecord(keyAddresses[k], true));
      return records;
    };
    for (let r = 0; r < runs; r++) {
      const b0 = performance.now();
      const records = updateRecords();
      const buildMs = performance.now() - b0;
      global.gc?.();
      const rss0 = process.memoryUsage().rss;
      const t = await seal(records);
      const rssDelta = process.memoryUsage().rss - rss0;
      inState += newPerUpdate;
      inStateAt.set(t.seq, inState);
      updates.push({ ...t, rssDelta, buildMs });
      process.stderr.write(`update ${r + 1}/${runs}: ${t.totalMs.toFixed(0)} ms\n`);
    }
    const latest = String(nextSeq - 1);
    const old = String(Math.max(0, nextSeq - 1 - 5));

    // ---- proofAt: 100 random keys against the latest state and one 5 batches old ----
    const proofTimes = async (seq: string): Promise<{ p50: number; p99: number; bad: number; depth: number }> => {
      const runner = dataSource.createQueryRunner();
      await runner.connect();
      try {
        const n = inStateAt.get(seq)!;
        const keys = Array.from({ length: 100 }, () => fast.key(trackingOf(randomInt(n))));
        const times: number[] = [];
        let bad = 0;
        let depth = 0;
        for (const key of keys) {
          const t0 = performance.now();
          const proof = await proofAt(runner, key, seq, roots.get(seq)!);
          times.push(performance.now() - t0);
          const [rec] = await recordsAt(runner, [key], seq);
          if (!rec || !verifyStateProof(roots.get(seq)!, key, rec.value_hash, proof)) bad++;
          depth += proof.length;
        }
        times.sort((a, b) => a - b);
        return { p50: pct(times, 50), p99: pct(times, 99), bad, depth: depth / keys.length };
      } finally {
        await runner.release();
      }
    };
    const proofLatest = await proofTimes(latest);
    const proofOld = await proofTimes(old);

    // ---- correctness: stored root = reference stateRoot() over every record read back ----
    const c0 = performance.now();
    const all = await sqlRows<{ key: string; value_hash: string }>(dataSource, `SELECT DISTINCT ON (key) key, value_hash FROM state_records ORDER BY key, seq DESC`);
    const reference = stateRoot(all.map((r) => ({ key: r.key, valueHash: r.value_hash })));
    const [anchored] = await sqlRows<{ state_root: string }>(dataSource, `SELECT state_root FROM anchor_batches WHERE seq = $1`, [latest]);
    const checkMs = performance.now() - c0;
    const expectedRecords = inState + keyCount;
    const rootOk = reference === roots.get(latest) && anchored.state_root === reference && all.length === expectedRecords;
    const proofsOk = proofLatest.bad === 0 && proofOld.bad === 0;
    failed = !rootOk || !proofsOk;

    // ---- the machine's limits, same run ----
    const hasher = await createKeccak(256);
    const input = randomBytes(65);
    const HASHES = 500_000;
    let h0 = performance.now();
    for (let i = 0; i < HASHES; i++) {
      hasher.init();
      hasher.update(input);
      Buffer.from(hasher.digest('binary'));
    }
    const keccakPerSec = HASHES / ((performance.now() - h0) / 1000);
    const l = randomBytes(32);
    const rr = randomBytes(32);
    h0 = performance.now();
    for (let i = 0; i < HASHES; i++) stateInnerHash(l, rr);
    const innerPerSec = HASHES / ((performance.now() - h0) / 1000);

    await dataSource.query(`CREATE TABLE bench_scratch (LIKE state_records INCLUDING ALL)`);
    const scratchMs: number[] = [];
    for (let r = 0; r < runs; r++) {
      const recs = Array.from({ length: touched }, (_, i) => shipmentRecord(i % totalShipments, false));
      const runner = dataSource.createQueryRunner();
      await runner.connect();
      try {
        const t0 = performance.now();
        await runner.startTransaction();
        await runner.query(
          `INSERT INTO bench_scratch (key, seq, kind, value_hash, shipment_id, head_leaf, event_count)
           SELECT u.key, $1, u.kind, u.value_hash, u.shipment_id, u.head_leaf, u.event_count
             FROM unnest($2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::bigint[]) AS u(key, kind, value_hash, shipment_id, head_leaf, event_count)`,
          [r, recs.map((x) => x.key), recs.map((x) => x.kind), recs.map((x) => x.valueHash), recs.map((x) => (x.kind === 'SHIPMENT' ? x.shipmentId : null)), recs.map((x) => (x.kind === 'SHIPMENT' ? x.headLeaf : null)), recs.map((x) => (x.kind === 'SHIPMENT' ? x.eventCount : null))],
        );
        await runner.commitTransaction();
        scratchMs.push(performance.now() - t0);
      } finally {
        await runner.release();
      }
    }
    await dataSource.query(`DROP TABLE bench_scratch`);

    // ---- profile of the median update: where the time goes ----
    const med = [...updates].sort((a, b) => a.totalMs - b.totalMs)[Math.floor(updates.length / 2)];
    const [bucketStats] = await sqlRows<{ buckets: number; leaves: string; nodes: number; bucket_bytes: string }>(
      dataSource,
      `SELECT (SELECT count(*)::int FROM state_buckets WHERE seq = $1) AS buckets,
              (SELECT (sum(length(leaves)) / 64)::bigint::text FROM state_buckets WHERE seq = $1) AS leaves,
              (SELECT count(*)::int FROM state_buckets WHERE seq = $1) AS nodes,
              (SELECT sum(length(leaves))::bigint::text FROM state_buckets WHERE seq = $1) AS bucket_bytes`,
      [med.seq],
    );
    // the bucket subtrees this update rebuilt, timed again here (hashing + recursion), plus one hash per changed top node
    const rebuilt = await sqlRows<{ leaves: Uint8Array }>(dataSource, `SELECT leaves FROM state_buckets WHERE seq = $1`, [med.seq]);
    const unpacked = rebuilt.map((b) => {
      const buf = Buffer.from(b.leaves);
      const leaves: StateLeaf[] = [];
      for (let i = 0; i < buf.length; i += 64) leaves.push({ key: buf.subarray(i, i + 32), valueHash: buf.subarray(i + 32, i + 64) });
      return leaves;
    });
    const s0 = performance.now();
    for (const leaves of unpacked) subtree(leaves, BUCKET_BITS);
    const subtreeMs = performance.now() - s0;
    const hashes = 2 * Number(bucketStats.leaves) + bucketStats.nodes;
    const topHashMs = (bucketStats.nodes / innerPerSec) * 1000;
    const [versions] = await sqlRows<{ avg: string }>(
      dataSource,
      `SELECT round(avg(n), 1)::text AS avg FROM (SELECT count(*) AS n FROM state_buckets WHERE idx IN (SELECT idx FROM state_buckets WHERE seq = $1) AND seq < $1 GROUP BY idx) v`,
      [med.seq],
    );
    const sizes = await sqlRows<{ t: string; size: string }>(
      dataSource,
      `SELECT t, pg_total_relation_size(t)::text AS size FROM unnest(ARRAY['state_records','state_tops','state_buckets']) AS t`,
    );
    const explainLines: string[] = [];
    if (explainRun) await seal(updateRecords(), explainLines);
    const sqlInApply = [...med.sql].filter(([k]) => !/^(COMMIT|INSERT anchor_batches|START TRANSACTION)/.test(k)).reduce((s, [, v]) => s + v, 0);

    // ---- report ----
    const [{ size }] = await sqlRows<{ size: string }>(
      dataSource,
      `SELECT (pg_total_relation_size('state_records') + pg_total_relation_size('state_tops') + pg_total_relation_size('state_buckets'))::text AS size`,
    );
    const totals = updates.map((u) => u.totalMs);
    rows.push(
      ['database', process.env.DATABASE_URL ? `PostgreSQL (${schema}, dropped at the end)` : 'PGlite (in memory)'],
      ['ledger state', `${shipments} shipments + ${keyCount} signing keys; ${fillSeqs} fill batches of ${chunk}; state tables ${mb(Number(size))}`],
      ['fill (not counted)', `${(fillMs / 1000).toFixed(1)} s (shipments rows ${(shipmentsMs / 1000).toFixed(1)} s, apply+commit ${(applyFillMs / 1000).toFixed(1)} s)`],
      ['update batch', `${touched} records: ${updatedPerUpdate} updated shipments, ${newPerUpdate} new, ${keysPerUpdate} keys`],
    );
    updates.forEach((u, i) =>
      rows.push([
        `  run ${i + 1} (seq ${u.seq})`,
        `${ms(u.totalMs)} total (apply ${ms(u.applyMs)}, commit ${ms(u.commitMs)}); ${Math.round((touched / u.totalMs) * 1000)} records/s; RSS ${u.rssDelta >= 0 ? '+' : ''}${mb(u.rssDelta)}`,
      ]),
    );
    rows.push(
      ['update, median', `${ms(median(totals))} (${Math.round((touched / median(totals)) * 1000)} records/s)`],
      ['proofAt latest (100 keys)', `p50 ${ms(proofLatest.p50)}, p99 ${ms(proofLatest.p99)}; ${proofLatest.depth.toFixed(1)} siblings avg; ${proofLatest.bad === 0 ? 'all verify' : `${proofLatest.bad} FAIL`}`],
      [`proofAt seq ${old} (5 older)`, `p50 ${ms(proofOld.p50)}, p99 ${ms(proofOld.p99)}; ${proofOld.bad === 0 ? 'all verify' : `${proofOld.bad} FAIL`}`],
      ['correctness', `${rootOk ? 'OK' : 'FAIL'}: stored root ${roots.get(latest)} ${rootOk ? '=' : '≠'} stateRoot() over ${all.length} records read back (${expectedRecords} expected) (${(checkMs / 1000).toFixed(1)} s)`],
      ['limit: keccak 65 B (hash-wasm)', `${(keccakPerSec / 1e6).toFixed(2)} M/s raw; stateInnerHash ${(innerPerSec / 1e6).toFixed(2)} M/s`],
      [`limit: INSERT…unnest ${touched} rows`, `${ms(median(scratchMs))} median incl. commit (state_records shape, PK + index, no FK)`],
      [`profile of run (seq ${med.seq})`, `${ms(med.totalMs)} total; touched ${bucketStats.buckets} buckets, ${bucketStats.leaves} leaves (${mb(Number(bucketStats.bucket_bytes))} rewritten), ${bucketStats.nodes} top nodes`],
    );
    for (const [k, v] of [...med.sql].sort((a, b) => b[1] - a[1])) rows.push([`  sql: ${k}`, ms(v)]);
    rows.push(
      ['  js in apply (apply − its sql)', `${ms(med.applyMs - sqlInApply)}: bucket subtrees ${ms(subtreeMs)} (re-timed), top nodes ≈ ${ms(topHashMs)}; ≈ ${hashes} hashes; rest is unpack/merge/sort/pack/hex`],
      ['  versions read per touched bucket', `${versions.avg} older versions each (the DISTINCT ON read scans them all)`],
      ['  table sizes', sizes.map((x) => `${x.t} ${mb(Number(x.size))}`).join(', ')],
      ['  building the records (untimed)', `${ms(med.buildMs)} (shipmentStateKey/shipmentStateValue of src/state/custody-state.ts, as the sealer computes them)`],
    );
    console.log('');
    for (const [k, v] of rows) console.log(`${k.padEnd(40)} ${v}`);
    if (explainLines.length) console.log(['', 'EXPLAIN ANALYZE of one more update (FK checks made immediate, rolled back):', ...explainLines].join('\n'));
  } finally {
    await dataSource.destroy();
    if (process.env.DATABASE_URL) {
      const client = new Client({ connectionString: process.env.DATABASE_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  }
  if (failed) {
    console.error('correctness check FAILED');
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
