import { DataSource, type QueryRunner } from 'typeorm';
import { sqlRows } from '../database/data-source';
import {
  EMPTY,
  ZERO32,
  combine,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  delegationStateKey,
  delegationStateValue,
  subtree,
  subtreeProof,
  toBuf,
  toHex,
  useFastKeccak,
  type StateLeaf,
  type Summary,
} from './custody-state';

/**
 * The state map custody-state/1 in PostgreSQL, updated once per sealed batch in the sealer's
 * transaction, at a cost proportional to the records the batch touches.
 *
 * Storage (an implementation choice; the root is defined by custody-state.ts alone):
 *   - state_buckets: the keys by their first BUCKET_BITS bits; each bucket's sorted leaves
 *     (key ‖ valueHash), its subtree hash and size; a new row per bucket a batch changes;
 *   - state_tops: the levels above the buckets (2^BUCKET_BITS − 1 nodes, heap order; only the
 *     non-empty ones stored), one row per state,
 *     read whole; rows older than the two latest anchored states are deleted (bundles are proven
 *     against the latest anchored one);
 *   - state_records: every record in plain form, a new row per record a batch changes.
 * All are versioned by batch seq, so a proof can be made against an earlier state, in particular
 * the latest anchored one while sealing runs ahead.
 */
/** 2^18 buckets: about 4 keys each at a million keys, so a batch rewrites and rehashes little; the top is up to 10 MB. */
export const BUCKET_BITS = 18;
const TOP_NODES = (1 << BUCKET_BITS) - 1;

export type StateRecord =
  | { kind: 'SHIPMENT'; key: string; valueHash: string; shipmentId: string; carrier: string; trackingNumber: string; headLeaf: string; eventCount: number }
  | { kind: 'SIGNING_KEY'; key: string; valueHash: string; address: string; organization: string; validFromMs: string; revokedAtMs: string | null }
  | { kind: 'DELEGATION'; key: string; valueHash: string; delegationId: string; digest: string; revokedAtMs: string | null };

export interface StateUpdate {
  root: string;
  /** records written with this seq */
  changed: number;
}

/** Levels 0…15 in heap order (node j of level L at 2^L − 1 + j) over the bucket summaries. */
interface Top {
  hashes: Buffer;
  counts: Buffer;
}

const bucketOf = (key: Buffer): number => ((key[0] << 16) | (key[1] << 8) | key[2]) >>> (24 - BUCKET_BITS);
const heap = (level: number, idx: number): number => (1 << level) - 1 + idx;
const asBuffer = (v: Uint8Array | string): Buffer => (typeof v === 'string' ? Buffer.from(v.replace(/^\\x/, ''), 'hex') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));

function unpackLeaves(buf: Buffer): StateLeaf[] {
  const leaves: StateLeaf[] = new Array(buf.length / 64);
  for (let i = 0; i < leaves.length; i++) leaves[i] = { key: buf.subarray(i * 64, i * 64 + 32), valueHash: buf.subarray(i * 64 + 32, i * 64 + 64) };
  return leaves;
}

function packLeaves(leaves: readonly StateLeaf[]): Buffer {
  const out = Buffer.alloc(leaves.length * 64);
  leaves.forEach((l, i) => {
    l.key.copy(out, i * 64);
    l.valueHash.copy(out, i * 64 + 32);
  });
  return out;
}

/** Sorted `stored` with sorted `updates` merged in (an update replaces the leaf of the same key). */
function mergeLeaves(stored: readonly StateLeaf[], updates: readonly StateLeaf[]): StateLeaf[] {
  const out: StateLeaf[] = [];
  let i = 0;
  let j = 0;
  while (i < stored.length || j < updates.length) {
    const c = i >= stored.length ? 1 : j >= updates.length ? -1 : Buffer.compare(stored[i].key, updates[j].key);
    if (c < 0) out.push(stored[i++]);
    else {
      out.push(updates[j++]);
      if (c === 0) i++;
    }
  }
  return out;
}

function emptyTop(): Top {
  return { hashes: Buffer.alloc(TOP_NODES * 32), counts: Buffer.alloc(TOP_NODES * 4) };
}

/** Only the non-empty nodes, 40 bytes each (heap index, leaf count, hash): a small ledger's top stays small. */
function packTop(top: Top): Buffer {
  let n = 0;
  for (let h = 0; h < TOP_NODES; h++) if (top.counts.readUInt32BE(h * 4) !== 0) n++;
  const out = Buffer.alloc(n * 40);
  let o = 0;
  for (let h = 0; h < TOP_NODES; h++) {
    const count = top.counts.readUInt32BE(h * 4);
    if (count === 0) continue;
    out.writeUInt32BE(h, o);
    out.writeUInt32BE(count, o + 4);
    top.hashes.copy(out, o + 8, h * 32, h * 32 + 32);
    o += 40;
  }
  return out;
}

function unpackTop(packed: Buffer): Top {
  const top = emptyTop();
  for (let o = 0; o < packed.length; o += 40) {
    const h = packed.readUInt32BE(o);
    packed.copy(top.hashes, h * 32, o + 8, o + 40);
    top.counts.writeUInt32BE(packed.readUInt32BE(o + 4), h * 4);
  }
  return top;
}

function topNode(top: Top, level: number, idx: number): Summary {
  const h = heap(level, idx);
  const count = top.counts.readUInt32BE(h * 4);
  return count === 0 ? EMPTY : { hash: top.hashes.subarray(h * 32, h * 32 + 32), count };
}

export class StateStore {
  /** The seq of the newest state written, or null before the first one. */
  static async latestSeq(runner: QueryRunner | DataSource): Promise<string | null> {
    const [row] = await sqlRows<{ seq: string | null }>(runner, `SELECT max(seq)::text AS seq FROM anchor_batches WHERE tree_version = 2`);
    return row.seq;
  }

  /**
   * The records a batch changes: every shipment with events in it (head leaf and count of its
   * sealed events) and every signing key registered or changed since the last state. The first
   * state also takes in every shipment sealed before state maps existed.
   */
  async recordsFor(runner: QueryRunner, seq: string, eventIds: readonly string[], first: boolean): Promise<StateRecord[]> {
    const shipments = await sqlRows<{ shipment_id: string; carrier: string; tracking_number: string; added: number; head_leaf: string }>(
      runner,
      `WITH batch AS (
         SELECT shipment_id, count(*)::int AS added, (array_agg(leaf ORDER BY id DESC))[1] AS head_leaf FROM custody_events WHERE id = ANY($1::bigint[]) GROUP BY shipment_id
         ${first ? `UNION ALL SELECT shipment_id, 0, (array_agg(leaf ORDER BY id DESC))[1] FROM custody_events WHERE batch_seq IS NOT NULL GROUP BY shipment_id` : ''}
       ), merged AS (SELECT shipment_id, sum(added)::int AS added, (array_agg(head_leaf ORDER BY added DESC))[1] AS head_leaf FROM batch GROUP BY shipment_id)
       SELECT m.shipment_id, o.slug AS carrier, s.tracking_number, m.added, m.head_leaf
         FROM merged m JOIN shipments s ON s.id = m.shipment_id JOIN organizations o ON o.id = s.carrier_id`,
      [eventIds],
    );
    await useFastKeccak();
    const keyed = shipments.map((s) => ({ ...s, key: shipmentStateKey(s.carrier, s.tracking_number) }));
    // how many events each had in the state so far: its latest record, by key (the primary key)
    const previous = await sqlRows<{ key: string; event_count: string }>(
      runner,
      `SELECT w.key, r.event_count::text AS event_count FROM unnest($1::text[]) AS w(key)
         CROSS JOIN LATERAL (SELECT event_count FROM state_records s WHERE s.key = w.key ORDER BY s.seq DESC LIMIT 1) r`,
      [keyed.map((s) => s.key)],
    );
    const before = new Map(previous.map((p) => [p.key, Number(p.event_count)]));
    // a shipment new to the state map: its events sealed before (only ever on the first state)
    const absent = keyed.filter((s) => !before.has(s.key)).map((s) => s.shipment_id);
    const earlier = new Map<string, number>();
    if (absent.length > 0) {
      const rows = await sqlRows<{ shipment_id: string; n: number }>(runner, `SELECT shipment_id, count(*)::int AS n FROM custody_events WHERE shipment_id = ANY($1::uuid[]) AND batch_seq < $2 GROUP BY shipment_id`, [absent, seq]);
      for (const r of rows) earlier.set(r.shipment_id, r.n);
    }
    const records: StateRecord[] = keyed.map((s) => {
      const eventCount = (before.get(s.key) ?? earlier.get(s.shipment_id) ?? 0) + s.added;
      return {
        kind: 'SHIPMENT',
        key: s.key,
        valueHash: shipmentStateValue(s.head_leaf, eventCount),
        shipmentId: s.shipment_id,
        carrier: s.carrier,
        trackingNumber: s.tracking_number,
        headLeaf: s.head_leaf,
        eventCount,
      };
    });
    // delegations registered or revoked since the last state, locked like the keys below, and before
    // them: ingestion takes the same locks in the same order (delegations, then keys, each sorted)
    const delegations = await sqlRows<{ delegation_id: string; digest: string; revoked_at_ms: string | null }>(
      runner,
      `SELECT delegation_id, digest, (extract(epoch FROM revoked_at) * 1000)::bigint::text AS revoked_at_ms FROM custody_delegations WHERE state_pending ORDER BY delegation_id FOR NO KEY UPDATE`,
    );
    if (delegations.length > 0) await runner.query(`UPDATE custody_delegations SET state_pending = false WHERE delegation_id = ANY($1::text[])`, [delegations.map((d) => d.delegation_id)]);
    for (const d of delegations) {
      records.push({ kind: 'DELEGATION', key: delegationStateKey(d.delegation_id), valueHash: delegationStateValue(d.digest, d.revoked_at_ms), delegationId: d.delegation_id, digest: d.digest, revokedAtMs: d.revoked_at_ms });
    }
    // keys: locked, so a revocation racing this seal waits and marks the key pending again; NO KEY
    // UPDATE, so events that reference the key (a KEY SHARE lock) are never blocked by a seal
    const keys = await sqlRows<{ address: string; slug: string; valid_from_ms: string; revoked_at_ms: string | null }>(
      runner,
      `SELECT k.address, o.slug, (extract(epoch FROM k.valid_from) * 1000)::bigint::text AS valid_from_ms,
              (extract(epoch FROM k.revoked_at) * 1000)::bigint::text AS revoked_at_ms
         FROM signing_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.state_pending ORDER BY k.address FOR NO KEY UPDATE OF k`,
    );
    if (keys.length > 0) await runner.query(`UPDATE signing_keys SET state_pending = false WHERE address = ANY($1::text[])`, [keys.map((k) => k.address)]);
    for (const k of keys) {
      records.push({
        kind: 'SIGNING_KEY',
        key: signingKeyStateKey(k.address),
        valueHash: signingKeyStateValue(k.slug, k.valid_from_ms, k.revoked_at_ms),
        address: k.address,
        organization: k.slug,
        validFromMs: k.valid_from_ms,
        revokedAtMs: k.revoked_at_ms,
      });
    }
    return records;
  }

  /** Applies `records` as state `seq` and returns the new root. Runs inside the sealer's transaction. */
  async apply(runner: QueryRunner, seq: string, records: readonly StateRecord[]): Promise<StateUpdate> {
    await useFastKeccak();
    const [latest] = await sqlRows<{ seq: string; state_root: string }>(runner, `SELECT seq::text, state_root FROM anchor_batches WHERE tree_version = 2 ORDER BY anchor_batches.seq DESC LIMIT 1`);
    const base = latest ? await readTop(runner, latest.seq, latest.state_root) : emptyTop();
    // a copy: the cached top of the previous state stays as it was
    const top: Top = { hashes: Buffer.from(base.hashes), counts: Buffer.from(base.counts) };
    const byBucket = new Map<number, StateLeaf[]>();
    for (const r of records) {
      const leaf = { key: toBuf(r.key), valueHash: toBuf(r.valueHash) };
      const b = bucketOf(leaf.key);
      (byBucket.get(b) ?? byBucket.set(b, []).get(b)!).push(leaf);
    }
    const buckets = [...byBucket.keys()];
    // the touched buckets' leaves, and the summaries of their untouched siblings (for the parents above)
    const siblings = [...new Set(buckets.map((b) => b ^ 1))].filter((b) => !byBucket.has(b));
    const reading = sqlRows<{ idx: number; leaves: Uint8Array | null; hash: Uint8Array; count: number }>(
      runner,
      `SELECT w.idx, CASE WHEN w.touched THEN b.leaves END AS leaves, b.hash, b.count FROM unnest($1::int[], $2::boolean[]) AS w(idx, touched)
         CROSS JOIN LATERAL (SELECT leaves, hash, count FROM state_buckets s WHERE s.idx = w.idx ORDER BY s.seq DESC LIMIT 1) b`,
      [[...buckets, ...siblings], [...buckets.map(() => true), ...siblings.map(() => false)]],
    );
    // the plain records do not depend on the tree: the database writes them while the tree is hashed here
    const recordsWritten = this.insertRecords(runner, seq, records);
    recordsWritten.catch(() => undefined); // awaited below; no unhandled rejection meanwhile
    const stored = await reading;
    const current = new Map(stored.filter((s) => s.leaves !== null).map((s) => [s.idx, unpackLeaves(asBuffer(s.leaves!))]));
    const untouched = new Map(stored.filter((s) => s.leaves === null).map((s): [number, Summary] => [s.idx, s.count === 0 ? EMPTY : { hash: Buffer.from(asBuffer(s.hash)), count: s.count }]));
    const rows: Array<{ idx: number; leaves: Buffer; summary: Summary }> = [];
    // the buckets: merge, rehash, and set their summaries as the bottom of the top levels
    const bottom = new Map<number, Summary>();
    for (const [b, updates] of byBucket) {
      updates.sort((x, y) => Buffer.compare(x.key, y.key));
      const leaves = mergeLeaves(current.get(b) ?? [], updates);
      const summary = subtree(leaves, BUCKET_BITS);
      rows.push({ idx: b, leaves: packLeaves(leaves), summary });
      bottom.set(b, summary);
    }
    // the level above the buckets and up: parents of what changed, from the new bottom and the stored top
    let changed = new Set<number>(buckets.map((b) => b >> 1));
    for (const p of changed) {
      const child = (i: number): Summary => bottom.get(i) ?? untouched.get(i) ?? EMPTY;
      setTop(top, BUCKET_BITS - 1, p, combine(child(2 * p), child(2 * p + 1)));
    }
    for (let level = BUCKET_BITS - 2; level >= 0; level--) {
      const parents = new Set<number>();
      for (const i of changed) parents.add(i >> 1);
      for (const p of parents) setTop(top, level, p, combine(topNode(top, level + 1, 2 * p), topNode(top, level + 1, 2 * p + 1)));
      changed = parents;
    }
    await runner.query(
      `INSERT INTO state_buckets (idx, seq, leaves, hash, count) SELECT u.idx, $1, decode(u.leaves, 'hex'), decode(u.hash, 'hex'), u.count
         FROM unnest($2::int[], $3::text[], $4::text[], $5::int[]) AS u(idx, leaves, hash, count)`,
      [seq, rows.map((r) => r.idx), rows.map((r) => r.leaves.toString('hex')), rows.map((r) => (r.summary.count === 0 ? ZERO32 : r.summary.hash).toString('hex')), rows.map((r) => r.summary.count)],
    );
    await runner.query(`INSERT INTO state_tops (seq, nodes) VALUES ($1, $2)`, [seq, packTop(top)]);
    // keep the tops proofs can still be asked for: the two latest anchored states and everything after
    await runner.query(
      `DELETE FROM state_tops WHERE seq < (SELECT min(seq) FROM (SELECT seq FROM anchor_batches WHERE tree_version = 2 AND status IN ('ANCHORED','FINAL') ORDER BY seq DESC LIMIT 2) a)`,
    );
    await recordsWritten;
    const root = toHex(rootOf(top));
    remember(runner, seq, top);
    return { root, changed: records.length };
  }

  private async insertRecords(runner: QueryRunner, seq: string, records: readonly StateRecord[]): Promise<void> {
    if (records.length === 0) return;
    const col = <T>(pick: (r: StateRecord) => T): T[] => records.map(pick);
    await runner.query(
      `INSERT INTO state_records (key, seq, kind, value_hash, shipment_id, head_leaf, event_count, address, organization, valid_from_ms, revoked_at_ms, delegation_id, digest)
       SELECT u.key, $1, u.kind, u.value_hash, u.shipment_id, u.head_leaf, u.event_count, u.address, u.organization, u.valid_from_ms, u.revoked_at_ms, u.delegation_id, u.digest
         FROM unnest($2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::text[], $13::text[])
           AS u(key, kind, value_hash, shipment_id, head_leaf, event_count, address, organization, valid_from_ms, revoked_at_ms, delegation_id, digest)`,
      [
        seq,
        col((r) => r.key),
        col((r) => r.kind),
        col((r) => r.valueHash),
        col((r) => (r.kind === 'SHIPMENT' ? r.shipmentId : null)),
        col((r) => (r.kind === 'SHIPMENT' ? r.headLeaf : null)),
        col((r) => (r.kind === 'SHIPMENT' ? r.eventCount : null)),
        col((r) => (r.kind === 'SIGNING_KEY' ? r.address : null)),
        col((r) => (r.kind === 'SIGNING_KEY' ? r.organization : null)),
        col((r) => (r.kind === 'SIGNING_KEY' ? r.validFromMs : null)),
        col((r) => (r.kind === 'SHIPMENT' ? null : r.revokedAtMs)),
        col((r) => (r.kind === 'DELEGATION' ? r.delegationId : null)),
        col((r) => (r.kind === 'DELEGATION' ? r.digest : null)),
      ],
    );
  }
}

function setTop(top: Top, level: number, idx: number, s: Summary): void {
  const h = heap(level, idx);
  (s.count === 0 ? ZERO32 : s.hash).copy(top.hashes, h * 32);
  top.counts.writeUInt32BE(s.count, h * 4);
}

const rootOf = (top: Top): Buffer => (top.counts.readUInt32BE(0) === 0 ? ZERO32 : top.hashes.subarray(0, 32));

/**
 * The tops of recent states, per database: each is 2.3 MB and immutable once its batch is
 * committed, and every bundle of a state asks for the same one. Keyed by seq and checked against
 * the state root, so the top of a sealing transaction that rolled back is never mistaken for the
 * committed state that reuses its seq.
 */
const tops = new WeakMap<object, Map<string, Top>>();
const TOPS_KEPT = 3;

function cacheOf(runner: QueryRunner | DataSource): Map<string, Top> {
  const owner = runner instanceof DataSource ? runner : runner.connection;
  return tops.get(owner) ?? tops.set(owner, new Map()).get(owner)!;
}

function remember(runner: QueryRunner | DataSource, seq: string, top: Top): void {
  const cache = cacheOf(runner);
  cache.delete(seq);
  cache.set(seq, top);
  while (cache.size > TOPS_KEPT) cache.delete(cache.keys().next().value!);
}

/** The top of state `seq`, whose root must be `root` (a cached top that is not is read again). */
async function readTop(runner: QueryRunner | DataSource, seq: string, root: string): Promise<Top> {
  const cached = cacheOf(runner).get(seq);
  if (cached && toHex(rootOf(cached)) === root) return cached;
  const [row] = await sqlRows<{ nodes: Uint8Array }>(runner, `SELECT nodes FROM state_tops WHERE seq = $1`, [seq]);
  if (!row) throw new Error(`state ${seq} is no longer kept (only the latest anchored states are)`);
  const top = unpackTop(asBuffer(row.nodes));
  if (toHex(rootOf(top)) !== root) throw new Error(`the stored top of state ${seq} does not give its root ${root}`);
  remember(runner, seq, top);
  return top;
}

export interface RecordRow {
  key: string;
  kind: 'SHIPMENT' | 'SIGNING_KEY' | 'DELEGATION';
  value_hash: string;
  head_leaf: string | null;
  event_count: string | null;
  address: string | null;
  organization: string | null;
  valid_from_ms: string | null;
  revoked_at_ms: string | null;
  delegation_id: string | null;
  digest: string | null;
}

/** The records of `keys` as of state `seq` (the newest version at or before it). */
export async function recordsAt(runner: QueryRunner | DataSource, keys: readonly string[], seq: string): Promise<RecordRow[]> {
  return sqlRows<RecordRow>(
    runner,
    `SELECT r.* FROM unnest($1::text[]) AS w(key) CROSS JOIN LATERAL (
       SELECT key, kind, value_hash, head_leaf, event_count::text AS event_count, address, organization, valid_from_ms::text AS valid_from_ms, revoked_at_ms::text AS revoked_at_ms, delegation_id, digest
         FROM state_records s WHERE s.key = w.key AND s.seq <= $2 ORDER BY s.seq DESC LIMIT 1) r`,
    [keys, seq],
  );
}

/** A membership proof of `key` in state `seq` (whose root is `stateRoot`): siblings from the root down. */
export async function proofAt(runner: QueryRunner | DataSource, key: string, seq: string, stateRoot: string): Promise<string[]> {
  await useFastKeccak();
  const k = toBuf(key);
  const b = bucketOf(k);
  const top = await readTop(runner, seq, stateRoot);
  const [sibling] = await sqlRows<{ hash: Uint8Array; count: number }>(
    runner,
    `SELECT hash, count FROM state_buckets WHERE idx = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1`,
    [b ^ 1, seq],
  );
  const siblings: string[] = [];
  for (let level = 0; level < BUCKET_BITS; level++) {
    const here = topNode(top, level, b >> (BUCKET_BITS - level));
    if (here.count === 0) throw new Error(`key ${key} is not in state ${seq}`);
    if (here.count === 1) return siblings;
    if (level + 1 < BUCKET_BITS) siblings.push(toHex(topNode(top, level + 1, (b >> (BUCKET_BITS - level - 1)) ^ 1).hash));
    else siblings.push(sibling && sibling.count > 0 ? toHex(asBuffer(sibling.hash)) : toHex(ZERO32));
  }
  const [bucket] = await sqlRows<{ leaves: Uint8Array; count: number }>(runner, `SELECT leaves, count FROM state_buckets WHERE idx = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1`, [b, seq]);
  if (!bucket || bucket.count === 0) throw new Error(`key ${key} is not in state ${seq}`);
  if (bucket.count === 1) return siblings;
  return [...siblings, ...subtreeProof(unpackLeaves(asBuffer(bucket.leaves)), BUCKET_BITS, k).map(toHex)];
}
