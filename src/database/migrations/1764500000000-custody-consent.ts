import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Custody consent (issue 9): delegations (custody-delegation/1), the consent each transfer was
 * accepted under, and delegation records in the anchored state map (custody-state/1, record kind
 * DELEGATION). Nothing existing changes: events accepted before keep their rows and leaves.
 */
export class CustodyConsent1764500000000 implements MigrationInterface {
  name = 'CustodyConsent1764500000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE custody_delegations (
      delegation_id text PRIMARY KEY CHECK (delegation_id ~ '^0x[0-9a-f]{64}$'),
      delegator text NOT NULL,
      delegate text NOT NULL,
      carrier text NOT NULL,
      tracking_number text NOT NULL,
      delegator_id uuid NOT NULL REFERENCES organizations(id),
      delegate_id uuid NOT NULL REFERENCES organizations(id),
      carrier_id uuid NOT NULL REFERENCES organizations(id),
      valid_from_ms bigint NOT NULL CHECK (valid_from_ms >= 0),
      valid_until_ms bigint NOT NULL,
      signature text NOT NULL,
      signer text NOT NULL REFERENCES signing_keys(address),
      digest text NOT NULL CHECK (digest ~ '^0x[0-9a-f]{64}$'),
      registered_at timestamptz NOT NULL DEFAULT now(),
      registered_by text NOT NULL,
      revoked_at timestamptz,
      revocation_reason text,
      state_pending boolean NOT NULL DEFAULT true,
      CHECK (valid_until_ms > valid_from_ms),
      CHECK (delegate_id <> delegator_id)
    )`);
    // ingestion looks a delegation up by who takes custody of which carrier's parcel
    await q.query(`CREATE INDEX custody_delegations_delegate ON custody_delegations (delegate_id, carrier_id)`);
    // organization { delegations }: the ones an organization gave
    await q.query(`CREATE INDEX custody_delegations_delegator ON custody_delegations (delegator_id)`);
    await q.query(`CREATE INDEX custody_delegations_state_pending ON custody_delegations (delegation_id) WHERE state_pending`);
    await q.query(`CREATE FUNCTION custody_delegations_mark_state_pending() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.state_pending := true; RETURN NEW; END $$`);
    await q.query(`CREATE TRIGGER custody_delegations_state_pending BEFORE INSERT OR UPDATE OF revoked_at ON custody_delegations
      FOR EACH ROW EXECUTE FUNCTION custody_delegations_mark_state_pending()`);
    // which consent a transfer was accepted under: SIGNED (the releasing custodian signed),
    // COUNTER_SIGNED, DELEGATION (with its id), DESIGNATED (the shipment's carrier picking it up)
    await q.query(`ALTER TABLE custody_events ADD COLUMN consent text CHECK (consent IN ('SIGNED','COUNTER_SIGNED','DELEGATION','DESIGNATED')),
      ADD COLUMN delegation_id text REFERENCES custody_delegations(delegation_id),
      ADD CONSTRAINT custody_events_delegation CHECK ((consent = 'DELEGATION') = (delegation_id IS NOT NULL))`);
    await q.query(`CREATE INDEX custody_events_delegation ON custody_events (delegation_id) WHERE delegation_id IS NOT NULL`);
    // the events accepted before transfers needed consent: the ledger's own dispute verdicts judge
    // their receiver-only transfers as unproven, not as hijacks (they followed the rules of their time)
    await q.query(`CREATE TABLE ledger_upgrades (name text PRIMARY KEY, event_id_watermark bigint NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    await q.query(`INSERT INTO ledger_upgrades (name, event_id_watermark) SELECT 'custody-consent', coalesce(max(id), 0) FROM custody_events`);
    await q.query(`ALTER TABLE state_records DROP CONSTRAINT state_records_kind_check`);
    await q.query(`ALTER TABLE state_records ADD CONSTRAINT state_records_kind_check CHECK (kind IN ('SHIPMENT','SIGNING_KEY','DELEGATION')),
      ADD COLUMN delegation_id text, ADD COLUMN digest text`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM state_records WHERE kind = 'DELEGATION'`);
    await q.query(`ALTER TABLE state_records DROP CONSTRAINT state_records_kind_check, DROP COLUMN delegation_id, DROP COLUMN digest`);
    await q.query(`ALTER TABLE state_records ADD CONSTRAINT state_records_kind_check CHECK (kind IN ('SHIPMENT','SIGNING_KEY'))`);
    await q.query(`ALTER TABLE custody_events DROP CONSTRAINT custody_events_delegation, DROP COLUMN delegation_id, DROP COLUMN consent`);
    await q.query(`DROP TABLE ledger_upgrades`);
    await q.query(`DROP TABLE custody_delegations`);
    await q.query(`DROP FUNCTION custody_delegations_mark_state_pending()`);
  }
}
