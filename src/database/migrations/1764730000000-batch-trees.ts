import type { MigrationInterface, QueryRunner } from 'typeorm';
import { treeProofSql } from '../../batching/batch-trees';

/**
 * Compact batch trees (issue 11, sealing a million events): instead of one merkle_proofs row per
 * event (O(log n) hashes, 1,767 B per event), a sealed batch stores its tree once, batch_trees
 * rows per level (32-byte nodes back to back, parts of 65,536 nodes = 2 MB, so no statement carries
 * a whole level of a large batch; level -1: the nodes every proof ends with, the state commitment) and each event its leaf_index on its own row, set by the same UPDATE that sets its
 * batch_seq; proofs are derived from the levels when read (src/batching/batch-trees.ts).
 * STORAGE EXTERNAL: the levels are stored uncompressed out of line, so the substring a proof reads
 * fetches only the TOAST chunk(s) holding its node, not a whole level of a large batch.
 * Batches sealed before keep their merkle_proofs rows, and readers fall back to them. Down writes
 * the compact batches' proofs into merkle_proofs (the rows the sealer used to write), so nothing
 * proven is lost either way.
 */
export class BatchTrees1764730000000 implements MigrationInterface {
  name = 'BatchTrees1764730000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE batch_trees (
      batch_seq bigint NOT NULL REFERENCES anchor_batches(seq),
      level smallint NOT NULL CHECK (level >= -1),
      part integer NOT NULL CHECK (part >= 0),
      nodes bytea NOT NULL CHECK (octet_length(nodes) % 32 = 0 AND octet_length(nodes) <= 2097152),
      PRIMARY KEY (batch_seq, level, part)
    )`);
    await q.query(`ALTER TABLE batch_trees ALTER COLUMN nodes SET STORAGE EXTERNAL`);
    // on the partitioned table: every range gets it; NULL for pending events and for batches with merkle_proofs rows
    await q.query(`ALTER TABLE custody_events ADD COLUMN leaf_index integer CONSTRAINT custody_events_leaf_index_check CHECK (leaf_index >= 0)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof, event_row_id)
      SELECT e.event_id, e.batch_seq, e.leaf_index, ${treeProofSql('e.batch_seq', 'e.leaf_index')}, e.id FROM custody_events e WHERE e.leaf_index IS NOT NULL`);
    await q.query(`ALTER TABLE custody_events DROP COLUMN leaf_index`);
    await q.query(`DROP TABLE batch_trees`);
  }
}
