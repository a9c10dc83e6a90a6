import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Rate-limit buckets shared by every replica (issue 10): one row per caller and budget, updated
 * by one INSERT … ON CONFLICT DO UPDATE per request. UNLOGGED: the rows are worth nothing after a
 * crash (the worst loss is a full bucket, i.e. one extra minute's budget) and skipping the WAL
 * keeps a write per request cheap; standbys do not get them, which nothing needs. fillfactor 70
 * leaves room on each page for in-place (HOT) updates.
 */
export class RateLimits1764710000000 implements MigrationInterface {
  name = 'RateLimits1764710000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE UNLOGGED TABLE rate_limit_buckets (
      key text PRIMARY KEY,
      tokens double precision NOT NULL,
      granted boolean NOT NULL,
      at timestamptz NOT NULL
    ) WITH (fillfactor = 70)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE rate_limit_buckets`);
  }
}
