import type { Wallet } from 'ethers';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { sqlRows } from '../../src/database/data-source';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent, eventFields } from '../support/factories';
import { HOUR, createJourneyShipment, recordSteps, runJourney, type Step } from '../support/journeys';

interface Estimated {
  estimatedDeliveryAt: string | null;
  estimateBasis: string | null;
  estimateSampleSize: number | null;
  carrierEstimatedDeliveryAt: string | null;
  updatedAt: string;
}

/** Munich (region "48:11") to Berlin (the destination, "52:13"); Madrid is "40:-4". */
const MUNICH = { latE6: 48_137_000, lonE6: 11_575_000 };
const MADRID = { latE6: 40_416_000, lonE6: -3_703_000 };

describe('estimated delivery: kept on every accepted scan from the promise, the lane and the carrier history', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let acme: Wallet;
  const carrier = 'acme-express';
  const now = Date.now();

  async function shipment(tracking: string): Promise<Estimated> {
    const d = await mustGql<{ shipment: Estimated }>(t, `query($n: String!) { shipment(trackingNumber: $n, carrier: "${carrier}") { estimatedDeliveryAt estimateBasis estimateSampleSize carrierEstimatedDeliveryAt updatedAt } }`, { n: tracking });
    return d.shipment;
  }
  async function kept(tracking: string): Promise<{ first: Date | null; ofd: Date | null }> {
    const [row] = await sqlRows<{ first: Date | null; ofd: Date | null }>(t.ledger.runtime.dataSource, `SELECT estimate_first_scan_at AS first, estimate_out_for_delivery_at AS ofd FROM shipments WHERE tracking_number = $1`, [tracking]);
    return row;
  }
  const scan = (tracking: string, steps: Step[]) => recordSteps(t, domain, acme, { tracking, carrier, merchant: 'shop-one' }, steps);

  beforeAll(async () => {
    // lane history counts from 3 deliveries on (20 by default)
    t = await startTestLedger({ ESTIMATE_MIN_DELIVERIES: '3' });
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, carrier, 'CARRIER');
    acme = await registerKey(t, carrier, newWallet(), new Date(now - 30 * 86_400_000));
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('rests on the promised date while there is no history, and never before now', async () => {
    const promised = new Date(now + 5 * 86_400_000);
    await createJourneyShipment(t, { tracking: 'ED-PROMISED', carrier, merchant: 'shop-one', promisedDeliveryAt: promised });
    expect(await shipment('ED-PROMISED')).toMatchObject({ estimatedDeliveryAt: promised.toISOString(), estimateBasis: 'PROMISED_DATE', estimateSampleSize: null });
    await scan('ED-PROMISED', [{ type: 'PICKED_UP', at: now - 2 * HOUR, ...MUNICH }]);
    expect(await shipment('ED-PROMISED')).toMatchObject({ estimatedDeliveryAt: promised.toISOString(), estimateBasis: 'PROMISED_DATE' });

    // a promise already passed: the estimate is now (the time of the scan's recording), not the past
    await createJourneyShipment(t, { tracking: 'ED-OVERDUE', carrier, merchant: 'shop-one', promisedDeliveryAt: new Date(now - 3 * 86_400_000) });
    const before = Date.now();
    await scan('ED-OVERDUE', [{ type: 'PICKED_UP', at: now - 4 * 86_400_000, ...MUNICH }]);
    const overdue = await shipment('ED-OVERDUE');
    expect(overdue.estimateBasis).toBe('PROMISED_DATE');
    expect(Date.parse(overdue.estimatedDeliveryAt!)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(overdue.estimatedDeliveryAt!)).toBeLessThanOrEqual(Date.now());
    // no promise, no history: nothing to estimate
    await runJourney(t, domain, acme, { tracking: 'ED-NOTHING', carrier, merchant: 'shop-one', steps: [{ type: 'PICKED_UP', at: now - HOUR, ...MUNICH }] });
    expect(await shipment('ED-NOTHING')).toMatchObject({ estimatedDeliveryAt: null, estimateBasis: null });
  });

  it("uses the lane's median once it has enough deliveries, and moves with every scan", async () => {
    // three deliveries Munich → Berlin: 30, 40 and 50 h from pick-up; 2, 3 and 4 h from out-for-delivery
    for (const [i, hours] of [30, 40, 50].entries()) {
      const start = now - 20 * 86_400_000 + i * 86_400_000;
      await runJourney(t, domain, acme, { tracking: `ED-HIST-${i}`, carrier, merchant: 'shop-one', steps: [
        { type: 'PICKED_UP', at: start, ...MUNICH }, { type: 'OUT_FOR_DELIVERY', at: start + (hours - 2 - i) * HOUR }, { type: 'DELIVERED', at: start + hours * HOUR }] });
      // two deliveries are not enough yet
      if (i === 1) {
        await createJourneyShipment(t, { tracking: 'ED-EARLY', carrier, merchant: 'shop-one' });
        await scan('ED-EARLY', [{ type: 'PICKED_UP', at: now - HOUR, ...MUNICH }]);
        expect(await shipment('ED-EARLY')).toMatchObject({ estimatedDeliveryAt: null, estimateBasis: null });
      }
    }
    const pickedUp = now - HOUR;
    await createJourneyShipment(t, { tracking: 'ED-LANE', carrier, merchant: 'shop-one', promisedDeliveryAt: new Date(now + 9 * 86_400_000) });
    await scan('ED-LANE', [{ type: 'PICKED_UP', at: pickedUp, ...MUNICH }]);
    expect(await shipment('ED-LANE')).toMatchObject({ estimatedDeliveryAt: new Date(pickedUp + 40 * HOUR).toISOString(), estimateBasis: 'LANE_HISTORY', estimateSampleSize: 3 });
    const outForDelivery = now - 10 * 60_000;
    await scan('ED-LANE', [{ type: 'OUT_FOR_DELIVERY', at: outForDelivery }]);
    expect(await shipment('ED-LANE')).toMatchObject({ estimatedDeliveryAt: new Date(outForDelivery + 3 * HOUR).toISOString(), estimateBasis: 'LANE_HISTORY', estimateSampleSize: 3 });
    // the estimates at the first scan and at out-for-delivery are kept for the accuracy figures
    expect(await kept('ED-LANE')).toEqual({ first: new Date(pickedUp + 40 * HOUR), ofd: new Date(outForDelivery + 3 * HOUR) });
    // delivered: the delivery time, and the kept estimates stay
    await scan('ED-LANE', [{ type: 'DELIVERED', at: now - 60_000 }]);
    expect(await shipment('ED-LANE')).toMatchObject({ estimatedDeliveryAt: new Date(now - 60_000).toISOString(), estimateBasis: null });
    expect(await kept('ED-LANE')).toEqual({ first: new Date(pickedUp + 40 * HOUR), ofd: new Date(outForDelivery + 3 * HOUR) });
  });

  it("falls back to the carrier's figure over all lanes on a lane without history", async () => {
    const pickedUp = now - 2 * HOUR;
    await runJourney(t, domain, acme, { tracking: 'ED-MADRID', carrier, merchant: 'shop-one', steps: [{ type: 'PICKED_UP', at: pickedUp, ...MADRID }] });
    // the carrier's pick-up figure now has four deliveries (30, 40, 50 h and ED-LANE's 59 minutes): median 35 h
    const [row] = await sqlRows<{ deliveries: number; p50_hours: number }>(t.ledger.runtime.dataSource, `SELECT deliveries, p50_hours FROM lane_stats WHERE origin_region = '*' AND stage = 'PICKED_UP'`);
    expect(row.deliveries).toBe(4);
    expect(await shipment('ED-MADRID')).toMatchObject({ estimatedDeliveryAt: new Date(pickedUp + Math.round(row.p50_hours * HOUR)).toISOString(), estimateBasis: 'CARRIER_HISTORY', estimateSampleSize: 4 });
    expect(row.p50_hours).toBeCloseTo(35, 1);
  });

  it("lets the carrier's own estimate win while it is not in the past", async () => {
    const own = new Date(now + 2 * 86_400_000);
    await createJourneyShipment(t, { tracking: 'ED-CARRIER', carrier, merchant: 'shop-one', estimatedDeliveryAt: own });
    await scan('ED-CARRIER', [{ type: 'PICKED_UP', at: now - HOUR, ...MUNICH }]);
    expect(await shipment('ED-CARRIER')).toMatchObject({ estimatedDeliveryAt: own.toISOString(), estimateBasis: 'CARRIER_PROVIDED', estimateSampleSize: null, carrierEstimatedDeliveryAt: own.toISOString() });
    // an estimate given in the past is kept as given but not used: the lane history is
    await mustGql(t, `mutation($i: UpdateShipmentInput!) { updateShipment(input: $i) { id } }`, { i: { trackingNumber: 'ED-CARRIER', carrier, estimatedDeliveryAt: new Date(now - HOUR).toISOString() } });
    // out-for-delivery → delivered on this lane: 2, 3, 4 h and ED-LANE's 9 minutes, median 2.5 h
    const outForDelivery = now - 30 * 60_000;
    await scan('ED-CARRIER', [{ type: 'OUT_FOR_DELIVERY', at: outForDelivery }]);
    expect(await shipment('ED-CARRIER')).toMatchObject({
      carrierEstimatedDeliveryAt: new Date(now - HOUR).toISOString(),
      estimatedDeliveryAt: new Date(outForDelivery + 2.5 * HOUR).toISOString(),
      estimateBasis: 'LANE_HISTORY',
      estimateSampleSize: 4,
    });
  });

  it('a rejected scan changes no estimate', async () => {
    const before = await shipment('ED-PROMISED');
    const fingerprint = await t.fingerprint();
    const stranger = newWallet();
    const bad = await signEvent(domain, stranger, eventFields({ trackingNumber: 'ED-PROMISED', carrier, eventType: 'OUT_FOR_DELIVERY', custodian: carrier, occurredAt: BigInt(now - 60_000) }));
    const [result] = await record(t, [bad]);
    expect(result.outcome).toBe('REJECTED');
    expect(await shipment('ED-PROMISED')).toEqual(before);
    expect(await t.fingerprint()).toEqual(fingerprint);
  });
});
