import type { MigrationInterface, QueryRunner } from 'typeorm';

/** API keys per organization: only a SHA-256 of the secret is stored; the prefix identifies a key. */
export class ApiKeys1764300000000 implements MigrationInterface {
  name = 'ApiKeys1764300000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE api_keys (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      organization_id uuid REFERENCES organizations(id),
      role text NOT NULL CHECK (role IN ('ADMIN','CARRIER','MERCHANT','DISPUTE_ANALYST','AUDITOR')),
      manage_keys boolean NOT NULL DEFAULT false,
      label text NOT NULL DEFAULT '' CHECK (length(label) <= 200),
      prefix text NOT NULL UNIQUE CHECK (prefix ~ '^[0-9a-f]{12}$'),
      secret_hash text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL,
      revoked_at timestamptz,
      last_used_at timestamptz,
      replaced_by uuid REFERENCES api_keys(id),
      CHECK ((role = 'ADMIN') = (organization_id IS NULL))
    )`);
    await q.query(`CREATE INDEX api_keys_organization ON api_keys (organization_id)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE api_keys`);
  }
}
