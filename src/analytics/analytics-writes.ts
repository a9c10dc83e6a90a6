import type { QueryRunner } from 'typeorm';
import { sqlRows } from '../database/data-source';
import { DWELL_BUCKET_SQL } from '../database/migrations/1764760000000-analytics';
import type { TimelineEntry } from '../custody/custody-rules';
import { estimateDelivery, regionOf, shipmentFacts, type Place, type Estimate, type LaneFigure, type ShipmentFacts } from './shipment-facts';

/**
 * What ingestion writes for analytics and estimates, for a whole call: one read of the lane
 * figures the call's shipments need, the per-shipment facts as columns of ingestion's own
 * shipments UPDATE, one upsert of facility visits when the call may have changed any, and, when
 * the call delivered (or un-delivered) shipments, one statement for their lane samples and one
 * that refreshes the lane figures they touch. Never a statement per event or per shipment.
 */

export interface PlaceRow {
  location_code: string;
  lat_e6: number;
  lon_e6: number;
  accuracy_m: string | number;
}

export type { Place };

export const placeOf = (r: PlaceRow): Place => ({ locationCode: r.location_code, latE6: r.lat_e6, lonE6: r.lon_e6, accuracyM: Number(r.accuracy_m) });

export interface AnalyticsShipment {
  id: string;
  carrier_id: string;
  merchant_id: string | null;
  delivered_at_ms: string | null;
  promised_delivery_at: Date | null;
  carrier_estimated_delivery_at: Date | null;
  destination_lat_e6: number | null;
  destination_lon_e6: number | null;
}

export interface AnalyticsColumns {
  facts: ShipmentFacts;
  /** the live estimate; undefined: keep the stored one (the shipment ended) */
  live: Estimate | null | undefined;
  firstScan: Estimate | null;
  outForDelivery: Estimate | null;
}

const laneKey = (carrierId: string, origin: string, destination: string, stage: string): string => `${carrierId}|${origin}|${destination}|${stage}`;

/** Facts and estimates of the call's shipments; reads the lane figures they need in one statement. */
export async function analyticsColumns(
  runner: QueryRunner,
  shipments: AnalyticsShipment[],
  timelines: Map<string, TimelineEntry[]>,
  places: Map<string, Place>,
  minDeliveries: number,
  now: number,
): Promise<AnalyticsColumns[]> {
  const placeOfEvent = (eventId: string): Place | undefined => places.get(eventId);
  const all = shipments.map((s) => {
    const facts = shipmentFacts(timelines.get(s.id)!, placeOfEvent);
    return { s, facts, origin: facts.originRegion ?? '?', destination: regionOf(s.destination_lat_e6, s.destination_lon_e6) };
  });
  const wanted = new Map<string, [string, string, string, string]>();
  for (const { s, facts, origin, destination } of all) {
    for (const e of [facts.stage, facts.firstScan, facts.outForDelivery]) {
      if (!e) continue;
      wanted.set(laneKey(s.carrier_id, origin, destination, e.eventType), [s.carrier_id, origin, destination, e.eventType]);
      wanted.set(laneKey(s.carrier_id, '*', '*', e.eventType), [s.carrier_id, '*', '*', e.eventType]);
    }
  }
  const figures = new Map<string, LaneFigure>();
  if (wanted.size > 0) {
    const keys = [...wanted.values()];
    const rows = await sqlRows<{ carrier_id: string; origin_region: string; destination_region: string; stage: string; deliveries: number; p50_hours: number | null }>(
      runner,
      `SELECT l.carrier_id, l.origin_region, l.destination_region, l.stage, l.deliveries, l.p50_hours FROM lane_stats l
         JOIN unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) AS k(carrier_id, o, d, stage)
           ON l.carrier_id = k.carrier_id AND l.origin_region = k.o AND l.destination_region = k.d AND l.stage = k.stage`,
      [keys.map((k) => k[0]), keys.map((k) => k[1]), keys.map((k) => k[2]), keys.map((k) => k[3])],
    );
    for (const r of rows) figures.set(laneKey(r.carrier_id, r.origin_region, r.destination_region, r.stage), { deliveries: r.deliveries, p50Hours: r.p50_hours });
  }
  return all.map(({ s, facts, origin, destination }) => {
    const estimate = (stage: TimelineEntry | null, notBefore: number): Estimate | null =>
      stage &&
      estimateDelivery({
        stage,
        lane: figures.get(laneKey(s.carrier_id, origin, destination, stage.eventType)),
        carrierWide: figures.get(laneKey(s.carrier_id, '*', '*', stage.eventType)),
        minDeliveries,
        carrierProvided: s.carrier_estimated_delivery_at,
        promised: s.promised_delivery_at,
        notBefore,
      });
    return {
      facts,
      live: facts.endKind ? undefined : facts.stage ? estimate(facts.stage, now) : undefined,
      firstScan: estimate(facts.firstScan, Number(facts.firstScan?.occurredAt ?? 0)),
      outForDelivery: estimate(facts.outForDelivery, Number(facts.outForDelivery?.occurredAt ?? 0)),
    };
  });
}

/**
 * Facility visits, one statement: the visits that rest on an event of this call are upserted
 * (an unchanged row is not rewritten); a shipment with a correction in the call gets all its
 * visits again and loses those the timeline no longer has. `added`: the call's accepted events.
 */
export async function writeDwell(runner: QueryRunner, shipments: AnalyticsShipment[], columns: AnalyticsColumns[], added: ReadonlySet<string>, corrected: ReadonlySet<string>): Promise<void> {
  const visits = shipments.flatMap((s, i) => columns[i].facts.dwell.filter((v) => corrected.has(s.id) || added.has(v.eventIds[0]) || added.has(v.eventIds[1])).map((v) => ({ s, v })));
  if (visits.length === 0 && corrected.size === 0) return;
  await runner.query(
    `WITH u AS (SELECT * FROM unnest($2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::bigint[], $7::bigint[]) AS u(shipment_id, location_code, carrier_id, merchant_id, arrived, departed)),
          gone AS (DELETE FROM shipment_dwell d WHERE d.shipment_id = ANY($1::uuid[])
                     AND NOT EXISTS (SELECT 1 FROM u WHERE u.shipment_id = d.shipment_id AND u.location_code = d.location_code))
     INSERT INTO shipment_dwell (shipment_id, location_code, carrier_id, merchant_id, arrived_at_ms, departed_at_ms, dwell_bucket)
     SELECT u.*, ${DWELL_BUCKET_SQL('(u.departed - u.arrived)')} FROM u ORDER BY shipment_id, location_code
     ON CONFLICT (shipment_id, location_code) DO UPDATE SET arrived_at_ms = EXCLUDED.arrived_at_ms, departed_at_ms = EXCLUDED.departed_at_ms, dwell_bucket = EXCLUDED.dwell_bucket
       WHERE (shipment_dwell.arrived_at_ms, shipment_dwell.departed_at_ms) IS DISTINCT FROM (EXCLUDED.arrived_at_ms, EXCLUDED.departed_at_ms)`,
    [
      [...corrected],
      visits.map((x) => x.s.id),
      visits.map((x) => x.v.locationCode),
      visits.map((x) => x.s.carrier_id),
      visits.map((x) => x.s.merchant_id),
      visits.map((x) => x.v.arrivedAtMs.toString()),
      visits.map((x) => x.v.departedAtMs.toString()),
    ],
  );
}

/** Lane samples of shipments whose delivery changed, then the figures of every lane (and carrier) they touch. */
export async function writeLaneHistory(runner: QueryRunner, shipments: AnalyticsShipment[], columns: AnalyticsColumns[]): Promise<void> {
  const changed = shipments.flatMap((s, i) => {
    const deliveredAt = columns[i].facts.endKind === 'DELIVERED' ? columns[i].facts.endedAtMs!.toString() : null;
    return deliveredAt === s.delivered_at_ms ? [] : [{ s, facts: columns[i].facts, deliveredAt }];
  });
  if (changed.length === 0) return;
  const samples = changed.flatMap(({ s, facts, deliveredAt }) =>
    facts.samples.map((x) => ({ s, deliveredAt: deliveredAt!, stage: x.stage, hours: x.hours, origin: facts.originRegion ?? '?', destination: regionOf(s.destination_lat_e6, s.destination_lon_e6) })),
  );
  const touched = await sqlRows<{ carrier_id: string; origin_region: string; destination_region: string; stage: string }>(
    runner,
    `WITH gone AS (DELETE FROM lane_samples WHERE shipment_id = ANY($1::uuid[]) RETURNING carrier_id, origin_region, destination_region, stage),
          added AS (INSERT INTO lane_samples (shipment_id, carrier_id, origin_region, destination_region, stage, hours, delivered_at_ms)
                    SELECT * FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::float8[], $8::bigint[])
                    RETURNING carrier_id, origin_region, destination_region, stage)
     SELECT * FROM gone UNION SELECT * FROM added`,
    [
      changed.map((x) => x.s.id),
      samples.map((x) => x.s.id),
      samples.map((x) => x.s.carrier_id),
      samples.map((x) => x.origin),
      samples.map((x) => x.destination),
      samples.map((x) => x.stage),
      samples.map((x) => x.hours),
      samples.map((x) => x.deliveredAt),
    ],
  );
  const keys = new Map<string, [string, string, string, string]>();
  for (const t of touched) {
    keys.set(laneKey(t.carrier_id, t.origin_region, t.destination_region, t.stage), [t.carrier_id, t.origin_region, t.destination_region, t.stage]);
    keys.set(laneKey(t.carrier_id, '*', '*', t.stage), [t.carrier_id, '*', '*', t.stage]);
  }
  // sorted, so concurrent calls lock lane rows in one order; the latest 1,000 samples of each
  const sorted = [...keys.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, k]) => k);
  await runner.query(
    `INSERT INTO lane_stats (carrier_id, origin_region, destination_region, stage, deliveries, p50_hours, mean_hours, updated_at)
     SELECT k.carrier_id, k.o, k.d, k.stage, w.deliveries, w.p50, w.mean, now()
       FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY AS k(carrier_id, o, d, stage, n)
       CROSS JOIN LATERAL (
         SELECT count(DISTINCT x.shipment_id)::int AS deliveries, percentile_cont(0.5) WITHIN GROUP (ORDER BY x.hours) AS p50, avg(x.hours) AS mean
           FROM (SELECT l.shipment_id, l.hours FROM lane_samples l
                  WHERE k.o <> '*' AND l.carrier_id = k.carrier_id AND l.origin_region = k.o AND l.destination_region = k.d AND l.stage = k.stage
                  ORDER BY l.delivered_at_ms DESC LIMIT 1000) x
         HAVING k.o <> '*'
         UNION ALL
         SELECT count(DISTINCT x.shipment_id)::int, percentile_cont(0.5) WITHIN GROUP (ORDER BY x.hours), avg(x.hours)
           FROM (SELECT l.shipment_id, l.hours FROM lane_samples l
                  WHERE k.o = '*' AND l.carrier_id = k.carrier_id AND l.stage = k.stage
                  ORDER BY l.delivered_at_ms DESC LIMIT 1000) x
         HAVING k.o = '*') w
      ORDER BY k.n
     ON CONFLICT (carrier_id, origin_region, destination_region, stage)
     DO UPDATE SET deliveries = EXCLUDED.deliveries, p50_hours = EXCLUDED.p50_hours, mean_hours = EXCLUDED.mean_hours, updated_at = EXCLUDED.updated_at`,
    [sorted.map((k) => k[0]), sorted.map((k) => k[1]), sorted.map((k) => k[2]), sorted.map((k) => k[3])],
  );
}
