import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Custody model: rule flags and dual attestation on events, corrections (EPCIS-style error
 * declarations: the corrected row is never touched), evidence metadata, the extra-data document
 * committed by dataHash, and personal data kept apart from it so it can be erased.
 */
export class CustodyModel1764100000000 implements MigrationInterface {
  name = 'CustodyModel1764100000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE shipments
      ADD COLUMN sub_status text,
      ADD COLUMN require_delivery_evidence boolean NOT NULL DEFAULT false,
      ADD COLUMN promised_delivery_at timestamptz,
      ADD COLUMN estimated_delivery_at timestamptz,
      ADD COLUMN delivered_at_ms bigint`);
    await q.query(`CREATE INDEX shipments_updated ON shipments (updated_at, id)`);
    await q.query(`CREATE INDEX shipments_custodian ON shipments (current_custodian_id)`);
    await q.query(`CREATE INDEX shipments_carrier_status ON shipments (carrier_id, status)`);
    await q.query(`ALTER TABLE custody_events
      ADD COLUMN flags text[] NOT NULL DEFAULT '{}',
      ADD COLUMN dual_attested boolean NOT NULL DEFAULT false,
      ADD COLUMN signer_organization_id uuid REFERENCES organizations(id),
      ADD COLUMN corrects_event_id text REFERENCES custody_events(event_id),
      ADD COLUMN correction_reason text`);
    await q.query(`UPDATE custody_events e SET signer_organization_id = k.organization_id FROM signing_keys k WHERE k.address = e.signer`);
    await q.query(`ALTER TABLE custody_events ALTER COLUMN signer_organization_id SET NOT NULL`);
    // an event is corrected at most once; a correction of a correction is refused by the rules
    await q.query(`CREATE UNIQUE INDEX custody_events_corrects ON custody_events (corrects_event_id) WHERE corrects_event_id IS NOT NULL`);
    await q.query(`CREATE INDEX custody_events_signer ON custody_events (signer, occurred_at_ms)`);
    await q.query(`CREATE INDEX custody_events_signer_org ON custody_events (signer_organization_id, occurred_at_ms)`);
    await q.query(`CREATE INDEX custody_events_custodian ON custody_events (custodian_id, occurred_at_ms)`);
    await q.query(`CREATE INDEX custody_events_type ON custody_events (event_type, occurred_at_ms)`);
    await q.query(`CREATE TABLE event_evidence (
      event_id text PRIMARY KEY REFERENCES custody_events(event_id),
      content_type text NOT NULL CHECK (length(content_type) BETWEEN 3 AND 100),
      size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
      evidence_hash text NOT NULL CHECK (evidence_hash ~ '^0x[0-9a-f]{64}$')
    )`);
    await q.query(`CREATE TABLE event_data (
      event_id text PRIMARY KEY REFERENCES custody_events(event_id),
      document text NOT NULL
    )`);
    await q.query(`CREATE TABLE personal_data (
      event_id text NOT NULL REFERENCES custody_events(event_id),
      path text NOT NULL,
      commitment text NOT NULL CHECK (commitment ~ '^0x[0-9a-f]{64}$'),
      value text,
      salt text,
      erased_at timestamptz,
      PRIMARY KEY (event_id, path),
      CHECK ((erased_at IS NULL) = (value IS NOT NULL AND salt IS NOT NULL))
    )`);
    await q.query(`CREATE TABLE erasures (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      shipment_id uuid NOT NULL REFERENCES shipments(id),
      reason text NOT NULL,
      fields_erased integer NOT NULL,
      erased_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  public async down(q: QueryRunner): Promise<void> {
    for (const table of ['erasures', 'personal_data', 'event_data', 'event_evidence']) await q.query(`DROP TABLE ${table}`);
    for (const index of ['custody_events_corrects', 'custody_events_signer', 'custody_events_signer_org', 'custody_events_custodian', 'custody_events_type', 'shipments_updated', 'shipments_custodian', 'shipments_carrier_status']) {
      await q.query(`DROP INDEX ${index}`);
    }
    await q.query(`ALTER TABLE custody_events DROP COLUMN flags, DROP COLUMN dual_attested, DROP COLUMN signer_organization_id, DROP COLUMN corrects_event_id, DROP COLUMN correction_reason`);
    await q.query(`ALTER TABLE shipments DROP COLUMN sub_status, DROP COLUMN require_delivery_evidence, DROP COLUMN promised_delivery_at, DROP COLUMN estimated_delivery_at, DROP COLUMN delivered_at_ms`);
  }
}
