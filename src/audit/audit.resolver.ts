import { Inject } from '@nestjs/common';
import { Roles } from '../auth/decorators';
import { Args, Int, Query, Resolver } from '@nestjs/graphql';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { Uint64Scalar } from '../common/scalars';
import { auditAnchors } from './anchor-audit';
import { AnchorAudit } from './models/anchor-audit.model';

const MAX_SLA_MINUTES = 525_600; // a year

@Resolver(() => AnchorAudit)
export class AuditResolver {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  @Query(() => AnchorAudit, {
    description:
      'Audits the batches fromSeq…toSeq (default: all) against their events and the anchor chain, and reports batches sealed longer than sealedSlaMinutes without an anchor and events pending longer than pendingSlaMinutes. Reads the whole range: on a large ledger, audit in ranges.',
  })
  @Roles('ADMIN', 'AUDITOR')
  async auditAnchors(
    @Args('fromSeq', { type: () => Uint64Scalar, nullable: true }) fromSeq: bigint | null,
    @Args('toSeq', { type: () => Uint64Scalar, nullable: true }) toSeq: bigint | null,
    @Args('sealedSlaMinutes', { type: () => Int, nullable: true, defaultValue: 60 }) sealedSlaArg: number | null,
    @Args('pendingSlaMinutes', { type: () => Int, nullable: true, defaultValue: 60 }) pendingSlaArg: number | null,
  ): Promise<AnchorAudit> {
    const sealedSlaMinutes = sealedSlaArg ?? 60;
    const pendingSlaMinutes = pendingSlaArg ?? 60;
    for (const [name, value] of [['sealedSlaMinutes', sealedSlaMinutes], ['pendingSlaMinutes', pendingSlaMinutes]] as const) {
      if (!Number.isInteger(value) || value < 0 || value > MAX_SLA_MINUTES) throw new LedgerError('VALIDATION_FAILED', `${name} must be from 0 to ${MAX_SLA_MINUTES}`, name);
    }
    checkRange(fromSeq, toSeq);
    let report;
    try {
      report = await auditAnchors(this.runtime.dataSource, this.runtime.chain, {
        fromSeq: fromSeq ?? undefined,
        toSeq: toSeq ?? undefined,
        sealedSlaMs: sealedSlaMinutes * 60_000,
        pendingSlaMs: pendingSlaMinutes * 60_000,
      });
    } catch (err) {
      const problem = chainProblem(err);
      if (problem) throw new LedgerError('CHAIN_UNAVAILABLE', problem);
      throw err;
    }
    return report as AnchorAudit;
  }
}

export function checkRange(fromSeq: bigint | null, toSeq: bigint | null): void {
  if (fromSeq !== null && toSeq !== null && toSeq < fromSeq) throw new LedgerError('VALIDATION_FAILED', 'toSeq must not be below fromSeq', 'toSeq');
}

/** The words for an error of the anchor chain; null for any other error. */
export function chainProblem(err: unknown): string | null {
  return isChainError(err) ? `the anchor chain cannot be reached, so the audit cannot compare anchors: ${(err as Error).message.split(' (')[0]}` : null;
}

/** ethers errors carry a code such as NETWORK_ERROR, SERVER_ERROR, TIMEOUT or a connection error cause. */
function isChainError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && ['NETWORK_ERROR', 'SERVER_ERROR', 'TIMEOUT', 'ECONNREFUSED', 'UNKNOWN_ERROR', 'BAD_DATA', 'CALL_EXCEPTION'].includes(code);
}
