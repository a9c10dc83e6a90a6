import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Anchoring under failure (issue 10): leadership as a lease row with a fencing token (a paused
 * leader loses it when it expires, and its stale writes are refused), every transaction sent for a
 * batch (a replacement with higher fees shares the original's nonce, and either may be the one
 * mined), and when the anchorer tries again after a failure.
 */
export class AnchoringLease1764700000000 implements MigrationInterface {
  name = 'AnchoringLease1764700000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE leader_leases (
      name text PRIMARY KEY,
      holder text NOT NULL,
      token bigint NOT NULL CHECK (token > 0),
      acquired_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL
    )`);
    await q.query(`ALTER TABLE anchor_batches ADD COLUMN next_attempt_at timestamptz`);
    await q.query(`CREATE TABLE anchor_transactions (
      tx_hash text PRIMARY KEY CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
      batch_seq bigint NOT NULL REFERENCES anchor_batches(seq),
      nonce bigint NOT NULL CHECK (nonce >= 0),
      max_fee_per_gas numeric(78, 0) NOT NULL CHECK (max_fee_per_gas > 0),
      max_priority_fee_per_gas numeric(78, 0) NOT NULL CHECK (max_priority_fee_per_gas >= 0 AND max_priority_fee_per_gas <= max_fee_per_gas),
      sent_at timestamptz NOT NULL DEFAULT now(),
      sent_at_block bigint NOT NULL CHECK (sent_at_block >= 0),
      lease_token bigint NOT NULL
    )`);
    await q.query(`CREATE INDEX anchor_transactions_batch ON anchor_transactions (batch_seq, sent_at)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE anchor_transactions`);
    await q.query(`ALTER TABLE anchor_batches DROP COLUMN next_attempt_at`);
    await q.query(`DROP TABLE leader_leases`);
  }
}
