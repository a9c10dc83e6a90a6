import type { QueryRunner } from 'typeorm';
import { NODE_BYTES, type FlatTree } from './merkle';

/**
 * Compact batch trees (issue 11, sealing; table made by migration 1764730000000-batch-trees).
 * A batch sealed since then stores its tree as `batch_trees` rows per level (`nodes`: the
 * level's 32-byte nodes back to back, in parts of 65,536 nodes, STORAGE EXTERNAL so a substring
 * reads only the TOAST chunk it needs) plus one row at level -1 with the nodes every proof of the batch ends with (the state
 * commitment of custody-tree/2); each event row carries its `leaf_index`. Its proof is derived in
 * SQL: at level k the sibling of node i>>k is node (i>>k) xor 1, when that node exists (an odd
 * node is carried up without one), then the level -1 suffix. That is exactly what the sealer
 * stored per event in `merkle_proofs` before (O(log n) hashes, 1,767 B per event); batches sealed
 * earlier keep their `merkle_proofs` rows, and readers fall back to them (eventProofSql).
 */
export const SUFFIX_LEVEL = -1;
/** Nodes per row: a level of more is stored in parts of 65,536 nodes (2 MB; a sibling pair never straddles two). */
export const PART_BITS = 16;

/** The proof (text[] of 0x-hex, bottom-up, then the suffix) of leaf `idx` of batch `seq`, as a scalar subquery. */
export function treeProofSql(seq: string, idx: string): string {
  const sibling = `((${idx} >> t.level) # 1)`;
  const within = `(${sibling} & ${(1 << PART_BITS) - 1})`;
  return `(SELECT array_agg('0x' || encode(CASE WHEN t.level < 0 THEN t.nodes ELSE substring(t.nodes FROM ${within} * ${NODE_BYTES} + 1 FOR ${NODE_BYTES}) END, 'hex') ORDER BY t.level < 0, t.level)
     FROM batch_trees t WHERE t.batch_seq = ${seq} AND (t.level < 0 OR (t.part = ${sibling} >> ${PART_BITS} AND ${within} * ${NODE_BYTES} < octet_length(t.nodes))))`;
}

/**
 * An event's proof and leaf index for a query over custody_events `e` LEFT JOIN merkle_proofs `p`:
 * from the compact tree when the event has a leaf index there, else its stored proof row.
 */
export function eventProofSql(e = 'e', p = 'p'): { proof: string; leafIndex: string } {
  return {
    proof: `CASE WHEN ${e}.leaf_index IS NOT NULL THEN ${treeProofSql(`${e}.batch_seq`, `${e}.leaf_index`)} ELSE ${p}.proof END`,
    leafIndex: `coalesce(${e}.leaf_index, ${p}.leaf_index)`,
  };
}

/** Stores a sealed batch's levels (in parts of 2^PART_BITS nodes) and proof suffix. */
export async function storeBatchTree(runner: QueryRunner, seq: string, tree: FlatTree, suffix: readonly string[]): Promise<void> {
  const partBytes = NODE_BYTES << PART_BITS;
  const rows: Array<{ level: number; part: number; nodes: Buffer }> = [{ level: SUFFIX_LEVEL, part: 0, nodes: Buffer.concat(suffix.map((h) => Buffer.from(h.slice(2), 'hex'))) }];
  tree.levels.forEach((nodes, level) => {
    for (let part = 0; part * partBytes < nodes.length; part++) rows.push({ level, part, nodes: nodes.subarray(part * partBytes, (part + 1) * partBytes) });
  });
  // as hex text: PGlite serialises a bytea parameter byte by byte in JavaScript (5.6 s for 3.2 MB), decode() takes it in 0.8 s
  for (const { level, part, nodes } of rows) {
    await runner.query(`INSERT INTO batch_trees (batch_seq, level, part, nodes) VALUES ($1, $2, $3, decode($4, 'hex'))`, [seq, level, part, nodes.toString('hex')]);
  }
}
