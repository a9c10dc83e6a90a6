import { id, type Wallet } from 'ethers';
import { canonicalJson, dataHashOf } from '../../src/custody/extra-data';
import type { ProofBundle, ProofBundleV2 } from '../../src/proofs/pod-bundle';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import type { TestLedger } from './test-ledger';
import { eventFields, mustGql, record, signEvent } from './factories';

export const HOUR = 3_600_000;
/** The recipient's door in Berlin-Mitte. */
export const DOOR = { latE6: 52_520_008, lonE6: 13_404_954 };

/**
 * The shipment the proof tests are about: picked up by the carrier, handed to the hub with the
 * carrier's counter-signature, out for delivery, delivered with a photo, that delivery voided by a
 * CORRECTION (extra data naming it), delivered again with another photo. Returns the event ids in order.
 */
export async function recordCorrectedDelivery(t: TestLedger, domain: CustodySigningDomain, tracking: string, carrier: Wallet, hub: Wallet, at: (hours: number) => bigint): Promise<string[]> {
  await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
    i: { trackingNumber: tracking, carrier: 'acme-express', merchant: 'shop-one', destination: { ...DOOR, radiusM: 150 } },
  });
  const base = { trackingNumber: tracking, carrier: 'acme-express', latE6: 52_530_000, lonE6: 13_390_000, accuracyM: 10 };
  const photo = id('door photo 1');
  const photo2 = id('door photo 2');
  const picked = await signEvent(domain, carrier, eventFields({ ...base, eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) }));
  // the hub takes custody, the carrier counter-signs the release: a dual-attested handoff
  const handoff = await signEvent(domain, hub, eventFields({ ...base, eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: at(3), locationCode: 'DE-BER-HUB-1' }), carrier);
  const out = await signEvent(domain, hub, eventFields({ ...base, eventType: 'OUT_FOR_DELIVERY', custodian: 'berlin-hub', occurredAt: at(5) }));
  const delivered = await signEvent(domain, hub, eventFields({ ...base, ...DOOR, eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: at(6), evidenceHash: photo, scanMethod: 'GPS' }));
  const extra = canonicalJson({ v: 1, corrects: delivered.eventId, reason: 'scanned at the neighbour’s door' });
  const correction = await signEvent(domain, hub, eventFields({ ...base, eventType: 'CORRECTION', custodian: 'berlin-hub', occurredAt: at(7), dataHash: dataHashOf(extra) }));
  const redelivered = await signEvent(domain, hub, eventFields({ ...base, ...DOOR, eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: at(8), evidenceHash: photo2, scanMethod: 'GPS' }));
  const results = await record(t, [
    picked,
    handoff,
    out,
    { ...delivered, evidence: { contentType: 'image/jpeg', sizeBytes: 204_800, hash: photo } } as never,
    { ...correction, extraData: extra } as never,
    { ...redelivered, evidence: { contentType: 'image/jpeg', sizeBytes: 198_000, hash: photo2 } } as never,
  ]);
  const outcomes = results.map((r) => r.error?.code ?? r.outcome);
  if (outcomes.some((o) => o !== 'ACCEPTED')) throw new Error(`the journey was not accepted: ${outcomes.join(', ')}`);
  return results.map((r) => r.eventId!);
}

/** The same bundle as custody-pod/1 wrote it: no extra data, no counter-signer organization, no tree versions, no state. */
export function asPodV1(v2: ProofBundleV2): ProofBundle {
  return {
    format: 'custody-pod/1',
    generatedAt: v2.generatedAt,
    shipment: v2.shipment,
    signing: v2.signing,
    leafFormat: v2.leafFormat,
    events: v2.events.map(({ extraData: _x, counterSignerOrganization: _c, ...e }) => e),
    batches: v2.batches.map(({ treeVersion: _t, eventsRoot: _e, stateRoot: _s, ...b }) => b),
    findings: v2.findings,
  };
}
