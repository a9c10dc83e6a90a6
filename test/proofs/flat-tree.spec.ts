import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { buildBatchTree, buildReferenceTree, FlatTree, rootFromProof } from '../../src/batching/merkle';

/**
 * The flat-array batch tree (issue 11, sealing) must be the merkletreejs tree the ledger always
 * built (sortPairs, an odd node carried up unchanged): the same root and the same proof for every
 * leaf, or anchored roots and stored proofs of old batches would stop matching new code.
 */
const hexLeaves = (n: number, seed?: Uint8Array): string[] =>
  Array.from({ length: n }, (_, i) => {
    // some leaves share a long prefix, so the sorted-pair comparison has to look past the first bytes
    const b = seed ? Buffer.from(seed) : randomBytes(32);
    if (i % 7 === 3) b.fill(0xab, 0, 30);
    b.writeUInt32BE(i, seed ? 28 : 0);
    return '0x' + b.toString('hex');
  });

async function expectSameTree(leaves: string[]): Promise<void> {
  const reference = await buildReferenceTree(leaves);
  const flat = await FlatTree.fromHex(leaves);
  expect(flat.root).toBe(reference.root);
  expect(flat.leafCount).toBe(leaves.length);
  for (let i = 0; i < leaves.length; i++) {
    const proof = flat.proof(i);
    if (proof.length !== reference.proofs[i].length || proof.some((p, k) => p !== reference.proofs[i][k])) {
      throw new Error(`${leaves.length} leaves, leaf ${i}: flat proof [${proof.join(', ')}] ≠ merkletreejs [${reference.proofs[i].join(', ')}]`);
    }
  }
  // buildBatchTree (what audits and vector scripts use) is the flat tree too
  expect(await buildBatchTree(leaves)).toEqual(reference);
}

describe('FlatTree: the same root and proofs as merkletreejs with sortPairs', () => {
  it('on every power of two up to 2048 and its neighbours (odd nodes carried up at every level)', async () => {
    const sizes = [1, 2, 3];
    for (let p = 4; p <= 2048; p *= 2) sizes.push(p - 1, p, p + 1);
    for (const n of sizes) await expectSameTree(hexLeaves(n));
  });

  it('on random sizes 1..2000 with random leaves (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 2000 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), async (n, seed) => {
        await expectSameTree(hexLeaves(n, seed));
      }),
      { numRuns: 40 },
    );
  });

  it('every proof folds to the root; a wrong leaf, index or node length is refused', async () => {
    const leaves = hexLeaves(37);
    const flat = await FlatTree.fromHex(leaves);
    for (let i = 0; i < leaves.length; i++) expect(await rootFromProof(leaves[i], flat.proof(i))).toBe(flat.root);
    expect(await rootFromProof(leaves[1], flat.proof(0))).not.toBe(flat.root);
    expect(() => flat.proof(37)).toThrow('no leaf 37');
    expect(() => flat.proof(-1)).toThrow('no leaf -1');
    await expect(FlatTree.fromHex([])).rejects.toThrow('at least one leaf');
    await expect(FlatTree.fromHex(['0x1234'])).rejects.toThrow('not a 32-byte hex node');
    await expect(FlatTree.build(Buffer.alloc(33))).rejects.toThrow('at least one leaf');
  });

  it('pauses for the caller while hashing a large tree (the sealer keeps its transaction busy), with the same result', async () => {
    const leaves = randomBytes((1 << 17) * 32 + 32);
    let pauses = 0;
    const paused = await FlatTree.build(leaves, async () => pauses++, 0);
    expect(pauses).toBeGreaterThan(2);
    expect(paused.root).toBe((await FlatTree.build(leaves)).root);
  });

  it('a single leaf is its own root with an empty proof', async () => {
    const [leaf] = hexLeaves(1);
    const flat = await FlatTree.fromHex([leaf]);
    expect([flat.root, flat.proof(0), flat.levels.length]).toEqual([leaf, [], 1]);
  });
});
