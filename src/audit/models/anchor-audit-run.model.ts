import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Uint64Scalar } from '../../common/scalars';
import { AnchorAudit } from './anchor-audit.model';

export enum AnchorAuditRunStatus {
  RUNNING = 'RUNNING',
  DONE = 'DONE',
  FAILED = 'FAILED',
}
registerEnumType(AnchorAuditRunStatus, {
  name: 'AnchorAuditRunStatus',
  description: 'RUNNING: a replica is auditing (its heartbeat is younger than 30 s). DONE: `result` holds the audit. FAILED: `error` says why (the chain could not be reached, or the service stopped during the run).',
});

@ObjectType({ description: 'An anchor audit started with startAnchorAudit, running in the background; its progress is kept in the database, so every replica answers.' })
export class AnchorAuditRun {
  @Field(() => ID) id: string;
  @Field(() => AnchorAuditRunStatus) status: AnchorAuditRunStatus;
  @Field() startedAt: Date;
  @Field(() => Date, { nullable: true }) finishedAt: Date | null;
  @Field(() => Uint64Scalar, { nullable: true, description: 'the range asked for; null: from 0 / to the last batch' }) fromSeq: string | null;
  @Field(() => Uint64Scalar, { nullable: true }) toSeq: string | null;
  @Field(() => Int, { description: 'batches in the range (0 until the audit has counted them)' }) batchesTotal: number;
  @Field(() => Int) batchesChecked: number;
  @Field(() => AnchorAudit, { nullable: true, description: 'the audit, once DONE' }) result: AnchorAudit | null;
  @Field(() => String, { nullable: true, description: 'why the run FAILED' }) error: string | null;
}
