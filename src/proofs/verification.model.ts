import { Field, Int, ObjectType } from '@nestjs/graphql';
import { JsonScalar } from '../common/json.scalar';
import { VERIFICATION_CHECKS } from './bundle-verifier';

@ObjectType()
export class VerificationFailureModel {
  @Field({ description: VERIFICATION_CHECKS.join(', ') }) check: string;
  @Field(() => String, { nullable: true }) eventId: string | null;
  @Field(() => Int, { nullable: true, description: 'position in the bundle (hash-chain order)' }) eventIndex: number | null;
  @Field(() => String, { nullable: true }) batchSeq: string | null;
  @Field() message: string;
}

@ObjectType({ description: 'What the anchored state map proves (custody-pod/2).' })
export class VerificationStateModel {
  @Field(() => String, { nullable: true, description: 'the batch whose state the proofs were made against' }) provenAtSeq: string | null;
  @Field(() => String, { nullable: true, description: 'the newest batch on the pinned contract; later than provenAtSeq means STALE' }) latestSeq: string | null;
  @Field({ description: 'PROVEN: the bundle holds every event of the shipment sealed up to provenAtSeq; NOT_PROVEN otherwise' }) completeness: string;
  @Field({ description: 'PROVEN: every signing key belonged to the organization named, at the event time, per the anchored key registry' }) keyOwnership: string;
}

@ObjectType({ description: 'A batch as the pinned contract and its log record it.' })
export class BatchOnChainModel {
  @Field() seq: string;
  @Field() contract: string;
  @Field(() => Int, { nullable: true }) blockNumber: number | null;
  @Field(() => String, { nullable: true }) txHash: string | null;
  @Field(() => String, { nullable: true, description: 'block time of the anchoring block' }) anchoredAt: string | null;
  @Field(() => Int, { nullable: true }) confirmations: number | null;
}

@ObjectType({ description: 'A field of the bundle that no signature or anchor proves: the ledger’s word, with the value the bundle gives.' })
export class LedgerStatementModel {
  @Field() field: string;
  @Field(() => JsonScalar, { nullable: true }) value: unknown;
}

@ObjectType({ description: 'Two anchored states that contradict each other, and the CustodyAnchor call that records it on chain for every verifier.' })
export class ContradictionModel {
  @Field({ description: 'the pinned contract to send the call to' }) contract: string;
  @Field({ description: 'proveShipmentContradiction or proveKeyContradiction' }) method: string;
  @Field({ description: 'the call data; any account may send it' }) calldata: string;
}

@ObjectType({ description: 'A change of custody the verifier replayed from the bundle (every uncorrected transfer, and any keep event that moved custody without one).' })
export class CustodyLinkModel {
  @Field(() => Int, { description: 'position in the bundle' }) eventIndex: number;
  @Field() eventId: string;
  @Field() eventType: string;
  @Field({ description: 'unix ms, decimal string' }) occurredAt: string;
  @Field(() => String, { nullable: true, description: 'the releasing custodian (null at the root of the chain)' }) from: string | null;
  @Field({ description: 'the organization taking custody' }) to: string;
  @Field({ description: 'organization of the signing key' }) signer: string;
  @Field(() => String, { nullable: true }) counterSigner: string | null;
  @Field(() => String, { nullable: true, description: 'SIGNED, COUNTER_SIGNED, DESIGNATED or DELEGATION, as the verifier established it; null if none' }) consent: string | null;
  @Field(() => String, { nullable: true }) delegationId: string | null;
  @Field({ description: 'CONSENTED, NOT_CONSENTED (a CONSENT failure) or UNPROVEN (this bundle cannot show it: a limitation)' }) status: string;
  @Field(() => String, { nullable: true }) problem: string | null;
}

@ObjectType({ description: 'The custody chain replayed from the bundle alone: who held the parcel after each transfer, and under which consent.' })
export class CustodyReportModel {
  @Field(() => [CustodyLinkModel]) chain: CustodyLinkModel[];
  @Field({ description: 'every transfer has a proven consent' }) consented: boolean;
}

@ObjectType({ description: 'The result of checking a custody-pod bundle against the chain, as `custody verify` prints it.' })
export class VerificationReportModel {
  @Field({ description: 'VALID; INVALID (a check failed); UNPINNED (no trust root given); STALE (the chain holds a later state: fetch a fresh bundle); INCOMPLETE (some events or the state not anchored yet)' }) verdict: string;
  @Field(() => String, { nullable: true, description: 'custody-pod/1, custody-pod/2 or custody-pod/3' }) bundleFormat: string | null;
  @Field(() => String, { nullable: true }) trackingNumber: string | null;
  @Field(() => String, { nullable: true }) carrier: string | null;
  @Field(() => String, { nullable: true, description: 'the chain the bundle claims' }) chainId: string | null;
  @Field(() => String, { nullable: true, description: 'the contract the bundle claims' }) contractAddress: string | null;
  @Field({ description: 'whether a trust root was pinned' }) pinned: boolean;
  @Field(() => [String], { description: 'the pinned contracts on the bundle’s chain' }) trustedContracts: string[];
  @Field(() => Int) eventsChecked: number;
  @Field(() => Int) batchesChecked: number;
  @Field(() => [String]) pendingEventIds: string[];
  @Field(() => VerificationStateModel) state: VerificationStateModel;
  @Field(() => [BatchOnChainModel]) batches: BatchOnChainModel[];
  @Field(() => [String], { description: 'what this verdict does not establish' }) limitations: string[];
  @Field(() => [LedgerStatementModel], { description: 'fields the verifier cannot check, reported rather than trusted' }) ledgerStatements: LedgerStatementModel[];
  @Field(() => ContradictionModel, { nullable: true, description: 'with `previous`: the proof that the ledger contradicted its own earlier state' }) contradiction: ContradictionModel | null;
  @Field(() => [VerificationFailureModel]) failures: VerificationFailureModel[];
  @Field(() => CustodyReportModel) custody: CustodyReportModel;
  @Field() checkedAt: string;
}
