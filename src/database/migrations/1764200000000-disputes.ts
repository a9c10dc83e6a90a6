import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Disputes (with the evidence snapshot they were judged on) and the counter-signature policy. */
export class Disputes1764200000000 implements MigrationInterface {
  name = 'Disputes1764200000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE shipments ADD COLUMN require_countersigned_handoffs boolean NOT NULL DEFAULT false`);
    await q.query(`CREATE TABLE disputes (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      shipment_id uuid NOT NULL REFERENCES shipments(id),
      claim text NOT NULL CHECK (claim IN ('NOT_RECEIVED','DAMAGED','LATE','WRONG_LOCATION','OTHER')),
      note text NOT NULL DEFAULT '',
      verdict text NOT NULL CHECK (verdict IN ('DELIVERY_PROVEN','DELIVERY_CONTRADICTED','INCONCLUSIVE')),
      reasons jsonb NOT NULL,
      bundle jsonb NOT NULL,
      verification jsonb NOT NULL,
      status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN','RESOLVED')),
      outcome text CHECK (outcome IN ('CLAIM_ACCEPTED','CLAIM_REJECTED','SETTLED','WITHDRAWN')),
      resolution_note text,
      opened_at timestamptz NOT NULL DEFAULT now(),
      resolved_at timestamptz
    )`);
    await q.query(`CREATE INDEX disputes_shipment ON disputes (shipment_id)`);
    await q.query(`CREATE INDEX disputes_open ON disputes (status, opened_at)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE disputes`);
    await q.query(`ALTER TABLE shipments DROP COLUMN require_countersigned_handoffs`);
  }
}
