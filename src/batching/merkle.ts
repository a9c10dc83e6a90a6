import { MerkleTree } from 'merkletreejs';
import { createKeccak } from 'hash-wasm';
import { keccakReady, keccakSync } from '../signing/keccak';

/**
 * Batch trees: leaves are custody leaves (already double-hashed, see signing/custody-signing.ts),
 * inner nodes are keccak256 of the sorted pair (OpenZeppelin MerkleProof, merkletreejs
 * `sortPairs`). An odd node is carried up unchanged. Proofs verify with OpenZeppelin
 * `MerkleProof.verify` on chain and `StandardMerkleTree.verify` off chain.
 * Duplicate leaves cannot occur: every leaf commits to a unique event id.
 */
export interface BatchTree {
  root: string;
  /** proofs[i] proves leaves[i]; sibling hashes bottom-up, 0x-prefixed. */
  proofs: string[][];
}

type SyncKeccak = (data: Buffer) => Buffer;
// merkletreejs hands over and expects Node Buffers.
let keccakPromise: Promise<SyncKeccak> | undefined;

/** keccak256 from WebAssembly (the shared hasher of signing/keccak.ts), as merkletreejs calls it. */
function wasmKeccak(): Promise<SyncKeccak> {
  keccakPromise ??= keccakReady.then(() => (data: Buffer) => keccakSync(data)!);
  return keccakPromise;
}

export async function buildBatchTree(leaves: readonly string[]): Promise<BatchTree> {
  if (leaves.length === 0) throw new Error('a batch tree needs at least one leaf');
  const tree = await FlatTree.fromHex(leaves.map((leaf) => leaf.toLowerCase()));
  return { root: tree.root, proofs: leaves.map((_, index) => tree.proof(index)) };
}

/** The reference construction (merkletreejs, sortPairs), which FlatTree is pinned against in tests. */
export async function buildReferenceTree(leaves: readonly string[]): Promise<BatchTree> {
  if (leaves.length === 0) throw new Error('a batch tree needs at least one leaf');
  const keccak = await wasmKeccak();
  const buffers = leaves.map((leaf) => Buffer.from(leaf.slice(2), 'hex'));
  const tree = new MerkleTree(buffers, keccak, { sortPairs: true });
  return {
    root: tree.getHexRoot(),
    proofs: buffers.map((leaf, index) => tree.getHexProof(leaf, index)),
  };
}

/** Recompute a root from a leaf and its proof (sorted pairs), for verifiers and audits. */
export async function rootFromProof(leaf: string, proof: readonly string[]): Promise<string> {
  const keccak = await wasmKeccak();
  let node: Buffer = Buffer.from(leaf.slice(2), 'hex');
  for (const sibling of proof) {
    const other = Buffer.from(sibling.slice(2), 'hex');
    node = keccak(Buffer.compare(node, other) <= 0 ? Buffer.concat([node, other]) : Buffer.concat([other, node]));
  }
  return '0x' + node.toString('hex');
}

/** Bytes of one node: a keccak256 hash. */
export const NODE_BYTES = 32;

/**
 * The same tree as `buildBatchTree` (sorted pairs, an odd node carried up unchanged), held as
 * flat levels: `levels[0]` is the leaves, `levels[k]` the nodes of level k back to back (32 bytes
 * each), the last level the root alone. About 64 bytes per leaf in all, no object per node; every
 * proof derives from the levels (the sibling of index i at level k is i ^ 1, when it exists).
 */
export class FlatTree {
  private constructor(readonly levels: readonly Buffer[]) {}

  get leafCount(): number {
    return this.levels[0].length / NODE_BYTES;
  }

  get root(): string {
    return '0x' + this.levels[this.levels.length - 1].toString('hex');
  }

  /**
   * Builds every level above `leaves` (n·32 bytes, leaf i at offset 32·i; kept, not copied).
   * `pause`, if given, is awaited about once a second of hashing (the sealer runs a query then, so
   * its transaction is never idle long enough for idle_in_transaction_session_timeout).
   */
  static async build(leaves: Buffer, pause?: () => Promise<unknown>, pauseEveryMs = 1000): Promise<FlatTree> {
    if (leaves.length === 0 || leaves.length % NODE_BYTES !== 0) throw new Error('a batch tree needs at least one leaf');
    const pair = await pairHasher();
    const levels = [leaves];
    let since = Date.now();
    for (let below = leaves; below.length > NODE_BYTES; ) {
      const n = below.length / NODE_BYTES;
      const level = Buffer.allocUnsafe(Math.ceil(n / 2) * NODE_BYTES);
      for (let i = 0; i + 1 < n; i += 2) {
        if (pause && (i & 0xffff) === 0 && Date.now() - since >= pauseEveryMs) {
          await pause();
          since = Date.now();
        }
        pair(below, i * NODE_BYTES, level, (i / 2) * NODE_BYTES);
      }
      if (n % 2 === 1) below.copy(level, ((n - 1) / 2) * NODE_BYTES, (n - 1) * NODE_BYTES);
      levels.push(level);
      below = level;
    }
    return new FlatTree(levels);
  }

  /** From 0x-prefixed hex leaves (tests, audits, small batches). */
  static async fromHex(leaves: readonly string[]): Promise<FlatTree> {
    const buf = Buffer.allocUnsafe(leaves.length * NODE_BYTES);
    leaves.forEach((leaf, i) => writeHexNode(buf, i, leaf));
    return FlatTree.build(buf);
  }

  /** Levels as stored (batch_trees), trusted as they are: for deriving the proofs they hold, not for checking them. */
  static fromLevels(levels: readonly Buffer[]): FlatTree {
    if (levels.length === 0 || levels.some((l) => l.length % NODE_BYTES !== 0)) throw new Error('stored tree levels must be whole 32-byte nodes');
    return new FlatTree(levels);
  }

  /** The nodes of the bottom level, 0x-prefixed. */
  nodes(): string[] {
    return Array.from({ length: this.leafCount }, (_, i) => '0x' + this.levels[0].toString('hex', i * NODE_BYTES, (i + 1) * NODE_BYTES));
  }

  /** Sibling hashes bottom-up, 0x-prefixed: exactly merkletreejs `getHexProof(leaf, index)`. */
  proof(index: number): string[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount) throw new Error(`no leaf ${index} in a tree of ${this.leafCount}`);
    const proof: string[] = [];
    for (let k = 0, i = index; k < this.levels.length - 1; k++, i >>= 1) {
      const sibling = i ^ 1;
      if (sibling * NODE_BYTES < this.levels[k].length) proof.push('0x' + this.levels[k].toString('hex', sibling * NODE_BYTES, (sibling + 1) * NODE_BYTES));
    }
    return proof;
  }
}

/** Writes 0x-prefixed 32-byte hex `hex` as node `index` of `level`; refuses anything else. */
export function writeHexNode(level: Buffer, index: number, hex: string): void {
  if (hex.length !== 66 || level.write(hex.slice(2), index * NODE_BYTES, NODE_BYTES, 'hex') !== NODE_BYTES) throw new Error(`not a 32-byte hex node: ${hex}`);
}

type PairHasher = (src: Buffer, at: number, dst: Buffer, to: number) => void;
let pairPromise: Promise<PairHasher> | undefined;

/** keccak256(min(a, b) ‖ max(a, b)) of two adjacent 32-byte nodes of `src`, written into `dst`. */
function pairHasher(): Promise<PairHasher> {
  // a hasher of its own, digest written straight into the level: the shared keccakSync's Buffer view per
  // call made a 1M-leaf build 2.4× slower (2.8–3.0 s against 1.2 s)
  pairPromise ??= createKeccak(256).then((hasher) => {
    const input = Buffer.allocUnsafe(2 * NODE_BYTES);
    return (src: Buffer, at: number, dst: Buffer, to: number) => {
      const a = src.subarray(at, at + NODE_BYTES);
      const b = src.subarray(at + NODE_BYTES, at + 2 * NODE_BYTES);
      if (Buffer.compare(a, b) <= 0) src.copy(input, 0, at, at + 2 * NODE_BYTES);
      else {
        b.copy(input, 0);
        a.copy(input, NODE_BYTES);
      }
      hasher.init();
      hasher.update(input);
      dst.set(hasher.digest('binary'), to);
    };
  });
  return pairPromise;
}
