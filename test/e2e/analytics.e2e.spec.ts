import type { Wallet } from 'ethers';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { MIGRATIONS, sqlRows } from '../../src/database/data-source';
import { Analytics1764760000000 } from '../../src/database/migrations/1764760000000-analytics';
import type { CarrierAnalyticsResult } from '../../src/analytics/analytics.resolver';
import { startTestLedger, eventually, type TestLedger } from '../support/test-ledger';
import { fetchDomain, mustGql, newWallet, registerKey, registerOrganization } from '../support/factories';
import { HOUR, runJourney } from '../support/journeys';

const FIGURES = `ended delivered onTime late withoutPromise onTimeRate firstAttempt firstAttemptRate withException exceptionRate lost lossRate returned
  anchorLatency { events avgSeconds p50Seconds p90Seconds } disputeFindings { code count }
  estimateAtFirstScan { deliveries meanAbsoluteErrorHours withinDayShare } estimateAtOutForDelivery { deliveries meanAbsoluteErrorHours withinDayShare }`;
const QUERY = `query($from: DateTime!, $to: DateTime!, $carrier: String, $merchant: String) {
  carrierAnalytics(from: $from, to: $to, carrier: $carrier, merchant: $merchant) {
    from to rows { carrier merchant ${FIGURES} } totals { ${FIGURES} } facilities { locationCode visits avgHours p50Hours p90Hours } } }`;

describe('carrier analytics: known journeys give exactly the expected figures, per role', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let acme: Wallet;
  let rival: Wallet;
  const keys: Record<string, string> = {};
  // the start of a UTC day ten days ago, so "the estimate's day" is known
  const t0 = Math.floor((Date.now() - 10 * 86_400_000) / 86_400_000) * 86_400_000;
  const at = (h: number): number => t0 + h * HOUR;
  const period = { from: new Date(t0 - 86_400_000).toISOString(), to: new Date(Date.now() + HOUR).toISOString() };
  const events = { count: 0 };

  async function analytics(who: string, vars: Record<string, unknown> = {}): Promise<{ data?: { carrierAnalytics: CarrierAnalyticsResult }; errors?: Array<{ message: string; extensions: { code: string } }> }> {
    return (await t.gql<{ carrierAnalytics: CarrierAnalyticsResult }>(QUERY, { ...period, ...vars }, keys[who] ?? true)) as never;
  }
  async function must(who: string, vars: Record<string, unknown> = {}): Promise<CarrierAnalyticsResult> {
    const res = await analytics(who, vars);
    if (res.errors) throw new Error(JSON.stringify(res.errors));
    return res.data!.carrierAnalytics;
  }
  async function key(organization: string | null, role: string): Promise<string> {
    const d = await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization, role, label: `${role} key` } });
    return d.createApiKey.key;
  }

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    for (const [slug, kind] of [['shop-one', 'MERCHANT'], ['shop-two', 'MERCHANT'], ['acme-express', 'CARRIER'], ['rival-post', 'CARRIER'], ['berlin-hub', 'HUB'], ['audit-co', 'AUDITOR']]) await registerOrganization(t, slug, kind);
    acme = await registerKey(t, 'acme-express', newWallet(), new Date(t0 - 86_400_000));
    rival = await registerKey(t, 'rival-post', newWallet(), new Date(t0 - 86_400_000));
    keys.acme = await key('acme-express', 'CARRIER');
    keys.rival = await key('rival-post', 'CARRIER');
    keys.shopOne = await key('shop-one', 'MERCHANT');
    keys.shopTwo = await key('shop-two', 'MERCHANT');
    keys.hub = await key('berlin-hub', 'CARRIER');
    keys.auditor = await key('audit-co', 'AUDITOR');
    keys.analyst = await key(null, 'DISPUTE_ANALYST');
    keys.acmeAnalyst = await key('acme-express', 'DISPUTE_ANALYST');
    const promised = new Date(at(30));
    const base = { carrier: 'acme-express', merchant: 'shop-one' };
    const journeys = [
      // on time; dwell 3 h at LOC-A and 1 h at LOC-B
      { ...base, tracking: 'AN-ONTIME', promisedDeliveryAt: promised, steps: [
        { type: 'PICKED_UP', at: at(0) }, { type: 'ARRIVED_AT_FACILITY', at: at(2), locationCode: 'LOC-A' }, { type: 'DEPARTED_FACILITY', at: at(5), locationCode: 'LOC-A' },
        { type: 'ARRIVED_AT_FACILITY', at: at(10), locationCode: 'LOC-B' }, { type: 'DEPARTED_FACILITY', at: at(11), locationCode: 'LOC-B' },
        { type: 'OUT_FOR_DELIVERY', at: at(20) }, { type: 'DELIVERED', at: at(24) }] },
      // late; dwell 1 h at LOC-A
      { ...base, tracking: 'AN-LATE', promisedDeliveryAt: promised, steps: [
        { type: 'PICKED_UP', at: at(0) }, { type: 'ARRIVED_AT_FACILITY', at: at(1), locationCode: 'LOC-A' }, { type: 'DEPARTED_FACILITY', at: at(2), locationCode: 'LOC-A' },
        { type: 'OUT_FOR_DELIVERY', at: at(40) }, { type: 'DELIVERED', at: at(48) }] },
      // a failed attempt, then delivered; no promise
      { ...base, tracking: 'AN-RETRY', steps: [
        { type: 'PICKED_UP', at: at(0) }, { type: 'OUT_FOR_DELIVERY', at: at(20) }, { type: 'DELIVERY_ATTEMPTED', at: at(21) }, { type: 'OUT_FOR_DELIVERY', at: at(44) }, { type: 'DELIVERED', at: at(45) }] },
      // an exception, then returned to the merchant
      { ...base, tracking: 'AN-EXCEPTION', steps: [{ type: 'PICKED_UP', at: at(0) }, { type: 'EXCEPTION', at: at(5) }, { type: 'RETURNED_TO_SENDER', at: at(30) }] },
      // lost after arriving at LOC-B (an arrival without departure is no visit)
      { ...base, tracking: 'AN-LOST', steps: [{ type: 'PICKED_UP', at: at(0) }, { type: 'ARRIVED_AT_FACILITY', at: at(3), locationCode: 'LOC-B' }, { type: 'LOST', at: at(50) }] },
    ];
    for (const j of journeys) await runJourney(t, domain, acme, j);
    // another carrier's shipment for another merchant, on time
    await runJourney(t, domain, rival, { tracking: 'RV-ONTIME', carrier: 'rival-post', merchant: 'shop-two', promisedDeliveryAt: promised, steps: [
      { type: 'PICKED_UP', at: at(0) }, { type: 'ARRIVED_AT_FACILITY', at: at(1), locationCode: 'LOC-R' }, { type: 'DEPARTED_FACILITY', at: at(7), locationCode: 'LOC-R' },
      { type: 'OUT_FOR_DELIVERY', at: at(8) }, { type: 'DELIVERED', at: at(9) }] });
    events.count = journeys.reduce((n, j) => n + j.steps.length, 0) + 5;
  });

  afterAll(async () => {
    await t?.stop();
  });

  it("gives the admin every carrier's rows, with exactly the seeded outcomes", async () => {
    const a = await must('admin');
    expect(a.rows.map((r) => [r.carrier, r.merchant])).toEqual([['acme-express', 'shop-one'], ['rival-post', 'shop-two']]);
    const acmeRow = a.rows[0];
    expect(acmeRow).toMatchObject({ ended: 5, delivered: 3, onTime: 1, late: 1, withoutPromise: 1, onTimeRate: 0.5, firstAttempt: 2, withException: 1, exceptionRate: 0.2, lost: 1, lossRate: 0.2, returned: 1 });
    expect(acmeRow.firstAttemptRate).toBeCloseTo(2 / 3, 10);
    expect(a.rows[1]).toMatchObject({ ended: 1, delivered: 1, onTime: 1, late: 0, onTimeRate: 1, firstAttempt: 1, withException: 0, lost: 0 });
    expect(a.totals).toMatchObject({ ended: 6, delivered: 4, onTime: 2, late: 1, withoutPromise: 1, firstAttempt: 3, withException: 1, lost: 1, returned: 1 });
    expect(a.totals.onTimeRate).toBeCloseTo(2 / 3, 10);
  });

  it('follows a changed promise: on time or late is judged against the promise as it stands', async () => {
    const update = (promised: number) => mustGql(t, `mutation($i: UpdateShipmentInput!) { updateShipment(input: $i) { id } }`, { i: { trackingNumber: 'AN-LATE', carrier: 'acme-express', promisedDeliveryAt: new Date(promised).toISOString() } });
    await update(at(50));
    expect((await must('admin', { carrier: 'acme-express' })).totals).toMatchObject({ onTime: 2, late: 0, onTimeRate: 1 });
    await update(at(30));
    expect((await must('admin', { carrier: 'acme-express' })).totals).toMatchObject({ onTime: 1, late: 1, onTimeRate: 0.5 });
  });

  it('measures dwell per facility from the first arrival to the departure at the same location code', async () => {
    const a = await must('admin');
    const by = Object.fromEntries(a.facilities.map((f) => [f.locationCode, f]));
    expect(Object.keys(by).sort()).toEqual(['LOC-A', 'LOC-B', 'LOC-R']);
    // the average is exact; percentiles are nearest-rank dwell buckets, each within 2.5% of the visits in it
    const near = (hours: number, expected: number): void => expect(Math.abs(hours * 60 + 1) / (expected * 60 + 1)).toBeCloseTo(1, 1);
    expect(by['LOC-A']).toMatchObject({ visits: 2, avgHours: 2 });
    near(by['LOC-A'].p50Hours, 1);
    near(by['LOC-A'].p90Hours, 3);
    expect(by['LOC-A'].p90Hours).toBeGreaterThan(by['LOC-A'].p50Hours * 2.5);
    expect(by['LOC-B']).toMatchObject({ visits: 1, avgHours: 1 });
    near(by['LOC-B'].p50Hours, 1);
    expect(by['LOC-B'].p90Hours).toBe(by['LOC-B'].p50Hours);
    expect(by['LOC-R']).toMatchObject({ visits: 1, avgHours: 6 });
    near(by['LOC-R'].p90Hours, 6);
  });

  it('scores the estimates made at the first scan and at out-for-delivery against the deliveries', async () => {
    const row = (await must('admin')).rows[0];
    // promise at t0+30h: on-time delivered at +24h (same day) → 6 h; late at +48h (next day) → 18 h
    expect(row.estimateAtFirstScan).toEqual({ deliveries: 2, meanAbsoluteErrorHours: 12, withinDayShare: 0.5 });
    // at out-for-delivery the late one's promise had passed: estimate = that scan (+40 h) → 8 h off
    expect(row.estimateAtOutForDelivery).toEqual({ deliveries: 2, meanAbsoluteErrorHours: 7, withinDayShare: 0.5 });
  });

  it('measures scan-to-anchor latency of every sealed and anchored event, and counts dispute findings by code', async () => {
    expect((await must('admin')).totals.anchorLatency.events).toBe(0);
    await mustGql(t, `mutation { sealBatch { seq } }`);
    await eventually(async () => ((await must('admin')).totals.anchorLatency.events > 0 ? true : undefined), 30_000, 'the batch anchored');
    const latency = (await must('admin')).totals.anchorLatency;
    expect(latency.events).toBe(events.count);
    expect(latency.p50Seconds).toBeGreaterThanOrEqual(0);
    expect(latency.p90Seconds).toBeGreaterThanOrEqual(latency.p50Seconds!);
    expect(latency.p90Seconds).toBeLessThan(120);

    await mustGql(t, `mutation { openDispute(trackingNumber: "AN-LATE", carrier: "acme-express", claim: LATE, note: "two days late") { id } }`);
    const stored = await sqlRows<{ code: string }>(t.ledger.runtime.dataSource, `SELECT f->>'code' AS code FROM disputes d, jsonb_array_elements(d.bundle->'findings') f`);
    expect(stored.length).toBeGreaterThan(0);
    const expected: Record<string, number> = {};
    for (const s of stored) expected[s.code] = (expected[s.code] ?? 0) + 1;
    const a = await must('admin');
    expect(Object.fromEntries(a.totals.disputeFindings.map((f) => [f.code, f.count]))).toEqual(expected);
    expect(a.rows[0].disputeFindings).toEqual(a.totals.disputeFindings);
    expect(a.rows[1].disputeFindings).toEqual([]);
  });

  it('gives a carrier only its own figures, a merchant only its own, and refuses the rest', async () => {
    const own = await must('acme');
    expect(own.rows.map((r) => r.carrier)).toEqual(['acme-express']);
    expect(own.totals.delivered).toBe(3);
    expect(own.facilities.map((f) => f.locationCode).sort()).toEqual(['LOC-A', 'LOC-B']);
    expect((await must('acmeAnalyst')).totals.delivered).toBe(3);
    expect((await must('rival')).totals).toMatchObject({ delivered: 1, onTime: 1 });
    expect((await must('shopTwo')).rows.map((r) => [r.carrier, r.merchant])).toEqual([['rival-post', 'shop-two']]);
    expect((await must('shopOne', { carrier: 'rival-post' })).rows).toEqual([]);
    expect((await must('analyst')).totals.delivered).toBe(4);
    expect((await must('admin', { carrier: 'rival-post' })).totals.delivered).toBe(1);
    expect((await must('admin', { merchant: 'shop-one' })).totals.delivered).toBe(3);

    const refused = async (who: string, vars: Record<string, unknown>, code: string, field?: string): Promise<void> => {
      const res = await analytics(who, vars);
      expect(res.data ?? null).toBeNull();
      expect(res.errors![0].extensions).toMatchObject({ code, ...(field ? { field } : {}) });
    };
    await refused('acme', { carrier: 'rival-post' }, 'FORBIDDEN', 'carrier');
    await refused('shopOne', { merchant: 'shop-two' }, 'FORBIDDEN', 'merchant');
    await refused('hub', {}, 'FORBIDDEN');
    await refused('auditor', {}, 'FORBIDDEN');
    await refused('admin', { carrier: 'no-such-carrier' }, 'NOT_FOUND', 'carrier');
    await refused('admin', { carrier: 'shop-one' }, 'NOT_FOUND', 'carrier');
  });

  it('back-fills the same facts from the stored events when the migration runs on an existing ledger (undone and run again)', async () => {
    const ds = t.ledger.runtime.dataSource;
    const facts = async (): Promise<unknown[]> =>
      Promise.all([
        sqlRows(ds, `SELECT tracking_number, ended_at_ms, end_kind, first_attempt, had_exception, origin_region, on_time FROM shipments ORDER BY tracking_number`),
        sqlRows(ds, `SELECT shipment_id, location_code, carrier_id, merchant_id, arrived_at_ms, departed_at_ms, dwell_bucket FROM shipment_dwell ORDER BY 1, 2`),
        sqlRows(ds, `SELECT shipment_id, stage, round(hours::numeric, 9) AS hours, origin_region, destination_region FROM lane_samples ORDER BY 1, 2, 3`),
        sqlRows(ds, `SELECT carrier_id, origin_region, destination_region, stage, deliveries, round(p50_hours::numeric, 9) AS p50, round(mean_hours::numeric, 9) AS mean FROM lane_stats ORDER BY 1, 2, 3, 4`),
        sqlRows(ds, `SELECT batch_seq, carrier_id, merchant_id, received_s, events FROM batch_receipts ORDER BY 1, 2, 3, 4`),
        sqlRows(ds, `SELECT dispute_id, code, severity FROM dispute_findings ORDER BY 1, 2`),
      ]);
    const kept = await facts();
    expect((kept[1] as unknown[]).length).toBe(4);
    expect((kept[2] as unknown[]).length).toBeGreaterThan(0);
    expect((kept[5] as unknown[]).length).toBeGreaterThan(0);
    // undo the analytics migration and every later one (they are run again below)
    for (let i = MIGRATIONS.indexOf(Analytics1764760000000); i < MIGRATIONS.length; i++) await ds.undoLastMigration({ transaction: 'each' });
    expect(await sqlRows(ds, `SELECT to_regclass('shipment_dwell') AS t`)).toEqual([{ t: null }]);
    await ds.runMigrations({ transaction: 'each' });
    expect(await facts()).toEqual(kept);
  });

  it('rejects an empty, reversed or over-long period, and changes nothing', async () => {
    const before = await t.fingerprint();
    const res = await analytics('admin', { from: period.to, to: period.from });
    expect(res.errors![0].extensions).toMatchObject({ code: 'INVALID_PERIOD', field: 'to' });
    expect(res.errors![0].message).toContain('must be after from');
    expect((await analytics('admin', { from: period.from, to: period.from })).errors![0].extensions.code).toBe('INVALID_PERIOD');
    const long = await analytics('admin', { from: '2025-01-01T00:00:00.000Z', to: '2026-01-02T00:00:01.000Z' });
    expect(long.errors![0].extensions).toMatchObject({ code: 'PERIOD_TOO_LONG', field: 'to' });
    expect((await analytics('admin', { from: '2025-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z' })).errors).toBeUndefined();
    expect((await analytics('admin', { from: 'yesterday' })).errors![0].extensions.code).toBe('BAD_USER_INPUT');
    expect(await t.fingerprint()).toEqual(before);
  });
});
