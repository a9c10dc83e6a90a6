import { Field, Int, ObjectType } from '@nestjs/graphql';
import { Uint64Scalar } from '../common/scalars';
import { CustodyEventStatusEnum } from '../custody/models/custody-event.model';
import type { CustodyEventStatus } from '../custody/custody-event.row';

@ObjectType({
  description:
    'Everything needed to check one event without trusting the ledger: recompute the leaf from (digest, signaturesHash, previousLeaf), fold the proof (sorted pairs, keccak256) to the root, and compare with batchRoot(batchSeq) of the contract.',
})
export class InclusionProof {
  @Field() eventId: string;
  @Field(() => CustodyEventStatusEnum) status: CustodyEventStatus;
  @Field() digest: string;
  @Field() signaturesHash: string;
  @Field() previousLeaf: string;
  @Field() leaf: string;
  @Field(() => [String], { nullable: true, description: 'sibling hashes bottom-up; null while PENDING' }) proof: string[] | null;
  @Field(() => Int, { nullable: true }) leafIndex: number | null;
  @Field(() => Uint64Scalar, { nullable: true }) batchSeq: bigint | null;
  @Field(() => String, { nullable: true }) root: string | null;
  @Field(() => String, { nullable: true, description: 'set once ANCHORED' }) chainId: string | null;
  @Field(() => String, { nullable: true }) contractAddress: string | null;
  @Field(() => String, { nullable: true }) txHash: string | null;
  @Field(() => Int, { nullable: true }) blockNumber: number | null;
}
