import { PageInfo } from '../../common/page-info.model';
import { ArgsType, Field, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Uint64Scalar } from '../../common/scalars';

export enum BatchStatusEnum {
  SEALED = 'SEALED',
  SUBMITTED = 'SUBMITTED',
  ANCHORED = 'ANCHORED',
  FINAL = 'FINAL',
}
registerEnumType(BatchStatusEnum, {
  name: 'BatchStatus',
  description: 'SEALED (tree built, waiting to be sent) → SUBMITTED (transaction sent) → ANCHORED (mined) → FINAL (CONFIRMATIONS deep)',
});

@ObjectType({ description: 'A sealed Merkle batch of custody events and its anchor on chain. Root, seq, leaf count and transaction are public (they are on chain); no field lists or counts any tenant\'s shipments or events.' })
export class Batch {
  @Field(() => Uint64Scalar) seq: bigint;
  @Field() root: string;
  @Field(() => Int) leafCount: number;
  @Field(() => BatchStatusEnum) status: BatchStatusEnum;
  @Field() sealedAt: Date;
  @Field(() => Date, { nullable: true }) submittedAt: Date | null;
  @Field(() => Date, { nullable: true }) anchoredAt: Date | null;
  @Field(() => Date, { nullable: true }) finalizedAt: Date | null;
  @Field(() => String, { nullable: true, description: 'decimal chain id, once sent' }) chainId: string | null;
  @Field(() => String, { nullable: true }) contractAddress: string | null;
  @Field(() => String, { nullable: true }) txHash: string | null;
  @Field(() => Int, { nullable: true }) blockNumber: number | null;
  @Field(() => Int, { description: 'anchoring attempts so far: transactions sent for this batch (replacements included) and failed tries (the chain node unreachable, timing out, refusing)' }) attempts: number;
  @Field(() => Date, { nullable: true, description: 'after a failed attempt, when the anchorer tries again (back-off); null when nothing failed since the last success' }) nextAttemptAt: Date | null;
  /** shown by BatchesResolver.lastError to the platform roles only */
  lastError: string | null;
}

@ObjectType()
export class BatchEdge {
  @Field() cursor: string;
  @Field(() => Batch) node: Batch;
}

@ObjectType()
export class BatchConnection {
  @Field(() => [BatchEdge]) edges: BatchEdge[];
  @Field(() => PageInfo) pageInfo: PageInfo;
  @Field(() => Int) totalCount: number;
}

@ArgsType()
export class BatchesArgs {
  @Field(() => Int, { defaultValue: 50, description: '1-500' }) first: number;
  @Field(() => String, { nullable: true, description: 'endCursor of the previous page' }) after?: string | null;
}

export interface BatchRow {
  seq: string;
  root: string;
  leaf_count: number;
  status: BatchStatusEnum;
  sealed_at: Date;
  submitted_at: Date | null;
  anchored_at: Date | null;
  finalized_at: Date | null;
  chain_id: string | null;
  contract_address: string | null;
  tx_hash: string | null;
  block_number: string | null;
  attempts: number;
  last_error: string | null;
  next_attempt_at: Date | null;
}

export const toBatch = (r: BatchRow): Batch => ({
  seq: BigInt(r.seq),
  root: r.root,
  leafCount: r.leaf_count,
  status: r.status,
  sealedAt: r.sealed_at,
  submittedAt: r.submitted_at,
  anchoredAt: r.anchored_at,
  finalizedAt: r.finalized_at,
  chainId: r.chain_id,
  contractAddress: r.contract_address,
  txHash: r.tx_hash,
  blockNumber: r.block_number === null ? null : Number(r.block_number),
  attempts: r.attempts,
  nextAttemptAt: r.next_attempt_at,
  lastError: r.last_error,
});
