import { AbiCoder, TypedDataEncoder, concat, getAddress, keccak256, type TypedDataDomain, type TypedDataField } from 'ethers';

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

/** EIP-712 domain separator; computed once per deployment by callers that hash many events. */
export function domainSeparator(domain: CustodySigningDomain): string {
  return TypedDataEncoder.hashDomain(domain as TypedDataDomain);
}

/** hashStruct(CustodyEvent), the part of the digest that depends on the event. */
export function custodyStructHash(event: CustodyEventFields): string {
  return encoder.hash(event as unknown as Record<string, unknown>);
}

/** The EIP-712 digest a device signs: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(event)). */
export function custodyEventDigest(domainSep: string, event: CustodyEventFields): string {
  return keccak256(concat(['0x1901', domainSep, custodyStructHash(event)]));
}

/** keccak256(signature ‖ counterSignature); the counter-signature is empty when absent. */
export function signaturesHash(signature: string, counterSignature?: string | null): string {
  return keccak256(concat([signature, counterSignature ?? '0x']));
}

const abi = AbiCoder.defaultAbiCoder();

/**
 * Leaf format v1: the OpenZeppelin StandardMerkleTree leaf over ["bytes32","bytes32","bytes32"]
 * = keccak256(keccak256(abi.encode(digest, signaturesHash, previousLeaf))). The double hash
 * keeps leaves apart from inner nodes (no second-preimage trick with a 64-byte leaf).
 */
export function custodyLeaf(digest: string, sigHash: string, previousLeaf: string): string {
  return keccak256(keccak256(abi.encode(['bytes32', 'bytes32', 'bytes32'], [digest, sigHash, previousLeaf])));
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
