/**
 * Writes test/vectors/custody-state-v1.json: the custody-state/1 map (record keys, value hashes,
 * leaves, roots and proofs) and custody-tree/2 batch roots, over fixed inputs. Run once per
 * protocol version; the committed file is the reference that test/state and test/contracts check
 * against. Deterministic: no randomness, no clock.
 * Usage: npx ts-node --transpile-only scripts/generate-state-vector.ts
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Wallet, id, toBeHex } from 'ethers';
import {
  SHIPMENT_KEY_TAG,
  SIGNING_KEY_TAG,
  STATE_FORMAT,
  TREE_FORMAT_V2,
  ZERO_HEX,
  batchRootV2,
  stateCommitment,
  shipmentStateKey,
  shipmentStateValue,
  signingKeyStateKey,
  signingKeyStateValue,
  stateLeafHash,
  stateProof,
  stateRoot,
  toBuf,
  toHex,
  verifyStateProof,
} from '../src/state/custody-state';

interface Entry {
  key: string;
  valueHash: string;
}

interface ProvenEntry extends Entry {
  leaf: string;
  proof: string[];
}

/** Flips the lowest bit of a 32-byte hex value. */
const flipLowBit = (hex: string): string => toBeHex(BigInt(hex) ^ 1n, 32);

const leafOf = (e: Entry): string => toHex(stateLeafHash(toBuf(e.key), toBuf(e.valueHash)));

/** Every entry with its leaf and proof; fails if any proof does not verify against the root. */
function prove<T extends Entry>(entries: readonly T[]): { root: string; proven: Array<T & ProvenEntry> } {
  const root = stateRoot(entries);
  const proven = entries.map((e) => {
    const proof = stateProof(entries, e.key);
    if (!verifyStateProof(root, e.key, e.valueHash, proof)) throw new Error(`generated proof of ${e.key} does not verify`);
    return { ...e, leaf: leafOf(e), proof };
  });
  return { root, proven };
}

const shipments = [
  { carrier: 'acme-express', trackingNumber: '1Z999AA10123456784', headLeaf: id('custody-state/1 vector head 1'), eventCount: '4' },
  { carrier: 'acme-express', trackingNumber: '1Z999AA10123456785', headLeaf: id('custody-state/1 vector head 2'), eventCount: '1' },
  { carrier: 'nordpost', trackingNumber: 'RR123456785DE', headLeaf: id('custody-state/1 vector head 3'), eventCount: '12' },
  // same tracking number under another carrier: a different record
  { carrier: 'nordpost', trackingNumber: '1Z999AA10123456784', headLeaf: id('custody-state/1 vector head 4'), eventCount: '2' },
  // longer than 32 bytes and not ASCII: the abi.encode padding spans several words
  { carrier: 'süd-kurier', trackingNumber: 'SK-2025-ÜBERGABE-0000000000000000000000042', headLeaf: id('custody-state/1 vector head 5'), eventCount: '7' },
  { carrier: 'lastmile', trackingNumber: 'LM-1', headLeaf: id('custody-state/1 vector head 6'), eventCount: '18446744073709551615' },
];

const signingKeys = [1, 2, 3, 4].map((i) => new Wallet(id(`custody-state/1 vector signing key ${i}`)).address);
const keyRecords = [
  { address: signingKeys[0], organization: 'acme-express', validFromMs: '1764000000000', revokedAtMs: '0' },
  { address: signingKeys[1], organization: 'berlin-hub', validFromMs: '1764000000000', revokedAtMs: '0' },
  // revoked
  { address: signingKeys[2], organization: 'acme-express', validFromMs: '1760000000000', revokedAtMs: '1764090000000' },
  { address: signingKeys[3], organization: 'shop-one', validFromMs: '0', revokedAtMs: '0' },
];

/** Hand-picked keys sharing long prefixes, so proofs run down to depth 255 and 256. */
const rawKeys = [
  '0x0000000000000000000000000000000000000000000000000000000000000001',
  '0x0000000000000000000000000000000000000000000000000000000000000002',
  '0x0000000000000000000000000000000000000000000000000000000000000003',
  '0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
  '0x8000000000000000000000000000000000000000000000000000000000000000',
  '0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff',
];

function main(): void {
  const shipmentEntries = shipments.map((s) => ({
    ...s,
    key: shipmentStateKey(s.carrier, s.trackingNumber),
    valueHash: shipmentStateValue(s.headLeaf, BigInt(s.eventCount)),
  }));
  const keyEntries = keyRecords.map((k) => ({
    ...k,
    key: signingKeyStateKey(k.address),
    valueHash: signingKeyStateValue(k.organization, k.validFromMs, k.revokedAtMs),
  }));

  const single = prove([shipmentEntries[0]]);
  if (single.root !== single.proven[0].leaf || single.proven[0].proof.length !== 0) throw new Error('a one-record map is not its leaf');

  const records = prove<Entry>([...shipmentEntries, ...keyEntries]);
  const recordShipments = shipmentEntries.map((s, i) => ({ ...s, ...records.proven[i] }));
  const recordKeys = keyEntries.map((k, i) => ({ ...k, ...records.proven[shipmentEntries.length + i] }));

  const raw = prove(rawKeys.map((key, i) => ({ key, valueHash: id(`custody-state/1 vector raw value ${i}`) })));

  const shipment = recordShipments[2];
  const revoked = recordKeys[2];
  const deep = raw.proven[1];
  const negative = [
    { description: 'a shipment record with another event count', root: records.root, key: shipment.key, valueHash: shipmentStateValue(shipment.headLeaf, BigInt(shipment.eventCount) + 1n), proof: shipment.proof },
    { description: 'a signing key shown as never revoked', root: records.root, key: revoked.key, valueHash: signingKeyStateValue(revoked.organization, revoked.validFromMs, 0n), proof: revoked.proof },
    { description: 'a record with the proof of another record', root: records.root, key: recordKeys[0].key, valueHash: recordKeys[0].valueHash, proof: recordKeys[1].proof },
    { description: 'a proof with its first sibling flipped in the lowest bit', root: records.root, key: shipment.key, valueHash: shipment.valueHash, proof: [flipLowBit(shipment.proof[0]), ...shipment.proof.slice(1)] },
    { description: 'a proof with its last sibling flipped in the lowest bit', root: records.root, key: shipment.key, valueHash: shipment.valueHash, proof: [...shipment.proof.slice(0, -1), flipLowBit(shipment.proof.at(-1)!)] },
    { description: 'a proof one sibling short (the last one dropped)', root: records.root, key: shipment.key, valueHash: shipment.valueHash, proof: shipment.proof.slice(0, -1) },
    { description: 'a proof one sibling short (the first one dropped)', root: records.root, key: shipment.key, valueHash: shipment.valueHash, proof: shipment.proof.slice(1) },
    { description: 'a proof with one sibling too many (a zero sibling appended)', root: records.root, key: shipment.key, valueHash: shipment.valueHash, proof: [...shipment.proof, ZERO_HEX] },
    { description: 'a 256-sibling proof one sibling short', root: raw.root, key: deep.key, valueHash: deep.valueHash, proof: deep.proof.slice(0, -1) },
    { description: 'a 256-sibling proof with a zero sibling flipped', root: raw.root, key: deep.key, valueHash: deep.valueHash, proof: deep.proof.map((s, d) => (d === 100 ? flipLowBit(s) : s)) },
    { description: 'a 256-sibling proof used for its neighbour key (0x…02 vs 0x…03)', root: raw.root, key: raw.proven[2].key, valueHash: deep.valueHash, proof: deep.proof },
    { description: 'a 257-sibling proof (longer than any key)', root: raw.root, key: deep.key, valueHash: deep.valueHash, proof: [...deep.proof, ZERO_HEX] },
    { description: 'any record against the empty map', root: ZERO_HEX, key: shipment.key, valueHash: shipment.valueHash, proof: [] },
    { description: 'a one-record map checked with the root of another map', root: records.root, key: single.proven[0].key, valueHash: single.proven[0].valueHash, proof: [] },
  ];
  for (const n of negative) {
    if (verifyStateProof(n.root, n.key, n.valueHash, n.proof)) throw new Error(`negative case verifies: ${n.description}`);
  }

  const eventsRoot = id('custody-state/1 vector events root');
  const batchRoots = [
    { description: 'events root and the vector map', eventsRoot, stateRoot: records.root },
    { description: 'the same two roots swapped', eventsRoot: records.root, stateRoot: eventsRoot },
    { description: 'events root and the empty map', eventsRoot, stateRoot: ZERO_HEX },
    { description: 'events root and the one-record map', eventsRoot, stateRoot: single.root },
    { description: 'both zero', eventsRoot: ZERO_HEX, stateRoot: ZERO_HEX },
  ].map((b) => ({ ...b, commitment: stateCommitment(b.eventsRoot, b.stateRoot), root: batchRootV2(b.eventsRoot, b.stateRoot) }));

  const vector = {
    format: STATE_FORMAT,
    batchFormat: TREE_FORMAT_V2,
    note: 'Generated by scripts/generate-state-vector.ts from fixed inputs. Test keys are derived from public strings; never use them for anything real.',
    tags: { shipment: SHIPMENT_KEY_TAG, signingKey: SIGNING_KEY_TAG },
    rules: {
      keys: '256-bit keys; bit d is bit d of the key counted from the most significant bit (bit 0 = top bit of byte 0). Bit 0 picks the child of the root, 0 = left.',
      emptySubtree: '32 zero bytes',
      leaf: 'a subtree holding exactly one record is that record\'s leaf, at whatever depth: keccak256(0x00 ‖ key ‖ valueHash), 65 bytes hashed',
      inner: 'any other subtree: keccak256(0x01 ‖ left ‖ right), 65 bytes hashed; an empty side is 32 zero bytes',
      root: 'the subtree at depth 0; it depends only on the set of (key, valueHash) pairs, never on insertion order; the empty map has the zero root; keys are unique',
      proof: 'siblings[d] is the sibling at depth d + 1, from the root down to the depth at which the record\'s subtree holds only that record; at most 256 siblings',
      fold: 'node = leaf; for d from siblings.length - 1 down to 0: node = bit d of key is 0 ? inner(node, siblings[d]) : inner(siblings[d], node); the proof verifies iff node equals the trusted root',
      shipmentKey: 'keccak256(abi.encode(string "custody-state/1:shipment", string carrier, string trackingNumber))',
      shipmentValue: 'keccak256(abi.encode(bytes32 headLeaf, uint64 eventCount))',
      signingKeyKey: 'keccak256(abi.encode(string "custody-state/1:key", address signer))',
      signingKeyValue: 'keccak256(abi.encode(string organization, uint64 validFromMs, uint64 revokedAtMs)), revokedAtMs 0 if never revoked',
      batchRootV2: 'custody-tree/2 = keccak256 of the sorted pair (eventsRoot, commitment), commitment = keccak256(0x02 ‖ eventsRoot ‖ stateRoot) (65 bytes hashed); every event proof of the batch ends with the commitment',
    },
    empty: { root: stateRoot([]) },
    single: { shipment: single.proven[0], root: single.root },
    records: { shipments: recordShipments, signingKeys: recordKeys, root: records.root },
    rawKeys: { entries: raw.proven, root: raw.root },
    negative: negative.map((n) => ({ ...n, verifies: false })),
    batchRoots,
  };
  const out = path.join(__dirname, '..', 'test', 'vectors', 'custody-state-v1.json');
  writeFileSync(out, JSON.stringify(vector, null, 2) + '\n');
  console.log(`wrote ${out} (records root ${records.root}, raw-key proofs of ${raw.proven.map((e) => e.proof.length).join(', ')} siblings)`);
}

main();
