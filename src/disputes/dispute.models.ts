import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { JsonScalar } from '../common/json.scalar';
import { PageInfo } from '../common/page-info.model';
import type { DisputeClaim, DisputeVerdict } from './dispute-verdict';

export enum DisputeClaimEnum {
  NOT_RECEIVED = 'NOT_RECEIVED',
  DAMAGED = 'DAMAGED',
  LATE = 'LATE',
  WRONG_LOCATION = 'WRONG_LOCATION',
  OTHER = 'OTHER',
}
registerEnumType(DisputeClaimEnum, { name: 'DisputeClaim' });

export enum DisputeVerdictEnum {
  DELIVERY_PROVEN = 'DELIVERY_PROVEN',
  DELIVERY_CONTRADICTED = 'DELIVERY_CONTRADICTED',
  INCONCLUSIVE = 'INCONCLUSIVE',
}
registerEnumType(DisputeVerdictEnum, {
  name: 'DisputeVerdict',
  description: 'DELIVERY_PROVEN only when the delivery event is signed, verifies, is FINAL on chain, lies inside the destination geofence and the shipment has no HIGH finding',
});

export enum DisputeStatusEnum {
  OPEN = 'OPEN',
  RESOLVED = 'RESOLVED',
}
registerEnumType(DisputeStatusEnum, { name: 'DisputeStatus' });

export enum DisputeOutcomeEnum {
  CLAIM_ACCEPTED = 'CLAIM_ACCEPTED',
  CLAIM_REJECTED = 'CLAIM_REJECTED',
  SETTLED = 'SETTLED',
  WITHDRAWN = 'WITHDRAWN',
}
registerEnumType(DisputeOutcomeEnum, { name: 'DisputeOutcome' });

@ObjectType()
export class Dispute {
  @Field(() => ID) id: string;
  @Field() trackingNumber: string;
  @Field() carrier: string;
  @Field(() => DisputeClaimEnum) claim: DisputeClaim;
  @Field() note: string;
  @Field(() => DisputeVerdictEnum) verdict: DisputeVerdict;
  @Field(() => [String], { description: 'why, in words a person can read' }) reasons: string[];
  @Field(() => DisputeStatusEnum) status: DisputeStatusEnum;
  @Field(() => DisputeOutcomeEnum, { nullable: true }) outcome: DisputeOutcomeEnum | null;
  @Field(() => String, { nullable: true }) resolutionNote: string | null;
  @Field() openedAt: Date;
  @Field(() => Date, { nullable: true }) resolvedAt: Date | null;
  @Field(() => JsonScalar, { description: 'the custody-pod/1 bundle the verdict was reached on (a snapshot)' }) bundle: unknown;
  @Field(() => JsonScalar, { description: 'its verification report at the time' }) verification: unknown;
}

@ObjectType()
export class DisputeEdge {
  @Field() cursor: string;
  @Field(() => Dispute) node: Dispute;
}

@ObjectType()
export class DisputeConnection {
  @Field(() => [DisputeEdge]) edges: DisputeEdge[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

@InputType()
export class DisputeFilter {
  @Field(() => DisputeStatusEnum, { nullable: true }) status?: DisputeStatusEnum | null;
  @Field(() => DisputeVerdictEnum, { nullable: true }) verdict?: DisputeVerdict | null;
  @Field(() => DisputeClaimEnum, { nullable: true }) claim?: DisputeClaim | null;
  @Field(() => String, { nullable: true }) carrier?: string | null;
  @Field(() => String, { nullable: true }) trackingNumber?: string | null;
}

@ArgsType()
export class DisputesArgs {
  @Field(() => DisputeFilter, { nullable: true }) filter?: DisputeFilter | null;
  @Field(() => Int, { defaultValue: 50, description: '1-100' }) first: number;
  @Field(() => String, { nullable: true }) after?: string | null;
}
