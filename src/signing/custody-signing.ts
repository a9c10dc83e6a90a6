import { AbiCoder, TypedDataEncoder, concat, getAddress, id, keccak256, type TypedDataDomain, type TypedDataField } from 'ethers';
import { keccakLoaded, keccakSync } from './keccak';

/**
 * Signing spec v1: the EIP-712 struct a scanning device signs for every custody event.
 * This is a protocol. Changing a name, a type or the order of fields changes every digest:
 * that needs a new version (`custody-signing/2`), never an edit of this one. Pinned by
 * test/vectors/signing-v1.json, which the TypeScript and the Solidity tests both read.
 */
export const SIGNING_SPEC_VERSION = 'custody-signing/1';
export const SIGNING_DOMAIN_NAME = 'CustodyLedger';
export const SIGNING_DOMAIN_VERSION = '1';
export const CUSTODY_PRIMARY_TYPE = 'CustodyEvent';

export const CUSTODY_EVENT_TYPES: Record<string, TypedDataField[]> = {
  CustodyEvent: [
    { name: 'eventId', type: 'bytes32' },
    { name: 'trackingNumber', type: 'string' },
    { name: 'carrier', type: 'string' },
    { name: 'eventType', type: 'string' },
    { name: 'custodian', type: 'string' },
    { name: 'occurredAt', type: 'uint64' },
    { name: 'latE6', type: 'int32' },
    { name: 'lonE6', type: 'int32' },
    { name: 'accuracyM', type: 'uint32' },
    { name: 'locationCode', type: 'string' },
    { name: 'scanMethod', type: 'string' },
    { name: 'evidenceHash', type: 'bytes32' },
    { name: 'dataHash', type: 'bytes32' },
  ],
};

/** The EIP-712 domain type, listed so any EIP-712 library (eth_signTypedData_v4) can sign. */
export const EIP712_DOMAIN_TYPE: TypedDataField[] = [
  { name: 'name', type: 'string' },
  { name: 'version', type: 'string' },
  { name: 'chainId', type: 'uint256' },
  { name: 'verifyingContract', type: 'address' },
];

export const ZERO_HASH = '0x0000000000000000000000000000000000000000000000000000000000000000';

/** The signed fields, exactly as in the EIP-712 struct. Hex values are 0x-prefixed lowercase. */
export interface CustodyEventFields {
  eventId: string;
  trackingNumber: string;
  carrier: string;
  eventType: string;
  custodian: string;
  occurredAt: bigint;
  latE6: number;
  lonE6: number;
  accuracyM: number;
  locationCode: string;
  scanMethod: string;
  evidenceHash: string;
  dataHash: string;
}

/** The signed fields as JSON carries them (GraphQL input, bundles): occurredAt as a decimal string. */
export type CustodyEventJson = Omit<CustodyEventFields, 'occurredAt'> & { occurredAt: string };

export interface CustodySigningDomain {
  name: string;
  version: string;
  chainId: bigint;
  verifyingContract: string;
}

export function custodySigningDomain(chainId: bigint, verifyingContract: string): CustodySigningDomain {
  return {
    name: SIGNING_DOMAIN_NAME,
    version: SIGNING_DOMAIN_VERSION,
    chainId,
    verifyingContract: getAddress(verifyingContract),
  };
}

const encoder = new TypedDataEncoder(CUSTODY_EVENT_TYPES);
const abi = AbiCoder.defaultAbiCoder();

/** EIP-712 domain separator; computed once per deployment by callers that hash many events. */
export function domainSeparator(domain: CustodySigningDomain): string {
  return TypedDataEncoder.hashDomain(domain as TypedDataDomain);
}

/**
 * The reference implementation of the spec, through ethers' generic EIP-712 encoder. The exported
 * functions below give the same bytes faster (precomputed type hash, WebAssembly keccak); the
 * property test test/signing/fast-hash.property.spec.ts pins the two against each other.
 */
export const reference = {
  custodyStructHash: (event: CustodyEventFields): string => encoder.hash(event as unknown as Record<string, unknown>),
  custodyEventDigest: (domainSep: string, event: CustodyEventFields): string => keccak256(concat(['0x1901', domainSep, reference.custodyStructHash(event)])),
  signaturesHash: (signature: string, counterSignature?: string | null): string => keccak256(concat([signature, counterSignature ?? '0x'])),
  custodyLeaf: (digest: string, sigHash: string, previousLeaf: string): string =>
    keccak256(keccak256(abi.encode(['bytes32', 'bytes32', 'bytes32'], [digest, sigHash, previousLeaf]))),
};

// keccak256 of "CustodyEvent(bytes32 eventId,string trackingNumber,...)": the type hash, once
const CUSTODY_TYPE_HASH = Buffer.from(id(encoder.encodeType(CUSTODY_PRIMARY_TYPE)).slice(2), 'hex');
// RegExp.test stringifies what it is given ([hex] and new String(hex) would pass): strings only
const HEX32_RE = /^0x[0-9a-fA-F]{64}$/;
const HEX_BYTES_RE = /^0x(?:[0-9a-fA-F]{2})*$/;
const HEX32 = { test: (v: unknown): v is string => typeof v === 'string' && HEX32_RE.test(v) };
const HEX_BYTES = { test: (v: unknown): v is string => typeof v === 'string' && HEX_BYTES_RE.test(v) };
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const EIP191_PREFIX = Buffer.from([0x19, 0x01]);
const UINT64_MAX = (1n << 64n) - 1n;
const INT32_MIN = -0x80000000;
const INT32_MAX = 0x7fffffff;

const bytes = (hex: string): Buffer => Buffer.from(hex.slice(2), 'hex');

/**
 * keccak256 of a string field's UTF-8 bytes, remembered: carriers, event types, custodians, scan
 * methods, location codes and tracking numbers repeat across a call, and the cache is bounded.
 */
const STRING_HASH_CACHE_MAX = 10_000;
const stringHashes = new Map<string, Buffer>();
/** null for a string ethers refuses (a lone surrogate; Buffer would silently replace it). */
function stringHash(value: string): Buffer | null {
  let hash = stringHashes.get(value);
  if (hash === undefined) {
    if (typeof value !== 'string' || LONE_SURROGATE.test(value)) return null;
    hash = keccakSync(Buffer.from(value, 'utf8'))!;
    if (stringHashes.size >= STRING_HASH_CACHE_MAX) stringHashes.clear();
    stringHashes.set(value, hash);
  }
  return hash;
}
const hex = (buf: Buffer): string => '0x' + buf.toString('hex');

/** The bytes of the last domain separator seen: one deployment's for every event of a call (none at first: '' is not a separator). */
let lastSeparator: { hex: string; bytes: Buffer } | null = null;
function separatorBytes(domainSep: string): Buffer | null {
  if (lastSeparator?.hex !== domainSep) {
    if (!HEX32.test(domainSep)) return null;
    lastSeparator = { hex: domainSep, bytes: bytes(domainSep) };
  }
  return lastSeparator.bytes;
}

// encodeData is written into one reused buffer: it is hashed at once, synchronously
const encoded = Buffer.alloc(14 * 32);
CUSTODY_TYPE_HASH.copy(encoded, 0);

/** The 14-word encodeData of a CustodyEvent, or null for values the fast path leaves to ethers (which then throws as before). */
function encodeCustodyEvent(e: CustodyEventFields): Buffer | null {
  if (!HEX32.test(e.eventId) || !HEX32.test(e.evidenceHash) || !HEX32.test(e.dataHash)) return null;
  if (typeof e.occurredAt !== 'bigint' || e.occurredAt < 0n || e.occurredAt > UINT64_MAX) return null;
  if (!Number.isInteger(e.latE6) || e.latE6 < INT32_MIN || e.latE6 > INT32_MAX || !Number.isInteger(e.lonE6) || e.lonE6 < INT32_MIN || e.lonE6 > INT32_MAX) return null;
  if (!Number.isInteger(e.accuracyM) || e.accuracyM < 0 || e.accuracyM > 0xffffffff) return null;
  const strings = [stringHash(e.trackingNumber), stringHash(e.carrier), stringHash(e.eventType), stringHash(e.custodian), stringHash(e.locationCode), stringHash(e.scanMethod)];
  if (strings.includes(null)) return null;
  const out = encoded;
  out.fill(0, 192);
  out.write(e.eventId.slice(2), 32, 'hex');
  strings[0]!.copy(out, 64);
  strings[1]!.copy(out, 96);
  strings[2]!.copy(out, 128);
  strings[3]!.copy(out, 160);
  out.writeBigUInt64BE(e.occurredAt, 216);
  const int32 = (value: number, at: number): void => {
    if (value < 0) out.fill(0xff, at, at + 28);
    out.writeInt32BE(value, at + 28);
  };
  int32(e.latE6, 224);
  int32(e.lonE6, 256);
  out.writeUInt32BE(e.accuracyM, 316);
  strings[4]!.copy(out, 320);
  strings[5]!.copy(out, 352);
  out.write(e.evidenceHash.slice(2), 384, 'hex');
  out.write(e.dataHash.slice(2), 416, 'hex');
  return out;
}

/** hashStruct(CustodyEvent), the part of the digest that depends on the event. */
export function custodyStructHash(event: CustodyEventFields): string {
  const data = keccakLoaded() && encodeCustodyEvent(event);
  return data ? hex(keccakSync(data)!) : reference.custodyStructHash(event);
}

/** The EIP-712 digest a device signs: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(event)). */
export function custodyEventDigest(domainSep: string, event: CustodyEventFields): string {
  const separator = keccakLoaded() && separatorBytes(domainSep);
  const data = separator && encodeCustodyEvent(event);
  return separator && data ? hex(keccakSync(EIP191_PREFIX, separator, keccakSync(data)!)!) : reference.custodyEventDigest(domainSep, event);
}

/** keccak256(signature ‖ counterSignature); the counter-signature is empty when absent. */
export function signaturesHash(signature: string, counterSignature?: string | null): string {
  const fast = keccakLoaded() && HEX_BYTES.test(signature) && (counterSignature == null || HEX_BYTES.test(counterSignature));
  return fast ? hex(keccakSync(bytes(signature), bytes(counterSignature ?? '0x'))!) : reference.signaturesHash(signature, counterSignature);
}

/**
 * Leaf format v1: the OpenZeppelin StandardMerkleTree leaf over ["bytes32","bytes32","bytes32"]
 * = keccak256(keccak256(abi.encode(digest, signaturesHash, previousLeaf))). The double hash
 * keeps leaves apart from inner nodes (no second-preimage trick with a 64-byte leaf).
 */
export function custodyLeaf(digest: string, sigHash: string, previousLeaf: string): string {
  const fast = keccakLoaded() && HEX32.test(digest) && HEX32.test(sigHash) && HEX32.test(previousLeaf);
  // abi.encode of three bytes32 is their concatenation
  return fast ? hex(keccakSync(keccakSync(bytes(digest), bytes(sigHash), bytes(previousLeaf))!)!) : reference.custodyLeaf(digest, sigHash, previousLeaf);
}

/** Everything a signer or verifier needs, as the `custodySigningSpec` query publishes it. */
export function signingSpec(domain: CustodySigningDomain) {
  return {
    version: SIGNING_SPEC_VERSION,
    primaryType: CUSTODY_PRIMARY_TYPE,
    domain,
    types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...CUSTODY_EVENT_TYPES },
  };
}
