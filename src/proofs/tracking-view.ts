/**
 * The JSON of the public tracking page, `GET /api/track/<token>` (issue 12): what a share link's
 * holder sees, and everything a browser needs to verify the journey without trusting the service.
 * Types and one constant (no runtime imports), so the front end can import this file.
 *
 * Times are ISO 8601 in UTC (`…Z`); the page converts them to the visitor's zone. Fields marked
 * "ledger statement" are what the ledger says; the bundle in `verification` proves the rest.
 */
import type { ProofBundleV3 } from './pod-bundle';
import type { TrustFile } from './trust-root';

export const TRACKING_VIEW_FORMAT = 'custody-track/1';

/**
 * Scans made at the recipient's door: without the personal-data grant the view gives no position
 * for them and the page draws none (the service and the page both read this one list).
 */
export const AT_THE_DOOR: ReadonlySet<string> = new Set(['DELIVERED', 'DELIVERY_ATTEMPTED']);

/** Colours `#rrggbb`, lower-case. Any field may be null: the page then uses its own default. */
export interface TrackingBrand {
  /** slug of the organization whose brand this is: the shipment's merchant, else its carrier */
  organization: string;
  /** its displayName, else its registered name */
  name: string;
  /** https:// URL or data:image/(png|svg+xml|jpeg);base64 URL: show it with <img> only (an SVG may hold script) */
  logoUrl: string | null;
  brandColor: string | null;
  accentColor: string | null;
}

/** Personal data of one event: only in a view whose link grants it (`personalDataShown`). */
export interface TrackingEventPersonalData {
  /** the canonical extra-data document the event's signed dataHash commits to (sensors, salted recipient commitments, note) */
  extraData: string | null;
  /** evidence metadata (photo, signature image, PIN check); hash = the signed evidenceHash */
  evidence: { contentType: string; sizeBytes: number; hash: string } | null;
  /** opened personal values (e.g. `recipient.name`); value null once erased (erasePersonalData) */
  personalData: Array<{ path: string; value: string | null; erased: boolean }>;
}

export interface TrackingEvent {
  /** 0x + 64 hex: the bundle's events[].eventId */
  eventId: string;
  /** LABEL_CREATED, PICKED_UP, HANDOFF, ARRIVED_AT_FACILITY, …, DELIVERED, CORRECTION */
  eventType: string;
  /** ISO UTC, the device clock */
  occurredAt: string;
  /** facility, locker or GLN code; null if none */
  locationCode: string | null;
  /** decimal degrees; null when the scan had no position (accuracy 0 and 0,0) */
  latitude: number | null;
  longitude: number | null;
  /** GPS accuracy in metres; null with no position */
  accuracyM: number | null;
  /** who holds the parcel after this event: display name (displayName, else name) and slug */
  custodian: string;
  custodianSlug: string;
  /** PENDING (not sealed yet), SEALED (in a batch, not on chain yet), ANCHORED (root on chain), FINAL (past the confirmation depth) */
  batchStatus: 'PENDING' | 'SEALED' | 'ANCHORED' | 'FINAL';
  /** the anchoring transaction of its batch (verification.explorerTxUrl with {tx} replaced links it); null before */
  txHash: string | null;
  /** the CORRECTION that voids this event, if any (show it struck through) */
  correctedBy: string | null;
  /** for a CORRECTION: the event it voids */
  correctsEventId: string | null;
  /** true when a counter-signature of another organization attests the handoff */
  dualAttested: boolean;
  /** whether delivery evidence was committed (its metadata only in `personal`) */
  hasEvidence: boolean;
  /** null unless personalDataShown */
  personal: TrackingEventPersonalData | null;
}

export interface TrackingVerification {
  /**
   * The shipment's proof-of-delivery bundle, custody-pod/3, verifiable with verifyProofBundle
   * (src/proofs/bundle-verifier.ts) against `trust` through `rpcUrl`; null until the shipment is in
   * an anchored state (then `reason` says so). Without the personal-data grant the bundle leaves out
   * `shipment.destination`, every event's `evidence` metadata and every extra-data document but
   * corrections' (the verifier lists a missing document as "not carried" among its ledger
   * statements; the verdict is unaffected: VALID stays VALID); `findings` are
   * always left out (fraud signals are for the parties, not for a public page).
   */
  bundle: ProofBundleV3 | null;
  /** why bundle is null: `NOT_ANCHORED_YET` (no event of the shipment is in an anchored state yet; try again later) */
  reason: 'NOT_ANCHORED_YET' | null;
  /** what this bundle leaves out of the one the ledger gives the parties (paths in the bundle) */
  omitted: string[];
  /** the ledger's trust root (custody-trust/1, parseTrustFile). A page that pins its own copy should prefer that */
  trust: TrustFile;
  /** a JSON-RPC URL of the anchor chain that browsers may call (PUBLIC_CHAIN_RPC_URL); null: none configured, verify elsewhere */
  rpcUrl: string | null;
  /** a block explorer's transaction page, `{tx}` standing for the hash (BLOCK_EXPLORER_TX_URL); null: none */
  explorerTxUrl: string | null;
}

export interface TrackingView {
  format: typeof TRACKING_VIEW_FORMAT;
  /** ISO UTC, when this answer was made */
  generatedAt: string;
  brand: TrackingBrand;
  /** the carrier's display name (displayName, else name) and slug */
  carrier: string;
  carrierSlug: string;
  trackingNumber: string;
  /** normalised (ledger statement) */
  status: 'PRE_TRANSIT' | 'IN_TRANSIT' | 'OUT_FOR_DELIVERY' | 'AVAILABLE_FOR_PICKUP' | 'DELIVERY_FAILED' | 'DELIVERED' | 'EXCEPTION' | 'RETURN_TO_SENDER' | 'LOST';
  /** the event type that set the status, e.g. COLLECTED_FROM_LOCKER; null before any event */
  subStatus: string | null;
  promisedDeliveryAt: string | null;
  estimatedDeliveryAt: string | null;
  deliveredAt: string | null;
  /** every event of the shipment by occurredAt (corrected ones and corrections included) */
  timeline: TrackingEvent[];
  /** whether the link grants personal data: destination and each event's `personal` */
  personalDataShown: boolean;
  /** the delivery area, decimal degrees and metres; null unless personalDataShown (or none set) */
  destination: { latitude: number; longitude: number; radiusM: number } | null;
  verification: TrackingVerification;
}

/** Every error of the endpoint: unknown, malformed, revoked and expired tokens alike (HTTP 404), and 429 when rate limited. */
export interface TrackingError {
  errors: Array<{ message: string; extensions: { code: 'SHARE_LINK_NOT_FOUND' | 'RATE_LIMITED' | string; retryAfterMs?: number } }>;
}
