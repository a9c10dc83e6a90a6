import { createHash, randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { disputeScopeSql, isDisputeParty, shipmentScopeSql, type Principal } from '../auth/principal';
import { ShipmentsService } from '../shipments/shipments.service';
import type { Shipment } from '../shipments/models/shipment.model';
import type { CreatedShareLink, ShareLink, ShareLinkRow } from './share-link.model';
import { toShareLink } from './share-link.model';

/** What a link's token opens: the shipment, and whether personal data is shown. */
export interface OpenedShareLink {
  shipmentId: string;
  trackingNumber: string;
  carrier: string;
  grantsPersonalData: boolean;
}

const ROW_COLUMNS = `l.id, l.grants_personal_data, l.expires_at, l.revoked_at, l.created_at, l.created_by_api_key_id, o.slug AS created_by_organization`;
const ROW_FROM = `share_links l LEFT JOIN organizations o ON o.id = l.created_by_organization_id`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** SHA-256 of the token, hex: the only form in which a token is stored or looked up. */
export const shareTokenHash = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/**
 * Share links of a shipment's public tracking page. Made, listed and revoked by the platform admin,
 * the shipment's carrier and its merchant: the shipment is read with the caller's scope first, so
 * another tenant gets the NOT_FOUND it gets for the shipment itself; a hub or locker that sees the
 * shipment (it held the parcel) may not share it (FORBIDDEN). A token is 32 random bytes (base64url),
 * shown once and stored only as its SHA-256; a page is found by that hash only.
 */
@Injectable()
export class ShareLinksService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly shipments: ShipmentsService,
  ) {}

  async create(carrier: string, trackingNumber: string, grantsPersonalData: boolean, expiresAt: Date | null, caller: Principal): Promise<CreatedShareLink> {
    const shipment = await this.sharedShipment(carrier, trackingNumber, caller);
    if (expiresAt !== null && expiresAt.getTime() <= Date.now()) throw new LedgerError('VALIDATION_FAILED', 'expiresAt must be in the future (or left out: the link then works until revoked)', 'expiresAt');
    const token = randomBytes(32).toString('base64url');
    const [row] = await sqlRows<{ id: string; created_at: Date }>(
      this.runtime.dataSource,
      `INSERT INTO share_links (token_hash, shipment_id, created_by_organization_id, created_by_api_key_id, grants_personal_data, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`,
      [shareTokenHash(token), shipment.id, caller.organizationId, caller.keyId, grantsPersonalData, expiresAt],
    );
    return { id: row.id, token, path: `/t/${token}`, grantsPersonalData, expiresAt, createdAt: row.created_at };
  }

  /** Newest first; never a token (it is not stored). */
  async list(carrier: string, trackingNumber: string, caller: Principal): Promise<ShareLink[]> {
    const shipment = await this.sharedShipment(carrier, trackingNumber, caller);
    const rows = await sqlRows<ShareLinkRow>(this.runtime.dataSource, `SELECT ${ROW_COLUMNS} FROM ${ROW_FROM} WHERE l.shipment_id = $1 ORDER BY l.created_at DESC, l.id`, [shipment.id]);
    return rows.map(toShareLink);
  }

  /** Revoking a revoked link again changes nothing and answers the link as it is. */
  async revoke(id: string, caller: Principal): Promise<ShareLink> {
    const notFound = new LedgerError('NOT_FOUND', 'no share link with this id of a shipment you carry or sell', 'id');
    if (!UUID.test(id)) throw notFound;
    const params: unknown[] = [id];
    // one predicate for both: a link of a shipment the caller cannot see, or may not share, is missing
    const where = `l.id = $1::uuid AND l.shipment_id IN (SELECT s.id FROM shipments s WHERE ${shipmentScopeSql(caller, params)} AND ${disputeScopeSql(caller, params)})`;
    const [row] = await sqlRows<{ id: string }>(this.runtime.dataSource, `UPDATE share_links l SET revoked_at = coalesce(l.revoked_at, now()) WHERE ${where} RETURNING l.id`, params);
    if (!row) throw notFound;
    const [link] = await sqlRows<ShareLinkRow>(this.runtime.dataSource, `SELECT ${ROW_COLUMNS} FROM ${ROW_FROM} WHERE l.id = $1`, [row.id]);
    return toShareLink(link);
  }

  /**
   * The link a token opens, or SHARE_LINK_NOT_FOUND — the same answer, after the same work (hash,
   * one indexed equality lookup), for a token never issued, malformed, revoked or expired.
   */
  async open(token: string, db: DataSource = this.runtime.dataSource): Promise<OpenedShareLink> {
    const [row] = await sqlRows<{ shipment_id: string; tracking_number: string; carrier: string; grants_personal_data: boolean }>(
      db,
      `SELECT l.shipment_id, s.tracking_number, c.slug AS carrier, l.grants_personal_data
         FROM share_links l JOIN shipments s ON s.id = l.shipment_id JOIN organizations c ON c.id = s.carrier_id
        WHERE l.token_hash = $1 AND l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now())`,
      [shareTokenHash(token)],
    );
    if (!row) throw new LedgerError('SHARE_LINK_NOT_FOUND', 'no tracking page for this link: it was never issued, was revoked or has expired; ask the sender for a new link');
    return { shipmentId: row.shipment_id, trackingNumber: row.tracking_number, carrier: row.carrier, grantsPersonalData: row.grants_personal_data };
  }

  /** The shipment as the caller sees it (NOT_FOUND otherwise), if the caller may share it. */
  private async sharedShipment(carrier: string, trackingNumber: string, caller: Principal): Promise<Shipment> {
    const shipment = await this.shipments.find(trackingNumber, carrier, caller);
    if (!isDisputeParty(caller, shipment.carrier.id, shipment.merchant?.id ?? null)) {
      throw new LedgerError('FORBIDDEN', `only the shipment's carrier, its merchant or the platform admin may share it; a key of "${caller.organizationSlug}" may not`, 'trackingNumber');
    }
    return shipment;
  }
}
