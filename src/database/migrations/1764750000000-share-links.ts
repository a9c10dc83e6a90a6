import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Share links (issue 12): a public tracking page for one shipment, opened with an unguessable
 * token (32 random bytes, base64url) that is shown once and stored only as its SHA-256.
 *
 * Indexes, each because a query reads through it:
 *   - share_links_token_hash (unique): GET /api/track/<token> hashes the token and reads one row by
 *     the hash (an equality lookup on a digest, so a probe's timing says nothing about near misses);
 *     unique also makes a (practically impossible) collision an error instead of a shared page;
 *   - share_links_shipment (shipment_id, created_at): shareLinks(carrier, trackingNumber) lists a
 *     shipment's links newest first, and revokeShareLink reads the link with its shipment.
 * No index on expires_at or revoked_at: both are checked on the one row found by the hash.
 *
 * Branding on organizations: display_name, logo_url (https URL or a data:image URL up to 64 KB),
 * brand_color and accent_color (#rrggbb); all nullable, validated by the service.
 */
export class ShareLinks1764750000000 implements MigrationInterface {
  name = 'ShareLinks1764750000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE share_links (
      id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      token_hash text NOT NULL,
      shipment_id uuid NOT NULL REFERENCES shipments(id),
      created_by_organization_id uuid REFERENCES organizations(id),
      created_by_api_key_id uuid REFERENCES api_keys(id),
      grants_personal_data boolean NOT NULL DEFAULT false,
      expires_at timestamptz,
      revoked_at timestamptz,
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT share_links_token_hash_format CHECK (token_hash ~ '^[0-9a-f]{64}$')
    )`);
    await q.query(`CREATE UNIQUE INDEX share_links_token_hash ON share_links (token_hash)`);
    await q.query(`CREATE INDEX share_links_shipment ON share_links (shipment_id, created_at)`);
    await q.query(`ALTER TABLE organizations ADD COLUMN display_name text, ADD COLUMN logo_url text, ADD COLUMN brand_color text, ADD COLUMN accent_color text`);
    await q.query(`ALTER TABLE organizations ADD CONSTRAINT organizations_brand_colors CHECK ((brand_color IS NULL OR brand_color ~ '^#[0-9a-f]{6}$') AND (accent_color IS NULL OR accent_color ~ '^#[0-9a-f]{6}$'))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE organizations DROP CONSTRAINT organizations_brand_colors`);
    await q.query(`ALTER TABLE organizations DROP COLUMN display_name, DROP COLUMN logo_url, DROP COLUMN brand_color, DROP COLUMN accent_color`);
    await q.query(`DROP TABLE share_links`);
  }
}
