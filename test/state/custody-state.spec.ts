import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { AbiCoder, concat, getAddress, keccak256, toBeHex } from 'ethers';
import {
  SHIPMENT_KEY_TAG,
  SIGNING_KEY_TAG,
  STATE_FORMAT,
  TREE_FORMAT_V2,
  ZERO_HEX,
  batchRootV2,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  stateLeafHash,
  stateProof,
  stateRoot,
  stateRootFromProof,
  toBuf,
  toHex,
  useFastKeccak,
  verifyStateProof,
} from '../../src/state/custody-state';

const VECTOR_PATH = path.resolve(__dirname, '../vectors/custody-state-v1.json');

interface Proven {
  key: string;
  valueHash: string;
  leaf: string;
  proof: string[];
}
interface ShipmentRow extends Proven {
  carrier: string;
  trackingNumber: string;
  headLeaf: string;
  eventCount: string;
}
interface SigningKeyRow extends Proven {
  address: string;
  organization: string;
  validFromMs: string;
  revokedAtMs: string;
}
interface NegativeCase {
  description: string;
  root: string;
  key: string;
  valueHash: string;
  proof: string[];
  verifies: boolean;
}
export interface StateVector {
  format: string;
  batchFormat: string;
  tags: { shipment: string; signingKey: string };
  empty: { root: string };
  single: { shipment: ShipmentRow; root: string };
  records: { shipments: ShipmentRow[]; signingKeys: SigningKeyRow[]; root: string };
  rawKeys: { entries: Proven[]; root: string };
  negative: NegativeCase[];
  batchRoots: { description: string; eventsRoot: string; stateRoot: string; commitment: string; root: string }[];
}

const vector = JSON.parse(fs.readFileSync(VECTOR_PATH, 'utf8')) as StateVector;
const allRecords = (): Proven[] => [...vector.records.shipments, ...vector.records.signingKeys];

// ---------------------------------------------------------------------------------------------
// An independent reference: built bottom-up over all 256 levels with ethers' keccak and bigint
// prefixes, instead of the module's top-down split of a sorted array.
// ---------------------------------------------------------------------------------------------

interface RefNode {
  hash: string;
  count: number;
}
type Level = Map<bigint, RefNode>;

const refLeaf = (key: string, valueHash: string): string => keccak256(concat(['0x00', key, valueHash]));
const refInner = (left: string, right: string): string => keccak256(concat(['0x01', left, right]));

/** levels[d] maps each non-empty depth-d prefix (the key's top d bits) to its subtree. */
function referenceLevels(entries: ReadonlyArray<{ key: string; valueHash: string }>): Level[] {
  const levels: Level[] = new Array<Level>(257);
  levels[256] = new Map(entries.map((e) => [BigInt(e.key), { hash: refLeaf(e.key, e.valueHash), count: 1 }]));
  if (levels[256].size !== entries.length) throw new Error('duplicate key');
  for (let depth = 255; depth >= 0; depth--) {
    const level: Level = new Map();
    for (const prefix of new Set([...levels[depth + 1].keys()].map((p) => p >> 1n))) {
      const left = levels[depth + 1].get(prefix << 1n);
      const right = levels[depth + 1].get((prefix << 1n) | 1n);
      const count = (left?.count ?? 0) + (right?.count ?? 0);
      // a subtree with one record is that record's leaf, wherever it sits
      const hash = count === 1 ? (left ?? right)!.hash : refInner(left?.hash ?? ZERO_HEX, right?.hash ?? ZERO_HEX);
      level.set(prefix, { hash, count });
    }
    levels[depth] = level;
  }
  return levels;
}

function referenceRoot(entries: ReadonlyArray<{ key: string; valueHash: string }>): string {
  return referenceLevels(entries)[0].get(0n)?.hash ?? ZERO_HEX;
}

function referenceProof(levels: Level[], key: string): string[] {
  const k = BigInt(key);
  const siblings: string[] = [];
  for (let depth = 0; levels[depth].get(k >> BigInt(256 - depth))!.count > 1; depth++) {
    const siblingPrefix = (k >> BigInt(255 - depth)) ^ 1n;
    siblings.push(levels[depth + 1].get(siblingPrefix)?.hash ?? ZERO_HEX);
  }
  return siblings;
}

// ---------------------------------------------------------------------------------------------

const hex32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => toHex(b));

/**
 * Key sets where many keys share long prefixes: each key is either fresh, or a copy of an earlier
 * key up to bit `at`, with bit `at` flipped and the rest taken from fresh bytes.
 */
const clusteredKeys = fc
  .array(
    fc.record({
      fresh: hex32,
      parent: fc.option(fc.nat(), { nil: undefined }),
      at: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 240, max: 255 })),
    }),
    { maxLength: 24 },
  )
  .map((specs) => {
    const keys: bigint[] = [];
    for (const { fresh, parent, at } of specs) {
      if (parent === undefined || keys.length === 0) {
        keys.push(BigInt(fresh));
        continue;
      }
      const base = keys[parent % keys.length];
      const low = 255 - at; // bit `at` from the top is bit `low` from the bottom
      const highMask = ((1n << 256n) - 1n) ^ ((1n << BigInt(low + 1)) - 1n);
      const lowMask = (1n << BigInt(low)) - 1n;
      keys.push((base & highMask) | (~base & (1n << BigInt(low))) | (BigInt(fresh) & lowMask));
    }
    return [...new Set(keys)].map((k) => toBeHex(k, 32));
  });

const stateEntries = clusteredKeys.chain((keys) =>
  fc.tuple(fc.array(hex32, { minLength: keys.length, maxLength: keys.length }), fc.array(fc.double({ noNaN: true }), { minLength: keys.length, maxLength: keys.length })).map(([values, order]) => ({
    entries: keys.map((key, i) => ({ key, valueHash: values[i] })),
    order,
  })),
);

/** Everything the module computes for the vector, in one object, to compare across keccak backends. */
function recomputeVector(): unknown {
  return {
    empty: stateRoot([]),
    single: stateRoot([vector.single.shipment]),
    shipments: vector.records.shipments.map((s) => [shipmentStateKey(s.carrier, s.trackingNumber), shipmentStateValue(s.headLeaf, BigInt(s.eventCount))]),
    signingKeys: vector.records.signingKeys.map((k) => [signingKeyStateKey(k.address), signingKeyStateValue(k.organization, k.validFromMs, k.revokedAtMs)]),
    leaves: [...allRecords(), ...vector.rawKeys.entries].map((e) => toHex(stateLeafHash(toBuf(e.key), toBuf(e.valueHash)))),
    roots: [stateRoot(allRecords()), stateRoot(vector.rawKeys.entries)],
    proofs: [...allRecords().map((e) => stateProof(allRecords(), e.key)), ...vector.rawKeys.entries.map((e) => stateProof(vector.rawKeys.entries, e.key))],
    folded: [...allRecords(), ...vector.rawKeys.entries].map((e) => stateRootFromProof(e.key, e.valueHash, e.proof)),
    negative: vector.negative.map((n) => verifyStateProof(n.root, n.key, n.valueHash, n.proof)),
    batchRoots: vector.batchRoots.map((b) => batchRootV2(b.eventsRoot, b.stateRoot)),
  };
}

describe('custody-state/1 (src/state/custody-state.ts)', () => {
  describe('the pinned vector (test/vectors/custody-state-v1.json)', () => {
    it('names the formats and the record tags', () => {
      expect(vector.format).toBe(STATE_FORMAT);
      expect(vector.batchFormat).toBe(TREE_FORMAT_V2);
      expect(vector.tags).toEqual({ shipment: SHIPMENT_KEY_TAG, signingKey: SIGNING_KEY_TAG });
      expect([STATE_FORMAT, TREE_FORMAT_V2, SHIPMENT_KEY_TAG, SIGNING_KEY_TAG]).toEqual(['custody-state/1', 'custody-tree/2', 'custody-state/1:shipment', 'custody-state/1:key']);
    });

    it('gives the empty map the zero root', () => {
      expect(vector.empty.root).toBe(ZERO_HEX);
      expect(stateRoot([])).toBe(ZERO_HEX);
    });

    it('makes a one-record map its leaf, proven with no siblings', () => {
      const s = vector.single.shipment;
      expect(s.proof).toEqual([]);
      expect(stateRoot([s])).toBe(vector.single.root);
      expect(vector.single.root).toBe(s.leaf);
      expect(stateProof([s], s.key)).toEqual([]);
      expect(verifyStateProof(vector.single.root, s.key, s.valueHash, [])).toBe(true);
    });

    it('derives every shipment key and value hash from its plain fields', () => {
      expect(vector.records.shipments.length).toBeGreaterThanOrEqual(6);
      for (const s of vector.records.shipments) {
        expect(shipmentStateKey(s.carrier, s.trackingNumber)).toBe(s.key);
        expect(shipmentStateValue(s.headLeaf, BigInt(s.eventCount))).toBe(s.valueHash);
        expect(shipmentStateValue(s.headLeaf, Number(s.eventCount) <= Number.MAX_SAFE_INTEGER ? Number(s.eventCount) : BigInt(s.eventCount))).toBe(s.valueHash);
      }
    });

    it('derives every signing-key key and value hash from its plain fields, one of them revoked', () => {
      expect(vector.records.signingKeys.length).toBeGreaterThanOrEqual(4);
      expect(vector.records.signingKeys.filter((k) => k.revokedAtMs !== '0')).toHaveLength(1);
      for (const k of vector.records.signingKeys) {
        expect(k.address).toBe(getAddress(k.address));
        expect(signingKeyStateKey(k.address)).toBe(k.key);
        // the key does not depend on the address's case
        expect(signingKeyStateKey(k.address.toLowerCase())).toBe(k.key);
        expect(signingKeyStateValue(k.organization, k.validFromMs, k.revokedAtMs)).toBe(k.valueHash);
        expect(signingKeyStateValue(k.organization, BigInt(k.validFromMs), k.revokedAtMs === '0' ? null : BigInt(k.revokedAtMs))).toBe(k.valueHash);
      }
    });

    it('computes every leaf, root and proof of the record map and of the raw-key map', () => {
      for (const [entries, root] of [
        [allRecords(), vector.records.root],
        [vector.rawKeys.entries, vector.rawKeys.root],
      ] as const) {
        expect(stateRoot(entries)).toBe(root);
        for (const e of entries) {
          expect(toHex(stateLeafHash(toBuf(e.key), toBuf(e.valueHash)))).toBe(e.leaf);
          expect(stateProof(entries, e.key)).toEqual(e.proof);
          expect(stateRootFromProof(e.key, e.valueHash, e.proof)).toBe(root);
          expect(verifyStateProof(root, e.key, e.valueHash, e.proof)).toBe(true);
          expect(verifyStateProof(root.toUpperCase().replace('0X', '0x'), e.key, e.valueHash, e.proof)).toBe(true);
        }
      }
    });

    it('has raw-key proofs down to the deepest levels (255 and 256 siblings)', () => {
      const lengths = vector.rawKeys.entries.map((e) => e.proof.length);
      expect(lengths).toContain(255);
      expect(lengths).toContain(256);
      expect(Math.max(...lengths)).toBe(256);
    });

    it('agrees with the independent bottom-up reference on every root and proof', () => {
      for (const [entries, root] of [
        [allRecords(), vector.records.root],
        [vector.rawKeys.entries, vector.rawKeys.root],
        [[vector.single.shipment], vector.single.root],
      ] as const) {
        const levels = referenceLevels(entries);
        expect(levels[0].get(0n)!.hash).toBe(root);
        for (const e of entries) expect(referenceProof(levels, e.key)).toEqual(e.proof);
      }
      expect(referenceRoot([])).toBe(vector.empty.root);
    });

    it.each(vector.negative.map((n) => [n.description, n] as const))('does not verify %s', (_description, n) => {
      expect(n.verifies).toBe(false);
      expect(verifyStateProof(n.root, n.key, n.valueHash, n.proof)).toBe(false);
    });

    it('computes every custody-tree/2 batch root, which depends on the order of the two roots', () => {
      for (const b of vector.batchRoots) {
        expect(batchRootV2(b.eventsRoot, b.stateRoot)).toBe(b.root);
        const commitment = keccak256(concat(['0x02', b.eventsRoot, b.stateRoot]));
        expect(b.commitment).toBe(commitment);
        // the sorted pair, exactly as OpenZeppelin's MerkleProof hashes inner nodes
        expect(b.root).toBe(keccak256(concat(BigInt(b.eventsRoot) <= BigInt(commitment) ? [b.eventsRoot, commitment] : [commitment, b.eventsRoot])));
      }
      const [straight, swapped] = vector.batchRoots;
      expect(swapped.eventsRoot).toBe(straight.stateRoot);
      expect(swapped.root).not.toBe(straight.root);
    });
  });

  describe('limits and misuse', () => {
    const records = allRecords();

    it('refuses a proof of more than 256 siblings', () => {
      const deep = vector.rawKeys.entries.find((e) => e.proof.length === 256)!;
      expect(() => stateRootFromProof(deep.key, deep.valueHash, [...deep.proof, ZERO_HEX])).toThrow(/at most 256 siblings/);
      expect(verifyStateProof(vector.rawKeys.root, deep.key, deep.valueHash, [...deep.proof, ZERO_HEX])).toBe(false);
    });

    it('refuses to prove a key that is not in the map', () => {
      expect(() => stateProof(records, shipmentStateKey('acme-express', 'not-there'))).toThrow(/is not in the state map/);
      expect(() => stateProof([], records[0].key)).toThrow(/is not in the state map/);
    });

    it('refuses a map with a duplicate key', () => {
      expect(() => stateRoot([...records, { key: records[3].key, valueHash: records[0].valueHash }])).toThrow(/duplicate key/);
    });

    it('changes the root when one value changes', () => {
      const changed = records.map((e, i) => (i === 5 ? { ...e, valueHash: toBeHex(BigInt(e.valueHash) ^ 1n, 32) } : e));
      expect(stateRoot(changed)).not.toBe(vector.records.root);
    });
  });

  describe('property: equals the independent reference on random key sets with shared prefixes', () => {
    it('has the same root and proofs as the bottom-up reference, whatever the insertion order', () => {
      fc.assert(
        fc.property(stateEntries, ({ entries, order }) => {
          const levels = referenceLevels(entries);
          const expected = levels[0].get(0n)?.hash ?? ZERO_HEX;
          const root = stateRoot(entries);
          expect(root).toBe(expected);
          const shuffled = entries.map((e, i) => [order[i], e] as const).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
          expect(stateRoot(shuffled)).toBe(root);
          expect(stateRoot([...entries].reverse())).toBe(root);
          for (const e of entries) {
            const proof = stateProof(shuffled, e.key);
            expect(proof).toEqual(referenceProof(levels, e.key));
            expect(verifyStateProof(root, e.key, e.valueHash, proof)).toBe(true);
          }
        }),
        { numRuns: 150 },
      );
    });

    it('rejects every proof with a changed value, a flipped sibling or a missing sibling', () => {
      fc.assert(
        fc.property(
          stateEntries.filter(({ entries }) => entries.length >= 2),
          fc.nat(),
          fc.nat(),
          ({ entries }, pick, at) => {
            const root = stateRoot(entries);
            const e = entries[pick % entries.length];
            const proof = stateProof(entries, e.key);
            expect(proof.length).toBeGreaterThan(0);
            const d = at % proof.length;
            const flipped = proof.map((s, i) => (i === d ? toBeHex(BigInt(s) ^ 1n, 32) : s));
            expect(verifyStateProof(root, e.key, toBeHex(BigInt(e.valueHash) ^ 1n, 32), proof)).toBe(false);
            expect(verifyStateProof(root, e.key, e.valueHash, flipped)).toBe(false);
            expect(verifyStateProof(root, e.key, e.valueHash, proof.slice(0, -1))).toBe(false);
            expect(verifyStateProof(root, e.key, e.valueHash, proof.slice(1))).toBe(false);
          },
        ),
        { numRuns: 150 },
      );
    });
  });

  describe('record keys and values', () => {
    const abi = AbiCoder.defaultAbiCoder();
    const text = fc.string({ unit: 'grapheme', maxLength: 80 });
    it('equal keccak256 of ethers\' abi.encode for any strings, leaves, counts, addresses and times', () => {
      fc.assert(
        fc.property(text, text, hex32, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.option(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { nil: null }), (a, b, leaf, count, addr, from, revoked) => {
          const address = getAddress(toHex(addr));
          expect(shipmentStateKey(a, b)).toBe(keccak256(abi.encode(['string', 'string', 'string'], [SHIPMENT_KEY_TAG, a, b])));
          expect(shipmentStateValue(leaf, count)).toBe(keccak256(abi.encode(['bytes32', 'uint64'], [leaf, count])));
          expect(signingKeyStateKey(address)).toBe(keccak256(abi.encode(['string', 'address'], [SIGNING_KEY_TAG, address])));
          expect(signingKeyStateValue(a, from, revoked)).toBe(keccak256(abi.encode(['string', 'uint64', 'uint64'], [a, from, revoked ?? 0n])));
        }),
        { numRuns: 300 },
      );
    });

    it('refuse counts and times outside uint64', () => {
      expect(() => shipmentStateValue('0x' + '00'.repeat(32), 2n ** 64n)).toThrow('uint64');
      expect(() => signingKeyStateValue('acme', -1n, null)).toThrow('uint64');
    });
  });

  // Last: useFastKeccak swaps the hash for the rest of the process.
  describe('useFastKeccak', () => {
    it('gives identical results for every vector value and for random maps', async () => {
      const pureJs = recomputeVector();
      const samples = fc.sample(stateEntries, { numRuns: 20, seed: 42 });
      const pureJsRoots = samples.map(({ entries }) => stateRoot(entries));

      await useFastKeccak();
      expect(recomputeVector()).toEqual(pureJs);
      expect(samples.map(({ entries }) => stateRoot(entries))).toEqual(pureJsRoots);
      expect(samples.map(({ entries }) => referenceRoot(entries))).toEqual(pureJsRoots);
      expect(stateRoot(allRecords())).toBe(vector.records.root);
    });
  });
});
