import type { Browser } from 'playwright-core';
import { launchBrowser } from './browser';
import type { Wallet } from 'ethers';
import type { CustodySigningDomain } from '../../../src/signing/custody-signing';
import { createShipment, eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent, type SignedEventInput } from '../../support/factories';
import { eventually, startTestLedger, type TestLedger } from '../../support/test-ledger';

/** The parties of the seeded journey: a merchant ships, a carrier picks up, a hub sorts, a driver delivers. */
export const MERCHANT = 'northwind';
export const CARRIER = 'acme-express';
export const HUB = 'newark-hub';
export const TRACKING = 'AX1000200030US';
/** A second shipment, still on its way (for lists and analytics). */
export const TRACKING_OPEN = 'AX1000200031US';

/** Where the parcel goes: a porch in Brooklyn, with a 150 m geofence. */
export const DESTINATION = { latE6: 40_678_178, lonE6: -73_944_158, radiusM: 150 };

/** The route, as scans along it: warehouse in Secaucus → hub in Newark → van in Brooklyn → porch. */
const ROUTE = {
  warehouse: { latE6: 40_789_896, lonE6: -74_056_536, locationCode: 'US-NJ-SEC-WH1' },
  hub: { latE6: 40_735_657, lonE6: -74_172_367, locationCode: 'US-NJ-EWR-HUB' },
  van: { latE6: 40_692_532, lonE6: -73_990_997, locationCode: 'US-NY-BKN-DS2' },
  porch: { latE6: 40_678_201, lonE6: -73_944_100, locationCode: '' },
};

export interface SeededJourney {
  t: TestLedger;
  baseUrl: string;
  domain: CustodySigningDomain;
  events: SignedEventInput[];
  /** API keys by role, each of the organization that role belongs to */
  keys: { admin: string; analyst: string; auditor: string; carrier: string; merchant: string; otherCarrier: string };
  disputeId: string;
  devices: Record<'merchant' | 'carrier' | 'hub' | 'driver', Wallet>;
}

async function apiKey(t: TestLedger, role: string, organization: string | null): Promise<string> {
  const d = await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { role, organization, label: `browser test ${role}` } });
  return d.createApiKey.key;
}

/**
 * A ledger on real parts (PGlite or DATABASE_URL, Hardhat's EVM) with a realistic delivered
 * journey, anchored, and one open dispute about it; plus API keys for every staff role.
 */
export async function seedJourney(env: Record<string, string> = {}): Promise<SeededJourney> {
  const t = await startTestLedger({ CONFIRMATIONS: '1', ...env });
  const domain = await fetchDomain(t);
  await registerOrganization(t, MERCHANT, 'MERCHANT', 'Northwind Outfitters');
  await registerOrganization(t, CARRIER, 'CARRIER', 'Acme Express');
  await registerOrganization(t, HUB, 'HUB', 'Newark Sort Hub');
  await registerOrganization(t, 'rival-post', 'CARRIER', 'Rival Post');
  await registerOrganization(t, 'ledger-audit', 'AUDITOR', 'Independent Audit LLP');
  const since = new Date(Date.now() - 7 * 86_400_000);
  const devices = {
    merchant: await registerKey(t, MERCHANT, newWallet(), since),
    carrier: await registerKey(t, CARRIER, newWallet(), since),
    hub: await registerKey(t, HUB, newWallet(), since),
    driver: await registerKey(t, CARRIER, newWallet(), since),
  };
  const promised = new Date(Date.now() + 2 * 3_600_000);
  await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
    i: { trackingNumber: TRACKING, carrier: CARRIER, merchant: MERCHANT, destination: DESTINATION, promisedDeliveryAt: promised.toISOString() },
  });
  await createShipment(t, TRACKING_OPEN, CARRIER, MERCHANT);

  const base = { trackingNumber: TRACKING, carrier: CARRIER };
  const t0 = Date.now() - 30 * 3_600_000;
  const at = (h: number): bigint => BigInt(t0 + Math.round(h * 3_600_000));
  const events = [
    await signEvent(domain, devices.merchant, eventFields({ ...base, eventType: 'LABEL_CREATED', custodian: MERCHANT, occurredAt: at(0), ...ROUTE.warehouse, scanMethod: 'MANUAL' })),
    await signEvent(domain, devices.carrier, eventFields({ ...base, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: at(2), ...ROUTE.warehouse })),
    await signEvent(domain, devices.hub, eventFields({ ...base, eventType: 'HANDOFF', custodian: HUB, occurredAt: at(5), ...ROUTE.hub, scanMethod: 'RFID' }), devices.carrier),
    await signEvent(domain, devices.hub, eventFields({ ...base, eventType: 'ARRIVED_AT_FACILITY', custodian: HUB, occurredAt: at(5.1), ...ROUTE.hub })),
    await signEvent(domain, devices.driver, eventFields({ ...base, eventType: 'HANDOFF', custodian: CARRIER, occurredAt: at(20), ...ROUTE.hub }), devices.hub),
    await signEvent(domain, devices.driver, eventFields({ ...base, eventType: 'OUT_FOR_DELIVERY', custodian: CARRIER, occurredAt: at(26), ...ROUTE.van })),
    await signEvent(domain, devices.driver, eventFields({ ...base, eventType: 'DELIVERED', custodian: CARRIER, occurredAt: at(29), ...ROUTE.porch, accuracyM: 6, scanMethod: 'GPS' })),
  ];
  const open = [
    await signEvent(domain, devices.carrier, eventFields({ trackingNumber: TRACKING_OPEN, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: at(10), ...ROUTE.warehouse })),
  ];
  const results = await record(t, [...events, ...open]);
  const refused = results.filter((r) => r.outcome !== 'ACCEPTED');
  if (refused.length) throw new Error(`the seeded journey was refused: ${JSON.stringify(refused)}`);
  await mustGql(t, `mutation { sealBatch { seq } }`);
  await eventually(async () => {
    const d = await mustGql<{ batch: { status: string } }>(t, `{ batch(seq: "0") { status } }`);
    return d.batch.status === 'FINAL' ? true : undefined;
  }, 60_000, 'the seeded batch FINAL');

  const dispute = await mustGql<{ openDispute: { id: string } }>(t, `mutation($n: String!, $c: String!) { openDispute(trackingNumber: $n, carrier: $c, claim: NOT_RECEIVED, note: "Customer says the parcel never arrived") { id } }`, { n: TRACKING, c: CARRIER });

  const keys = {
    admin: (await import('../../support/test-ledger')).TEST_ADMIN_KEY,
    analyst: await apiKey(t, 'DISPUTE_ANALYST', null),
    auditor: await apiKey(t, 'AUDITOR', 'ledger-audit'),
    carrier: await apiKey(t, 'CARRIER', CARRIER),
    merchant: await apiKey(t, 'MERCHANT', MERCHANT),
    otherCarrier: await apiKey(t, 'CARRIER', 'rival-post'),
  };
  return { t, baseUrl: t.url.replace(/\/graphql$/, ''), domain, events, keys, disputeId: dispute.openDispute.id, devices };
}

/**
 * The seeded ledger and a browser for one test file: started before its tests (together, they
 * take a while), closed after. Read `.j` and `.browser` inside tests.
 */
export function seededBrowser(env: Record<string, string> = {}): { j: SeededJourney; browser: Browser } {
  const state = {} as { j: SeededJourney; browser: Browser };
  beforeAll(async () => {
    [state.j, state.browser] = await Promise.all([seedJourney(env), launchBrowser()]);
  }, 180_000);
  afterAll(async () => {
    await state.browser?.close();
    await state.j?.t.stop();
  });
  return state;
}
