import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhook fairness and recovery (README "Webhooks", "Fair share and recovery").
 *
 * - `parked_at`: a job found its delivery due and first in line, but its organization already had
 *   WEBHOOK_ORGANIZATION_CONCURRENCY attempts in flight; the job ended without a retry, and the
 *   attempt that frees a slot queues the oldest parked delivery of the organization again.
 * - `swept_at`: the last time the sweeper queued a job for a delivery that was due long ago and
 *   had none (pg-boss gave its job up, or a wake-up was missed), so it is not queued again on
 *   every sweep.
 * - `webhook_deliveries_in_flight`: the claimed deliveries (a handful), counted per organization at
 *   every claim. `webhook_deliveries_parked`: the parked ones, taken oldest first.
 */
export class WebhookFairness1764790000000 implements MigrationInterface {
  name = 'WebhookFairness1764790000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE webhook_deliveries ADD COLUMN parked_at timestamptz, ADD COLUMN swept_at timestamptz`);
    await q.query(`CREATE INDEX webhook_deliveries_in_flight ON webhook_deliveries (endpoint_id) WHERE claimed_until IS NOT NULL AND status = 'PENDING'`);
    await q.query(`CREATE INDEX webhook_deliveries_parked ON webhook_deliveries (endpoint_id, seq) WHERE parked_at IS NOT NULL AND status = 'PENDING'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX webhook_deliveries_parked`);
    await q.query(`DROP INDEX webhook_deliveries_in_flight`);
    await q.query(`ALTER TABLE webhook_deliveries DROP COLUMN swept_at, DROP COLUMN parked_at`);
  }
}
