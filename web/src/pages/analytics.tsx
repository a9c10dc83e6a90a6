import { useEffect, useState } from 'preact/hooks';
import { ApiError, gql, type Viewer } from '../api';
import type { CarrierAnalyticsResult, CarrierAnalyticsRowResult } from '../../../src/analytics/analytics.resolver';
import { BarChart } from '../components/bar-chart';
import { Loading, Problem } from '../components/layout';
import { hours, percent } from '../format';
import { navigate } from '../router';

const ACCURACY = `deliveries meanAbsoluteErrorHours withinDayShare`;
const FIGURES = `ended delivered onTime late withoutPromise onTimeRate firstAttempt firstAttemptRate withException exceptionRate lost lossRate returned
  anchorLatency { events avgSeconds p50Seconds p90Seconds } disputeFindings { code count }
  estimateAtFirstScan { ${ACCURACY} } estimateAtOutForDelivery { ${ACCURACY} }`;
const QUERY = `query($from: DateTime!, $to: DateTime!, $carrier: String, $merchant: String) {
  carrierAnalytics(from: $from, to: $to, carrier: $carrier, merchant: $merchant) {
    from to rows { carrier merchant ${FIGURES} } totals { ${FIGURES} } facilities { locationCode visits avgHours p50Hours p90Hours } } }`;

const DAY = 86_400_000;
const isoDay = (d: Date): string => d.toISOString().slice(0, 10);
const rowName = (r: CarrierAnalyticsRowResult): string => `${r.carrier} · ${r.merchant ?? 'no merchant'}`;

/** Carriers compared over a period: every figure from carrierAnalytics (SQL aggregates over the ledger). */
export function AnalyticsPage({ viewer }: { viewer: Viewer }) {
  const params = new URLSearchParams(location.search);
  const today = new Date();
  const from = params.get('from') ?? isoDay(new Date(today.getTime() - 30 * DAY));
  const to = params.get('to') ?? isoDay(new Date(today.getTime() + DAY));
  const carrier = params.get('carrier') ?? '';
  const merchant = params.get('merchant') ?? '';
  const [form, setForm] = useState({ from, to, carrier, merchant });
  const [data, setData] = useState<CarrierAnalyticsResult | null>(null);
  const [error, setError] = useState<ApiError | null>(null);

  useEffect(() => {
    setData(null);
    setError(null);
    gql<{ carrierAnalytics: CarrierAnalyticsResult }>(QUERY, { from: `${from}T00:00:00Z`, to: `${to}T00:00:00Z`, carrier: carrier || null, merchant: merchant || null }).then(
      (d) => setData(d.carrierAnalytics),
      (e: ApiError) => setError(e),
    );
  }, [from, to, carrier, merchant]);

  const apply = (event: Event): void => {
    event.preventDefault();
    const q = new URLSearchParams(Object.entries(form).filter(([, v]) => v));
    navigate(`/app/analytics?${q.toString()}`);
  };
  const field = (name: keyof typeof form) => ({ id: `analytics-${name}`, value: form[name], onInput: (e: Event) => setForm({ ...form, [name]: (e.target as HTMLInputElement).value }) });

  return (
    <>
      <h1>Carrier analytics</h1>
      <form class="row card" onSubmit={apply} aria-label="Period and filters">
        <div>
          <label for="analytics-from">From</label>
          <input type="date" {...field('from')} required />
        </div>
        <div>
          <label for="analytics-to">To (exclusive)</label>
          <input type="date" {...field('to')} required />
        </div>
        <div>
          <label for="analytics-carrier">Carrier</label>
          <input {...field('carrier')} placeholder={viewer.role === 'CARRIER' ? (viewer.organization ?? '') : 'all'} />
        </div>
        <div>
          <label for="analytics-merchant">Merchant</label>
          <input {...field('merchant')} placeholder={viewer.role === 'MERCHANT' ? (viewer.organization ?? '') : 'all'} />
        </div>
        <button type="submit">Show</button>
      </form>
      {error ? <Problem error={error} /> : !data ? <Loading what="analytics" /> : <Figures data={data} />}
    </>
  );
}

function Figures({ data }: { data: CarrierAnalyticsResult }) {
  const t = data.totals;
  const rows = data.rows;
  const rate = (pick: (r: CarrierAnalyticsRowResult) => number | null) => rows.filter((r) => pick(r) !== null).map((r) => ({ label: rowName(r), value: pick(r)!, display: percent(pick(r)) }));
  return (
    <>
      <section aria-labelledby="totals-heading">
        <h2 id="totals-heading">All carriers and merchants in view</h2>
        <div class="tiles">
          <Tile label="Shipments ended" value={String(t.ended)} />
          <Tile label="On time" value={percent(t.onTimeRate)} />
          <Tile label="First attempt" value={percent(t.firstAttemptRate)} />
          <Tile label="Exceptions" value={percent(t.exceptionRate)} />
          <Tile label="Lost" value={percent(t.lossRate)} />
          <Tile label="Scan to anchor, p50" value={t.anchorLatency.p50Seconds === null ? '—' : `${Math.round(t.anchorLatency.p50Seconds)} s`} />
        </div>
      </section>
      <section aria-labelledby="delivery-heading">
        <h2 id="delivery-heading">Delivery performance</h2>
        <div class="grid two">
          <BarChart title="On-time rate against the promised date" bars={rate((r) => r.onTimeRate)} max={1} />
          <BarChart title="First-attempt delivery rate" bars={rate((r) => r.firstAttemptRate)} max={1} />
          <BarChart title="Exception rate" bars={rate((r) => r.exceptionRate)} max={1} />
          <BarChart title="Loss rate" bars={rate((r) => r.lossRate)} max={1} />
        </div>
      </section>
      <section aria-labelledby="dwell-heading">
        <h2 id="dwell-heading">Dwell time per facility</h2>
        <BarChart title="Median dwell (pale: 90th percentile)" unit="hours" bars={data.facilities.slice(0, 15).map((f) => ({ label: f.locationCode, value: f.p50Hours, behind: f.p90Hours, display: `${hours(f.p50Hours)} / ${hours(f.p90Hours)} · ${f.visits} visits` }))} />
      </section>
      <section aria-labelledby="latency-heading">
        <h2 id="latency-heading">Scan to anchor</h2>
        <BarChart
          title="Seconds from the ledger's receipt of a scan to its batch on chain (pale: 90th percentile)"
          unit="seconds, median"
          bars={rows.filter((r) => r.anchorLatency.p50Seconds !== null).map((r) => ({ label: rowName(r), value: r.anchorLatency.p50Seconds!, behind: r.anchorLatency.p90Seconds ?? undefined, display: `${Math.round(r.anchorLatency.p50Seconds!)} s / ${Math.round(r.anchorLatency.p90Seconds ?? 0)} s` }))}
        />
      </section>
      <section aria-labelledby="findings-heading">
        <h2 id="findings-heading">Fraud findings by code</h2>
        <BarChart title="Findings of the disputes opened in the period" bars={t.disputeFindings.map((f) => ({ label: f.code, value: f.count, display: String(f.count) }))} />
      </section>
      <section aria-labelledby="estimates-heading">
        <h2 id="estimates-heading">How good the estimates were</h2>
        <div class="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Estimate made</th>
                <th scope="col">Deliveries</th>
                <th scope="col">Mean absolute error</th>
                <th scope="col">Delivered on the estimated day</th>
              </tr>
            </thead>
            <tbody>
              {(
                [
                  ['after the first scan', t.estimateAtFirstScan],
                  ['when out for delivery', t.estimateAtOutForDelivery],
                ] as const
              ).map(([when, a]) => (
                <tr key={when}>
                  <th scope="row">{when}</th>
                  <td>{a.deliveries}</td>
                  <td>{hours(a.meanAbsoluteErrorHours)}</td>
                  <td>{percent(a.withinDayShare)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="rows-heading">
        <h2 id="rows-heading">Per carrier and merchant</h2>
        <div class="table-scroll">
          <table>
            <thead>
              <tr>
                <th scope="col">Carrier · merchant</th>
                <th scope="col">Ended</th>
                <th scope="col">Delivered</th>
                <th scope="col">On time</th>
                <th scope="col">First attempt</th>
                <th scope="col">Exceptions</th>
                <th scope="col">Lost</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={rowName(r)} data-row={rowName(r)}>
                  <th scope="row">{rowName(r)}</th>
                  <td>{r.ended}</td>
                  <td>{r.delivered}</td>
                  <td>{percent(r.onTimeRate)}</td>
                  <td>{percent(r.firstAttemptRate)}</td>
                  <td>{percent(r.exceptionRate)}</td>
                  <td>{percent(r.lossRate)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </>
  );
}

function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div class="tile">
      <span class="value">{value}</span>
      <span class="muted small">{label}</span>
    </div>
  );
}
