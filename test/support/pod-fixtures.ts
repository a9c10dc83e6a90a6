import { id, type Wallet } from 'ethers';
import { canonicalJson, dataHashOf } from '../../src/custody/extra-data';
import type { ProofBundle, ProofBundleV2, ProofBundleV3 } from '../../src/proofs/pod-bundle';
import { CUSTODY_EVENT_TYPES, custodyEventDigest, custodyLeaf, domainSeparator, signaturesHash, type CustodyEventFields, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { sqlRows } from '../../src/database/data-source';
import { eventually, type TestLedger } from './test-ledger';
import type { AnchorChain } from './anchor-chain';
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

/** The same bundle as custody-pod/2 wrote it: no consent, no delegations (nor their signers' key records, which /2 never carried). */
export function asPodV2(v3: ProofBundleV3): ProofBundleV2 {
  const { delegations, ...rest } = v3;
  const signers = new Set(v3.events.flatMap((e) => [e.signer, e.counterSigner]).filter((a): a is string => a !== null).map((a) => a.toLowerCase()));
  const only = delegations.map((d) => d.signer.toLowerCase()).filter((a) => !signers.has(a));
  return {
    ...rest,
    format: 'custody-pod/2',
    events: v3.events.map(({ consent: _c, ...e }) => e),
    state: v3.state && { ...v3.state, signingKeys: v3.state.signingKeys.filter((k) => !only.includes(k.address.toLowerCase())) },
  };
}

/** The same bundle as custody-pod/1 wrote it: no extra data, no counter-signer organization, no tree versions, no state (nor consent). */
export function asPodV1(bundle: ProofBundleV2 | ProofBundleV3): ProofBundle {
  const v2 = bundle.format === 'custody-pod/3' ? asPodV2(bundle) : bundle;
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

/** Where and when a test chain anchored a vector's batch 0: facts of that chain, not of the format. */
export interface Anchoring {
  chainId: string;
  contractAddress: string;
  txHash: string;
  blockNumber: number;
  anchoredAt: string;
}

/** Anchors a vector's batch 0 on a fresh chain (its contract is the vectors' 0x5FbDB…0aa3). */
export async function anchorVectorBatch(env: AnchorChain, batch: { root: string; leafCount: number }): Promise<Anchoring> {
  const tx = (await env.anchor.getFunction('anchorBatch')(0n, batch.root, batch.leafCount)) as { wait(): Promise<{ hash: string; blockNumber: number }> };
  const receipt = await tx.wait();
  const block = await env.provider.getBlock(receipt.blockNumber);
  return { chainId: '31337', contractAddress: env.deployment.address, txHash: receipt.hash, blockNumber: receipt.blockNumber, anchoredAt: new Date(block!.timestamp * 1000).toISOString() };
}

/** A pinned /2 or /3 vector as the ledger serves it once its batch is FINAL on the test chain (unchanged before it is anchored). */
export function withAnchoring<T extends ProofBundleV2 | ProofBundleV3>(bundle: T, anchoring: Anchoring | undefined): T {
  if (anchoring) {
    Object.assign(bundle.batches[0], { status: 'FINAL', ...anchoring });
    for (const e of bundle.events) e.status = 'FINAL';
  }
  return bundle;
}

/** Seals the pending events and waits until their batch is FINAL; its seq. */
export async function sealAndFinalize(t: TestLedger): Promise<string> {
  const sealed = await mustGql<{ sealBatch: { seq: string } | null }>(t, `mutation { sealBatch { seq } }`);
  const seq = sealed.sealBatch!.seq;
  await eventually(async () => ((await mustGql<{ batch: { status: string } }>(t, `query($s: Uint64!) { batch(seq: $s) { status } }`, { s: seq })).batch.status === 'FINAL' ? true : undefined), 30_000, `batch ${seq} FINAL`);
  return seq;
}

/**
 * What the ledger's operator can do: an event row written past ingestion (no custody rule, no
 * consent check), signed by `signer`, with a correct leaf on the shipment's hash chain and the
 * shipment row advanced, so it is sealed and anchored like any other.
 */
export async function insertPastIngestion(
  t: TestLedger,
  domain: CustodySigningDomain,
  signer: Wallet,
  signerOrg: string,
  fields: CustodyEventFields,
  status: string,
  correction?: { extraData: string; corrects: string; reason: string },
): Promise<void> {
  const ds = t.ledger.runtime.dataSource;
  const [s] = await sqlRows<{ id: string; head_leaf: string }>(ds, `SELECT s.id, s.head_leaf FROM shipments s JOIN organizations o ON o.id = s.carrier_id WHERE o.slug = $1 AND s.tracking_number = $2`, [fields.carrier, fields.trackingNumber]);
  const [org] = await sqlRows<{ id: string }>(ds, `SELECT id FROM organizations WHERE slug = $1`, [signerOrg]);
  const [custodian] = await sqlRows<{ id: string }>(ds, `SELECT id FROM organizations WHERE slug = $1`, [fields.custodian]);
  const signature = await signer.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
  const digest = custodyEventDigest(domainSeparator(domain), fields);
  const sigHash = signaturesHash(signature, null);
  const leaf = custodyLeaf(digest, sigHash, s.head_leaf);
  await sqlRows(
    ds,
    `INSERT INTO custody_events (event_id, shipment_id, tracking_number, carrier, event_type, custodian, custodian_id, occurred_at_ms, lat_e6, lon_e6, accuracy_m, location_code, scan_method,
       evidence_hash, data_hash, signature, counter_signature, signer, counter_signer, digest, signatures_hash, previous_leaf, leaf, received_at, signer_organization_id, flags, dual_attested)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, NULL, $17, NULL, $18, $19, $20, $21, now(), $22, '{}'::text[], false)`,
    [fields.eventId, s.id, fields.trackingNumber, fields.carrier, fields.eventType, fields.custodian, custodian.id, fields.occurredAt.toString(), fields.latE6, fields.lonE6, fields.accuracyM, fields.locationCode, fields.scanMethod,
      fields.evidenceHash, fields.dataHash, signature, signer.address.toLowerCase(), digest, sigHash, s.head_leaf, leaf, org.id],
  );
  if (correction) {
    await sqlRows(ds, `UPDATE custody_events SET corrects_event_id = $2, correction_reason = $3 WHERE event_id = $1`, [fields.eventId, correction.corrects, correction.reason]);
    await sqlRows(ds, `INSERT INTO event_data (event_id, document) VALUES ($1, $2)`, [fields.eventId, correction.extraData]);
  }
  await sqlRows(ds, `UPDATE shipments SET head_leaf = $2, event_count = event_count + 1, current_custodian_id = $3, status = $4, last_event_at_ms = $5, updated_at = now() WHERE id = $1`, [s.id, leaf, custodian.id, status, fields.occurredAt.toString()]);
}
