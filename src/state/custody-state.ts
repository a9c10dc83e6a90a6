import { getAddress, keccak256 as ethersKeccak } from 'ethers';
import { createKeccak } from 'hash-wasm';

/**
 * State map `custody-state/1`: the ledger's cumulative state, committed with every batch.
 * A protocol: change it only with a new version; pinned by test/vectors/custody-state-v1.json,
 * which the TypeScript and the Solidity tests both read.
 *
 * The map is a compact sparse Merkle tree over 256-bit keys (bits taken most significant first):
 *   - empty subtree:          0x00…00 (32 zero bytes)
 *   - a subtree with one key: that key's leaf, keccak256(0x00 ‖ key ‖ valueHash) (65 bytes hashed)
 *   - any other subtree:      keccak256(0x01 ‖ left ‖ right)                     (65 bytes hashed)
 * The root therefore depends only on the set of (key, valueHash) pairs, never on insertion order.
 * A proof of a key is the list of sibling hashes from the root down to the depth where the key's
 * leaf sits; `siblings[d]` is the sibling at depth d + 1 (the child of the depth-d node that is
 * not on the key's path). Leaves and inner nodes hash 65 bytes with different first bytes, and the
 * batch tree hashes 64-byte pairs and 32-byte leaf digests, so no node of one kind can pass for
 * another.
 *
 * Records:
 *   shipment:    key   = keccak256(abi.encode(string "custody-state/1:shipment", string carrier, string trackingNumber))
 *                value = keccak256(abi.encode(bytes32 headLeaf, uint64 eventCount))
 *   signing key: key   = keccak256(abi.encode(string "custody-state/1:key", address signer))
 *                value = keccak256(abi.encode(string organization, uint64 validFromMs, uint64 revokedAtMs)), revokedAtMs 0 if never revoked
 *   delegation:  key   = keccak256(abi.encode(string "custody-state/1:delegation", bytes32 delegationId))
 *                value = keccak256(abi.encode(bytes32 digest, uint64 revokedAtMs)), digest the EIP-712 digest of the
 *                signed custody-delegation/1 statement (which commits to every field), revokedAtMs 0 if never revoked.
 *                A record kind added with issue 9: it has a tag of its own, so no earlier key or value changes
 *                and every earlier state and proof verifies as before.
 *
 * Batch root `custody-tree/2` = sortedPair(eventsRoot, stateCommitment), with
 * stateCommitment = keccak256(0x02 ‖ eventsRoot ‖ stateRoot) (65 bytes hashed) and eventsRoot the
 * custody-tree/1 root over the batch's event leaves. An event's proof is its event-tree proof with
 * the commitment appended, so it verifies against the anchored root exactly like a custody-tree/1
 * proof (OpenZeppelin MerkleProof, StandardMerkleTree, the contract's verifyInclusion). One root opens
 * to one state only: two openings (e1, s1), (e2, s2) need s1 = s2 or a keccak256 cycle
 * e1 = c(c(e1, s1), s2).
 */
export const STATE_FORMAT = 'custody-state/1';
export const TREE_FORMAT_V2 = 'custody-tree/2';
export const SHIPMENT_KEY_TAG = 'custody-state/1:shipment';
export const SIGNING_KEY_TAG = 'custody-state/1:key';
export const DELEGATION_TAG = 'custody-state/1:delegation';
export const ZERO32 = Buffer.alloc(32);
export const ZERO_HEX = '0x' + '00'.repeat(32);

type Keccak = (data: Uint8Array) => Buffer;
let keccak: Keccak = (data) => Buffer.from(ethersKeccak(data).slice(2), 'hex');
let fast: Promise<void> | undefined;

/** Swaps in the WebAssembly keccak (about ten times faster); the pure-JS one works until then. */
export function useFastKeccak(): Promise<void> {
  fast ??= createKeccak(256).then((hasher) => {
    keccak = (data) => {
      hasher.init();
      hasher.update(data);
      return Buffer.from(hasher.digest('binary'));
    };
  });
  return fast;
}

export const toBuf = (hex: string): Buffer => Buffer.from(hex.startsWith('0x') ? hex.slice(2) : hex, 'hex');
export const toHex = (buf: Uint8Array): string => '0x' + Buffer.from(buf).toString('hex');


const scratch = Buffer.alloc(65);

function hash65(prefix: number, a: Uint8Array, b: Uint8Array): Buffer {
  if (a.length !== 32 || b.length !== 32) throw new Error('state map nodes are 32 bytes');
  scratch[0] = prefix;
  scratch.set(a, 1);
  scratch.set(b, 33);
  return keccak(scratch);
}

export function stateLeafHash(key: Buffer, valueHash: Buffer): Buffer {
  return hash65(0, key, valueHash);
}

export function stateInnerHash(left: Buffer, right: Buffer): Buffer {
  return hash65(1, left, right);
}

/** custody-tree/2: keccak256(0x02 ‖ eventsRoot ‖ stateRoot), the last element of every event proof in the batch. */
export function stateCommitment(eventsRoot: string, stateRoot: string): string {
  return toHex(hash65(2, toBuf(eventsRoot), toBuf(stateRoot)));
}

/** custody-tree/2: the root that goes on chain for a batch that carries a state. */
export function batchRootV2(eventsRoot: string, stateRoot: string): string {
  const e = toBuf(eventsRoot);
  const c = toBuf(stateCommitment(eventsRoot, stateRoot));
  return toHex(keccak(Buffer.compare(e, c) <= 0 ? Buffer.concat([e, c]) : Buffer.concat([c, e])));
}

export function shipmentStateKey(carrier: string, trackingNumber: string): string {
  return toHex(keccak(abiEncode([SHIPMENT_KEY_TAG, carrier, trackingNumber])));
}

export function shipmentStateValue(headLeaf: string, eventCount: number | bigint): string {
  return toHex(keccak(abiEncode([toBuf(headLeaf), BigInt(eventCount)])));
}

export function signingKeyStateKey(address: string): string {
  return toHex(keccak(abiEncode([SIGNING_KEY_TAG, toBuf(getAddress(address))])));
}

export function signingKeyStateValue(organization: string, validFromMs: bigint | string, revokedAtMs: bigint | string | null): string {
  return toHex(keccak(abiEncode([organization, BigInt(validFromMs), BigInt(revokedAtMs ?? 0)])));
}

export function delegationStateKey(delegationId: string): string {
  return toHex(keccak(abiEncode([DELEGATION_TAG, toBuf(delegationId)])));
}

export function delegationStateValue(digest: string, revokedAtMs: bigint | string | null): string {
  return toHex(keccak(abiEncode([toBuf(digest), BigInt(revokedAtMs ?? 0)])));
}

/**
 * abi.encode of strings (dynamic), 32-byte words (bytes32, or an address as 20 bytes, left-padded)
 * and unsigned integers below 2^64: exactly what ethers' AbiCoder gives for these types (a test
 * compares them on random values), without its per-call cost, which is ~0.2 ms and would dominate
 * sealing a batch that touches thousands of records.
 */
function abiEncode(values: ReadonlyArray<string | Buffer | bigint>): Buffer {
  const head = Buffer.alloc(32 * values.length);
  const tails: Buffer[] = [];
  let offset = head.length;
  values.forEach((v, i) => {
    if (typeof v === 'string') {
      const bytes = Buffer.from(v, 'utf8');
      const tail = Buffer.alloc(32 + Math.ceil(bytes.length / 32) * 32);
      tail.writeUInt32BE(bytes.length, 28);
      bytes.copy(tail, 32);
      head.writeUInt32BE(offset, 32 * i + 28);
      offset += tail.length;
      tails.push(tail);
    } else if (typeof v === 'bigint') {
      if (v < 0n || v >= 1n << 64n) throw new Error('uint64 out of range');
      head.writeBigUInt64BE(v, 32 * i + 24);
    } else {
      v.copy(head, 32 * i + 32 - v.length);
    }
  });
  return Buffer.concat([head, ...tails]);
}

/** Bit `depth` of a 256-bit key, most significant first. */
export function keyBit(key: Buffer, depth: number): number {
  return (key[depth >> 3] >> (7 - (depth & 7))) & 1;
}

/** Folds a proof from the key's leaf up to the root. Callers compare the result with a trusted root. */
const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

export function stateRootFromProof(key: string, valueHash: string, siblings: readonly string[]): string {
  if (siblings.length > 256) throw new Error('a custody-state/1 proof has at most 256 siblings');
  for (const h of [key, valueHash, ...siblings]) if (typeof h !== 'string' || !BYTES32.test(h)) throw new Error('keys, values and siblings are 32 bytes of 0x-hex');
  const k = toBuf(key);
  let node = stateLeafHash(k, toBuf(valueHash));
  for (let depth = siblings.length - 1; depth >= 0; depth--) {
    const sibling = toBuf(siblings[depth]);
    node = keyBit(k, depth) === 0 ? stateInnerHash(node, sibling) : stateInnerHash(sibling, node);
  }
  return toHex(node);
}

export function verifyStateProof(root: string, key: string, valueHash: string, siblings: readonly string[]): boolean {
  try {
    return stateRootFromProof(key, valueHash, siblings) === root.toLowerCase();
  } catch {
    return false;
  }
}

export interface StateLeaf {
  key: Buffer;
  valueHash: Buffer;
}

/** Hash and size of a subtree: enough to combine subtrees (a one-key subtree floats up unchanged). */
export interface Summary {
  hash: Buffer;
  count: number;
}

export const EMPTY: Summary = { hash: ZERO32, count: 0 };

export function combine(left: Summary, right: Summary): Summary {
  const count = left.count + right.count;
  if (count === 0) return EMPTY;
  if (count === 1) return left.count === 1 ? { hash: left.hash, count } : { hash: right.hash, count };
  return { hash: stateInnerHash(left.hash, right.hash), count };
}

/** First index in `leaves[from, to)` (sorted by key) whose bit `depth` is 1. */
function splitAt(leaves: readonly StateLeaf[], from: number, to: number, depth: number): number {
  let lo = from;
  let hi = to;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keyBit(leaves[mid].key, depth) === 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The subtree at `depth` over `leaves` (sorted by key, all sharing their first `depth` bits). */
export function subtree(leaves: readonly StateLeaf[], depth: number, from = 0, to = leaves.length): Summary {
  const n = to - from;
  if (n === 0) return EMPTY;
  if (n === 1) return { hash: stateLeafHash(leaves[from].key, leaves[from].valueHash), count: 1 };
  if (depth >= 256) throw new Error('duplicate key in a state map');
  const mid = splitAt(leaves, from, to, depth);
  return { hash: stateInnerHash(subtree(leaves, depth + 1, from, mid).hash, subtree(leaves, depth + 1, mid, to).hash), count: n };
}

/** Siblings of `key` below `depth` inside the subtree over `leaves`; `key` must be one of them. */
export function subtreeProof(leaves: readonly StateLeaf[], depth: number, key: Buffer): Buffer[] {
  const siblings: Buffer[] = [];
  let from = 0;
  let to = leaves.length;
  while (to - from > 1) {
    const mid = splitAt(leaves, from, to, depth);
    if (keyBit(key, depth) === 0) {
      siblings.push(subtree(leaves, depth + 1, mid, to).hash);
      to = mid;
    } else {
      siblings.push(subtree(leaves, depth + 1, from, mid).hash);
      from = mid;
    }
    depth++;
  }
  if (to - from !== 1 || !leaves[from].key.equals(key)) throw new Error(`key ${toHex(key)} is not in the state map`);
  return siblings;
}

export const compareLeaves = (a: StateLeaf, b: StateLeaf): number => Buffer.compare(a.key, b.key);

/** The whole map in memory: the reference implementation (vectors, tests, audits). */
export function stateRoot(entries: ReadonlyArray<{ key: string; valueHash: string }>): string {
  return toHex(subtree(sortedLeaves(entries), 0).hash);
}

export function stateProof(entries: ReadonlyArray<{ key: string; valueHash: string }>, key: string): string[] {
  return subtreeProof(sortedLeaves(entries), 0, toBuf(key)).map(toHex);
}

function sortedLeaves(entries: ReadonlyArray<{ key: string; valueHash: string }>): StateLeaf[] {
  const leaves = entries.map((e) => ({ key: toBuf(e.key), valueHash: toBuf(e.valueHash) })).sort(compareLeaves);
  for (let i = 1; i < leaves.length; i++) if (leaves[i].key.equals(leaves[i - 1].key)) throw new Error(`duplicate key ${toHex(leaves[i].key)}`);
  return leaves;
}
