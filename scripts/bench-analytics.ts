/**
 * carrierAnalytics latency over a million events' worth of facts (printed, not a test).
 * Usage: DATABASE_URL=postgres://… npm run bench:analytics [-- --events 1000000 --runs 30]
 *
 * Seeds, with SQL generate_series into the real tables (migrated, in a throw-away schema dropped at
 * the end; PGlite in memory without DATABASE_URL), what ingestion and the sealer keep for
 * `events` events: one shipment per 10 events (ended over the last year: 90% delivered, 6%
 * returned, 4% lost; 10 carriers × 50 merchants), two facility visits per shipment over 200
 * location codes, one batch of 1,000 per 1,000 events with its receipts (50 rows per batch), and
 * 2,000 disputes with 3 findings each. Then times the full query (every field) through the
 * service's GraphQL endpoint as the admin over the whole year, and for one carrier, next to a
 * plain `SELECT count(*)` over the shipments and over the visits as the machine's reference.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/config';
import { startLedger } from '../src/bootstrap';
import { report } from './bench/report';
import { DWELL_BUCKET_SQL, OUTCOME_SQL } from '../src/database/migrations/1764760000000-analytics';
import { closeBenchLedger } from './bench/teardown';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

const FIGURES = `ended delivered onTime late withoutPromise onTimeRate firstAttempt firstAttemptRate withException exceptionRate lost lossRate returned
  anchorLatency { events avgSeconds p50Seconds p90Seconds } disputeFindings { code count }
  estimateAtFirstScan { deliveries meanAbsoluteErrorHours withinDayShare } estimateAtOutForDelivery { deliveries meanAbsoluteErrorHours withinDayShare }`;
const QUERY = `query($from: DateTime!, $to: DateTime!, $carrier: String) { carrierAnalytics(from: $from, to: $to, carrier: $carrier) {
  rows { carrier merchant ${FIGURES} } totals { ${FIGURES} } facilities { locationCode visits avgHours p50Hours p90Hours } } }`;

const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];

async function main(): Promise<void> {
  const events = arg('events', 1_000_000);
  const runs = arg('runs', 30);
  const shipments = Math.round(events / 10);
  const batches = Math.max(1, Math.round(events / 1000));
  const database = process.env.DATABASE_URL ? 'PostgreSQL' : 'PGlite (in memory)';
  const adminKey = 'bench-admin-key-0123456789abcdef0123456789';
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-bench-analytics-'));
  const schema = `bench_analytics_${randomBytes(4).toString('hex')}`;
  const env: Record<string, string> = { PORT: '0', EMBEDDED_CHAIN_PORT: '0', DATA_DIR: dataDir, ADMIN_API_KEY: adminKey, LOG_LEVEL: 'error', RATE_LIMIT_PER_MINUTE: '1000000' };
  if (process.env.DATABASE_URL) Object.assign(env, { DATABASE_URL: process.env.DATABASE_URL, DATABASE_SCHEMA: schema });
  else env.PGLITE_IN_MEMORY = '1';
  const ledger = await startLedger(loadConfig(env));
  const db = ledger.runtime.dataSource;
  try {
    const seeding = performance.now();
    await db.query(`INSERT INTO organizations (slug, name, kind) SELECT 'bench-carrier-' || i, 'Carrier ' || i, 'CARRIER' FROM generate_series(1, 10) i`);
    await db.query(`INSERT INTO organizations (slug, name, kind) SELECT 'bench-shop-' || i, 'Shop ' || i, 'MERCHANT' FROM generate_series(1, 50) i`);
    const orgs = `c AS (SELECT array_agg(id ORDER BY slug) AS a FROM organizations WHERE slug LIKE 'bench-carrier-%'),
                  m AS (SELECT array_agg(id ORDER BY slug) AS a FROM organizations WHERE slug LIKE 'bench-shop-%')`;
    const nowMs = Date.now();
    await db.query(
      `WITH ${orgs}
       INSERT INTO shipments (carrier_id, merchant_id, tracking_number, status, event_count, destination_lat_e6, destination_lon_e6, destination_radius_m,
                              promised_delivery_at, delivered_at_ms, ended_at_ms, end_kind, first_attempt, had_exception, origin_region,
                              estimate_first_scan_at, estimate_out_for_delivery_at)
       SELECT c.a[1 + g % 10], m.a[1 + (g * 7) % 50], 'BENCH' || g, k.status, 10, 52500000, 13400000, 200,
              CASE WHEN g % 5 = 0 THEN NULL ELSE to_timestamp((e.ms + (g % 97 - 60) * 3600000) / 1000.0) END,
              CASE WHEN k.kind = 'DELIVERED' THEN e.ms END, e.ms, k.kind,
              CASE WHEN k.kind = 'DELIVERED' THEN g % 9 <> 0 END, g % 20 = 0, (g % 7) || ':' || (g % 11),
              to_timestamp((e.ms + (g % 61 - 30) * 3600000) / 1000.0), to_timestamp((e.ms + (g % 13 - 6) * 3600000) / 1000.0)
         FROM generate_series(1, $1::int) g CROSS JOIN c CROSS JOIN m
         CROSS JOIN LATERAL (SELECT $2::bigint - (g::bigint * 7919 % 364) * 86400000 - (g % 86400) * 1000 AS ms) e
         CROSS JOIN LATERAL (SELECT CASE WHEN g % 100 < 90 THEN 'DELIVERED' WHEN g % 100 < 96 THEN 'RETURNED' ELSE 'LOST' END AS kind,
                                    CASE WHEN g % 100 < 90 THEN 'DELIVERED' WHEN g % 100 < 96 THEN 'RETURN_TO_SENDER' ELSE 'LOST' END AS status) k`,
      [shipments, nowMs],
    );
    await db.query(`UPDATE shipments s SET ${OUTCOME_SQL('s.ended_at_ms', 's.end_kind', 's.estimate_first_scan_at', 's.estimate_out_for_delivery_at')} WHERE s.tracking_number LIKE 'BENCH%'`);
    await db.query(
      `INSERT INTO shipment_dwell (shipment_id, location_code, carrier_id, merchant_id, arrived_at_ms, departed_at_ms, dwell_bucket)
       SELECT s.id, 'FAC-' || ((h.v + v.n * (1 + h.v % 199)) % 200), s.carrier_id, s.merchant_id,
              s.ended_at_ms - (40 - v.n * 15) * 3600000, s.ended_at_ms - (40 - v.n * 15) * 3600000 + (h.v % 600) * 60000, ${DWELL_BUCKET_SQL('((h.v % 600) * 60000)')}
         FROM shipments s CROSS JOIN LATERAL (SELECT abs(hashtext(s.id::text)) AS v) h CROSS JOIN generate_series(0, 1) AS v(n)
        WHERE s.tracking_number LIKE 'BENCH%'`,
    );
    await db.query(
      `INSERT INTO anchor_batches (seq, root, leaf_count, status, events_root, sealed_at, anchored_at, anchor_seen_at, finalized_at)
       SELECT b, '0x' || lpad(to_hex(b), 64, '0'), 1000, 'FINAL', '0x' || lpad(to_hex(b), 64, '0'), t.at, t.at + interval '12 seconds', t.at + interval '14 seconds', t.at + interval '30 seconds'
         FROM generate_series(0, $1::int - 1) b CROSS JOIN LATERAL (SELECT to_timestamp($2::bigint / 1000.0) - (b * interval '8 hours') AS at) t`,
      [batches, nowMs],
    );
    await db.query(
      `WITH ${orgs}
       INSERT INTO batch_receipts (batch_seq, carrier_id, merchant_id, received_s, events)
       SELECT b.seq, c.a[1 + k % 10], m.a[1 + (k * 7) % 50], date_trunc('second', b.sealed_at - (k % 10) * interval '1 second'), 20
         FROM anchor_batches b CROSS JOIN generate_series(0, 49) k CROSS JOIN c CROSS JOIN m`,
    );
    await db.query(
      `WITH d AS (INSERT INTO disputes (shipment_id, claim, verdict, reasons, bundle, verification)
                  SELECT id, 'LATE', 'INCONCLUSIVE', '[]', '{}', '{}' FROM shipments WHERE tracking_number LIKE 'BENCH%' ORDER BY tracking_number LIMIT 2000 RETURNING id, shipment_id)
       INSERT INTO dispute_findings (dispute_id, shipment_id, code, severity)
       SELECT d.id, d.shipment_id, x.code, 'MEDIUM' FROM d CROSS JOIN unnest(ARRAY['LATE_SHIPMENT', 'CUSTODY_GAP', 'TIME_WENT_BACKWARDS']) AS x(code)`,
    );
    await db.query(`ANALYZE`);
    const [{ visits, receipts }] = await db.query(`SELECT (SELECT count(*) FROM shipment_dwell)::int AS visits, (SELECT sum(events) FROM batch_receipts)::bigint AS receipts`);
    console.log(`seeded ${shipments.toLocaleString('en-US')} shipments, ${Number(visits).toLocaleString('en-US')} facility visits, ${Number(receipts).toLocaleString('en-US')} event receipts in ${batches} batches, 2,000 disputes in ${((performance.now() - seeding) / 1000).toFixed(1)} s (${database})`);

    const period = { from: new Date(nowMs - 365 * 86_400_000).toISOString(), to: new Date(nowMs + 60_000).toISOString() };
    const time = async (what: () => Promise<unknown>): Promise<{ p50: number; p99: number }> => {
      await what(); // warm
      const ms: number[] = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        await what();
        ms.push(performance.now() - started);
      }
      ms.sort((a, b) => a - b);
      return { p50: quantile(ms, 0.5), p99: quantile(ms, 0.99) };
    };
    const graphql = (carrier: string | null) => async (): Promise<unknown> => {
      const res = await fetch(ledger.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` }, body: JSON.stringify({ query: QUERY, variables: { ...period, carrier } }) });
      const body = (await res.json()) as { data?: { carrierAnalytics: { totals: { ended: number } } }; errors?: unknown };
      if (body.errors) throw new Error(JSON.stringify(body.errors).slice(0, 300));
      return body.data;
    };
    const first = (await graphql(null)()) as { carrierAnalytics: { rows: unknown[]; totals: { ended: number; anchorLatency: { events: number } } } };
    console.log(`the year: ${first.carrierAnalytics.rows.length} rows, ${first.carrierAnalytics.totals.ended.toLocaleString('en-US')} ended shipments, ${first.carrierAnalytics.totals.anchorLatency.events.toLocaleString('en-US')} anchored events`);
    const countShipments = await time(() => db.query(`SELECT count(*) FROM shipments`));
    const countVisits = await time(() => db.query(`SELECT count(*) FROM shipment_dwell`));
    const all = await time(graphql(null));
    const one = await time(graphql('bench-carrier-3'));
    const reference = `plain SELECT count(*): shipments p50 ${countShipments.p50.toFixed(1)} ms, visits p50 ${countVisits.p50.toFixed(1)} ms`;
    report({ row: 'carrierAnalytics, a year, all carriers (p50)', database, value: all.p50, unit: 'ms', limit: { value: countShipments.p50 + countVisits.p50, what: 'count(*) over shipments + visits' }, goal: { value: 300, higherIsBetter: false }, note: `p99 ${all.p99.toFixed(0)} ms over ${runs} runs through GraphQL; ${events.toLocaleString('en-US')} events' worth of facts` });
    report({ row: 'carrierAnalytics, a year, one carrier (p50)', database, value: one.p50, unit: 'ms', goal: { value: 300, higherIsBetter: false }, note: `p99 ${one.p99.toFixed(0)} ms; ${reference}` });
  } finally {
    await closeBenchLedger(ledger, schema, dataDir);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
