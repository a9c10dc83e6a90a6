import { eventFields, record, signEvent } from '../support/factories';
import { newContext, overflowsHorizontally, screenshot, seriousAxeViolations, signIn } from './support/browser';
import { CARRIER, MERCHANT, seededBrowser } from './support/journey';

/**
 * Issue 12: carrier analytics in the browser. Besides the seeded delivery (on time, first
 * attempt), three more journeys of the same carrier and merchant: late with a dwell at a hub, a
 * failed attempt before the delivery, an exception and a loss. The page's figures are the API's.
 */
describe('carrier analytics page (browser)', () => {
  const env = seededBrowser();

  beforeAll(async () => {
    const { t, domain, devices } = env.j;
    const now = Date.now();
    const at = (hoursAgo: number): bigint => BigInt(now - Math.round(hoursAgo * 3_600_000));
    const ship = async (n: string, promisedHoursFromNow: number): Promise<void> => {
      const res = await t.gql(`mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: n, carrier: CARRIER, merchant: MERCHANT, promisedDeliveryAt: new Date(now + promisedHoursFromNow * 3_600_000).toISOString() } });
      if (res.errors) throw new Error(JSON.stringify(res.errors));
    };
    const scan = (n: string, eventType: string, hoursAgo: number, locationCode = '') =>
      signEvent(domain, devices.driver, eventFields({ trackingNumber: n, carrier: CARRIER, custodian: CARRIER, eventType, occurredAt: at(hoursAgo), locationCode }));
    await ship('AX-LATE-1', -10);
    await ship('AX-RETRY-1', 5);
    await ship('AX-LOST-1', 48);
    const events = [
      await scan('AX-LATE-1', 'PICKED_UP', 40),
      await scan('AX-LATE-1', 'ARRIVED_AT_FACILITY', 36, 'US-PA-PHL-HUB'),
      await scan('AX-LATE-1', 'DEPARTED_FACILITY', 12, 'US-PA-PHL-HUB'),
      await scan('AX-LATE-1', 'OUT_FOR_DELIVERY', 6),
      await scan('AX-LATE-1', 'DELIVERED', 2),
      await scan('AX-RETRY-1', 'PICKED_UP', 30),
      await scan('AX-RETRY-1', 'ARRIVED_AT_FACILITY', 28, 'US-PA-PHL-HUB'),
      await scan('AX-RETRY-1', 'DEPARTED_FACILITY', 24, 'US-PA-PHL-HUB'),
      await scan('AX-RETRY-1', 'OUT_FOR_DELIVERY', 10),
      await scan('AX-RETRY-1', 'DELIVERY_ATTEMPTED', 8),
      await scan('AX-RETRY-1', 'OUT_FOR_DELIVERY', 4),
      await scan('AX-RETRY-1', 'DELIVERED', 3),
      await scan('AX-LOST-1', 'PICKED_UP', 50),
      await scan('AX-LOST-1', 'EXCEPTION', 20),
      await scan('AX-LOST-1', 'LOST', 5),
    ];
    const results = await record(t, events);
    expect(results.filter((r) => r.outcome !== 'ACCEPTED')).toEqual([]);
  });

  it('shows on-time, first-attempt, exception and loss rates, dwell per facility, latency, findings and estimate accuracy: the API figures', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.merchant, '/app/analytics');
    await page.getByRole('heading', { name: 'All carriers and merchants in view' }).waitFor();
    const tile = (label: string) => page.locator('.tile', { hasText: label }).locator('.value').textContent();
    // four journeys ended: three delivered (one late), one lost after an exception
    expect(await tile('Shipments ended')).toBe('4');
    expect(await tile('On time')).toBe('66.7 %');
    expect(await tile('First attempt')).toBe('66.7 %');
    expect(await tile('Exceptions')).toBe('25.0 %');
    expect(await tile('Lost')).toBe('25.0 %');
    // the charts are pictures with their figures in words
    expect(await page.getByRole('img', { name: /^On-time rate against the promised date: acme-express · northwind 66\.7 %$/ }).count()).toBe(1);
    expect(await page.getByRole('img', { name: /^Median dwell .*: US-PA-PHL-HUB / }).count()).toBe(1);
    expect(await page.locator('[data-row="acme-express · northwind"]').count()).toBe(1);

    // the same figures through GraphQL with the same key
    const api = await env.j.t.gql<{ carrierAnalytics: { totals: { ended: number; onTimeRate: number; firstAttemptRate: number } } }>(
      `query($f: DateTime!, $t: DateTime!) { carrierAnalytics(from: $f, to: $t) { totals { ended onTimeRate firstAttemptRate } } }`,
      { f: new Date(Date.now() - 30 * 86_400_000).toISOString(), t: new Date(Date.now() + 86_400_000).toISOString() },
      env.j.keys.merchant,
    );
    expect(api.data!.carrierAnalytics.totals).toEqual({ ended: 4, onTimeRate: 2 / 3, firstAttemptRate: 2 / 3 });

    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'analytics');
    await context.close();
  });

  it("another carrier's key sees none of these figures, and naming this carrier is refused", async () => {
    const context = await newContext(env.browser, { phone: true });
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.otherCarrier, '/app/analytics');
    await page.getByRole('heading', { name: 'All carriers and merchants in view' }).waitFor();
    expect(await page.locator('.tile', { hasText: 'Shipments ended' }).locator('.value').textContent()).toBe('0');
    expect(await page.locator('[data-row]').count()).toBe(0);
    expect(await overflowsHorizontally(page)).toBe(false);
    await screenshot(page, 'analytics-phone');
    await page.goto(`${env.j.baseUrl}/app/analytics?carrier=${CARRIER}`);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain('FORBIDDEN');
    await context.close();
  });
});
