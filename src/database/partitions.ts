import { claimKeysTrigger } from './migrations/1764740000000-statement-key-trigger';
import type { DataSource, QueryRunner } from 'typeorm';
import { inTransaction, sqlRows } from './data-source';

/**
 * Partition maintenance and archive for custody_events and merkle_proofs (layout and reasons:
 * migrations/1764720000000-partitions.ts). Range `p<k>` holds ingestion ids [k·W, (k+1)·W) of
 * both tables; `tail` holds every id from the last range on, so an insert never lacks a partition.
 */
export const PARTITION_WIDTH = 1_000_000;

/** The partitioned tables and their partition key: an event and its proof share the range. */
const TABLES = [
  { table: 'custody_events', key: 'id' },
  { table: 'merkle_proofs', key: 'event_row_id' },
] as const;

export type PartitionErrorCode = 'NO_SUCH_PARTITION' | 'PARTITION_IN_USE' | 'PARTITION_NOT_SEALED' | 'PARTITION_NOT_FINAL' | 'ARCHIVE_TABLE_MISSING';

/** An operator's request the partitions cannot follow; the message says what to do instead. */
export class PartitionError extends Error {
  constructor(
    readonly code: PartitionErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PartitionError';
  }
}

/** An attached range: `to` null for the tail (to MAXVALUE); bounds as decimal strings. */
export interface AttachedPartition {
  name: string;
  from: string;
  to: string | null;
}

export interface ArchivedPartition {
  name: string;
  from: string;
  to: string;
  events: number;
  proofs: number;
  detachedAt: Date;
  eventsTable: string;
  proofsTable: string;
}

type Db = DataSource | QueryRunner;

const BOUND = /FROM \('?(-?\d+)'?\) TO \((?:'?(-?\d+)'?|MAXVALUE)\)/;

/** The attached ranges of custody_events, in id order. */
async function attached(db: Db): Promise<AttachedPartition[]> {
  const rows = await sqlRows<{ relname: string; bound: string }>(
    db,
    `SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'custody_events'::regclass`,
  );
  return rows
    .map((r) => {
      const m = BOUND.exec(r.bound);
      if (!m) throw new Error(`unexpected bound of ${r.relname}: ${r.bound}`);
      return { name: r.relname.replace(/^custody_events_/, ''), from: m[1], to: m[2] ?? null };
    })
    .sort((a, b) => (BigInt(a.from) < BigInt(b.from) ? -1 : 1));
}

const newestId = async (db: Db): Promise<bigint> => BigInt((await sqlRows<{ top: string }>(db, `SELECT coalesce(max(id), 0)::text AS top FROM custody_events`))[0].top);

export async function listPartitions(ds: DataSource): Promise<{ attached: AttachedPartition[]; archived: ArchivedPartition[] }> {
  const archived = await sqlRows<{ name: string; range_from: string; range_to: string; events: number; proofs: number; detached_at: Date }>(
    ds,
    `SELECT name, range_from::text, range_to::text, events, proofs, detached_at FROM archived_partitions ORDER BY range_from`,
  );
  return {
    attached: await attached(ds),
    archived: archived.map((a) => ({ name: a.name, from: a.range_from, to: a.range_to, events: a.events, proofs: a.proofs, detachedAt: a.detached_at, eventsTable: `custody_events_${a.name}`, proofsTable: `merkle_proofs_${a.name}` })),
  };
}

/** The tail must start more than one range past the newest id: the current range and the next exist. */
const behind = (parts: AttachedPartition[], top: bigint, width: number): boolean => BigInt(parts.find((p) => p.to === null)!.from) <= top + BigInt(width);

/**
 * Makes ranges until one empty range lies ahead of the newest id; the names made. Run by the
 * sealer after each batch. Usually the tail is empty and this is a catalog change; ids that ran
 * ahead into the tail (the sealer was down) move into their new range in the same transaction.
 * It holds an ACCESS EXCLUSIVE lock on both tables for that moment: readers and writers wait,
 * none fails (a lock_timeout on this connection makes this give up instead, to run again later).
 */
export async function ensurePartitions(ds: DataSource, width: number = PARTITION_WIDTH): Promise<string[]> {
  if (!behind(await attached(ds), await newestId(ds), width)) return [];
  return inTransaction(ds, async (runner) => {
    await runner.query(`LOCK TABLE custody_events, merkle_proofs IN ACCESS EXCLUSIVE MODE`);
    const made: string[] = [];
    const top = await newestId(runner);
    for (let parts = await attached(runner); behind(parts, top, width); parts = await attached(runner)) {
      const from = BigInt(parts.find((p) => p.to === null)!.from);
      const to = from + BigInt(width);
      // p<k> for ranges on the default grid (k millions); a range of another width is named by its first id
      const name = width === PARTITION_WIDTH && from % BigInt(width) === 0n ? `p${from / BigInt(width)}` : `p_${from}`;
      for (const { table, key } of TABLES) {
        await runner.query(`ALTER TABLE ${table} DETACH PARTITION ${table}_tail`);
        await runner.query(`CREATE TABLE ${table}_${name} PARTITION OF ${table} FOR VALUES FROM (${from}) TO (${to})`);
        if (table === 'custody_events') await runner.query(claimKeysTrigger(`${table}_${name}`));
        await runner.query(`INSERT INTO ${table}_${name} OVERRIDING SYSTEM VALUE SELECT * FROM ${table}_tail WHERE ${key} < ${to}`);
        await runner.query(`DELETE FROM ${table}_tail WHERE ${key} < ${to}`);
        await runner.query(`ALTER TABLE ${table} ATTACH PARTITION ${table}_tail FOR VALUES FROM (${to}) TO (MAXVALUE)`);
      }
      made.push(name);
    }
    return made;
  });
}

/** Why a range's rows cannot leave the ledger yet, or null. */
async function unarchivable(db: Db, name: string): Promise<PartitionError | null> {
  const [{ pending }] = await sqlRows<{ pending: number }>(db, `SELECT count(*)::int AS pending FROM custody_events_${name} WHERE batch_seq IS NULL`);
  if (pending > 0) return new PartitionError('PARTITION_NOT_SEALED', `range ${name} holds ${pending} pending event(s) in no batch yet; wait until the sealer has sealed them and their batches are FINAL`);
  const open = await sqlRows<{ seq: string; status: string }>(
    db,
    `SELECT DISTINCT b.seq::text, b.status FROM custody_events_${name} e JOIN anchor_batches b ON b.seq = e.batch_seq WHERE b.status <> 'FINAL' ORDER BY 1 LIMIT 5`,
  );
  if (open.length > 0) {
    return new PartitionError('PARTITION_NOT_FINAL', `range ${name} has events in batches that are not FINAL (${open.map((b) => `batch ${b.seq} is ${b.status}`).join(', ')}); archive it once they are final on chain`);
  }
  return null;
}

/**
 * Detaches range `name` of both tables for archive (CONCURRENTLY on PostgreSQL: ingestion and
 * reads go on; PGlite has one connection and detaches plainly). Refused unless every id of the
 * range has been handed out and all its events are sealed in FINAL batches. Its tables stay in the
 * schema as custody_events_<name> and merkle_proofs_<name> for the operator to dump and drop;
 * its event ids stay in custody_event_keys and can never be used again. The trees of batches
 * sealed since batch_trees (one row per level per batch, not per event) stay in the ledger: an
 * archived event's proof is its row's leaf_index and batch_seq with that batch's batch_trees rows.
 */
export async function detachPartition(ds: DataSource, name: string, options: { concurrently: boolean }): Promise<ArchivedPartition> {
  const parts = await attached(ds);
  const range = parts.find((p) => p.name === name);
  if (!range) {
    const archived = await sqlRows(ds, `SELECT 1 FROM archived_partitions WHERE name = $1`, [name]);
    throw new PartitionError('NO_SUCH_PARTITION', archived.length > 0 ? `range ${name} is detached already` : `no attached range ${name}; the attached ones are ${parts.map((p) => p.name).join(', ')}`);
  }
  const top = await newestId(ds);
  if (range.to === null || BigInt(range.to) > top) {
    throw new PartitionError('PARTITION_IN_USE', `range ${name} still takes new events (the newest id is ${top}, the range ends at ${range.to ?? 'MAXVALUE'}); only ranges the ids have moved past can be archived`);
  }
  const refusal = await unarchivable(ds, name);
  if (refusal) throw refusal;

  const how = options.concurrently ? ' CONCURRENTLY' : '';
  const done: string[] = [];
  const reattach = async (): Promise<void> => {
    for (const table of done) await ds.query(`ALTER TABLE ${table} ATTACH PARTITION ${table}_${name} FOR VALUES FROM (${range.from}) TO (${range.to})`);
  };
  try {
    for (const { table } of TABLES) {
      await ds.query(`ALTER TABLE ${table} DETACH PARTITION ${table}_${name}${how}`);
      done.push(table);
    }
  } catch (err) {
    await reattach();
    throw err;
  }
  // a transaction that had an id of the range and committed while the check ran: its event is in the
  // detached table now; put the range back rather than archive an unsealed event
  const late = await unarchivable(ds, name);
  if (late) {
    await reattach();
    throw late;
  }
  const [{ events }] = await sqlRows<{ events: number }>(ds, `SELECT count(*)::int AS events FROM custody_events_${name}`);
  // proofs: the range's merkle_proofs rows (batches sealed before batch_trees) and its events with a leaf index in a stored tree
  const [{ proofs }] = await sqlRows<{ proofs: number }>(
    ds,
    `SELECT ((SELECT count(*) FROM merkle_proofs_${name}) + (SELECT count(*) FROM custody_events_${name} WHERE leaf_index IS NOT NULL))::int AS proofs`,
  );
  const [row] = await sqlRows<{ detached_at: Date }>(ds, `INSERT INTO archived_partitions (name, range_from, range_to, events, proofs) VALUES ($1, $2, $3, $4, $5) RETURNING detached_at`, [name, range.from, range.to, events, proofs]);
  return { name, from: range.from, to: range.to, events, proofs, detachedAt: row.detached_at, eventsTable: `custody_events_${name}`, proofsTable: `merkle_proofs_${name}` };
}

/** Attaches an archived range again (its tables restored into the schema first if they were moved out). */
export async function attachPartition(ds: DataSource, name: string): Promise<void> {
  await inTransaction(ds, async (runner) => {
    const [archived] = await sqlRows<{ range_from: string; range_to: string }>(runner, `SELECT range_from::text, range_to::text FROM archived_partitions WHERE name = $1 FOR UPDATE`, [name]);
    if (!archived) throw new PartitionError('NO_SUCH_PARTITION', `range ${name} is not archived; see the list of archived ranges`);
    for (const { table } of TABLES) {
      const [{ present }] = await sqlRows<{ present: boolean }>(runner, `SELECT to_regclass($1) IS NOT NULL AS present`, [`${table}_${name}`]);
      if (!present) throw new PartitionError('ARCHIVE_TABLE_MISSING', `table ${table}_${name} is not in the schema; restore it from the archive dump first`);
      await runner.query(`ALTER TABLE ${table} ATTACH PARTITION ${table}_${name} FOR VALUES FROM (${archived.range_from}) TO (${archived.range_to})`);
    }
    await runner.query(`DELETE FROM archived_partitions WHERE name = $1`, [name]);
  });
}
