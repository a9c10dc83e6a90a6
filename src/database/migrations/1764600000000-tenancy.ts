import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Tenancy (issue 9): merchant–carrier contracts, organization suspension, and dispute analysts
 * without organization (platform-wide, created by the admin only). Suspension touches neither
 * signing_keys nor events: what an organization recorded before stays valid and provable.
 */
export class Tenancy1764600000000 implements MigrationInterface {
  name = 'Tenancy1764600000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE carrier_contracts (
      carrier_id uuid NOT NULL REFERENCES organizations(id),
      merchant_id uuid NOT NULL REFERENCES organizations(id),
      created_at timestamptz NOT NULL DEFAULT now(),
      created_by text NOT NULL,
      ended_at timestamptz,
      PRIMARY KEY (carrier_id, merchant_id),
      CHECK (carrier_id <> merchant_id),
      CHECK (ended_at IS NULL OR ended_at >= created_at)
    )`);
    await q.query(`CREATE INDEX carrier_contracts_merchant ON carrier_contracts (merchant_id)`);
    await q.query(`ALTER TABLE organizations
      ADD COLUMN suspended_at timestamptz,
      ADD COLUMN suspension_reason text CHECK (length(suspension_reason) BETWEEN 1 AND 500),
      ADD CONSTRAINT organizations_suspension CHECK ((suspended_at IS NULL) = (suspension_reason IS NULL))`);
    // was: (role = 'ADMIN') = (organization_id IS NULL); a DISPUTE_ANALYST may now be platform-wide
    await this.dropOrganizationCheck(q);
    await q.query(`ALTER TABLE api_keys ADD CONSTRAINT api_keys_organization CHECK (CASE role WHEN 'ADMIN' THEN organization_id IS NULL WHEN 'DISPUTE_ANALYST' THEN TRUE ELSE organization_id IS NOT NULL END)`);
  }

  public async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM api_keys WHERE role = 'DISPUTE_ANALYST' AND organization_id IS NULL`);
    await q.query(`ALTER TABLE api_keys DROP CONSTRAINT api_keys_organization`);
    await q.query(`ALTER TABLE api_keys ADD CHECK ((role = 'ADMIN') = (organization_id IS NULL))`);
    await q.query(`ALTER TABLE organizations DROP CONSTRAINT organizations_suspension, DROP COLUMN suspension_reason, DROP COLUMN suspended_at`);
    await q.query(`DROP TABLE carrier_contracts`);
  }

  /** The unnamed CHECK of 1764300000000, found by its definition (its generated name is not API). */
  private async dropOrganizationCheck(q: QueryRunner): Promise<void> {
    const rows = (await q.query(
      `SELECT conname FROM pg_constraint WHERE conrelid = 'api_keys'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%organization_id IS NULL%' AND pg_get_constraintdef(oid) LIKE '%ADMIN%'`,
    )) as Array<{ conname: string }>;
    if (rows.length !== 1) throw new Error(`expected one organization CHECK on api_keys, found ${rows.length}`);
    await q.query(`ALTER TABLE api_keys DROP CONSTRAINT "${rows[0].conname}"`);
  }
}
