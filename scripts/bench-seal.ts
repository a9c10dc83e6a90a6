/**
 * Sealing cost (SealerService.sealNow over N pending events in one batch), printed as figures (not a test).
 * Usage: npx ts-node --transpile-only scripts/bench-seal.ts [--events 100000,1000000] [--per-shipment 10] [--legacy-up-to 100000] [--backends pglite,postgres] [--explain]
 * Seals on PGlite (in memory) and, with DATABASE_URL, on PostgreSQL (a throw-away schema, dropped at the end).
 *
 * Each measurement runs in a process of its own, so its peak RSS is its own: the pending events
 * are written with one INSERT … SELECT FROM generate_series (untimed; N/per-shipment shipments,
 * one carrier and key), then VACUUM ANALYZE, then one sealNow is timed (wall clock, and time per
 * kind of statement), RSS is sampled every 10 ms while it runs, and the proof storage it added is
 * measured (batch_trees and merkle_proofs, tables, TOAST and indexes). A few proofs are then read
 * as inclusionProof reads them and folded to the anchored root. Next to it, in the same run, the
 * limit: the flat tree alone (FlatTree.build) over N random leaves, its time and RSS, and the ratio.
 * Up to --legacy-up-to events, the sealer as it was before (merkle_proofs rows) is measured too.
 * --explain takes the chunk UPDATE of custody_events apart (updateAnatomy), which is what bounds the seal.
 */
import { execFileSync } from 'node:child_process';
import { report, reportFailure } from './bench/report';
import { randomBytes } from 'node:crypto';
import type { DataSource, QueryRunner } from 'typeorm';
import { loadConfig } from '../src/config/config';
import { inTransaction, openDatabase, sqlRows } from '../src/database/data-source';
import { SEAL_CHUNK, SealerService } from '../src/batching/sealer.service';
import { buildReferenceTree, FlatTree, NODE_BYTES, rootFromProof } from '../src/batching/merkle';
import { StateStore } from '../src/state/state-store';
import { batchRootV2, stateCommitment } from '../src/state/custody-state';
import { eventProofSql } from '../src/batching/batch-trees';
import type { Runtime } from '../src/common/runtime';

const argOf = (name: string): string | undefined => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
};
const flag = (name: string): boolean => process.argv.includes(`--${name}`);
const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MB`;
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

/** Samples RSS every 10 ms until stopped: the peak during a piece of work. */
function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 10);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

/**
 * N pending events (signed fields are placeholders: sealing reads only ids and leaves), spread
 * over N/perShipment shipments of one carrier, by one key. Ids 1..N, leaves distinct.
 */
export async function fillPendingEvents(ds: DataSource | QueryRunner, events: number, perShipment: number, prefix = 'bench'): Promise<void> {
  const shipments = Math.max(1, Math.ceil(events / perShipment));
  const [{ id: org }] = await sqlRows<{ id: string }>(ds, `INSERT INTO organizations (slug, name, kind) VALUES ($1, 'Bench carrier', 'CARRIER') RETURNING id`, [`${prefix}-carrier`]);
  const signer = '0x' + randomBytes(20).toString('hex');
  await sqlRows(ds, `INSERT INTO signing_keys (address, organization_id, valid_from) VALUES ($1, $2, now() - interval '1 day')`, [signer, org]);
  await sqlRows(
    ds,
    `INSERT INTO shipments (id, carrier_id, tracking_number) SELECT md5($3 || '-' || i)::uuid, $1, upper($3) || lpad(i::text, 8, '0') FROM generate_series(0, $2::int - 1) AS i`,
    [org, shipments, prefix],
  );
  await sqlRows(
    ds,
    `INSERT INTO custody_events (event_id, shipment_id, tracking_number, carrier, event_type, custodian, custodian_id, occurred_at_ms, lat_e6, lon_e6, accuracy_m, location_code, scan_method,
       evidence_hash, data_hash, signature, signer, digest, signatures_hash, previous_leaf, leaf, signer_organization_id, flags, dual_attested)
     SELECT '0x' || encode(sha256(($5 || '-e' || i)::bytea), 'hex'), md5($5 || '-' || (i % $2))::uuid, upper($5) || lpad((i % $2)::text, 8, '0'), $5 || '-carrier', 'IN_TRANSIT', $5 || '-carrier', $3,
       1700000000000 + i, 0, 0, 10, 'BENCH', 'BARCODE', '0x' || repeat('00', 32), '0x' || repeat('00', 32), '0x' || repeat('11', 65), $4,
       '0x' || encode(sha256(($5 || '-d' || i)::bytea), 'hex'), '0x' || repeat('22', 32), '0x' || repeat('00', 32), '0x' || encode(sha256(($5 || '-l' || i)::bytea), 'hex'), $3, '{}'::text[], false
     FROM generate_series(0, $1::int - 1) AS i`,
    [events, shipments, org, signer, prefix],
  );
}

/**
 * The sealer as it was before batch_trees (issue 11), for the before/after figures in the same
 * run: one read of every pending event, the merkletreejs tree with every proof, the state, one
 * UPDATE … WHERE id = ANY and one merkle_proofs row per event.
 */
async function legacySeal(ds: DataSource, max: number): Promise<number> {
  const state = new StateStore();
  return inTransaction(ds, async (runner) => {
    const events = await sqlRows<{ id: string; event_id: string; leaf: string }>(runner, `SELECT id, event_id, leaf FROM custody_events WHERE batch_seq IS NULL ORDER BY id LIMIT $1 FOR UPDATE`, [max]);
    const tree = await buildReferenceTree(events.map((e) => e.leaf));
    const [{ seq }] = await sqlRows<{ seq: string }>(runner, `SELECT coalesce(max(seq) + 1, 0)::text AS seq FROM anchor_batches`);
    const first = (await StateStore.latestSeq(runner)) === null;
    const records = await state.recordsFor(runner, seq, events.map((e) => e.id), first);
    const applied = await state.apply(runner, seq, records);
    const commitment = stateCommitment(tree.root, applied.root);
    await runner.query(`INSERT INTO anchor_batches (seq, root, leaf_count, tree_version, events_root, state_root, state_changes) VALUES ($1, $2, $3, 2, $4, $5, $6)`, [
      seq, batchRootV2(tree.root, applied.root), events.length, tree.root, applied.root, applied.changed,
    ]);
    await runner.query(`UPDATE custody_events SET batch_seq = $1 WHERE id = ANY($2::bigint[])`, [seq, events.map((e) => e.id)]);
    await runner.query(
      `INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof, event_row_id)
       SELECT u.event_id, $1, u.leaf_index, u.proof::text[], u.event_row_id FROM unnest($2::text[], $3::int[], $4::text[], $5::bigint[]) AS u(event_id, leaf_index, proof, event_row_id)`,
      [seq, events.map((e) => e.event_id), events.map((_, i) => i), tree.proofs.map((p) => `{${[...p, commitment].join(',')}}`), events.map((e) => e.id)],
    );
    return events.length;
  });
}

/**
 * What bounds the chunk UPDATE: in a transaction rolled back before the seal, the sealer's UPDATE
 * of the first chunk, and the same UPDATE on a copy of those rows without indexes, foreign keys or
 * triggers (the heap alone), both under EXPLAIN ANALYZE; and the indexes a non-HOT update writes.
 */
async function updateAnatomy(ds: DataSource, chunk: number): Promise<string[]> {
  const out: string[] = [];
  const runner = ds.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  try {
    const zero = '0x' + '00'.repeat(32);
    await runner.query(`INSERT INTO anchor_batches (seq, root, events_root, leaf_count, status) VALUES (999999999, $1, $1, 1, 'SEALED')`, [zero]);
    const [{ ids }] = await sqlRows<{ ids: string[] }>(runner, `SELECT array_agg(id ORDER BY id)::text[] AS ids FROM (SELECT id FROM custody_events WHERE batch_seq IS NULL ORDER BY id LIMIT $1) p`, [chunk]);
    const [lo, hi] = [ids[0], ids[ids.length - 1]];
    await runner.query(`CREATE TEMP TABLE heap_only AS SELECT * FROM custody_events WHERE id BETWEEN $1 AND $2`, [lo, hi]);
    const indexes = await sqlRows<{ name: string; partial: boolean }>(
      runner,
      `SELECT c.relname AS name, i.indpred IS NOT NULL AS partial FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = (SELECT tableoid FROM custody_events WHERE id = $1)::oid ORDER BY 1`,
      [lo],
    );
    out.push(`indexes on the partition (a non-HOT update writes an entry in each whose predicate the new row meets): ${indexes.map((x) => x.name + (x.partial ? ' (partial)' : '')).join(', ')}`);
    for (const [name, table] of [['sealer UPDATE', 'custody_events'], ['same UPDATE, heap only (copy without indexes, FK, triggers)', 'heap_only']]) {
      const plan = (await runner.query(
        `EXPLAIN (ANALYZE, BUFFERS) UPDATE ${table} e SET batch_seq = 999999999, leaf_index = u.n - 1 FROM unnest($1::bigint[]) WITH ORDINALITY AS u(id, n) WHERE e.id = u.id AND e.id BETWEEN $2 AND $3`,
        [ids, lo, hi],
      )) as Array<{ 'QUERY PLAN': string }>;
      out.push(`-- ${name}, ${ids.length} rows`, ...plan.map((p) => p['QUERY PLAN']).filter((l, i) => i < 3 || /Hash Join|Trigger|Execution Time/.test(l)));
    }
    const [hot] = await sqlRows<{ upd: string; hot: string }>(runner, `SELECT sum(n_tup_upd)::text AS upd, sum(n_tup_hot_upd)::text AS hot FROM pg_stat_xact_user_tables WHERE relname LIKE 'custody_events%'`);
    out.push(`updates in this transaction: ${hot.upd ?? 0}, of them HOT: ${hot.hot ?? 0}`);
  } finally {
    await runner.rollbackTransaction();
    await runner.release();
  }
  return out;
}

const label = (text: string): string => {
  const t = text.replace(/\s+/g, ' ').trim();
  if (/^SELECT id, (event_id, )?leaf FROM custody_events/.test(t)) return 'read pending (FOR UPDATE)';
  if (/^INSERT INTO merkle_proofs/.test(t)) return 'INSERT merkle_proofs';
  if (/^UPDATE custody_events/.test(t)) return 'UPDATE custody_events';
  if (/^INSERT INTO batch_trees/.test(t)) return 'INSERT batch_trees';
  if (/state_|WITH batch AS|signing_keys|custody_delegations|shipment_id = ANY/.test(t)) return 'state map (recordsFor/apply)';
  if (/^COMMIT/.test(t)) return 'COMMIT';
  return 'other';
};

interface SealResult {
  backend: string;
  events: number;
  wallMs: number;
  treeMs: number;
  baseRss: number;
  peakRss: number;
  storedBytes: number;
  perKind: Record<string, number>;
  rssAt: Record<string, number>;
  proofReadMs: number;
  explain: string[];
}

async function childSeal(backend: string, events: number, perShipment: number, explain: boolean, legacy: boolean): Promise<SealResult> {
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { LOG_LEVEL: 'error', BATCH_MAX_EVENTS: String(events) };
  if (backend === 'postgres') Object.assign(env, { DATABASE_URL: process.env.DATABASE_URL!, DATABASE_SCHEMA: schema });
  else env.PGLITE_IN_MEMORY = '1';
  const config = loadConfig(env);
  const database = config.database.kind === 'postgres' ? { ...config.database, timeouts: undefined } : config.database;
  const ds = await openDatabase(database);
  try {
    await fillPendingEvents(ds, events, perShipment);
    await ds.query(`VACUUM ANALYZE`);
    const perKind: Record<string, number> = {};
    /** the highest RSS seen as a statement of each kind returned: where the peak is */
    const rssAt: Record<string, number> = {};
    const explained: string[] = explain ? await updateAnatomy(ds, SEAL_CHUNK) : [];
    const create = ds.createQueryRunner.bind(ds);
    ds.createQueryRunner = ((...a: Parameters<DataSource['createQueryRunner']>) => {
      const runner = create(...a);
      const original = runner.query.bind(runner) as (...q: unknown[]) => Promise<unknown>;
      (runner as { query: unknown }).query = async (text: string, ...rest: unknown[]) => {
        const k = label(text);
        const t0 = performance.now();
        try {
          return await original(text, ...rest);
        } finally {
          perKind[k] = (perKind[k] ?? 0) + performance.now() - t0;
          rssAt[k] = Math.max(rssAt[k] ?? 0, process.memoryUsage.rss());
        }
      };
      return runner;
    }) as DataSource['createQueryRunner'];
    const sealer = new SealerService({ config: { ...config, database }, dataSource: ds } as unknown as Runtime);
    const originalBuild = FlatTree.build;
    let treeMs = 0;
    FlatTree.build = async (leaves: Buffer, pause?: () => Promise<unknown>) => {
      const t0 = performance.now();
      try {
        return await originalBuild.call(FlatTree, leaves, pause);
      } finally {
        treeMs += performance.now() - t0;
      }
    };
    global.gc?.();
    const baseRss = process.memoryUsage.rss();
    const sampler = rssSampler();
    const t0 = performance.now();
    const batch = legacy ? { leafCount: await legacySeal(ds, events), seq: 0n } : await sealer.sealNow(true);
    const wallMs = performance.now() - t0;
    const peakRss = sampler.stop();
    FlatTree.build = originalBuild;
    ds.createQueryRunner = create;
    if (!batch || batch.leafCount !== events) throw new Error(`sealed ${batch?.leafCount ?? 0} of ${events} events`);
    const [{ bytes }] = await sqlRows<{ bytes: string }>(
      ds,
      `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::text AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind = 'r' AND (c.relname = 'batch_trees' OR c.relname LIKE 'merkle_proofs%')`,
    );
    // proofs as inclusionProof reads them: first, last, and some in between, each folds to the anchored root
    const proof = eventProofSql('e', 'p');
    const indexes = [0, events - 1, ...Array.from({ length: 8 }, () => Math.floor(Math.random() * events))];
    const sample = await sqlRows<{ event_id: string }>(
      ds,
      legacy ? `SELECT event_id FROM merkle_proofs WHERE leaf_index = ANY($1::int[])` : `SELECT event_id FROM custody_events WHERE batch_seq IS NOT NULL AND leaf_index = ANY($1::int[])`,
      [indexes],
    );
    let proofReadMs = 0;
    for (const { event_id } of sample) {
      const t1 = performance.now();
      const [row] = await sqlRows<{ leaf: string; proof: string[]; root: string }>(
        ds,
        `SELECT e.leaf, ${proof.proof} AS proof, b.root FROM custody_events e JOIN anchor_batches b ON b.seq = e.batch_seq LEFT JOIN merkle_proofs p ON p.event_id = e.event_id WHERE e.event_id = $1`,
        [event_id],
      );
      proofReadMs = Math.max(proofReadMs, performance.now() - t1);
      if ((await rootFromProof(row.leaf, row.proof)) !== row.root) throw new Error(`the proof of event ${event_id} does not fold to the batch root`);
    }
    return { backend, events, wallMs, treeMs, baseRss, peakRss, storedBytes: Number(bytes), perKind, rssAt, proofReadMs, explain: explained };
  } finally {
    if (backend === 'postgres') await ds.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined);
    await ds.destroy();
  }
}

/** The limit: the flat tree alone over N random leaves (random, so no structure helps it). */
async function childTree(events: number): Promise<{ ms: number; rss: number }> {
  const leaves = randomBytes(events * NODE_BYTES);
  await FlatTree.build(randomBytes(64)); // hasher compiled before timing
  global.gc?.();
  const base = process.memoryUsage.rss();
  const sampler = rssSampler();
  const t0 = performance.now();
  const tree = await FlatTree.build(leaves);
  const ms = performance.now() - t0;
  const rss = sampler.stop() - base;
  if (tree.leafCount !== events) throw new Error('wrong leaf count');
  return { ms, rss };
}

function runChild(args: string[]): unknown {
  const out = execFileSync(process.execPath, ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
  const line = out.trim().split('\n').pop()!;
  return JSON.parse(line);
}

async function main(): Promise<void> {
  const child = argOf('child');
  const events = (argOf('events') ?? '100000,1000000').split(',').map(Number);
  const perShipment = Number(argOf('per-shipment') ?? 10);
  // the sealer as it was (--legacy-up-to N): its figures next to the new ones, for sizes up to N
  const legacyUpTo = Number(argOf('legacy-up-to') ?? 100_000);
  if (child === 'seal') {
    process.stdout.write(JSON.stringify(await childSeal(argOf('backend')!, events[0], perShipment, flag('explain'), flag('legacy'))) + '\n');
    return;
  }
  if (child === 'tree') {
    process.stdout.write(JSON.stringify(await childTree(events[0])) + '\n');
    return;
  }
  const backends = (argOf('backends') ?? ['pglite', ...(process.env.DATABASE_URL ? ['postgres'] : [])].join(',')).split(',');
  process.stdout.write(`bench-seal: ${events.join(', ')} pending events, ${perShipment} per shipment, backends ${backends.join(', ')}; node ${process.version}\n`);
  for (const n of events) {
    let tree: { ms: number; rss: number };
    try {
      tree = runChild(['--child', 'tree', '--events', String(n)]) as { ms: number; rss: number };
    } catch (err) {
      reportFailure(`flat tree over ${n.toLocaleString('en-US')} leaves`, '', err);
      continue;
    }
    process.stdout.write(`\n== ${n.toLocaleString('en')} events\nlimit: flat tree alone ${s(tree.ms)}, +${mb(tree.rss)} RSS\n`);
    for (const [backend, legacy] of backends.flatMap((b) => [...(n <= legacyUpTo ? [[b, true] as const] : []), [b, false] as const])) {
      const database = backend === 'postgres' ? 'PostgreSQL' : 'PGlite (in memory)';
      const row = `sealing ${n.toLocaleString('en-US')} pending events into one batch${legacy ? ', the sealer before issue 11' : ''}`;
      let r: SealResult;
      try {
        r = runChild(['--child', 'seal', '--backend', backend, '--events', String(n), '--per-shipment', String(perShipment), ...(flag('explain') && !legacy ? ['--explain'] : []), ...(legacy ? ['--legacy'] : [])]) as SealResult;
      } catch (err) {
        reportFailure(row, database, err);
        continue;
      }
      const name = `${backend}${legacy ? ' before (merkle_proofs rows)' : ''}`;
      const kinds = Object.entries(r.perKind).sort((a, b) => b[1] - a[1]).map(([k, ms]) => `${k} ${s(ms)}`).join(', ');
      process.stdout.write(
        `${name.padEnd(8)} seal ${s(r.wallMs)} wall (${(r.wallMs / tree.ms).toFixed(1)}× the flat-tree limit), tree build inside ${s(r.treeMs)}; ` +
          `RSS ${mb(r.baseRss)} before, peak +${mb(r.peakRss - r.baseRss)}; proof storage ${(r.storedBytes / n).toFixed(1)} B/event; slowest proof read ${r.proofReadMs.toFixed(1)} ms\n` +
          `         by statement: ${kinds}\n` +
          `         RSS above the start as each kind of statement returned (highest): ${Object.entries(r.rssAt).map(([k, v]) => `${k} +${mb(v - r.baseRss)}`).join(', ')}\n`,
      );
      if (r.explain.length > 0) process.stdout.write(r.explain.map((l) => `         | ${l}`).join('\n') + '\n');
      const million = n >= 1_000_000 && !legacy;
      report({ row, database, value: r.wallMs / 1000, unit: 's', limit: { value: tree.ms / 1000, what: 'the flat tree alone, same leaves' }, ...(million ? { goal: { value: 2, higherIsBetter: false } } : {}), note: `by statement: ${kinds}` });
      report({ row: `${row}: peak memory`, database, value: (r.peakRss - r.baseRss) / 1048576, unit: 'MB above the start', limit: { value: tree.rss / 1048576, what: 'the flat tree alone' }, ...(million ? { goal: { value: 400, higherIsBetter: false } } : {}) });
      report({ row: `${row}: proof storage`, database, value: r.storedBytes / n, unit: 'bytes per event', note: `slowest proof read ${r.proofReadMs.toFixed(1)} ms` });
    }
  }
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  });
}
