import { Inject, type OnApplicationShutdown } from '@nestjs/common';
import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { Uint64Scalar } from '../common/scalars';
import { sqlRows } from '../database/data-source';
import { auditAnchors, type AuditReport } from './anchor-audit';
import { chainProblem, checkRange } from './audit.resolver';
import { AnchorAuditRun, AnchorAuditRunStatus } from './models/anchor-audit-run.model';

/** The working replica writes progress at most this often, and a heartbeat at least every HEARTBEAT_MS. */
const PROGRESS_MS = 200;
const HEARTBEAT_MS = 5_000;
/** A RUNNING row whose heartbeat is older than this belongs to a stopped process: it is marked FAILED. */
export const STALE_SECONDS = 30;
const SLA_MS = 60 * 60_000;

interface RunRow {
  id: string;
  status: AnchorAuditRunStatus;
  started_at: Date;
  finished_at: Date | null;
  from_seq: string | null;
  to_seq: string | null;
  batches_total: number;
  batches_checked: number;
  result: { report?: AuditReport; error?: string } | null;
}

const COLUMNS = 'id, status, started_at, finished_at, from_seq::text AS from_seq, to_seq::text AS to_seq, batches_total, batches_checked, result';

const toModel = (r: RunRow): AnchorAuditRun => ({
  id: r.id,
  status: r.status,
  startedAt: new Date(r.started_at),
  finishedAt: r.finished_at ? new Date(r.finished_at) : null,
  fromSeq: r.from_seq,
  toSeq: r.to_seq,
  batchesTotal: r.batches_total,
  batchesChecked: r.batches_checked,
  result: (r.result?.report as AnchorAudit | undefined) ?? null,
  error: r.result?.error ?? null,
});
type AnchorAudit = NonNullable<AnchorAuditRun['result']>;

/**
 * Anchor audits with live progress (README "Auditing the anchors"): startAnchorAudit runs
 * auditAnchors in the background on this replica and writes batchesChecked/batchesTotal to
 * anchor_audit_runs; anchorAuditRun and latestAnchorAudit read the row, on any replica.
 */
@Resolver(() => AnchorAuditRun)
export class AuditRunsResolver implements OnApplicationShutdown {
  private readonly running = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  @Mutation(() => AnchorAuditRun, {
    description: `Starts the anchor audit of batches fromSeq…toSeq (default: all) in the background and answers at once with the RUNNING run; poll anchorAuditRun(id) for progress and the result. Only one run at a time: while one is RUNNING, this answers that run (whatever its range). A run whose replica stopped (no heartbeat for ${STALE_SECONDS} s) is marked FAILED first.`,
  })
  @Roles('ADMIN', 'AUDITOR')
  async startAnchorAudit(
    @Caller() caller: Principal,
    @Args('fromSeq', { type: () => Uint64Scalar, nullable: true }) fromSeq: bigint | null,
    @Args('toSeq', { type: () => Uint64Scalar, nullable: true }) toSeq: bigint | null,
  ): Promise<AnchorAuditRun> {
    checkRange(fromSeq, toSeq);
    await this.reapStale();
    const db = this.runtime.dataSource;
    // the partial unique index keeps a second RUNNING row out, also against another replica; the
    // running row can finish between the insert and the select: then the insert is tried again
    for (let attempt = 0; attempt < 3; attempt++) {
      const [created] = await sqlRows<RunRow>(
        db,
        `INSERT INTO anchor_audit_runs (started_by, from_seq, to_seq) VALUES ($1, $2::bigint, $3::bigint) ON CONFLICT DO NOTHING RETURNING ${COLUMNS}`,
        [caller.keyId, fromSeq?.toString() ?? null, toSeq?.toString() ?? null],
      );
      if (created) {
        this.running.set(created.id, this.work(created.id, fromSeq, toSeq).finally(() => this.running.delete(created.id)));
        return toModel(created);
      }
      const [current] = await sqlRows<RunRow>(db, `SELECT ${COLUMNS} FROM anchor_audit_runs WHERE status = 'RUNNING'`);
      if (current) return toModel(current);
    }
    throw new LedgerError('DATABASE_BUSY', 'audits were starting and finishing at the same moment: ask again');
  }

  @Query(() => AnchorAuditRun, { description: 'One anchor audit run: its progress while RUNNING, its result once DONE, its error when FAILED.' })
  @Roles('ADMIN', 'AUDITOR')
  async anchorAuditRun(@Args('id', { type: () => ID }) id: string): Promise<AnchorAuditRun> {
    if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) throw new LedgerError('NOT_FOUND', `no anchor audit run ${id}: use the id startAnchorAudit answered`, 'id');
    await this.reapStale();
    const [row] = await sqlRows<RunRow>(this.runtime.dataSource, `SELECT ${COLUMNS} FROM anchor_audit_runs WHERE id = $1`, [id]);
    if (!row) throw new LedgerError('NOT_FOUND', `no anchor audit run ${id}: use the id startAnchorAudit answered`, 'id');
    return toModel(row);
  }

  @Query(() => AnchorAuditRun, { nullable: true, description: 'The most recently started anchor audit run (running, done or failed); null when none was started.' })
  @Roles('ADMIN', 'AUDITOR')
  async latestAnchorAudit(): Promise<AnchorAuditRun | null> {
    await this.reapStale();
    const [row] = await sqlRows<RunRow>(this.runtime.dataSource, `SELECT ${COLUMNS} FROM anchor_audit_runs ORDER BY started_at DESC, id DESC LIMIT 1`);
    return row ? toModel(row) : null;
  }

  /** Runs left RUNNING by a stopped process: no heartbeat for STALE_SECONDS. */
  private async reapStale(): Promise<void> {
    await sqlRows(
      this.runtime.dataSource,
      `UPDATE anchor_audit_runs SET status = 'FAILED', finished_at = now(), result = jsonb_build_object('error', $1::text)
        WHERE status = 'RUNNING' AND heartbeat_at < now() - make_interval(secs => $2)`,
      [`the service running this audit stopped before it finished (no progress for ${STALE_SECONDS} s); start it again`, STALE_SECONDS],
    );
  }

  private async work(id: string, fromSeq: bigint | null, toSeq: bigint | null): Promise<void> {
    const db = this.runtime.dataSource;
    let progress = { done: 0, total: 0 };
    let written = { done: -1, total: -1, at: 0 };
    let writing: Promise<unknown> = Promise.resolve();
    const write = (): void => {
      const now = Date.now();
      if ((progress.done === written.done && progress.total === written.total && now - written.at < HEARTBEAT_MS) || this.stopping) return;
      written = { ...progress, at: now };
      writing = writing
        .then(() => sqlRows(db, `UPDATE anchor_audit_runs SET batches_checked = $2, batches_total = $3, heartbeat_at = now() WHERE id = $1 AND status = 'RUNNING'`, [id, progress.done, progress.total]))
        .catch(() => undefined);
    };
    const timer = setInterval(write, PROGRESS_MS);
    let outcome: { status: 'DONE'; report: AuditReport } | { status: 'FAILED'; error: string };
    try {
      const report = await auditAnchors(db, this.runtime.chain, {
        fromSeq: fromSeq ?? undefined,
        toSeq: toSeq ?? undefined,
        sealedSlaMs: SLA_MS,
        pendingSlaMs: SLA_MS,
        onProgress: (done, total) => (progress = { done, total }),
      });
      outcome = { status: 'DONE', report };
    } catch (err) {
      outcome = { status: 'FAILED', error: chainProblem(err) ?? `the audit stopped: ${(err as Error).message.split(' (')[0]}` };
    } finally {
      clearInterval(timer);
    }
    await writing;
    if (this.stopping) return;
    await sqlRows(
      db,
      `UPDATE anchor_audit_runs SET status = $2, finished_at = now(), heartbeat_at = now(), batches_checked = $3, batches_total = $4, result = $5::jsonb WHERE id = $1 AND status = 'RUNNING'`,
      [id, outcome.status, progress.done, progress.total, JSON.stringify(outcome.status === 'DONE' ? { report: outcome.report } : { error: outcome.error })],
    ).catch(() => undefined);
  }

  /** A run this process cannot finish: marked FAILED now rather than after the heartbeat goes stale. */
  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    await sqlRows(
      this.runtime.dataSource,
      `UPDATE anchor_audit_runs SET status = 'FAILED', finished_at = now(), result = jsonb_build_object('error', 'the service stopped during the audit; start it again') WHERE id = ANY($1::uuid[]) AND status = 'RUNNING'`,
      [ids],
    ).catch(() => undefined);
  }
}
