import type { DataSource, QueryRunner } from 'typeorm';
import { sqlRows } from '../database/data-source';
import {
  EMPTY,
  ZERO32,
  combine,
  compareLeaves,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
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
 *   - the top 16 levels of the tree as nodes (level, idx) with their hash and leaf count; level 16
 *     holds the 65,536 "buckets" (keys by their first 16 bits);
 *   - each bucket's leaves (key ‖ valueHash, sorted), the subtree below level 16 is rebuilt from them;
 *   - every record (shipment head, signing key) in plain form.
 * All three are versioned by batch seq and never updated in place, so a proof can be made against
 * any earlier state, in particular the latest one anchored (sealing runs ahead of anchoring).
 * The leader keeps the top levels in memory and reloads them when another process sealed since.
 */
export const BUCKET_BITS = 16;

export type StateRecord =
  | { kind: 'SHIPMENT'; key: string; valueHash: string; shipmentId: string; carrier: string; trackingNumber: string; headLeaf: string; eventCount: number }
  | { kind: 'SIGNING_KEY'; key: string; valueHash: string; address: string; organization: string; validFromMs: string; revokedAtMs: string | null };

export interface StateUpdate {
  root: string;
  /** records written with this seq */
  changed: number;
}

interface Top {
  /** seq of the state these levels reflect; null: no state yet */
  seq: string | null;
  hashes: Buffer[];
  counts: Float64Array[];
}

const bucketOf = (key: Buffer): number => (key[0] << 8) | key[1];

function packLeaves(leaves: readonly StateLeaf[]): string {
  return Buffer.concat(leaves.flatMap((l) => [l.key, l.valueHash])).toString('hex');
}

function unpackLeaves(hex: string): StateLeaf[] {
  const buf = Buffer.from(hex, 'hex');
  const leaves: StateLeaf[] = [];
  for (let i = 0; i < buf.length; i += 64) leaves.push({ key: buf.subarray(i, i + 32), valueHash: buf.subarray(i + 32, i + 64) });
  return leaves;
}

function emptyTop(): Top {
  const hashes: Buffer[] = [];
  const counts: Float64Array[] = [];
  for (let level = 0; level <= BUCKET_BITS; level++) {
    hashes.push(Buffer.alloc(32 << level));
    counts.push(new Float64Array(1 << level));
  }
  return { seq: null, hashes, counts };
}

const nodeOf = (top: Top, level: number, idx: number): Summary => {
  const count = top.counts[level][idx];
  return count === 0 ? EMPTY : { hash: top.hashes[level].subarray(idx * 32, idx * 32 + 32), count };
};

export class StateStore {
  private top: Top | undefined;

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
    const shipments = await sqlRows<{ shipment_id: string; carrier: string; tracking_number: string; added: number; head_leaf: string; prev_count: string | null }>(
      runner,
      `WITH batch AS (
         SELECT shipment_id, count(*)::int AS added, (array_agg(leaf ORDER BY id DESC))[1] AS head_leaf FROM custody_events WHERE id = ANY($1::bigint[]) GROUP BY shipment_id
         ${first ? `UNION ALL SELECT shipment_id, 0, (array_agg(leaf ORDER BY id DESC))[1] FROM custody_events WHERE batch_seq IS NOT NULL GROUP BY shipment_id` : ''}
       ), merged AS (SELECT shipment_id, sum(added)::int AS added, (array_agg(head_leaf ORDER BY added DESC))[1] AS head_leaf FROM batch GROUP BY shipment_id)
       SELECT m.shipment_id, o.slug AS carrier, s.tracking_number, m.added, m.head_leaf,
              (SELECT r.event_count::text FROM state_records r WHERE r.shipment_id = m.shipment_id ORDER BY r.seq DESC LIMIT 1) AS prev_count
         FROM merged m JOIN shipments s ON s.id = m.shipment_id JOIN organizations o ON o.id = s.carrier_id`,
      [eventIds],
    );
    // a shipment new to the state map: its events sealed before (only ever on the first state)
    const absent = shipments.filter((s) => s.prev_count === null).map((s) => s.shipment_id);
    const earlier = new Map<string, number>();
    if (absent.length > 0) {
      const rows = await sqlRows<{ shipment_id: string; n: number }>(runner, `SELECT shipment_id, count(*)::int AS n FROM custody_events WHERE shipment_id = ANY($1::uuid[]) AND batch_seq < $2 GROUP BY shipment_id`, [absent, seq]);
      for (const r of rows) earlier.set(r.shipment_id, r.n);
    }
    const records: StateRecord[] = shipments.map((s) => {
      const eventCount = (s.prev_count !== null ? Number(s.prev_count) : earlier.get(s.shipment_id) ?? 0) + s.added;
      return {
        kind: 'SHIPMENT',
        key: shipmentStateKey(s.carrier, s.tracking_number),
        valueHash: shipmentStateValue(s.head_leaf, eventCount),
        shipmentId: s.shipment_id,
        carrier: s.carrier,
        trackingNumber: s.tracking_number,
        headLeaf: s.head_leaf,
        eventCount,
      };
    });
    // keys: locked, so a revocation racing this seal waits and marks the key pending again; NO KEY
    // UPDATE, so events that reference the key (a KEY SHARE lock) are never blocked by a seal
    const keys = await sqlRows<{ address: string; slug: string; valid_from_ms: string; revoked_at_ms: string | null }>(
      runner,
      `SELECT k.address, o.slug, (extract(epoch FROM k.valid_from) * 1000)::bigint::text AS valid_from_ms,
              (extract(epoch FROM k.revoked_at) * 1000)::bigint::text AS revoked_at_ms
         FROM signing_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.state_pending FOR NO KEY UPDATE OF k`,
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

  /**
   * Applies `records` as state `seq` and returns the new root. Must run inside the sealer's
   * transaction, under its advisory lock; call `discard()` if that transaction fails.
   */
  async apply(runner: QueryRunner, seq: string, records: readonly StateRecord[]): Promise<StateUpdate> {
    await useFastKeccak();
    const top = await this.loadTop(runner);
    const byBucket = new Map<number, StateLeaf[]>();
    for (const r of records) {
      const leaf = { key: toBuf(r.key), valueHash: toBuf(r.valueHash) };
      const b = bucketOf(leaf.key);
      (byBucket.get(b) ?? byBucket.set(b, []).get(b)!).push(leaf);
    }
    const buckets = [...byBucket.keys()];
    const stored = await sqlRows<{ idx: number; leaves: string }>(
      runner,
      `SELECT DISTINCT ON (idx) idx, leaves FROM state_buckets WHERE idx = ANY($1::int[]) ORDER BY idx, seq DESC`,
      [buckets],
    );
    const current = new Map(stored.map((s) => [s.idx, unpackLeaves(s.leaves)]));
    const bucketRows: Array<{ idx: number; leaves: string }> = [];
    const changed = new Map<string, { level: number; idx: number }>();
    for (const [b, updates] of byBucket) {
      const merged = new Map<string, StateLeaf>();
      for (const l of current.get(b) ?? []) merged.set(l.key.toString('hex'), l);
      for (const l of updates) merged.set(l.key.toString('hex'), l);
      const leaves = [...merged.values()].sort(compareLeaves);
      const summary = subtree(leaves, BUCKET_BITS);
      summary.hash.copy(top.hashes[BUCKET_BITS], b * 32);
      top.counts[BUCKET_BITS][b] = summary.count;
      bucketRows.push({ idx: b, leaves: packLeaves(leaves) });
      changed.set(`${BUCKET_BITS}:${b}`, { level: BUCKET_BITS, idx: b });
    }
    let level = new Set(buckets);
    for (let l = BUCKET_BITS - 1; l >= 0; l--) {
      const parents = new Set<number>();
      for (const i of level) parents.add(i >> 1);
      for (const p of parents) {
        const s = combine(nodeOf(top, l + 1, 2 * p), nodeOf(top, l + 1, 2 * p + 1));
        (s.count === 0 ? ZERO32 : s.hash).copy(top.hashes[l], p * 32);
        top.counts[l][p] = s.count;
        changed.set(`${l}:${p}`, { level: l, idx: p });
      }
      level = parents;
    }
    const nodes = [...changed.values()];
    const root = top.counts[0][0] === 0 ? ZERO32 : top.hashes[0].subarray(0, 32);
    this.top = { ...top, seq: null };
    await runner.query(`INSERT INTO state_buckets (idx, seq, leaves) SELECT u.idx, $1, u.leaves FROM unnest($2::int[], $3::text[]) AS u(idx, leaves)`, [
      seq,
      bucketRows.map((r) => r.idx),
      bucketRows.map((r) => r.leaves),
    ]);
    await runner.query(`INSERT INTO state_nodes (level, idx, seq, hash, count) SELECT u.level, u.idx, $1, u.hash, u.count FROM unnest($2::int[], $3::int[], $4::text[], $5::bigint[]) AS u(level, idx, hash, count)`, [
      seq,
      nodes.map((n) => n.level),
      nodes.map((n) => n.idx),
      nodes.map((n) => top.hashes[n.level].subarray(n.idx * 32, n.idx * 32 + 32).toString('hex')),
      nodes.map((n) => top.counts[n.level][n.idx]),
    ]);
    await this.insertRecords(runner, seq, records);
    return { root: toHex(root), changed: records.length };
  }

  /** After the sealing transaction committed: the in-memory levels are those of state `seq`. */
  committed(seq: string): void {
    if (this.top) this.top.seq = seq;
  }

  /** After the sealing transaction failed: forget the in-memory levels. */
  discard(): void {
    this.top = undefined;
  }

  private async loadTop(runner: QueryRunner): Promise<Top> {
    const latest = await StateStore.latestSeq(runner);
    if (this.top && this.top.seq === latest) return this.top;
    const top = emptyTop();
    if (latest !== null) {
      const rows = await sqlRows<{ level: number; idx: number; hash: string; count: string }>(
        runner,
        `SELECT DISTINCT ON (level, idx) level, idx, hash, count::text AS count FROM state_nodes ORDER BY level, idx, seq DESC`,
      );
      for (const r of rows) {
        Buffer.from(r.hash, 'hex').copy(top.hashes[r.level], r.idx * 32);
        top.counts[r.level][r.idx] = Number(r.count);
      }
    }
    top.seq = latest;
    this.top = top;
    return top;
  }

  private async insertRecords(runner: QueryRunner, seq: string, records: readonly StateRecord[]): Promise<void> {
    if (records.length === 0) return;
    const col = <T>(pick: (r: StateRecord) => T): T[] => records.map(pick);
    await runner.query(
      `INSERT INTO state_records (key, seq, kind, value_hash, shipment_id, head_leaf, event_count, address, organization, valid_from_ms, revoked_at_ms)
       SELECT u.key, $1, u.kind, u.value_hash, u.shipment_id, u.head_leaf, u.event_count, u.address, u.organization, u.valid_from_ms, u.revoked_at_ms
         FROM unnest($2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::bigint[], $8::text[], $9::text[], $10::bigint[], $11::bigint[])
           AS u(key, kind, value_hash, shipment_id, head_leaf, event_count, address, organization, valid_from_ms, revoked_at_ms)`,
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
        col((r) => (r.kind === 'SIGNING_KEY' ? r.revokedAtMs : null)),
      ],
    );
  }
}

export interface RecordRow {
  key: string;
  kind: 'SHIPMENT' | 'SIGNING_KEY';
  value_hash: string;
  head_leaf: string | null;
  event_count: string | null;
  address: string | null;
  organization: string | null;
  valid_from_ms: string | null;
  revoked_at_ms: string | null;
}

/** The records of `keys` as of state `seq` (the newest version at or before it). */
export async function recordsAt(runner: QueryRunner | DataSource, keys: readonly string[], seq: string): Promise<RecordRow[]> {
  return sqlRows<RecordRow>(
    runner,
    `SELECT DISTINCT ON (key) key, kind, value_hash, head_leaf, event_count::text AS event_count, address, organization, valid_from_ms::text AS valid_from_ms, revoked_at_ms::text AS revoked_at_ms
       FROM state_records WHERE key = ANY($1::text[]) AND seq <= $2 ORDER BY key, seq DESC`,
    [keys, seq],
  );
}

/** A membership proof of `key` in state `seq`: siblings from the root down (custody-state/1). */
export async function proofAt(runner: QueryRunner | DataSource, key: string, seq: string): Promise<string[]> {
  await useFastKeccak();
  const k = toBuf(key);
  const prefix = (level: number): number => (level === 0 ? 0 : bucketOf(k) >> (BUCKET_BITS - level));
  const levels: number[] = [];
  const idxs: number[] = [];
  for (let level = 0; level <= BUCKET_BITS; level++) {
    levels.push(level);
    idxs.push(prefix(level));
    if (level > 0) {
      levels.push(level);
      idxs.push(prefix(level) ^ 1);
    }
  }
  const rows = await sqlRows<{ level: number; idx: number; hash: string; count: string }>(
    runner,
    `SELECT DISTINCT ON (n.level, n.idx) n.level, n.idx, n.hash, n.count::text AS count
       FROM state_nodes n JOIN unnest($1::int[], $2::int[]) AS w(level, idx) ON w.level = n.level AND w.idx = n.idx
      WHERE n.seq <= $3 ORDER BY n.level, n.idx, n.seq DESC`,
    [levels, idxs, seq],
  );
  const node = new Map(rows.map((r) => [`${r.level}:${r.idx}`, { hash: r.hash, count: Number(r.count) }]));
  const siblings: string[] = [];
  for (let level = 0; level <= BUCKET_BITS; level++) {
    const here = node.get(`${level}:${prefix(level)}`);
    if (!here || here.count === 0) throw new Error(`key ${key} is not in state ${seq}`);
    if (here.count === 1) return siblings;
    if (level === BUCKET_BITS) break;
    siblings.push('0x' + (node.get(`${level + 1}:${prefix(level + 1) ^ 1}`)?.hash ?? ZERO32.toString('hex')));
  }
  const [bucket] = await sqlRows<{ leaves: string }>(runner, `SELECT leaves FROM state_buckets WHERE idx = $1 AND seq <= $2 ORDER BY seq DESC LIMIT 1`, [bucketOf(k), seq]);
  return [...siblings, ...subtreeProof(unpackLeaves(bucket.leaves), BUCKET_BITS, k).map(toHex)];
}
