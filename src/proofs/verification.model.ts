import { Field, Int, ObjectType } from '@nestjs/graphql';

@ObjectType()
export class VerificationFailureModel {
  @Field({ description: 'FORMAT, DOMAIN, CONTRACT, DIGEST, SIGNATURE, COUNTER_SIGNATURE, SIGNATURES_HASH, LEAF, CHAIN, MERKLE_PROOF, BATCH_ROOT, ANCHOR_TX' }) check: string;
  @Field(() => String, { nullable: true }) eventId: string | null;
  @Field(() => Int, { nullable: true, description: 'position in the bundle (hash-chain order)' }) eventIndex: number | null;
  @Field(() => String, { nullable: true }) batchSeq: string | null;
  @Field() message: string;
}

@ObjectType({ description: 'The result of checking a custody-pod/1 bundle against the chain, as `custody verify` prints it.' })
export class VerificationReportModel {
  @Field({ description: 'VALID, INCOMPLETE (nothing failed, some events not anchored yet) or INVALID' }) verdict: string;
  @Field(() => String, { nullable: true }) trackingNumber: string | null;
  @Field(() => String, { nullable: true }) carrier: string | null;
  @Field(() => String, { nullable: true }) chainId: string | null;
  @Field(() => String, { nullable: true }) contractAddress: string | null;
  @Field(() => Int) eventsChecked: number;
  @Field(() => Int) batchesChecked: number;
  @Field(() => [String]) pendingEventIds: string[];
  @Field(() => [VerificationFailureModel]) failures: VerificationFailureModel[];
  @Field() checkedAt: string;
}
