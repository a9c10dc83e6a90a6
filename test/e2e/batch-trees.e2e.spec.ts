import { fillPendingEvents } from '../../scripts/bench-seal';
import { randomBytes } from 'node:crypto';
import { PART_BITS, storeBatchTree, treeProofSql } from '../../src/batching/batch-trees';
import { buildReferenceTree, FlatTree, rootFromProof } from '../../src/batching/merkle';
import { SealerService } from '../../src/batching/sealer.service';
import { sqlRows } from '../../src/database/data-source';
import { batchRootV2, stateCommitment } from '../../src/state/custody-state';
import { mustGql } from '../support/factories';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

interface Proof {
  leafIndex: number | null;
  proof: string[] | null;
  root: string | null;
  leaf: string;
}

/**
 * Issue 11, sealing a million events: a batch stores its tree once (batch_trees, one row per
 * level) and each event its leaf index; proofs derive from the levels when read, exactly as the
 * per-event merkle_proofs rows held them, and batches that have those rows keep being served
 * from them.
 */
describe('compact batch trees: sealed in chunks, proofs derived from the stored levels, older proof rows still served', () => {
  let t: TestLedger;
  let seq: string;
  let eventsRoot: string;
  let stateRoot: string;
  let root: string;
  /** the batch's events in id order: their leaves and ids */
  let events: Array<{ event_id: string; leaf: string; leaf_index: number }>;
  const q = <T>(sql: string, params: unknown[] = []): Promise<T[]> => sqlRows<T>(t.ledger.runtime.dataSource, sql, params);
  const inclusionProof = async (eventId: string): Promise<Proof> =>
    (await mustGql<{ inclusionProof: Proof }>(t, `query($e: String!) { inclusionProof(eventId: $e) { leafIndex proof root leaf } }`, { e: eventId })).inclusionProof;

  beforeAll(async () => {
    t = await startTestLedger({ BATCH_MAX_EVENTS: '5000' });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('seals pending events read and updated 100 at a time (ids with gaps) into one batch: leaf indexes in id order, no proof rows, the tree once', async () => {
    await fillPendingEvents(t.ledger.runtime.dataSource, 1234, 7, 'trees');
    // gaps in the ids, as rolled-back ingestions leave them: the keyset reads must not skip or repeat an event
    await q(`DELETE FROM custody_events WHERE id % 97 = 0 OR id BETWEEN 300 AND 310`);
    const [{ n: pending }] = await q<{ n: number }>(`SELECT count(*)::int AS n FROM custody_events WHERE batch_seq IS NULL`);
    expect(pending).toBe(1234 - 12 - 11);

    const sealer = t.ledger.app.get(SealerService);
    sealer.chunk = 100;
    const batch = (await sealer.sealNow(true))!;
    sealer.chunk = 50_000;
    expect(batch.leafCount).toBe(pending);
    seq = batch.seq.toString();
    root = batch.root;

    events = await q(`SELECT event_id, leaf, leaf_index FROM custody_events WHERE batch_seq = $1 ORDER BY id`, [seq]);
    expect(events).toHaveLength(pending);
    expect(events.every((e, i) => e.leaf_index === i)).toBe(true);
    expect(await q(`SELECT count(*)::int AS n FROM custody_events WHERE batch_seq IS NULL`)).toEqual([{ n: 0 }]);

    // the anchored roots are those of the merkletreejs tree over the leaves in id order
    const reference = await buildReferenceTree(events.map((e) => e.leaf));
    const [b] = await q<{ events_root: string; state_root: string; root: string }>(`SELECT events_root, state_root, root FROM anchor_batches WHERE seq = $1`, [seq]);
    eventsRoot = b.events_root;
    stateRoot = b.state_root;
    expect(eventsRoot).toBe(reference.root);
    expect(b.root).toBe(batchRootV2(reference.root, stateRoot));

    // stored: every level (the leaves … the root), the state commitment at level -1; about 64 B per event; no merkle_proofs rows
    const levels = await q<{ level: number; nodes: number }>(`SELECT level, (sum(octet_length(nodes)) / 32)::int AS nodes FROM batch_trees WHERE batch_seq = $1 GROUP BY level ORDER BY level`, [seq]);
    const widths = [pending];
    while (widths[widths.length - 1] > 1) widths.push(Math.ceil(widths[widths.length - 1] / 2));
    expect(levels).toEqual([{ level: -1, nodes: 1 }, ...widths.map((nodes, level) => ({ level, nodes }))]);
    expect(await q(`SELECT count(*)::int AS n FROM merkle_proofs`)).toEqual([{ n: 0 }]);
  });

  it('serves every proof as merkletreejs gives it, followed by the state commitment, and it folds to the anchored root', async () => {
    const reference = await buildReferenceTree(events.map((e) => e.leaf));
    const commitment = stateCommitment(eventsRoot, stateRoot);
    const last = events.length - 1;
    // both ends, both sides of read chunks, the odd last node, and a spread of the rest
    const sample = [...new Set([0, 1, 99, 100, 101, 199, 200, 511, 512, 1023, 1024, last - 1, last, ...Array.from({ length: 15 }, (_, k) => Math.floor((k * last) / 14))])];
    for (const i of sample) {
      const served = await inclusionProof(events[i].event_id);
      expect(served).toEqual({ leafIndex: i, proof: [...reference.proofs[i], commitment], root, leaf: events[i].leaf });
      expect(await rootFromProof(served.leaf, served.proof!)).toBe(root);
    }
    // every proof, as the SQL derives it (what the bundle and the down migration read)
    const all = await q<{ leaf_index: number; proof: string[] }>(`SELECT e.leaf_index, ${treeProofSql('e.batch_seq', 'e.leaf_index')} AS proof FROM custody_events e WHERE e.batch_seq = $1 ORDER BY e.leaf_index`, [seq]);
    expect(all.map((r) => r.proof)).toEqual(reference.proofs.map((p) => [...p, commitment]));
  });

  it('a level of more than 65,536 nodes is stored in parts, and proofs across part boundaries derive as from the whole level', async () => {
    const tree = await FlatTree.build(randomBytes((3 << PART_BITS) * 32 + 5 * 32));
    const suffix = ['0x' + 'c0'.repeat(32)];
    await q(`INSERT INTO anchor_batches (seq, root, events_root, leaf_count, status) VALUES (999, $1, $1, $2, 'SEALED')`, [tree.root, tree.leafCount]);
    const runner = t.ledger.runtime.dataSource.createQueryRunner();
    try {
      await storeBatchTree(runner, '999', tree, suffix);
    } finally {
      await runner.release();
    }
    expect(await q(`SELECT level, count(*)::int AS parts FROM batch_trees WHERE batch_seq = 999 AND level <= 2 GROUP BY level ORDER BY level`)).toEqual([
      { level: -1, parts: 1 }, { level: 0, parts: 4 }, { level: 1, parts: 2 }, { level: 2, parts: 1 },
    ]);
    const part = 1 << PART_BITS;
    for (const i of [0, part - 2, part - 1, part, part + 1, 2 * part + 7, 3 * part - 1, 3 * part, tree.leafCount - 2, tree.leafCount - 1]) {
      const [row] = await q<{ proof: string[] }>(`SELECT ${treeProofSql('999::bigint', '$1::int')} AS proof`, [i]);
      expect(row.proof).toEqual([...tree.proof(i), ...suffix]);
    }
    await q(`DELETE FROM batch_trees WHERE batch_seq = 999`);
    await q(`DELETE FROM anchor_batches WHERE seq = 999`);
  });

  it('a changed node of a stored tree changes the served proof, which then does not fold to the anchored root', async () => {
    const victim = events[6];
    // level 1, node 2: the sibling of leaves 6 and 7's parent (node 3), in their proofs only
    const flip = `UPDATE batch_trees SET nodes = overlay(nodes PLACING decode(translate(encode(substring(nodes FROM 2 * 32 + 1 FOR 32), 'hex'), '0123456789abcdef', 'fedcba9876543210'), 'hex') FROM 2 * 32 + 1 FOR 32)
      WHERE batch_seq = $1 AND level = 1`; // its own inverse
    await q(flip, [seq]);
    try {
      const served = await inclusionProof(victim.event_id);
      expect(served.leafIndex).toBe(6);
      expect(await rootFromProof(served.leaf, served.proof!)).not.toBe(root);
      // an event whose proof does not hold that node is unaffected
      const other = await inclusionProof(events[0].event_id);
      expect(await rootFromProof(other.leaf, other.proof!)).toBe(root);
    } finally {
      await q(flip, [seq]);
    }
    expect(await rootFromProof(victim.leaf, (await inclusionProof(victim.event_id)).proof!)).toBe(root);
  });

  it('a batch with merkle_proofs rows (sealed before batch_trees) is served from them: the same proofs and leaf indexes', async () => {
    const sample = [0, 5, 100, events.length - 1].map((i) => events[i].event_id);
    const before = await Promise.all(sample.map(inclusionProof));
    // the batch as the sealer stored it before: a proof row per event, no leaf index, no tree (what the migration's down writes)
    await q(
      `INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof, event_row_id)
       SELECT e.event_id, e.batch_seq, e.leaf_index, ${treeProofSql('e.batch_seq', 'e.leaf_index')}, e.id FROM custody_events e WHERE e.batch_seq = $1`,
      [seq],
    );
    await q(`UPDATE custody_events SET leaf_index = NULL WHERE batch_seq = $1`, [seq]);
    await q(`DELETE FROM batch_trees WHERE batch_seq = $1`, [seq]);
    expect(await Promise.all(sample.map(inclusionProof))).toEqual(before);
    // and the rows are what is read: a changed row is what is served
    await q(`UPDATE merkle_proofs SET proof = proof[2:2] || proof[1:1] || proof[3:] WHERE event_id = $1`, [sample[1]]);
    const swapped = await inclusionProof(sample[1]);
    expect(swapped.proof).toEqual([before[1].proof![1], before[1].proof![0], ...before[1].proof!.slice(2)]);
    expect(await rootFromProof(swapped.leaf, swapped.proof!)).not.toBe(root);
  });
});
