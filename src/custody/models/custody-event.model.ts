import { TransferConsent } from '../../delegations/delegation.model';
import { PageInfo } from '../../common/page-info.model';
import { encodeCursor } from '../../common/cursor';
import { Field, Float, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Uint64Scalar } from '../../common/scalars';
import { CUSTODY_EVENT_STATUSES, type CustodyEventRow, type CustodyEventStatus } from '../custody-event.row';
import type { ErrorCode } from '../../common/errors';

export enum CustodyEventStatusEnum {
  PENDING = 'PENDING',
  BATCHED = 'BATCHED',
  ANCHORED = 'ANCHORED',
  FINAL = 'FINAL',
}
registerEnumType(CustodyEventStatusEnum, {
  name: 'CustodyEventStatus',
  description: `${CUSTODY_EVENT_STATUSES.join(' → ')}: stored, sealed in a batch (proof known), root mined on chain, past the confirmation depth`,
});

@ObjectType({ description: 'Metadata of the evidence committed by evidenceHash.' })
export class Evidence {
  @Field() contentType: string;
  @Field(() => Float) sizeBytes: number;
  @Field() hash: string;
}

@ObjectType({ description: 'A personal value behind a salted commitment in extraData; null once erased.' })
export class PersonalDatum {
  @Field() path: string;
  @Field() commitment: string;
  @Field(() => String, { nullable: true }) value: string | null;
  @Field(() => Date, { nullable: true }) erasedAt: Date | null;
}

@ObjectType({ description: 'A recorded custody event: the signed fields verbatim, plus what the ledger derived from them.' })
export class CustodyEvent {
  @Field() eventId: string;
  @Field() trackingNumber: string;
  @Field() carrier: string;
  @Field() eventType: string;
  @Field() custodian: string;
  @Field(() => Uint64Scalar, { description: 'unix milliseconds (device clock), decimal string' }) occurredAt: bigint;
  @Field(() => Int) latE6: number;
  @Field(() => Int) lonE6: number;
  @Field(() => Float) accuracyM: number;
  @Field() locationCode: string;
  @Field() scanMethod: string;
  @Field() evidenceHash: string;
  @Field() dataHash: string;
  @Field() signature: string;
  @Field(() => String, { nullable: true }) counterSignature: string | null;
  @Field({ description: 'address recovered from signature' }) signer: string;
  @Field(() => String, { nullable: true, description: 'address recovered from counterSignature' }) counterSigner: string | null;
  @Field({ description: 'EIP-712 digest (signing spec v1)' }) digest: string;
  @Field() signaturesHash: string;
  @Field({ description: "leaf of this shipment's previously accepted event (zero for the first)" }) previousLeaf: string;
  @Field() leaf: string;
  @Field(() => CustodyEventStatusEnum) status: CustodyEventStatus;
  @Field(() => Uint64Scalar, { nullable: true }) batchSeq: bigint | null;
  @Field() receivedAt: Date;
  @Field({ description: 'organization of the signing key' }) signerOrganization: string;
  @Field(() => [String], { description: 'rule flags set when the event was accepted (see the README): LATE_ARRIVAL, CARRIER_DECLARED, AFTER_TERMINAL, MISSING_REQUIRED_EVIDENCE' }) flags: string[];
  @Field({ description: 'a custody transfer signed by one party and counter-signed by the other' }) dualAttested: boolean;
  @Field(() => TransferConsent, { nullable: true, description: 'for a custody transfer: how the releasing custodian consented (null for other events, and for transfers accepted before consent was required)' }) consent: TransferConsent | null;
  @Field({ description: 'evidenceHash is not zero' }) hasEvidence: boolean;
  @Field(() => Evidence, { nullable: true }) evidence: Evidence | null;
  @Field(() => String, { nullable: true, description: 'the extra-data document (canonical JSON) committed by dataHash' }) extraData: string | null;
  @Field(() => [PersonalDatum], { description: 'personal values opening commitments in extraData' }) personalData: PersonalDatum[];
  @Field(() => String, { nullable: true, description: 'for a CORRECTION: the event it voids' }) correctsEventId: string | null;
  @Field(() => String, { nullable: true }) correctionReason: string | null;
  @Field(() => String, { nullable: true, description: 'the CORRECTION that voids this event, if any' }) correctedBy: string | null;
}

export function toCustodyEvent(row: CustodyEventRow): CustodyEvent {
  return {
    eventId: row.event_id,
    trackingNumber: row.tracking_number,
    carrier: row.carrier,
    eventType: row.event_type,
    custodian: row.custodian,
    occurredAt: BigInt(row.occurred_at_ms),
    latE6: row.lat_e6,
    lonE6: row.lon_e6,
    accuracyM: Number(row.accuracy_m),
    locationCode: row.location_code,
    scanMethod: row.scan_method,
    evidenceHash: row.evidence_hash,
    dataHash: row.data_hash,
    signature: row.signature,
    counterSignature: row.counter_signature,
    signer: row.signer,
    counterSigner: row.counter_signer,
    digest: row.digest,
    signaturesHash: row.signatures_hash,
    previousLeaf: row.previous_leaf,
    leaf: row.leaf,
    status: row.status,
    batchSeq: row.batch_seq === null ? null : BigInt(row.batch_seq),
    receivedAt: row.received_at,
    signerOrganization: row.signer_organization,
    flags: row.flags,
    dualAttested: row.dual_attested,
    consent: row.consent ? { kind: row.consent, delegationId: row.delegation_id } : null,
    hasEvidence: row.evidence_hash !== '0x' + '00'.repeat(32),
    evidence: row.evidence_content_type ? { contentType: row.evidence_content_type, sizeBytes: Number(row.evidence_size_bytes), hash: row.evidence_hash } : null,
    extraData: row.extra_data,
    personalData: (row.personal_data ?? []).map((p) => ({ ...p, erasedAt: p.erasedAt ? new Date(p.erasedAt) : null })),
    correctsEventId: row.corrects_event_id,
    correctionReason: row.correction_reason,
    correctedBy: row.corrected_by,
  };
}

@ObjectType()
export class CustodyReceipt {
  @Field() eventId: string;
  @Field() digest: string;
  @Field() leaf: string;
  @Field() previousLeaf: string;
  @Field(() => CustodyEventStatusEnum) status: CustodyEventStatus;
  @Field() receivedAt: Date;
}

@ObjectType({ description: 'Why one event was not recorded. Nothing of it was stored.' })
export class EventError {
  @Field(() => String, { description: 'stable error code, e.g. UNKNOWN_SIGNER (see the README)' }) code: ErrorCode;
  @Field() message: string;
  @Field(() => String, { nullable: true, description: 'the input field at fault' }) field: string | null;
}

export enum RecordOutcomeEnum {
  ACCEPTED = 'ACCEPTED',
  DUPLICATE = 'DUPLICATE',
  REJECTED = 'REJECTED',
}
registerEnumType(RecordOutcomeEnum, {
  name: 'RecordOutcome',
  description: 'ACCEPTED: stored now. DUPLICATE: stored before with identical content; the receipt is the original. REJECTED: nothing stored, see error.',
});

@ObjectType({ description: 'The result for the event at `index` of the input list.' })
export class RecordResult {
  @Field(() => Int) index: number;
  @Field(() => String, { nullable: true }) eventId: string | null;
  @Field(() => RecordOutcomeEnum) outcome: RecordOutcomeEnum;
  @Field(() => CustodyReceipt, { nullable: true }) receipt: CustodyReceipt | null;
  @Field(() => EventError, { nullable: true }) error: EventError | null;
}

@ObjectType()
export class CustodyEventEdge {
  @Field() cursor: string;
  @Field(() => CustodyEvent) node: CustodyEvent;
}

@ObjectType()
export class CustodyEventConnection {
  @Field(() => [CustodyEventEdge]) edges: CustodyEventEdge[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

export const eventCursor = (row: CustodyEventRow): string => encodeCursor('event', row.occurred_at_ms, row.id);
