import { TypedDataEncoder, concat, keccak256, type TypedDataField } from 'ethers';

/**
 * Delegation spec `custody-delegation/1`: a signed, revocable statement by which one organization
 * (the delegator: a shipment's carrier, or whoever holds the parcel) lets another (the delegate)
 * take custody without a signature of the releasing custodian on every transfer.
 * Signed with EIP-712 under the ledger's signing domain (the same domain as custody events,
 * signing spec custody-signing/1), primary type `CustodyDelegation`. A protocol: change it only
 * with a new version; pinned by test/vectors/custody-delegation-v1.json.
 *
 *   delegationId   bytes32  random, chosen by the delegator; unique forever
 *   delegator      string   slug of the organization that consents
 *   delegate       string   slug of the organization that may take custody
 *   carrier        string   slug of the carrier whose shipments it covers
 *   trackingNumber string   one shipment, or "" for every shipment of that carrier
 *   validFrom      uint64   unix ms; transfers that occurred at or after it are covered
 *   validUntil     uint64   unix ms; transfers that occurred at or after it are not
 */
export const DELEGATION_SPEC_VERSION = 'custody-delegation/1';
export const DELEGATION_PRIMARY_TYPE = 'CustodyDelegation';

export const CUSTODY_DELEGATION_TYPES: Record<string, TypedDataField[]> = {
  CustodyDelegation: [
    { name: 'delegationId', type: 'bytes32' },
    { name: 'delegator', type: 'string' },
    { name: 'delegate', type: 'string' },
    { name: 'carrier', type: 'string' },
    { name: 'trackingNumber', type: 'string' },
    { name: 'validFrom', type: 'uint64' },
    { name: 'validUntil', type: 'uint64' },
  ],
};

export interface DelegationFields {
  delegationId: string;
  delegator: string;
  delegate: string;
  carrier: string;
  trackingNumber: string;
  validFrom: bigint;
  validUntil: bigint;
}

/** As carried in JSON (GraphQL, bundles): the uint64 values as decimal strings. */
export type DelegationJson = Omit<DelegationFields, 'validFrom' | 'validUntil'> & { validFrom: string; validUntil: string };

const encoder = new TypedDataEncoder(CUSTODY_DELEGATION_TYPES);

/** The EIP-712 digest the delegator's key signs: keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(delegation)). */
export function delegationDigest(domainSep: string, d: DelegationFields): string {
  return keccak256(concat(['0x1901', domainSep, encoder.hash(d as unknown as Record<string, unknown>)]));
}

export const delegationToJson = (d: DelegationFields): DelegationJson => ({ ...d, validFrom: d.validFrom.toString(), validUntil: d.validUntil.toString() });
export const delegationFromJson = (d: DelegationJson): DelegationFields => ({ ...d, validFrom: BigInt(d.validFrom), validUntil: BigInt(d.validUntil) });

/** Whether the delegation covers a transfer of `carrier`/`trackingNumber` to `delegate` that occurred at `at` (revocation aside). */
export function delegationCovers(d: Pick<DelegationFields, 'delegate' | 'carrier' | 'trackingNumber' | 'validFrom' | 'validUntil'>, delegate: string, carrier: string, trackingNumber: string, at: bigint): boolean {
  return d.delegate === delegate && d.carrier === carrier && (d.trackingNumber === '' || d.trackingNumber === trackingNumber) && at >= d.validFrom && at < d.validUntil;
}
