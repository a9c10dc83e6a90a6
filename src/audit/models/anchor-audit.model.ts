import { Field, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Uint64Scalar } from '../../common/scalars';

export enum AuditProblemCodeEnum {
  LEAF_MISMATCH = 'LEAF_MISMATCH',
  CHAIN_BROKEN = 'CHAIN_BROKEN',
  ROOT_MISMATCH = 'ROOT_MISMATCH',
  PROOF_MISMATCH = 'PROOF_MISMATCH',
  CHAIN_ROOT_MISMATCH = 'CHAIN_ROOT_MISMATCH',
  NOT_ON_CHAIN = 'NOT_ON_CHAIN',
  LOG_MISMATCH = 'LOG_MISMATCH',
  MISSING_SEQ = 'MISSING_SEQ',
  UNKNOWN_ON_CHAIN = 'UNKNOWN_ON_CHAIN',
  SEALED_NOT_ANCHORED = 'SEALED_NOT_ANCHORED',
  PENDING_PAST_SLA = 'PENDING_PAST_SLA',
}
registerEnumType(AuditProblemCodeEnum, {
  name: 'AuditProblemCode',
  description: 'What an anchor audit found wrong.',
  valuesMap: {
    LEAF_MISMATCH: { description: "the leaf recomputed from the event's stored signed fields and signature(s) differs from the stored leaf (or digest, signatures hash)" },
    CHAIN_BROKEN: { description: "the event's previousLeaf is not the leaf of its shipment's previous event (zero for the first)" },
    ROOT_MISMATCH: { description: "the tree rebuilt from the batch's stored leaves does not give the stored root, or leafCount is wrong" },
    PROOF_MISMATCH: { description: 'a stored inclusion proof is missing or differs from the rebuilt tree' },
    CHAIN_ROOT_MISMATCH: { description: "the contract's batchRoot(seq) differs from the stored root" },
    NOT_ON_CHAIN: { description: 'the batch is recorded as anchored but the contract has no root for it' },
    LOG_MISMATCH: { description: "the BatchAnchored log (root, leafCount, transaction, block) differs from the stored anchor, or is missing" },
    MISSING_SEQ: { description: 'a sequence number is missing from the ledger (a gap)' },
    UNKNOWN_ON_CHAIN: { description: 'the contract holds a batch this ledger does not know' },
    SEALED_NOT_ANCHORED: { description: 'a batch was sealed longer ago than the SLA and is not anchored yet' },
    PENDING_PAST_SLA: { description: 'an event was received longer ago than the SLA and is still in no batch' },
  },
});

export enum AuditSeverityEnum {
  ERROR = 'ERROR',
  WARNING = 'WARNING',
}
registerEnumType(AuditSeverityEnum, {
  name: 'AuditSeverity',
  description: 'ERROR: ledger and chain disagree with what was signed or anchored. WARNING: late, not wrong.',
});

@ObjectType({ description: 'One finding of an anchor audit.' })
export class AuditProblem {
  @Field(() => AuditProblemCodeEnum) code: AuditProblemCodeEnum;
  @Field(() => AuditSeverityEnum) severity: AuditSeverityEnum;
  @Field(() => Uint64Scalar, { nullable: true, description: 'the batch concerned, if one' }) seq: string | null;
  @Field(() => String, { nullable: true, description: 'the event concerned, if one' }) eventId: string | null;
  @Field({ description: 'names the batch and the event and says what differs' }) message: string;
}

@ObjectType({
  description:
    "The auditor's full check: every event's leaf recomputed from its signed fields, the per-shipment leaf chains, every batch tree, root and proof, each anchor against the contract and its BatchAnchored log, missing sequence numbers, and batches or events waiting past the SLAs.",
})
export class AnchorAudit {
  @Field({ description: 'true when no problem was found (warnings included)' }) ok: boolean;
  @Field(() => Uint64Scalar) fromSeq: string;
  @Field(() => Uint64Scalar, { nullable: true, description: 'null when neither the ledger nor the chain has a batch in range' }) toSeq: string | null;
  @Field(() => Int) batchesChecked: number;
  @Field(() => Int) eventsChecked: number;
  @Field({ description: 'decimal chain id of the audited chain' }) chainId: string;
  @Field() contractAddress: string;
  @Field(() => [AuditProblem]) problems: AuditProblem[];
}
