import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Anchored state (custody-state/1): from this migration on, every sealed batch also commits to
 * the ledger's cumulative state (shipment heads, signing keys), and its root on chain is
 * custody-tree/2 = sortedPair(eventsRoot, keccak256(0x02 ‖ eventsRoot ‖ stateRoot)). Batches sealed before stay
 * custody-tree/1 (root = events root) and verify as before. Every stored event is kept; existing
 * shipments and keys enter the first state.
 */
export class AnchoredState1764400000000 implements MigrationInterface {
  name = 'AnchoredState1764400000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE anchor_batches
      ADD COLUMN tree_version smallint NOT NULL DEFAULT 1 CHECK (tree_version IN (1, 2)),
      ADD COLUMN events_root text CHECK (events_root ~ '^0x[0-9a-f]{64}$'),
      ADD COLUMN state_root text CHECK (state_root ~ '^0x[0-9a-f]{64}$'),
      ADD COLUMN state_changes integer`);
    await q.query(`UPDATE anchor_batches SET events_root = root`);
    await q.query(`ALTER TABLE anchor_batches ALTER COLUMN events_root SET NOT NULL`);
    await q.query(`ALTER TABLE anchor_batches ADD CONSTRAINT anchor_batches_state CHECK ((tree_version = 2) = (state_root IS NOT NULL))`);
    // a key enters the next state when it is registered or changed; existing keys enter the first one
    await q.query(`ALTER TABLE signing_keys ADD COLUMN state_pending boolean NOT NULL DEFAULT true`);
    await q.query(`CREATE INDEX signing_keys_state_pending ON signing_keys (address) WHERE state_pending`);
    await q.query(`CREATE FUNCTION signing_keys_mark_state_pending() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN NEW.state_pending := true; RETURN NEW; END $$`);
    await q.query(`CREATE TRIGGER signing_keys_state_pending BEFORE INSERT OR UPDATE OF organization_id, valid_from, revoked_at ON signing_keys
      FOR EACH ROW EXECUTE FUNCTION signing_keys_mark_state_pending()`);
    // versioned by batch seq, never updated in place; no foreign keys: they are written in the
    // sealer's transaction with their anchor_batches row, and checks per row would double the cost
    await q.query(`CREATE TABLE state_records (
      key text NOT NULL CHECK (key ~ '^0x[0-9a-f]{64}$'),
      seq bigint NOT NULL,
      kind text NOT NULL CHECK (kind IN ('SHIPMENT','SIGNING_KEY')),
      value_hash text NOT NULL CHECK (value_hash ~ '^0x[0-9a-f]{64}$'),
      shipment_id uuid,
      head_leaf text,
      event_count bigint,
      address text,
      organization text,
      valid_from_ms bigint,
      revoked_at_ms bigint,
      PRIMARY KEY (key, seq)
    )`);
    // the buckets (keys by their first BUCKET_BITS bits): sorted leaves (key ‖ valueHash), subtree hash and size
    await q.query(`CREATE TABLE state_buckets (
      idx integer NOT NULL CHECK (idx >= 0),
      seq bigint NOT NULL,
      leaves bytea NOT NULL,
      hash bytea NOT NULL CHECK (length(hash) = 32),
      count integer NOT NULL CHECK (count >= 0),
      PRIMARY KEY (idx, seq)
    )`);
    // the levels above the buckets, per state: its non-empty nodes (heap index, leaf count, hash)
    await q.query(`CREATE TABLE state_tops (
      seq bigint PRIMARY KEY,
      nodes bytea NOT NULL CHECK (length(nodes) % 40 = 0)
    )`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE state_tops`);
    await q.query(`DROP TABLE state_buckets`);
    await q.query(`DROP TABLE state_records`);
    await q.query(`DROP TRIGGER signing_keys_state_pending ON signing_keys`);
    await q.query(`DROP FUNCTION signing_keys_mark_state_pending()`);
    await q.query(`ALTER TABLE signing_keys DROP COLUMN state_pending`);
    await q.query(`DELETE FROM anchor_batches WHERE tree_version = 2`);
    await q.query(`ALTER TABLE anchor_batches DROP CONSTRAINT anchor_batches_state, DROP COLUMN state_changes, DROP COLUMN state_root, DROP COLUMN events_root, DROP COLUMN tree_version`);
  }
}
