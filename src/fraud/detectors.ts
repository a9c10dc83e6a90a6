import { CUSTODY_RULES, type EventFlag } from '../custody/custody-rules';
import type { ShipmentStatus } from '../custody/event-types';

/**
 * Fraud and anomaly detectors over a shipment's custody events.
 *
 * Pure functions: no NestJS, no database, no chain. The caller loads the rows and the key
 * windows; everything here is deterministic for a given input, so a dispute analyst, the API
 * and the tests all see the same findings. Ingestion already rejects what it can prove wrong
 * at the time; these detectors look at the whole history afterwards, where retroactive key
 * revocations, offline uploads and corrections change the picture.
 */

export type Severity = 'LOW' | 'MEDIUM' | 'HIGH';

/**
 * Every finding code, its default severity and when it is raised: the one table the README,
 * the API and the tests read. CUSTODY_GAP and LATE_SHIPMENT are raised as LOW in the milder
 * case their description names.
 */
export const FINDING_CODES = {
  DELIVERY_OUTSIDE_GEOFENCE: {
    severity: 'HIGH',
    description: 'an uncorrected DELIVERED or COLLECTED_FROM_LOCKER with a known position farther from the destination than its radius plus the scan\'s GPS accuracy',
  },
  IMPOSSIBLE_SPEED: {
    severity: 'HIGH',
    description: 'two consecutive located scans (by occurredAt) further apart, after subtracting both GPS accuracies, than maxSpeedKmh allows in the time between them (or stamped at the same instant)',
  },
  TIME_WENT_BACKWARDS: {
    severity: 'MEDIUM',
    description: 'an event that arrived after another event which occurred later than it: an offline upload or a wrong device clock',
  },
  SCAN_IN_FUTURE: {
    severity: 'HIGH',
    description: 'an event whose occurredAt is later than the moment the service received it, beyond futureToleranceMs: a clock running ahead or a forged timestamp',
  },
  DELIVERED_WITHOUT_OUT_FOR_DELIVERY: {
    severity: 'MEDIUM',
    description: 'an uncorrected DELIVERED with no uncorrected OUT_FOR_DELIVERY before it on the timeline',
  },
  DUPLICATE_DELIVERY: {
    severity: 'HIGH',
    description: 'more than one uncorrected DELIVERED or COLLECTED_FROM_LOCKER',
  },
  EVENT_AFTER_TERMINAL: {
    severity: 'MEDIUM',
    description: 'an event (other than a CORRECTION) after the first uncorrected terminal event (DELIVERED, COLLECTED_FROM_LOCKER, RETURNED_TO_SENDER, LOST), e.g. an EXCEPTION flagged AFTER_TERMINAL',
  },
  KEY_OUTSIDE_VALIDITY: {
    severity: 'HIGH',
    description: 'the signing or counter-signing key was not valid when the event occurred (validFrom ≤ occurredAt < revokedAt), typically after a retroactive revocation; an unknown key counts too. Checked on every event, corrections and corrected events included',
  },
  MISSING_REQUIRED_EVIDENCE: {
    severity: 'HIGH',
    description: 'the shipment requires delivery evidence and an uncorrected DELIVERED or COLLECTED_FROM_LOCKER carries the zero evidence hash',
  },
  CUSTODY_GAP: {
    severity: 'MEDIUM',
    description: 'consecutive uncorrected events more than custodyGapHours apart before the shipment reached a terminal state; LOW for an event flagged CARRIER_DECLARED (the carrier declared it while another organization held the parcel)',
  },
  LOW_GPS_ACCURACY_ON_DELIVERY: {
    severity: 'MEDIUM',
    description: 'an uncorrected delivery located worse than lowAccuracyM, or with no position at all, so the geofence cannot place it at the door',
  },
  HANDOFF_WITHOUT_COUNTER_SIGNATURE: {
    severity: 'MEDIUM',
    description: 'the shipment requires counter-signed handoffs and an uncorrected HANDOFF, PICKED_UP, LOCKER_DEPOSITED or RETURNED_TO_SENDER is not dual-attested',
  },
  STALE_SHIPMENT: {
    severity: 'MEDIUM',
    description: 'a shipment in a moving, non-terminal status with no custody event for more than staleAfterHours',
  },
  LATE_SHIPMENT: {
    severity: 'MEDIUM',
    description: 'the promised delivery time has passed and the shipment is not delivered; LOW when it was delivered, but after the promised time',
  },
} as const satisfies Record<string, { severity: Severity; description: string }>;

export type FindingCode = keyof typeof FINDING_CODES;

export interface Finding {
  code: FindingCode;
  severity: Severity;
  message: string;
  /** eventIds[0] is the event the finding is about; any others give the context (the other scan, the terminal event). */
  eventIds: string[];
}

export interface DetectorPolicy {
  /** km/h; road transport rarely beats it, so air legs need an override */
  maxSpeedKmh: number;
  /** metres; a delivery located worse than this cannot be placed at a door */
  lowAccuracyM: number;
  /** hours without a custody event before a handoff chain counts as broken */
  custodyGapHours: number;
  /** ms a device clock may run ahead of the service before a scan counts as "in the future" */
  futureToleranceMs: number;
  /** hours without an event before a moving shipment counts as stale */
  staleAfterHours: number;
}

export const DEFAULT_POLICY: Readonly<DetectorPolicy> = Object.freeze({
  maxSpeedKmh: 200,
  lowAccuracyM: 100,
  custodyGapHours: 48,
  futureToleranceMs: 60_000,
  staleAfterHours: 48,
});

export interface FraudShipment {
  trackingNumber: string;
  carrier: string;
  status: string;
  destination: { latE6: number; lonE6: number; radiusM: number } | null;
  requireDeliveryEvidence: boolean;
  requireCounterSignedHandoffs: boolean;
  promisedDeliveryAt: Date | null;
  deliveredAt: Date | null;
}

export interface FraudEvent {
  eventId: string;
  eventType: string;
  /** unix ms, device clock */
  occurredAt: bigint;
  receivedAt: Date;
  /** arrival order at the service */
  arrival: number;
  latE6: number;
  lonE6: number;
  /** 0 together with lat = lon = 0: unknown position */
  accuracyM: number;
  custodian: string;
  signer: string;
  signerOrganization: string;
  counterSigner: string | null;
  dualAttested: boolean;
  /** the zero hash means no evidence */
  evidenceHash: string;
  flags: string[];
  correctedBy: string | null;
  correctsEventId: string | null;
}

export interface KeyWindow {
  validFrom: Date;
  revokedAt: Date | null;
}

export interface DetectInput {
  shipment: FraudShipment;
  events: readonly FraudEvent[];
  /** keyed by lower-case address */
  keys: ReadonlyMap<string, KeyWindow>;
  now: Date;
  policy?: Partial<DetectorPolicy>;
}

export interface ShipmentIncidentInput {
  shipment: FraudShipment & { lastEventAt: Date | null };
  now: Date;
  policy?: Partial<DetectorPolicy>;
}

// ---------------------------------------------------------------------------------------------
// vocabulary

const DELIVERY_TYPES: ReadonlySet<string> = new Set(['DELIVERED', 'COLLECTED_FROM_LOCKER']);
// terminal types come from the custody rules so the detectors can never disagree with ingestion
const TERMINAL_TYPES: ReadonlySet<string> = new Set(Object.entries(CUSTODY_RULES).filter(([, rule]) => rule.terminal).map(([type]) => type));
// the custody transfers that a releasing party can counter-sign
const TRANSFER_TYPES: ReadonlySet<string> = new Set(['HANDOFF', 'PICKED_UP', 'LOCKER_DEPOSITED', 'RETURNED_TO_SENDER']);
const MOVING_STATUSES: ReadonlySet<string> = new Set<ShipmentStatus>(['IN_TRANSIT', 'OUT_FOR_DELIVERY', 'AVAILABLE_FOR_PICKUP', 'DELIVERY_FAILED', 'EXCEPTION']);
const CARRIER_DECLARED: EventFlag = 'CARRIER_DECLARED';
const SEVERITY_RANK: Record<Severity, number> = { HIGH: 0, MEDIUM: 1, LOW: 2 };
const HOUR_MS = 3_600_000;
// GPS-derived distances are not meaningful below a millimetre; this keeps a scan exactly on
// the geofence edge from flipping on floating-point noise
const DISTANCE_EPSILON_M = 0.001;
// mean Earth radius (IUGG); haversine on a sphere is within 0.5 % of the ellipsoid
const EARTH_RADIUS_M = 6_371_008.8;

// ---------------------------------------------------------------------------------------------
// public helpers

/** Great-circle (haversine) distance in metres between two positions given in degrees × 1e6. */
export function distanceMetres(aLatE6: number, aLonE6: number, bLatE6: number, bLonE6: number): number {
  const rad = (e6: number): number => ((e6 / 1e6) * Math.PI) / 180;
  const φ1 = rad(aLatE6);
  const φ2 = rad(bLatE6);
  const dφ = φ2 - φ1;
  const dλ = rad(bLonE6 - aLonE6);
  const h = Math.sin(dφ / 2) ** 2 + Math.cos(φ1) * Math.cos(φ2) * Math.sin(dλ / 2) ** 2;
  // clamp: rounding can push h a hair above 1 for antipodal points
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** The worst severity among the findings, or null when there are none. */
export function highestSeverity(findings: readonly Finding[]): Severity | null {
  let best: Severity | null = null;
  for (const f of findings) if (best === null || SEVERITY_RANK[f.severity] < SEVERITY_RANK[best]) best = f.severity;
  return best;
}

/** Merges a partial policy over the defaults; rejects values that would make a detector meaningless. */
export function resolvePolicy(policy?: Partial<DetectorPolicy>): DetectorPolicy {
  const merged: DetectorPolicy = { ...DEFAULT_POLICY };
  for (const key of Object.keys(DEFAULT_POLICY) as Array<keyof DetectorPolicy>) {
    const value = policy?.[key];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw new RangeError(`detector policy ${key} must be a finite number ≥ 0, got ${String(value)}`);
    merged[key] = value;
  }
  return merged;
}

// ---------------------------------------------------------------------------------------------
// formatting: messages are read by dispute analysts, so say who, where, how far, how fast, when

function fmtTime(t: bigint | number | Date): string {
  const ms = t instanceof Date ? t.getTime() : Number(t);
  const d = new Date(ms);
  // a forged occurredAt can be outside Date's range; show the raw number instead of throwing
  return Number.isNaN(d.getTime()) ? `${String(t)} ms` : d.toISOString().replace('.000Z', 'Z');
}

function fmtDuration(ms: number): string {
  const total = Math.round(Math.abs(ms) / 1000);
  const parts: Array<[number, string]> = [
    [Math.floor(total / 86_400), 'd'],
    [Math.floor(total / 3600) % 24, 'h'],
    [Math.floor(total / 60) % 60, 'min'],
    [total % 60, 's'],
  ];
  const first = parts.findIndex(([n]) => n > 0);
  if (first < 0) return '0 s';
  // two units are enough to read ("2 d 4 h", "3 h 12 min")
  return parts
    .slice(first, first + 2)
    .filter(([n]) => n > 0)
    .map(([n, unit]) => `${n} ${unit}`)
    .join(' ');
}

function fmtDistance(m: number): string {
  if (m < 1000) return `${Math.round(m)} m`;
  return `${(m / 1000).toFixed(m < 10_000 ? 2 : 1)} km`;
}

const fmtCoord = (latE6: number, lonE6: number): string => `${(latE6 / 1e6).toFixed(6)}, ${(lonE6 / 1e6).toFixed(6)}`;

function fmtPosition(e: FraudEvent): string {
  return hasPosition(e) ? `${fmtCoord(e.latE6, e.lonE6)} (±${e.accuracyM} m)` : 'an unknown position';
}

const shortId = (id: string): string => (id.length > 14 ? `${id.slice(0, 10)}…` : id);
const shortAddress = (a: string): string => (a.length > 14 ? `${a.slice(0, 8)}…${a.slice(-4)}` : a);

/** "DELIVERED 0x1a2b3c4d… by swiftpost (custodian swiftpost)" */
function who(e: FraudEvent): string {
  const custodian = e.custodian === e.signerOrganization ? '' : ` (custodian ${e.custodian})`;
  return `${e.eventType} ${shortId(e.eventId)} by ${e.signerOrganization}${custodian}`;
}

// ---------------------------------------------------------------------------------------------
// event helpers

/** lat = lon = 0 with accuracy 0 is the signed encoding of "no position". */
const hasPosition = (e: FraudEvent): boolean => !(e.latE6 === 0 && e.lonE6 === 0 && e.accuracyM === 0);

const msBetween = (a: FraudEvent, b: FraudEvent): number => Number(b.occurredAt - a.occurredAt);

// the zero hash (any length, with or without 0x) and the empty string both mean "no evidence"
const isZeroHash = (h: string): boolean => /^(0x)?0*$/i.test(h);

function byTimeline(a: FraudEvent, b: FraudEvent): number {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt < b.occurredAt ? -1 : 1;
  if (a.arrival !== b.arrival) return a.arrival - b.arrival;
  return a.eventId < b.eventId ? -1 : a.eventId > b.eventId ? 1 : 0;
}

function byArrival(a: FraudEvent, b: FraudEvent): number {
  if (a.arrival !== b.arrival) return a.arrival - b.arrival;
  return byTimeline(a, b);
}

interface Context {
  shipment: FraudShipment;
  /** every event, timeline order (occurredAt, then arrival) */
  timeline: FraudEvent[];
  /** uncorrected events other than CORRECTION, timeline order: what actually happened */
  active: FraudEvent[];
  keys: ReadonlyMap<string, KeyWindow>;
  policy: DetectorPolicy;
}

type Emit = (code: FindingCode, message: string, eventIds: string[], severity?: Severity) => void;

// ---------------------------------------------------------------------------------------------
// detectors over events

function deliveryOutsideGeofence({ shipment, active }: Context, emit: Emit): void {
  const dest = shipment.destination;
  if (!dest) return;
  for (const e of active) {
    // unknown positions are LOW_GPS_ACCURACY_ON_DELIVERY's business, not a geofence breach
    if (!DELIVERY_TYPES.has(e.eventType) || !hasPosition(e)) continue;
    const d = distanceMetres(e.latE6, e.lonE6, dest.latE6, dest.lonE6);
    const allowed = dest.radiusM + e.accuracyM;
    if (d <= allowed + DISTANCE_EPSILON_M) continue;
    emit(
      'DELIVERY_OUTSIDE_GEOFENCE',
      `${who(e)} at ${fmtTime(e.occurredAt)} was scanned at ${fmtPosition(e)}, ${fmtDistance(d)} from the destination ${fmtCoord(dest.latE6, dest.lonE6)}: ` +
        `${fmtDistance(d - allowed)} beyond the ${dest.radiusM} m geofence even allowing the ${e.accuracyM} m GPS accuracy`,
      [e.eventId],
    );
  }
}

function impossibleSpeed({ active, policy }: Context, emit: Emit): void {
  const located = active.filter(hasPosition);
  for (let i = 1; i < located.length; i++) {
    const a = located[i - 1];
    const b = located[i];
    const d = distanceMetres(a.latE6, a.lonE6, b.latE6, b.lonE6);
    // only the distance the GPS error cannot explain counts
    const moved = d - a.accuracyM - b.accuracyM;
    if (moved <= DISTANCE_EPSILON_M) continue;
    const dt = msBetween(a, b);
    const route = `${who(a)} at ${fmtTime(a.occurredAt)} at ${fmtPosition(a)} → ${who(b)} at ${fmtTime(b.occurredAt)} at ${fmtPosition(b)}`;
    if (dt <= 0) {
      emit('IMPOSSIBLE_SPEED', `parcel was in two places ${fmtDistance(d)} apart at the same instant (${fmtTime(a.occurredAt)}): ${route}`, [a.eventId, b.eventId]);
      continue;
    }
    const kmh = moved / 1000 / (dt / HOUR_MS);
    if (kmh <= policy.maxSpeedKmh) continue;
    emit(
      'IMPOSSIBLE_SPEED',
      `parcel moved ${fmtDistance(d)} in ${fmtDuration(dt)}: ${Math.round(kmh)} km/h even allowing the GPS accuracy, over the ${policy.maxSpeedKmh} km/h limit; ${route}`,
      [a.eventId, b.eventId],
    );
  }
}

function timeWentBackwards({ active }: Context, emit: Emit): void {
  // walk in arrival order, remembering the latest-occurring event seen so far
  let latest: FraudEvent | null = null;
  for (const e of [...active].sort(byArrival)) {
    if (latest && latest.occurredAt > e.occurredAt) {
      emit(
        'TIME_WENT_BACKWARDS',
        `${who(e)} occurred at ${fmtTime(e.occurredAt)} but arrived (arrival #${e.arrival}, received ${fmtTime(e.receivedAt)}) after ${who(latest)}, ` +
          `which occurred ${fmtDuration(msBetween(e, latest))} later at ${fmtTime(latest.occurredAt)}: an offline upload or a wrong device clock`,
        [e.eventId, latest.eventId],
      );
    }
    if (!latest || e.occurredAt > latest.occurredAt) latest = e;
  }
}

function scanInFuture({ active, policy }: Context, emit: Emit): void {
  for (const e of active) {
    const ahead = Number(e.occurredAt) - e.receivedAt.getTime();
    if (ahead <= policy.futureToleranceMs) continue;
    emit(
      'SCAN_IN_FUTURE',
      `${who(e)} claims to have occurred at ${fmtTime(e.occurredAt)}, ${fmtDuration(ahead)} after the service received it at ${fmtTime(e.receivedAt)} ` +
        `(tolerance ${fmtDuration(policy.futureToleranceMs)}): the device clock runs ahead or the timestamp was set by hand`,
      [e.eventId],
    );
  }
}

function deliveredWithoutOutForDelivery({ active }: Context, emit: Emit): void {
  let outForDelivery = false;
  for (const e of active) {
    if (e.eventType === 'OUT_FOR_DELIVERY') outForDelivery = true;
    // a locker collection follows LOCKER_DEPOSITED, which ingestion enforces; only door deliveries here
    if (e.eventType !== 'DELIVERED' || outForDelivery) continue;
    emit(
      'DELIVERED_WITHOUT_OUT_FOR_DELIVERY',
      `${who(e)} at ${fmtTime(e.occurredAt)} at ${fmtPosition(e)} has no OUT_FOR_DELIVERY before it: the parcel was never recorded on a delivery round`,
      [e.eventId],
    );
  }
}

function duplicateDelivery({ active }: Context, emit: Emit): void {
  const deliveries = active.filter((e) => DELIVERY_TYPES.has(e.eventType));
  if (deliveries.length < 2) return;
  const list = deliveries.map((e) => `${who(e)} at ${fmtTime(e.occurredAt)} at ${fmtPosition(e)}`).join('; ');
  emit('DUPLICATE_DELIVERY', `${deliveries.length} uncorrected deliveries for one parcel: ${list}`, deliveries.map((e) => e.eventId));
}

function eventAfterTerminal({ active }: Context, emit: Emit): void {
  const idx = active.findIndex((e) => TERMINAL_TYPES.has(e.eventType));
  if (idx < 0) return;
  const terminal = active[idx];
  // a second delivery is reported once, as DUPLICATE_DELIVERY (one fact, one finding)
  const duplicates = active.filter((e) => DELIVERY_TYPES.has(e.eventType)).length > 1;
  for (const e of active.slice(idx + 1)) {
    if (duplicates && DELIVERY_TYPES.has(e.eventType)) continue;
    const flags = e.flags.length ? ` [flags: ${e.flags.join(', ')}]` : '';
    emit(
      'EVENT_AFTER_TERMINAL',
      `${who(e)} at ${fmtTime(e.occurredAt)}${flags} comes ${fmtDuration(msBetween(terminal, e))} after the shipment reached its terminal state with ${who(terminal)} at ${fmtTime(terminal.occurredAt)}`,
      [e.eventId, terminal.eventId],
    );
  }
}

function keyOutsideValidity({ timeline, keys }: Context, emit: Emit): void {
  // every event, corrections and corrected ones included: a correction does not cure a bad
  // signature, and a CORRECTION signed with a revoked key could void a genuine delivery
  for (const e of timeline) {
    const t = Number(e.occurredAt);
    const signers: Array<[string, string]> = [[`signer key ${shortAddress(e.signer)} of ${e.signerOrganization}`, e.signer]];
    if (e.counterSigner && e.counterSigner.toLowerCase() !== e.signer.toLowerCase()) signers.push([`counter-signer key ${shortAddress(e.counterSigner)}`, e.counterSigner]);
    for (const [label, address] of signers) {
      const win = keys.get(address.toLowerCase());
      let problem: string | null = null;
      if (!win) problem = 'is not a registered signing key';
      else if (t < win.validFrom.getTime()) problem = `was not valid until ${fmtTime(win.validFrom)}, ${fmtDuration(win.validFrom.getTime() - t)} after the event occurred`;
      else if (win.revokedAt && t >= win.revokedAt.getTime()) {
        // ingestion rejects revoked keys, so a stored event with one means the revocation was backdated
        problem = `was revoked with effect from ${fmtTime(win.revokedAt)}, ${fmtDuration(t - win.revokedAt.getTime())} before the event occurred; the event was accepted at ${fmtTime(e.receivedAt)}, so the revocation is retroactive`;
      }
      if (!problem) continue;
      emit('KEY_OUTSIDE_VALIDITY', `${label} on ${who(e)} at ${fmtTime(e.occurredAt)} ${problem}`, [e.eventId]);
    }
  }
}

function missingRequiredEvidence({ shipment, active }: Context, emit: Emit): void {
  if (!shipment.requireDeliveryEvidence) return;
  for (const e of active) {
    if (!DELIVERY_TYPES.has(e.eventType) || !isZeroHash(e.evidenceHash)) continue;
    emit(
      'MISSING_REQUIRED_EVIDENCE',
      `${who(e)} at ${fmtTime(e.occurredAt)} at ${fmtPosition(e)} carries no evidence (photo, signature, PIN check) although shipment ${shipment.trackingNumber} requires delivery evidence`,
      [e.eventId],
    );
  }
}

function custodyGap({ active, policy }: Context, emit: Emit): void {
  const limitMs = policy.custodyGapHours * HOUR_MS;
  for (let i = 1; i < active.length; i++) {
    const a = active[i - 1];
    // after a terminal event silence is expected; the gap that ends at it still counts
    if (TERMINAL_TYPES.has(a.eventType)) break;
    const b = active[i];
    const gap = msBetween(a, b);
    if (gap <= limitMs) continue;
    emit(
      'CUSTODY_GAP',
      `no custody event for ${fmtDuration(gap)} between ${who(a)} at ${fmtTime(a.occurredAt)} and ${who(b)} at ${fmtTime(b.occurredAt)} (limit ${policy.custodyGapHours} h): nobody attested who held the parcel`,
      [a.eventId, b.eventId],
    );
  }
  for (const e of active) {
    if (!e.flags.includes(CARRIER_DECLARED)) continue;
    emit(
      'CUSTODY_GAP',
      `${e.eventType} ${shortId(e.eventId)} at ${fmtTime(e.occurredAt)} was declared by the carrier ${e.signerOrganization} while ${e.custodian} held the parcel: the custodian did not attest it`,
      [e.eventId],
      'LOW',
    );
  }
}

function lowGpsAccuracyOnDelivery({ active, policy }: Context, emit: Emit): void {
  for (const e of active) {
    if (!DELIVERY_TYPES.has(e.eventType)) continue;
    const known = hasPosition(e);
    if (known && e.accuracyM <= policy.lowAccuracyM) continue;
    const why = known ? `was located only to ±${e.accuracyM} m at ${fmtCoord(e.latE6, e.lonE6)} (threshold ${policy.lowAccuracyM} m)` : 'has no position at all';
    emit('LOW_GPS_ACCURACY_ON_DELIVERY', `${who(e)} at ${fmtTime(e.occurredAt)} ${why}, so nothing places the delivery at the door`, [e.eventId]);
  }
}

function handoffWithoutCounterSignature({ shipment, active }: Context, emit: Emit): void {
  if (!shipment.requireCounterSignedHandoffs) return;
  for (const e of active) {
    if (!TRANSFER_TYPES.has(e.eventType) || e.dualAttested) continue;
    emit(
      'HANDOFF_WITHOUT_COUNTER_SIGNATURE',
      `${e.eventType} ${shortId(e.eventId)} at ${fmtTime(e.occurredAt)} at ${fmtPosition(e)}, custody to ${e.custodian}, was signed by ${e.signerOrganization} alone: ` +
        `shipment ${shipment.trackingNumber} requires both parties of a handoff to sign`,
      [e.eventId],
    );
  }
}

const EVENT_DETECTORS: ReadonlyArray<(ctx: Context, emit: Emit) => void> = [
  deliveryOutsideGeofence,
  impossibleSpeed,
  timeWentBackwards,
  scanInFuture,
  deliveredWithoutOutForDelivery,
  duplicateDelivery,
  eventAfterTerminal,
  keyOutsideValidity,
  missingRequiredEvidence,
  custodyGap,
  lowGpsAccuracyOnDelivery,
  handoffWithoutCounterSignature,
];

// ---------------------------------------------------------------------------------------------
// entry points

/** Findings over one shipment's custody events, sorted HIGH first, then by timeline position. */
export function detectFindings(input: DetectInput): Finding[] {
  const policy = resolvePolicy(input.policy);
  // callers pass timeline order, but the detectors must not depend on it
  const timeline = [...input.events].sort(byTimeline);
  // a correction may be known from either side of the link
  const correctedIds = new Set(timeline.flatMap((e) => (e.correctsEventId ? [e.correctsEventId] : [])));
  const active = timeline.filter((e) => e.eventType !== 'CORRECTION' && e.correctedBy === null && !correctedIds.has(e.eventId));
  const ctx: Context = { shipment: input.shipment, timeline, active, keys: input.keys, policy };

  const findings: Finding[] = [];
  const emit: Emit = (code, message, eventIds, severity) => findings.push({ code, severity: severity ?? FINDING_CODES[code].severity, message, eventIds });
  for (const detect of EVENT_DETECTORS) detect(ctx, emit);

  const position = new Map(timeline.map((e, i) => [e.eventId, i]));
  return sortFindings(findings, (id) => position.get(id) ?? Number.MAX_SAFE_INTEGER);
}

/** Shipment-level incidents that need no events: STALE_SHIPMENT and LATE_SHIPMENT. */
export function detectShipmentIncidents(input: ShipmentIncidentInput): Finding[] {
  const policy = resolvePolicy(input.policy);
  const { shipment, now } = input;
  const findings: Finding[] = [];
  const tn = `shipment ${shipment.trackingNumber} (${shipment.carrier})`;

  if (MOVING_STATUSES.has(shipment.status) && shipment.lastEventAt) {
    const silent = now.getTime() - shipment.lastEventAt.getTime();
    if (silent > policy.staleAfterHours * HOUR_MS) {
      findings.push({
        code: 'STALE_SHIPMENT',
        severity: FINDING_CODES.STALE_SHIPMENT.severity,
        message: `${tn} has been ${shipment.status} with no custody event for ${fmtDuration(silent)} (last event at ${fmtTime(shipment.lastEventAt)}; limit ${policy.staleAfterHours} h)`,
        eventIds: [],
      });
    }
  }

  const promised = shipment.promisedDeliveryAt;
  if (promised) {
    if (shipment.deliveredAt) {
      const late = shipment.deliveredAt.getTime() - promised.getTime();
      if (late > 0) {
        findings.push({
          code: 'LATE_SHIPMENT',
          severity: 'LOW',
          message: `${tn} was delivered at ${fmtTime(shipment.deliveredAt)}, ${fmtDuration(late)} after the promised ${fmtTime(promised)}`,
          eventIds: [],
        });
      }
    } else if (shipment.status !== 'DELIVERED') {
      // (DELIVERED without a delivery time is inconsistent data, not lateness)
      const overdue = now.getTime() - promised.getTime();
      if (overdue > 0) {
        findings.push({
          code: 'LATE_SHIPMENT',
          severity: FINDING_CODES.LATE_SHIPMENT.severity,
          message: `${tn} was promised for ${fmtTime(promised)} and is still not delivered (status ${shipment.status}), ${fmtDuration(overdue)} late`,
          eventIds: [],
        });
      }
    }
  }
  return sortFindings(findings, () => Number.MAX_SAFE_INTEGER);
}

// severity, then where the finding's first event sits on the timeline; the rest only makes the
// order total, so the same input always gives the same list
function sortFindings(findings: Finding[], position: (eventId: string) => number): Finding[] {
  const pos = (f: Finding): number => (f.eventIds.length ? position(f.eventIds[0]) : Number.MAX_SAFE_INTEGER);
  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  return findings.sort(
    (a, b) =>
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      pos(a) - pos(b) ||
      cmp(a.code, b.code) ||
      cmp(a.eventIds.join(','), b.eventIds.join(',')) ||
      cmp(a.message, b.message),
  );
}
