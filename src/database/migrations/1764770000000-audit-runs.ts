import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Anchor audit runs (issue 12): `startAnchorAudit` runs the anchor audit in the background and
 * keeps its progress in a row, so any replica answers `anchorAuditRun(id)` while one replica works.
 *
 * - heartbeat_at: the working replica writes it at least every 5 s; a RUNNING row whose heartbeat
 *   is older than 30 s belongs to a process that stopped (a restart, a crash) and is marked FAILED
 *   by the next start, read or list;
 * - anchor_audit_runs_one_running (unique, partial): at most one RUNNING run, enforced by the
 *   database, so two replicas starting at once cannot both run;
 * - anchor_audit_runs_started (started_at): latestAnchorAudit reads the newest run.
 */
export class AuditRuns1764770000000 implements MigrationInterface {
  name = 'AuditRuns1764770000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE anchor_audit_runs (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      started_by uuid REFERENCES api_keys(id),
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      heartbeat_at timestamptz NOT NULL DEFAULT now(),
      status text NOT NULL DEFAULT 'RUNNING',
      from_seq bigint,
      to_seq bigint,
      batches_total integer NOT NULL DEFAULT 0,
      batches_checked integer NOT NULL DEFAULT 0,
      result jsonb,
      CONSTRAINT anchor_audit_runs_status CHECK (status IN ('RUNNING', 'DONE', 'FAILED')),
      CONSTRAINT anchor_audit_runs_finished CHECK ((status = 'RUNNING') = (finished_at IS NULL))
    )`);
    await q.query(`CREATE UNIQUE INDEX anchor_audit_runs_one_running ON anchor_audit_runs (status) WHERE status = 'RUNNING'`);
    await q.query(`CREATE INDEX anchor_audit_runs_started ON anchor_audit_runs (started_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE anchor_audit_runs`);
  }
}
