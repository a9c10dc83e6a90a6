import type { Wallet } from 'ethers';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import type { TestLedger } from './test-ledger';
import { eventFields, mustGql, record, signEvent, type RecordResult } from './factories';

export const HOUR = 3_600_000;

export interface Step {
  type: string;
  /** occurredAt, unix ms */
  at: number;
  locationCode?: string;
  latE6?: number;
  lonE6?: number;
  /** default: the carrier (RETURNED_TO_SENDER: the merchant) */
  custodian?: string;
}

export interface Journey {
  tracking: string;
  carrier: string;
  merchant?: string;
  promisedDeliveryAt?: Date;
  estimatedDeliveryAt?: Date;
  steps: Step[];
}

/** Creates the shipment (destination 52.5°N 13.4°E, region "52:13") as the admin. */
export async function createJourneyShipment(t: TestLedger, j: Pick<Journey, 'tracking' | 'carrier' | 'merchant' | 'promisedDeliveryAt' | 'estimatedDeliveryAt'>): Promise<void> {
  await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
    i: {
      trackingNumber: j.tracking,
      carrier: j.carrier,
      merchant: j.merchant,
      destination: { latE6: 52_500_000, lonE6: 13_400_000, radiusM: 200 },
      promisedDeliveryAt: j.promisedDeliveryAt?.toISOString(),
      estimatedDeliveryAt: j.estimatedDeliveryAt?.toISOString(),
    },
  });
}

/** Signs the steps with the carrier's key, every one custodian-kept or a carrier transfer. */
export async function recordSteps(t: TestLedger, domain: CustodySigningDomain, key: Wallet, j: Pick<Journey, 'tracking' | 'carrier' | 'merchant'>, steps: Step[]): Promise<RecordResult[]> {
  const signed = [];
  for (const s of steps) {
    const custodian = s.custodian ?? (s.type === 'RETURNED_TO_SENDER' ? j.merchant! : j.carrier);
    const located = s.latE6 !== undefined ? { latE6: s.latE6, lonE6: s.lonE6! } : {};
    signed.push(await signEvent(domain, key, eventFields({ trackingNumber: j.tracking, carrier: j.carrier, eventType: s.type, custodian, occurredAt: BigInt(s.at), locationCode: s.locationCode ?? '', ...located })));
  }
  return record(t, signed);
}

/** The shipment and all its steps, each accepted. */
export async function runJourney(t: TestLedger, domain: CustodySigningDomain, key: Wallet, j: Journey): Promise<void> {
  await createJourneyShipment(t, j);
  const results = await recordSteps(t, domain, key, j, j.steps);
  const refused = results.filter((r) => r.outcome !== 'ACCEPTED');
  if (refused.length) throw new Error(`journey ${j.tracking}: ${JSON.stringify(refused)}`);
}
