import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger's first schema. Hex values (hashes, addresses, signatures) are stored as
 * lower-case 0x-prefixed text, checked by constraints, so a row read back is exactly what was
 * signed. An event's status is derived from its batch (see custody_event_status), so anchoring
 * a batch never rewrites event rows.
 */
export class InitialLedger1764000000000 implements MigrationInterface {
  name = 'InitialLedger1764000000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE organizations (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      kind text NOT NULL CHECK (kind IN ('CARRIER','MERCHANT','HUB','LOCKER_OPERATOR','AUDITOR')),
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE TABLE signing_keys (
      address text PRIMARY KEY CHECK (address ~ '^0x[0-9a-f]{40}$'),
      organization_id uuid NOT NULL REFERENCES organizations(id),
      label text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
      valid_from timestamptz NOT NULL,
      revoked_at timestamptz,
      revocation_reason text,
      created_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX signing_keys_organization ON signing_keys (organization_id)`);
    await q.query(`CREATE TABLE shipments (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      carrier_id uuid NOT NULL REFERENCES organizations(id),
      tracking_number text NOT NULL,
      merchant_id uuid REFERENCES organizations(id),
      destination_lat_e6 integer CHECK (destination_lat_e6 BETWEEN -90000000 AND 90000000),
      destination_lon_e6 integer CHECK (destination_lon_e6 BETWEEN -180000000 AND 180000000),
      destination_radius_m integer CHECK (destination_radius_m BETWEEN 1 AND 100000),
      status text NOT NULL DEFAULT 'PRE_TRANSIT',
      current_custodian_id uuid REFERENCES organizations(id),
      head_leaf text NOT NULL DEFAULT '0x0000000000000000000000000000000000000000000000000000000000000000',
      event_count integer NOT NULL DEFAULT 0,
      last_event_at_ms bigint,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (carrier_id, tracking_number)
    )`);
    await q.query(`CREATE INDEX shipments_merchant ON shipments (merchant_id)`);
    await q.query(`CREATE TABLE anchor_batches (
      seq bigint PRIMARY KEY CHECK (seq >= 0),
      root text NOT NULL CHECK (root ~ '^0x[0-9a-f]{64}$'),
      leaf_count integer NOT NULL CHECK (leaf_count > 0),
      status text NOT NULL DEFAULT 'SEALED' CHECK (status IN ('SEALED','SUBMITTED','ANCHORED','FINAL')),
      sealed_at timestamptz NOT NULL DEFAULT now(),
      submitted_at timestamptz,
      anchored_at timestamptz,
      finalized_at timestamptz,
      chain_id text,
      contract_address text,
      tx_hash text,
      block_number bigint,
      block_hash text,
      attempts integer NOT NULL DEFAULT 0,
      last_error text
    )`);
    await q.query(`CREATE INDEX anchor_batches_open ON anchor_batches (seq) WHERE status <> 'FINAL'`);
    await q.query(`CREATE TABLE custody_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      event_id text NOT NULL UNIQUE CHECK (event_id ~ '^0x[0-9a-f]{64}$'),
      shipment_id uuid NOT NULL REFERENCES shipments(id),
      tracking_number text NOT NULL,
      carrier text NOT NULL,
      event_type text NOT NULL,
      custodian text NOT NULL,
      custodian_id uuid NOT NULL REFERENCES organizations(id),
      occurred_at_ms bigint NOT NULL CHECK (occurred_at_ms >= 0),
      lat_e6 integer NOT NULL,
      lon_e6 integer NOT NULL,
      accuracy_m bigint NOT NULL CHECK (accuracy_m BETWEEN 0 AND 4294967295),
      location_code text NOT NULL,
      scan_method text NOT NULL,
      evidence_hash text NOT NULL CHECK (evidence_hash ~ '^0x[0-9a-f]{64}$'),
      data_hash text NOT NULL CHECK (data_hash ~ '^0x[0-9a-f]{64}$'),
      signature text NOT NULL CHECK (signature ~ '^0x[0-9a-f]{130}$'),
      counter_signature text CHECK (counter_signature ~ '^0x[0-9a-f]{130}$'),
      signer text NOT NULL REFERENCES signing_keys(address),
      counter_signer text REFERENCES signing_keys(address),
      digest text NOT NULL CHECK (digest ~ '^0x[0-9a-f]{64}$'),
      signatures_hash text NOT NULL,
      previous_leaf text NOT NULL,
      leaf text NOT NULL UNIQUE,
      batch_seq bigint REFERENCES anchor_batches(seq),
      received_at timestamptz NOT NULL DEFAULT now()
    )`);
    await q.query(`CREATE INDEX custody_events_shipment ON custody_events (shipment_id, occurred_at_ms, id)`);
    await q.query(`CREATE INDEX custody_events_pending ON custody_events (id) WHERE batch_seq IS NULL`);
    await q.query(`CREATE INDEX custody_events_batch ON custody_events (batch_seq)`);
    await q.query(`CREATE TABLE merkle_proofs (
      event_id text PRIMARY KEY REFERENCES custody_events(event_id),
      batch_seq bigint NOT NULL REFERENCES anchor_batches(seq),
      leaf_index integer NOT NULL CHECK (leaf_index >= 0),
      proof text[] NOT NULL,
      UNIQUE (batch_seq, leaf_index)
    )`);
    await q.query(`CREATE TABLE chain_deployments (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      chain_id text NOT NULL,
      contract_address text NOT NULL,
      embedded boolean NOT NULL,
      deploy_tx_hash text,
      deployed_at timestamptz NOT NULL DEFAULT now()
    )`);
  }

  public async down(q: QueryRunner): Promise<void> {
    for (const table of ['chain_deployments', 'merkle_proofs', 'custody_events', 'anchor_batches', 'shipments', 'signing_keys', 'organizations']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
