import { LRUCache } from 'lru-cache';
import { Inject, Injectable } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { EVENT_FROM_SQL, eventColumnsSql, type CustodyEventRow } from '../custody/custody-event.row';
import { SYSTEM_SCOPE } from '../auth/principal';
import { OrganizationsService } from '../organizations/organizations.service';
import type { Organization } from '../organizations/models/organization.model';
import { ShipmentsService } from '../shipments/shipments.service';
import { ProofBundleService } from '../proofs/proof-bundle.service';
import { TrustRootService } from '../proofs/trust-root.service';
import { POD_FORMAT_V3, type ProofBundleV3 } from '../proofs/pod-bundle';
import { AT_THE_DOOR, TRACKING_VIEW_FORMAT, type TrackingBrand, type TrackingEvent, type TrackingView } from '../proofs/tracking-view';
import type { DataSource } from 'typeorm';
import { ShareLinksService, type OpenedShareLink } from './share-links.service';
import { publicRpcUrl } from '../web/web-pages';

type Row = CustodyEventRow & { batch_tx_hash: string | null };

const BATCH_STATUS: Record<CustodyEventRow['status'], TrackingEvent['batchStatus']> = { PENDING: 'PENDING', BATCHED: 'SEALED', ANCHORED: 'ANCHORED', FINAL: 'FINAL' };

/** What a bundle on a page without the personal-data grant leaves out (paths in the bundle). */
export const OMITTED_WITHOUT_GRANT = ['shipment.destination', 'events[].extraData (except CORRECTION events)', 'events[].evidence', 'findings'];
/** Left out of every public bundle: fraud findings are for the parties. */
export const OMITTED_ALWAYS = ['findings'];

/** A page's bundle: the parties' own, minus what the link does not grant; every left-out field is one the verifier does not need for VALID. */
export function publicBundle(bundle: ProofBundleV3, grantsPersonalData: boolean): ProofBundleV3 {
  if (grantsPersonalData) return { ...bundle, findings: [] };
  return {
    ...bundle,
    shipment: { ...bundle.shipment, destination: null },
    // a correction's document names the event it voids: the verifier needs it (and it holds no personal
    // values); evidence metadata is checked only when carried (its hash is the signed evidenceHash either way)
    events: bundle.events.map((e) => ({ ...e, evidence: null, extraData: e.fields.eventType === 'CORRECTION' ? e.extraData : null })),
    findings: [],
  };
}

interface Named {
  name: string;
  displayName: string | null;
  kind: string;
  suspendedAt: Date | null;
}

/**
 * The name a public page gives an organization. Its self-set displayName only for a carrier or a
 * merchant in good standing: a hub or locker that held the parcel could otherwise write any text
 * (a payment lure) onto another merchant's page, and a suspended organization's own words and
 * logo are not shown. Everyone else: the registered name, which the platform admin sets.
 */
function publicName(org: Named): string {
  return (org.kind === 'CARRIER' || org.kind === 'MERCHANT') && !org.suspendedAt ? (org.displayName ?? org.name) : org.name;
}

const brandOf = (org: Organization): TrackingBrand =>
  org.suspendedAt
    ? { organization: org.slug, name: org.name, logoUrl: null, brandColor: null, accentColor: null }
    : { organization: org.slug, name: publicName(org), logoUrl: org.logoUrl, brandColor: org.brandColor, accentColor: org.accentColor };

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** GET /api/track/<token>: the public tracking page's JSON (src/proofs/tracking-view.ts). */

@Injectable()
export class TrackingViewService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly links: ShareLinksService,
    private readonly shipments: ShipmentsService,
    private readonly organizations: OrganizationsService,
    private readonly bundles: ProofBundleService,
    private readonly trust: TrustRootService,
  ) {
    this.built = new LRUCache({ max: 10_000, ttl: Math.max(1, runtime.config.trackViewCacheMs) });
  }

  /**
   * Views built in the last TRACK_VIEW_CACHE_MS, per shipment and grant: one link's holder
   * reloading the page (or a script doing it 20 times a second) costs one link lookup per request
   * and one build per period, not a build each time.
   */
  private readonly built: LRUCache<string, Promise<TrackingView>>;

  /**
   * Read from the primary: a revocation takes effect at once, never after a standby's lag (the link
   * is checked on every request; only the view of a valid link is kept).
   */
  async view(token: string): Promise<TrackingView> {
    const db = this.runtime.dataSource;
    const link = await this.links.open(token, db);
    if (this.runtime.config.trackViewCacheMs === 0) return this.build(link, db);
    const key = `${link.shipmentId}:${link.grantsPersonalData}`;
    let view = this.built.get(key);
    if (!view) {
      view = this.build(link, db);
      this.built.set(key, view);
      view.catch(() => this.built.delete(key));
    }
    return view;
  }

  private async build(link: OpenedShareLink, db: DataSource): Promise<TrackingView> {
    const grant = link.grantsPersonalData;
    const shipment = await this.shipments.find(link.trackingNumber, link.carrier, SYSTEM_SCOPE, db);
    const rows = await sqlRows<Row>(
      db,
      `SELECT ${eventColumnsSql(grant ? 'TRUE' : 'FALSE')}, b.tx_hash AS batch_tx_hash FROM ${EVENT_FROM_SQL} WHERE e.shipment_id = $1 ORDER BY e.occurred_at_ms, e.id`,
      [link.shipmentId],
    );
    const custodians = rows.length ? await this.organizations.bySlugs(rows.map((r) => r.custodian)) : new Map<string, never>();
    const built = (await this.bundles.build(link.trackingNumber, link.carrier, SYSTEM_SCOPE, POD_FORMAT_V3, db)) as ProofBundleV3;
    const anchored = built.state !== null;
    const d = shipment.destination;
    let outForDelivery = false;
    return {
      format: TRACKING_VIEW_FORMAT,
      generatedAt: new Date().toISOString(),
      brand: brandOf(shipment.merchant ?? shipment.carrier),
      carrier: publicName(shipment.carrier),
      carrierSlug: shipment.carrier.slug,
      trackingNumber: shipment.trackingNumber,
      status: shipment.status,
      subStatus: shipment.subStatus,
      promisedDeliveryAt: iso(shipment.promisedDeliveryAt),
      estimatedDeliveryAt: iso(shipment.estimatedDeliveryAt),
      deliveredAt: iso(shipment.deliveredAt),
      timeline: rows.map((r) => {
        const org = custodians.get(r.custodian);
        // without the grant no position of a scan that may have been made at the recipient's door: the
        // delivery and attempt scans, and every scan after the first OUT_FOR_DELIVERY (an EXCEPTION or
        // a correction on the doorstep; the OUT_FOR_DELIVERY itself is scanned where the van is loaded).
        // The bundle's signed fields still carry them: the signature covers them (README, "The tracking
        // page and Verify").
        const atDoor = !grant && (outForDelivery || AT_THE_DOOR.has(r.event_type));
        if (r.event_type === 'OUT_FOR_DELIVERY') outForDelivery = true;
        const located = !atDoor && !(r.lat_e6 === 0 && r.lon_e6 === 0 && Number(r.accuracy_m) === 0);
        return {
          eventId: r.event_id,
          eventType: r.event_type,
          occurredAt: new Date(Number(r.occurred_at_ms)).toISOString(),
          locationCode: r.location_code === '' ? null : r.location_code,
          latitude: located ? r.lat_e6 / 1e6 : null,
          longitude: located ? r.lon_e6 / 1e6 : null,
          accuracyM: located ? Number(r.accuracy_m) : null,
          custodian: org ? publicName(org) : r.custodian,
          custodianSlug: r.custodian,
          batchStatus: BATCH_STATUS[r.status],
          txHash: r.status === 'ANCHORED' || r.status === 'FINAL' ? r.batch_tx_hash : null,
          correctedBy: r.corrected_by,
          correctsEventId: r.corrects_event_id,
          dualAttested: r.dual_attested,
          hasEvidence: !/^0x0{64}$/.test(r.evidence_hash),
          personal: grant
            ? {
                extraData: r.extra_data,
                evidence: r.evidence_content_type ? { contentType: r.evidence_content_type, sizeBytes: Number(r.evidence_size_bytes), hash: r.evidence_hash } : null,
                personalData: (r.personal_data ?? []).map((p) => ({ path: p.path, value: p.value, erased: p.erasedAt !== null })),
              }
            : null,
        };
      }),
      personalDataShown: grant,
      destination: grant && d ? { latitude: d.latE6 / 1e6, longitude: d.lonE6 / 1e6, radiusM: d.radiusM } : null,
      verification: {
        bundle: anchored ? publicBundle(built, grant) : null,
        reason: anchored ? null : 'NOT_ANCHORED_YET',
        omitted: anchored ? (grant ? OMITTED_ALWAYS : OMITTED_WITHOUT_GRANT) : [],
        trust: await this.trust.trustFile(),
        rpcUrl: publicRpcUrl(this.runtime),
        explorerTxUrl: this.runtime.config.blockExplorerTxUrl,
      },
    };
  }
}
