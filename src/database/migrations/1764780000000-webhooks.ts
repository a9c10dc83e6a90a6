import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks (issue 13).
 *
 * - webhook_endpoints: an organization's receivers. `secret` is the whsec_ secret itself (the
 *   service must sign with it, so a hash would not do); it is read only by the signer and never
 *   returned after the create or rotate answer. `previous_secret` keeps signing until
 *   `previous_secret_until` after a rotation. Failure bookkeeping (consecutive_failures,
 *   failing_since) decides automatic disabling (disabled_reason, disabled_at).
 * - webhook_deliveries: the outbox, written in the transaction that records the event; one row per
 *   (event, endpoint) with the payload as sent, the webhook-id kept for every attempt, and
 *   `ordering_key` (the shipment) so a later delivery waits for the earlier ones of its endpoint.
 *   `claimed_until`: a worker sending it holds it until then (a second job for the same delivery
 *   does nothing); `next_attempt_at`: a retry is not sent before.
 * - webhook_attempts: the delivery log, one row per HTTP attempt.
 * pg-boss keeps its jobs in a schema of its own, derived from the ledger's (`<schema>_boss`).
 */
export class Webhooks1764780000000 implements MigrationInterface {
  name = 'Webhooks1764780000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE webhook_endpoints (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid NOT NULL REFERENCES organizations(id),
      url text NOT NULL,
      event_types text[] NOT NULL,
      description text NOT NULL DEFAULT '',
      secret text NOT NULL,
      previous_secret text,
      previous_secret_until timestamptz,
      enabled boolean NOT NULL DEFAULT true,
      disabled_reason text,
      disabled_at timestamptz,
      consecutive_failures integer NOT NULL DEFAULT 0,
      failing_since timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      deleted_at timestamptz
    )`);
    await q.query(`CREATE INDEX webhook_endpoints_org ON webhook_endpoints (organization_id) WHERE deleted_at IS NULL`);
    await q.query(`CREATE TABLE webhook_deliveries (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      seq bigserial NOT NULL UNIQUE,
      endpoint_id uuid NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
      webhook_id text NOT NULL,
      event_type text NOT NULL,
      ordering_key text,
      payload text NOT NULL,
      status text NOT NULL DEFAULT 'PENDING',
      created_at timestamptz NOT NULL DEFAULT now(),
      first_attempt_at timestamptz,
      finished_at timestamptz,
      next_attempt_at timestamptz,
      claimed_until timestamptz,
      CONSTRAINT webhook_deliveries_status CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED'))
    )`);
    await q.query(`CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, seq)`);
    await q.query(`CREATE INDEX webhook_deliveries_waiting ON webhook_deliveries (endpoint_id, ordering_key, seq) WHERE status = 'PENDING'`);
    await q.query(`CREATE TABLE webhook_attempts (
      delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
      attempt integer NOT NULL,
      attempted_at timestamptz NOT NULL,
      http_status integer,
      error text,
      duration_ms integer NOT NULL,
      PRIMARY KEY (delivery_id, attempt)
    )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE webhook_attempts`);
    await q.query(`DROP TABLE webhook_deliveries`);
    await q.query(`DROP TABLE webhook_endpoints`);
  }
}
