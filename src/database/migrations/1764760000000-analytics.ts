import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Carrier analytics and estimated delivery (issue 12).
 *
 * Where the facts live, and why:
 *   - **Per shipment, on `shipments` itself** (`ended_at_ms`, `end_kind`, `first_attempt`,
 *     `had_exception`, `origin_region`, the estimate columns). Ingestion already rewrites each touched
 *     shipment's row once per call, from the whole timeline, in one `UPDATE … FROM unnest`; the facts
 *     are more columns of that same statement, so they cost no statement, no round trip and no second
 *     heap tuple. A separate fact table would be one more upsert per call with its own heap and index
 *     writes. The only new index is partial (`shipments_ended`, shipments that reached a terminal
 *     event), so a moving shipment's update writes no entry in it. The analytics query reads the
 *     ended shipments of the period from it (about 100,000 rows for a million events: tens of ms).
 *   - **Per (shipment, location code)**: `shipment_dwell`, one row per facility visit with both an
 *     arrival and a departure scan, upserted by one statement in calls that carry arrivals,
 *     departures or corrections (and whose shipments' visits changed).
 *   - **Per (batch, carrier, merchant, second of receipt)**: `batch_receipts`, written by the sealer
 *     in the sealing transaction (one `INSERT … SELECT … GROUP BY` per batch, not at ingestion): how
 *     many events of a batch were received in each second. A batch is anchored at one time, so the
 *     scan-to-anchor latency of every event is `anchor_seen_at − received second` (both on the
 *     ledger's clock; the block time, `anchored_at`, for batches anchored before), and weighted
 *     percentiles over these rows are exact to the second without reading a single event.
 *   - **Lane history**: `lane_samples` (for each delivered shipment, one row per uncorrected scan
 *     before the delivery: its stage = event type, hours from it to the delivery) and `lane_stats`
 *     (per carrier, origin region, destination region, stage; and per carrier and stage over all
 *     lanes with regions `*`): deliveries, median and mean hours over the latest 1,000 samples.
 *     Both are written only in calls that deliver (or un-deliver, by correction) a shipment: two
 *     statements for the whole call.
 *   - **Fraud findings**: the detectors need the whole history, positions and key windows, which
 *     ingestion does not load, so they are not run there. Their findings are persisted where they
 *     are computed for a decision: when a dispute is opened (`dispute_findings`, written in the same
 *     statement as the dispute). Analytics counts the findings of disputes opened in the period.
 *
 * Existing ledgers are back-filled here, in SQL, with the same definitions as ingestion.
 */
/**
 * A visit's dwell bucket: floor(20 × ln(1 + minutes)), buckets about 5% wide, so dwell percentiles
 * come from a hash aggregate over (location, bucket) instead of a sort of every visit (README).
 */
export const DWELL_BUCKET_SQL = (ms: string): string => `floor(20 * ln(1 + ${ms}::float8 / 60000))::smallint`;

/**
 * The per-shipment outcome columns the analytics query counts, computed when they change (at
 * ingestion, and when the promise changes) instead of on every read: on time against the promise,
 * and each kept estimate's error and same-day hit for a delivered shipment.
 */
export const OUTCOME_SQL = (ended: string, kind: string, first: string, ofd: string): string => {
  const delivered = `${kind} = 'DELIVERED'`;
  const error = (estimate: string): string => `CASE WHEN ${delivered} AND ${estimate} IS NOT NULL THEN abs(${ended} - (extract(epoch FROM ${estimate}) * 1000)::bigint) END`;
  const sameDay = (estimate: string): string =>
    `CASE WHEN ${delivered} AND ${estimate} IS NOT NULL THEN (to_timestamp(${ended} / 1000.0) AT TIME ZONE 'UTC')::date = (${estimate} AT TIME ZONE 'UTC')::date END`;
  return `on_time = CASE WHEN ${delivered} AND s.promised_delivery_at IS NOT NULL THEN ${ended} <= extract(epoch FROM s.promised_delivery_at) * 1000 END,
          first_error_ms = ${error(first)}, first_same_day = ${sameDay(first)}, ofd_error_ms = ${error(ofd)}, ofd_same_day = ${sameDay(ofd)}`;
};

export class Analytics1764760000000 implements MigrationInterface {
  name = 'Analytics1764760000000';

  public async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE shipments
      ADD COLUMN carrier_estimated_delivery_at timestamptz,
      ADD COLUMN estimate_basis text CHECK (estimate_basis IN ('LANE_HISTORY','CARRIER_HISTORY','PROMISED_DATE','CARRIER_PROVIDED')),
      ADD COLUMN estimate_samples integer,
      ADD COLUMN estimate_first_scan_at timestamptz,
      ADD COLUMN estimate_out_for_delivery_at timestamptz,
      ADD COLUMN origin_region text,
      ADD COLUMN ended_at_ms bigint,
      ADD COLUMN end_kind text CHECK (end_kind IN ('DELIVERED','RETURNED','LOST')),
      ADD COLUMN first_attempt boolean,
      ADD COLUMN had_exception boolean NOT NULL DEFAULT false,
      ADD COLUMN on_time boolean,
      ADD COLUMN first_error_ms bigint,
      ADD COLUMN first_same_day boolean,
      ADD COLUMN ofd_error_ms bigint,
      ADD COLUMN ofd_same_day boolean`);
    await q.query(`CREATE INDEX shipments_ended ON shipments (ended_at_ms) WHERE ended_at_ms IS NOT NULL`);
    await q.query(`CREATE TABLE shipment_dwell (
      shipment_id uuid NOT NULL REFERENCES shipments(id),
      location_code text NOT NULL,
      carrier_id uuid NOT NULL,
      merchant_id uuid,
      arrived_at_ms bigint NOT NULL,
      departed_at_ms bigint NOT NULL,
      dwell_bucket smallint NOT NULL,
      PRIMARY KEY (shipment_id, location_code)
    )`);
    await q.query(`CREATE INDEX shipment_dwell_departed ON shipment_dwell (departed_at_ms)`);
    await q.query(`CREATE TABLE batch_receipts (
      batch_seq bigint NOT NULL,
      carrier_id uuid NOT NULL,
      merchant_id uuid,
      received_s timestamptz NOT NULL,
      events integer NOT NULL CHECK (events > 0)
    )`);
    // when the ledger saw the batch mined, on its own clock (received_at's): a chain's block time can run behind or ahead
    await q.query(`ALTER TABLE anchor_batches ADD COLUMN anchor_seen_at timestamptz`);
    await q.query(`CREATE INDEX batch_receipts_received ON batch_receipts (received_s)`);
    await q.query(`CREATE INDEX batch_receipts_batch ON batch_receipts (batch_seq)`);
    await q.query(`CREATE TABLE lane_samples (
      shipment_id uuid NOT NULL,
      carrier_id uuid NOT NULL,
      origin_region text NOT NULL,
      destination_region text NOT NULL,
      stage text NOT NULL,
      hours float8 NOT NULL,
      delivered_at_ms bigint NOT NULL
    )`);
    await q.query(`CREATE INDEX lane_samples_lane ON lane_samples (carrier_id, origin_region, destination_region, stage, delivered_at_ms DESC)`);
    await q.query(`CREATE INDEX lane_samples_carrier ON lane_samples (carrier_id, stage, delivered_at_ms DESC)`);
    await q.query(`CREATE INDEX lane_samples_shipment ON lane_samples (shipment_id)`);
    await q.query(`CREATE TABLE lane_stats (
      carrier_id uuid NOT NULL,
      origin_region text NOT NULL,
      destination_region text NOT NULL,
      stage text NOT NULL,
      deliveries integer NOT NULL,
      p50_hours float8,
      mean_hours float8,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (carrier_id, origin_region, destination_region, stage)
    )`);
    await q.query(`CREATE TABLE dispute_findings (
      dispute_id uuid NOT NULL REFERENCES disputes(id) ON DELETE CASCADE,
      shipment_id uuid NOT NULL,
      code text NOT NULL,
      severity text NOT NULL
    )`);
    await q.query(`CREATE INDEX dispute_findings_dispute ON dispute_findings (dispute_id)`);

    // ---- back-fill, the same definitions as ingestion (src/analytics/shipment-facts.ts) ----
    await q.query(`UPDATE shipments SET carrier_estimated_delivery_at = estimated_delivery_at, estimate_basis = 'CARRIER_PROVIDED' WHERE estimated_delivery_at IS NOT NULL`);
    await q.query(`UPDATE shipments SET estimated_delivery_at = promised_delivery_at, estimate_basis = 'PROMISED_DATE' WHERE estimated_delivery_at IS NULL AND promised_delivery_at IS NOT NULL`);
    // uncorrected events (corrections themselves excluded), in timeline order
    await q.query(`CREATE TEMPORARY TABLE analytics_timeline ON COMMIT DROP AS
      SELECT e.id, e.shipment_id, e.event_type, e.occurred_at_ms, e.location_code, e.lat_e6, e.lon_e6, e.accuracy_m
        FROM custody_events e
       WHERE e.event_type <> 'CORRECTION' AND NOT EXISTS (SELECT 1 FROM custody_events c WHERE c.corrects_event_id = e.event_id)`);
    await q.query(`UPDATE shipments s SET ended_at_ms = t.occurred_at_ms,
             end_kind = CASE WHEN t.event_type IN ('DELIVERED','COLLECTED_FROM_LOCKER') THEN 'DELIVERED' WHEN t.event_type = 'LOST' THEN 'LOST' ELSE 'RETURNED' END,
             first_attempt = CASE WHEN t.event_type IN ('DELIVERED','COLLECTED_FROM_LOCKER')
               THEN NOT EXISTS (SELECT 1 FROM analytics_timeline a WHERE a.shipment_id = s.id AND a.event_type = 'DELIVERY_ATTEMPTED' AND (a.occurred_at_ms, a.id) < (t.occurred_at_ms, t.id)) END
        FROM (SELECT DISTINCT ON (shipment_id) * FROM analytics_timeline WHERE event_type IN ('DELIVERED','COLLECTED_FROM_LOCKER','RETURNED_TO_SENDER','LOST') ORDER BY shipment_id, occurred_at_ms, id) t
       WHERE t.shipment_id = s.id`);
    await q.query(`UPDATE shipments s SET ${OUTCOME_SQL('s.ended_at_ms', 's.end_kind', 's.estimate_first_scan_at', 's.estimate_out_for_delivery_at')}`);
    await q.query(`UPDATE shipments s SET had_exception = true WHERE EXISTS (SELECT 1 FROM analytics_timeline a WHERE a.shipment_id = s.id AND a.event_type = 'EXCEPTION')`);
    await q.query(`UPDATE shipments s SET origin_region = t.region
        FROM (SELECT DISTINCT ON (shipment_id) shipment_id, floor(lat_e6 / 1000000.0)::int || ':' || floor(lon_e6 / 1000000.0)::int AS region
                FROM analytics_timeline WHERE accuracy_m > 0 ORDER BY shipment_id, occurred_at_ms, id) t
       WHERE t.shipment_id = s.id`);
    // a visit: the first arrival at a location code, and the first departure from it at or after that arrival
    await q.query(`INSERT INTO shipment_dwell (shipment_id, location_code, carrier_id, merchant_id, arrived_at_ms, departed_at_ms, dwell_bucket)
      SELECT a.shipment_id, a.location_code, s.carrier_id, s.merchant_id, a.occurred_at_ms, d.occurred_at_ms, ${DWELL_BUCKET_SQL('(d.occurred_at_ms - a.occurred_at_ms)')}
        FROM (SELECT DISTINCT ON (shipment_id, location_code) * FROM analytics_timeline WHERE event_type = 'ARRIVED_AT_FACILITY' AND location_code <> '' ORDER BY shipment_id, location_code, occurred_at_ms, id) a
        JOIN shipments s ON s.id = a.shipment_id
        CROSS JOIN LATERAL (SELECT x.occurred_at_ms FROM analytics_timeline x WHERE x.shipment_id = a.shipment_id AND x.location_code = a.location_code AND x.event_type = 'DEPARTED_FACILITY'
                              AND (x.occurred_at_ms, x.id) > (a.occurred_at_ms, a.id) ORDER BY x.occurred_at_ms, x.id LIMIT 1) d`);
    await q.query(`INSERT INTO lane_samples (shipment_id, carrier_id, origin_region, destination_region, stage, hours, delivered_at_ms)
      SELECT s.id, s.carrier_id, coalesce(s.origin_region, '?'),
             CASE WHEN s.destination_lat_e6 IS NULL THEN '?' ELSE floor(s.destination_lat_e6 / 1000000.0)::int || ':' || floor(s.destination_lon_e6 / 1000000.0)::int END,
             a.event_type, (s.ended_at_ms - a.occurred_at_ms) / 3600000.0, s.ended_at_ms
        FROM shipments s JOIN analytics_timeline a ON a.shipment_id = s.id
       WHERE s.end_kind = 'DELIVERED' AND a.event_type NOT IN ('EXCEPTION','DELIVERED','COLLECTED_FROM_LOCKER','RETURNED_TO_SENDER','LOST') AND a.occurred_at_ms <= s.ended_at_ms`);
    for (const lanes of [`origin_region, destination_region`, `'*', '*'`]) {
      await q.query(`INSERT INTO lane_stats (carrier_id, origin_region, destination_region, stage, deliveries, p50_hours, mean_hours)
        SELECT carrier_id, ${lanes}, stage, count(DISTINCT shipment_id)::int, percentile_cont(0.5) WITHIN GROUP (ORDER BY hours), avg(hours)
          FROM (SELECT l.*, row_number() OVER (PARTITION BY carrier_id, ${lanes === `'*', '*'` ? '' : 'origin_region, destination_region, '}stage ORDER BY delivered_at_ms DESC) AS n FROM lane_samples l) w
         WHERE n <= 1000 GROUP BY carrier_id, ${lanes === `'*', '*'` ? '' : 'origin_region, destination_region, '}stage`);
    }
    await q.query(`INSERT INTO batch_receipts (batch_seq, carrier_id, merchant_id, received_s, events)
      SELECT e.batch_seq, s.carrier_id, s.merchant_id, date_trunc('second', e.received_at), count(*)::int
        FROM custody_events e JOIN shipments s ON s.id = e.shipment_id WHERE e.batch_seq IS NOT NULL
       GROUP BY 1, 2, 3, 4`);
    await q.query(`INSERT INTO dispute_findings (dispute_id, shipment_id, code, severity)
      SELECT d.id, d.shipment_id, f->>'code', f->>'severity' FROM disputes d CROSS JOIN LATERAL jsonb_array_elements(coalesce(d.bundle->'findings', '[]'::jsonb)) f`);
  }

  public async down(q: QueryRunner): Promise<void> {
    for (const table of ['dispute_findings', 'lane_stats', 'lane_samples', 'batch_receipts', 'shipment_dwell']) await q.query(`DROP TABLE ${table}`);
    await q.query(`DROP INDEX shipments_ended`);
    await q.query(`ALTER TABLE anchor_batches DROP COLUMN anchor_seen_at`);
    // the carrier's own estimate goes back where it was kept before
    await q.query(`UPDATE shipments SET estimated_delivery_at = carrier_estimated_delivery_at`);
    await q.query(`ALTER TABLE shipments DROP COLUMN on_time, DROP COLUMN first_error_ms, DROP COLUMN first_same_day, DROP COLUMN ofd_error_ms, DROP COLUMN ofd_same_day`);
    await q.query(`ALTER TABLE shipments DROP COLUMN carrier_estimated_delivery_at, DROP COLUMN estimate_basis, DROP COLUMN estimate_samples, DROP COLUMN estimate_first_scan_at,
      DROP COLUMN estimate_out_for_delivery_at, DROP COLUMN origin_region, DROP COLUMN ended_at_ms, DROP COLUMN end_kind, DROP COLUMN first_attempt, DROP COLUMN had_exception`);
  }
}
