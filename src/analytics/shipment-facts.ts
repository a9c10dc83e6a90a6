import { CUSTODY_RULES, type TimelineEntry } from '../custody/custody-rules';
import type { CustodyEventType } from '../custody/event-types';

/**
 * The per-shipment facts analytics and estimates read, derived from a shipment's timeline at
 * ingestion (pure: the migration back-fills with the same definitions in SQL). Corrected events
 * and corrections are left out, like everywhere else the timeline is judged.
 */

/** Where a scan was, as ingestion loads it. */
export interface Place {
  locationCode: string;
  latE6: number;
  lonE6: number;
  accuracyM: number;
}

export type EndKind = 'DELIVERED' | 'RETURNED' | 'LOST';

export interface DwellVisit {
  locationCode: string;
  /** the arrival and departure events it rests on */
  eventIds: [string, string];
  arrivedAtMs: bigint;
  departedAtMs: bigint;
}

export interface LaneSample {
  stage: CustodyEventType;
  hours: number;
}

export interface ShipmentFacts {
  /** occurredAt of the first uncorrected terminal event (DELIVERED, COLLECTED_FROM_LOCKER, RETURNED_TO_SENDER, LOST) */
  endedAtMs: bigint | null;
  endKind: EndKind | null;
  /** delivered, and no uncorrected DELIVERY_ATTEMPTED occurred before the delivery; null when not delivered */
  firstAttempt: boolean | null;
  /** any uncorrected EXCEPTION, whenever it occurred (after delivery too: damage reported later) */
  hadException: boolean;
  /** region of the first located scan (accuracyM > 0) */
  originRegion: string | null;
  dwell: DwellVisit[];
  /** for a delivered shipment: every uncorrected scan before the delivery, hours from it to the delivery */
  samples: LaneSample[];
  /** the last uncorrected event that moved the parcel along (not an EXCEPTION): the estimate's stage */
  stage: TimelineEntry | null;
  /** the state after the first event, and after the first OUT_FOR_DELIVERY: the estimates kept for accuracy */
  firstScan: TimelineEntry | null;
  outForDelivery: TimelineEntry | null;
}

const TERMINAL_KIND: Partial<Record<CustodyEventType, EndKind>> = { DELIVERED: 'DELIVERED', COLLECTED_FROM_LOCKER: 'DELIVERED', RETURNED_TO_SENDER: 'RETURNED', LOST: 'LOST' };

/** Region: the 1° × 1° latitude/longitude cell ("52:13"), about 111 km north–south; "?" when unknown. */
export function regionOf(latE6: number | null, lonE6: number | null): string {
  if (latE6 === null || lonE6 === null) return '?';
  return `${Math.floor(latE6 / 1_000_000)}:${Math.floor(lonE6 / 1_000_000)}`;
}

const byTime = (a: TimelineEntry, b: TimelineEntry): number => (a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.arrival - b.arrival);

const NOWHERE: Place = { locationCode: '', latE6: 0, lonE6: 0, accuracyM: 0 };

/** One pass over the sorted timeline (it runs for every shipment a call touches). `placeOf`: the scan's place by event id. */
export function shipmentFacts(timeline: readonly TimelineEntry[], placeOf: (eventId: string) => Place | undefined): ShipmentFacts {
  let corrected: Set<string> | null = null;
  for (const e of timeline) if (e.correctsEventId !== null) (corrected ??= new Set()).add(e.correctsEventId);
  const events = timeline.filter((e) => e.eventType !== 'CORRECTION' && !corrected?.has(e.eventId)).sort(byTime);
  const facts: ShipmentFacts = { endedAtMs: null, endKind: null, firstAttempt: null, hadException: false, originRegion: null, dwell: [], samples: [], stage: null, firstScan: null, outForDelivery: null };
  let attempted = false;
  let terminal: TimelineEntry | null = null;
  const arrivals = new Map<string, TimelineEntry>();
  const departed = new Set<string>();
  for (const e of events) {
    const type = e.eventType;
    if (facts.originRegion === null) {
      const place = placeOf(e.eventId) ?? NOWHERE;
      if (place.accuracyM > 0) facts.originRegion = regionOf(place.latE6, place.lonE6);
    }
    if (type === 'EXCEPTION') facts.hadException = true;
    // after the terminal event only corrections and exceptions are accepted (custody rules)
    if (type === 'EXCEPTION' || terminal) continue;
    if (CUSTODY_RULES[type].terminal) {
      terminal = e;
      continue;
    }
    facts.firstScan ??= e;
    facts.stage = e;
    if (type === 'DELIVERY_ATTEMPTED') attempted = true;
    else if (type === 'OUT_FOR_DELIVERY') facts.outForDelivery ??= e;
    else if (type === 'ARRIVED_AT_FACILITY' || type === 'DEPARTED_FACILITY') {
      const code = (placeOf(e.eventId) ?? NOWHERE).locationCode;
      if (code === '') continue;
      const arrival = arrivals.get(code);
      if (type === 'ARRIVED_AT_FACILITY' && !arrival) arrivals.set(code, e);
      else if (type === 'DEPARTED_FACILITY' && arrival && !departed.has(code)) {
        departed.add(code);
        facts.dwell.push({ locationCode: code, eventIds: [arrival.eventId, e.eventId], arrivedAtMs: arrival.occurredAt, departedAtMs: e.occurredAt });
      }
    }
  }
  if (terminal) {
    facts.endedAtMs = terminal.occurredAt;
    facts.endKind = TERMINAL_KIND[terminal.eventType]!;
    if (facts.endKind === 'DELIVERED') {
      facts.firstAttempt = !attempted;
      const end = terminal.occurredAt;
      for (const e of events) {
        if (e === terminal) break;
        if (e.eventType !== 'EXCEPTION') facts.samples.push({ stage: e.eventType, hours: Number(end - e.occurredAt) / 3_600_000 });
      }
    }
  }
  return facts;
}

export type EstimateBasis = 'LANE_HISTORY' | 'CARRIER_HISTORY' | 'PROMISED_DATE' | 'CARRIER_PROVIDED';

export interface LaneFigure {
  deliveries: number;
  p50Hours: number | null;
}

export interface Estimate {
  at: Date;
  basis: EstimateBasis;
  /** deliveries behind a history figure; null for the promised date and the carrier's own estimate */
  samples: number | null;
}

export interface EstimateInputs {
  /** the stage event (the last that moved the parcel along, as of the estimate) */
  stage: TimelineEntry;
  lane: LaneFigure | undefined;
  carrierWide: LaneFigure | undefined;
  minDeliveries: number;
  carrierProvided: Date | null;
  promised: Date | null;
  /** the estimate is never before this: now for the live estimate, the stage scan's time for the kept ones */
  notBefore: number;
}

/**
 * The carrier's own estimate wins while it is not in the past (the carrier knows its route plan);
 * then the lane's median hours from this stage to delivery, when the lane has at least
 * `minDeliveries` deliveries; then the carrier's over all lanes; then the promised date.
 */
export function estimateDelivery(i: EstimateInputs): Estimate | null {
  const clamp = (ms: number): Date => new Date(Math.max(ms, i.notBefore));
  if (i.carrierProvided && i.carrierProvided.getTime() >= i.notBefore) return { at: i.carrierProvided, basis: 'CARRIER_PROVIDED', samples: null };
  const base = Number(i.stage.occurredAt);
  for (const [figure, basis] of [[i.lane, 'LANE_HISTORY'], [i.carrierWide, 'CARRIER_HISTORY']] as const) {
    if (figure && figure.deliveries >= i.minDeliveries && figure.p50Hours !== null) {
      return { at: clamp(base + Math.round(figure.p50Hours * 3_600_000)), basis, samples: figure.deliveries };
    }
  }
  return i.promised ? { at: clamp(i.promised.getTime()), basis: 'PROMISED_DATE', samples: null } : null;
}
