import { Field, InputType, ObjectType } from '@nestjs/graphql';
import { Uint64Scalar } from '../common/scalars';

@InputType({ description: 'A custody-delegation/1 statement, exactly as the delegating organization signed it (EIP-712, primary type CustodyDelegation, the ledger\'s signing domain).' })
export class RegisterDelegationInput {
  @Field({ description: '0x + 64 hex: random, chosen by the delegator, never reused' }) delegationId: string;
  @Field({ description: 'slug of the organization that consents: the shipments\' carrier, or a custodian for the time it holds them' }) delegator: string;
  @Field({ description: 'slug of the organization that may take custody on its own signature' }) delegate: string;
  @Field({ description: 'slug of the carrier whose shipments it covers' }) carrier: string;
  @Field({ defaultValue: '', description: 'one shipment, or "" for every shipment of the carrier' }) trackingNumber: string;
  @Field(() => Uint64Scalar, { description: 'unix ms: transfers that occurred at or after it are covered' }) validFrom: bigint;
  @Field(() => Uint64Scalar, { description: 'unix ms: transfers that occurred at or after it are not' }) validUntil: bigint;
  @Field({ description: '65-byte EIP-712 signature by a registered, unrevoked key of the delegator' }) signature: string;
}

@InputType()
export class RevokeDelegationInput {
  @Field() delegationId: string;
  @Field({ description: 'why, for the audit trail (1-500 characters)' }) reason: string;
  @Field(() => Date, { nullable: true, description: 'default: now. Transfers that occur from then on are not covered; earlier ones stay valid, so it must be after the last transfer made under the delegation.' })
  revokedAt?: Date | null;
}

@ObjectType({ description: 'A signed, revocable consent: the delegate may take custody of the carrier\'s shipments (or one of them) without the releasing custodian\'s signature, within [validFrom, validUntil). Anchored in the state map.' })
export class Delegation {
  @Field() delegationId: string;
  @Field() delegator: string;
  @Field() delegate: string;
  @Field() carrier: string;
  @Field({ description: '"" = every shipment of the carrier' }) trackingNumber: string;
  @Field(() => Uint64Scalar) validFrom: bigint;
  @Field(() => Uint64Scalar) validUntil: bigint;
  @Field({ description: 'address of the delegator key that signed it' }) signer: string;
  @Field() signature: string;
  @Field({ description: 'EIP-712 digest of the statement' }) digest: string;
  @Field() registeredAt: Date;
  @Field(() => Date, { nullable: true }) revokedAt: Date | null;
  @Field(() => String, { nullable: true }) revocationReason: string | null;
  @Field({ description: 'in force now: within its validity and not revoked' }) active: boolean;
  @Field({ description: 'transfers accepted under it' }) transfers: number;
}

@ObjectType({ description: 'How the releasing custodian consented to a custody transfer.' })
export class TransferConsent {
  @Field({ description: 'SIGNED (it signed the transfer), COUNTER_SIGNED, DELEGATION (the receiver holds its or the carrier\'s delegation) or DESIGNATED (the shipment\'s own carrier picking it up)' }) kind: string;
  @Field(() => String, { nullable: true }) delegationId: string | null;
}

export interface DelegationRow {
  delegation_id: string;
  delegator: string;
  delegate: string;
  carrier: string;
  tracking_number: string;
  valid_from_ms: string;
  valid_until_ms: string;
  signer: string;
  signature: string;
  digest: string;
  registered_at: Date;
  revoked_at: Date | null;
  revocation_reason: string | null;
  transfers: number;
}

export function toDelegation(r: DelegationRow): Delegation {
  const now = BigInt(Date.now());
  const revoked = r.revoked_at !== null && BigInt(r.revoked_at.getTime()) <= now;
  return {
    delegationId: r.delegation_id,
    delegator: r.delegator,
    delegate: r.delegate,
    carrier: r.carrier,
    trackingNumber: r.tracking_number,
    validFrom: BigInt(r.valid_from_ms),
    validUntil: BigInt(r.valid_until_ms),
    signer: r.signer,
    signature: r.signature,
    digest: r.digest,
    registeredAt: r.registered_at,
    revokedAt: r.revoked_at,
    revocationReason: r.revocation_reason,
    active: !revoked && now >= BigInt(r.valid_from_ms) && now < BigInt(r.valid_until_ms),
    transfers: r.transfers,
  };
}
