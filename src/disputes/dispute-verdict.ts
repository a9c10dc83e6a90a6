import { distanceMetres, type Finding } from '../fraud/detectors';
import type { VerificationReport } from '../proofs/bundle-verifier';
import type { AnyProofBundle as ProofBundle, PodEvent } from '../proofs/pod-bundle';
import { consentedHolder, describeTransfer } from '../proofs/custody-chain';

export type DisputeClaim = 'NOT_RECEIVED' | 'DAMAGED' | 'LATE' | 'WRONG_LOCATION' | 'OTHER';
export type DisputeVerdict = 'DELIVERY_PROVEN' | 'DELIVERY_CONTRADICTED' | 'INCONCLUSIVE';

const DELIVERIES = new Set(['DELIVERED', 'COLLECTED_FROM_LOCKER']);
/** Findings that, on the delivery itself, say it did not happen as recorded. */
const CONTRADICTING = new Set(['DELIVERY_OUTSIDE_GEOFENCE', 'IMPOSSIBLE_SPEED', 'KEY_OUTSIDE_VALIDITY', 'SCAN_IN_FUTURE', 'DUPLICATE_DELIVERY']);

/**
 * The verdict on a claim, from the evidence only (bundle, its verification against the chain,
 * the findings). DELIVERY_PROVEN needs all of: a signed delivery event that verifies, FINAL on
 * chain, located inside the destination geofence (distance ≤ radius + GPS accuracy), no
 * HIGH-severity finding on the shipment, and an unbroken chain of consented custody from the
 * carrier's pick-up to the organization that signed the delivery, as the verifier replayed it
 * (issue 9). Evidence against the delivery makes it DELIVERY_CONTRADICTED, in particular a
 * delivery by an organization that never received custody with consent; anything short of both
 * is INCONCLUSIVE, with the reasons.
 */
export function judgeDispute(
  claim: DisputeClaim,
  bundle: ProofBundle,
  verification: VerificationReport,
  findings: Finding[],
  promisedDeliveryAt: Date | null,
  /** ids of transfers the ledger accepted before it required consent (the upgrade of issue 9): never proven, never a hijack */
  legacyTransfers: ReadonlySet<string> = new Set(),
): { verdict: DisputeVerdict; reasons: string[] } {
  const reasons: string[] = [];
  const deliveries = bundle.events.filter((e) => DELIVERIES.has(e.fields.eventType) && !e.correctedBy);
  const delivery: PodEvent | undefined = deliveries[deliveries.length - 1];
  const contextual = claimContext(claim, bundle, delivery, promisedDeliveryAt);

  if (!delivery) {
    if (bundle.shipment.status === 'LOST' || bundle.shipment.status === 'RETURN_TO_SENDER') {
      return { verdict: 'DELIVERY_CONTRADICTED', reasons: [`no delivery is recorded and the shipment is ${bundle.shipment.status}`, ...contextual] };
    }
    return { verdict: 'INCONCLUSIVE', reasons: [`no delivery is recorded; the shipment is ${bundle.shipment.status}`, ...contextual] };
  }
  const when = new Date(Number(delivery.fields.occurredAt)).toISOString();
  const against = findings.filter((f) => CONTRADICTING.has(f.code) && f.eventIds.includes(delivery.eventId));
  if (against.length > 0) {
    return { verdict: 'DELIVERY_CONTRADICTED', reasons: [`the ${delivery.fields.eventType} of ${when} is contradicted: ${against.map((f) => `${f.code}: ${f.message}`).join('; ')}`, ...contextual] };
  }

  // who held the parcel: only consented transfers pass custody on
  const custody = custodyOfDelivery(bundle, verification, delivery, legacyTransfers);
  if (custody.contradicted) return { verdict: 'DELIVERY_CONTRADICTED', reasons: [custody.reason, ...contextual] };

  if (verification.verdict === 'INVALID') reasons.push(`the evidence does not verify: ${verification.failures.slice(0, 3).map((f) => `${f.check}: ${f.message}`).join('; ')}`);
  else reasons.push(`the ${delivery.fields.eventType} of ${when} is signed by ${delivery.signer} (${delivery.signerOrganization}) and verifies against the chain`);
  if (delivery.status !== 'FINAL') reasons.push(`the delivery event is ${delivery.status}, not yet FINAL on chain`);
  const fence = geofence(bundle, delivery);
  reasons.push(fence.reason);
  const high = findings.filter((f) => f.severity === 'HIGH');
  if (high.length > 0) reasons.push(`high-severity findings: ${high.map((f) => f.code).join(', ')}`);
  reasons.push(custody.reason);
  const proven = verification.verdict !== 'INVALID' && delivery.status === 'FINAL' && fence.inside && high.length === 0 && custody.consented;
  return { verdict: proven ? 'DELIVERY_PROVEN' : 'INCONCLUSIVE', reasons: [...reasons, ...contextual] };
}

/**
 * Whether the organization that signed the delivery received custody with consent. Contradicted
 * only on evidence: a transfer the bundle shows was not consented (or custody moved without a
 * transfer) on the way to the delivering organization, or the delivery signed by someone the
 * consented chain never reached, and nothing else in the bundle failed verification.
 */
function custodyOfDelivery(bundle: ProofBundle, verification: VerificationReport, delivery: PodEvent, legacy: ReadonlySet<string>): { consented: boolean; contradicted: boolean; reason: string } {
  const org = delivery.signerOrganization;
  const replayed = verification.custody?.chain;
  if (!replayed) return { consented: false, contradicted: false, reason: 'the verifier did not replay the custody chain' };
  // a transfer accepted under the rules before consent was required moved custody then: followed, but it proves nothing
  const isLegacy = (l: { eventId: string }): boolean => legacy.has(l.eventId.toLowerCase());
  const chain = replayed.map((l) => (isLegacy(l) && l.status === 'NOT_CONSENTED' ? { ...l, status: 'CONSENTED' as const } : l));
  const otherFailures = verification.failures.some((f) => f.check !== 'CONSENT');
  const events = bundle.events.map((e) => ({
    eventId: e.eventId,
    eventType: e.fields.eventType,
    custodian: e.fields.custodian,
    occurredAt: BigInt(e.fields.occurredAt),
    signerOrganization: e.signerOrganization,
    counterSignerOrganization: 'counterSignerOrganization' in e ? e.counterSignerOrganization : null,
    correctsEventId: e.correctsEventId,
  }));
  const found = consentedHolder(chain, events, bundle.shipment, org, BigInt(delivery.fields.occurredAt));
  const signed = `${org} signed the ${delivery.fields.eventType}`;
  switch (found.kind) {
    case 'CONSENTED': {
      const old = found.links.find((l) => isLegacy(l) && replayed.find((r) => r.eventIndex === l.eventIndex)?.status !== 'CONSENTED');
      if (old) return { consented: false, contradicted: false, reason: `custody reached ${org} through a transfer accepted before this ledger required consent for transfers (${describeTransfer(old, (x) => x)}): it followed the rules of its time, and its consent cannot be shown either way` };
      const path = found.links.map((l) => `${l.from ?? '(root)'} → ${l.to} (${l.consent}${l.delegationId ? ` ${l.delegationId}` : ''})`).join(', ');
      return { consented: true, contradicted: false, reason: `custody passed with consent from the pick-up to ${org}, which signed the delivery: ${path || `${org} held it from the start`}` };
    }
    case 'NOT_CONSENTED': {
      const l = found.link;
      const how = l.consent === null && l.eventType !== 'PICKED_UP' && ['HANDOFF', 'LOCKER_DEPOSITED', 'RETURNED_TO_SENDER'].includes(l.eventType)
        ? `${describeTransfer(l, (x) => x)}, without the consent of ${l.from ?? 'anybody'}, the custodian before it`
        : `event #${l.eventIndex}: ${l.problem}`;
      return { consented: false, contradicted: !otherFailures, reason: `${signed} but never received custody with consent: ${how}` };
    }
    case 'UNPROVEN':
      return { consented: false, contradicted: false, reason: `consented custody up to ${org} is not proven by this bundle: ${found.link.problem}` };
    case 'NOT_HOLDER':
      return { consented: false, contradicted: !otherFailures && found.holder !== null, reason: found.holder === null ? `no consented custody from the carrier's pick-up is shown up to the delivery by ${org}` : `${signed} but never received custody with consent: at the delivery the parcel was with ${found.holder}` };
  }
}

function geofence(bundle: ProofBundle, e: PodEvent): { inside: boolean; reason: string } {
  const d = bundle.shipment.destination;
  if (!d) return { inside: false, reason: 'the shipment has no destination to compare the delivery position with' };
  const known = !(e.fields.latE6 === 0 && e.fields.lonE6 === 0 && e.fields.accuracyM === 0);
  if (!known) return { inside: false, reason: 'the delivery scan has no position' };
  const distance = distanceMetres(e.fields.latE6, e.fields.lonE6, d.latE6, d.lonE6);
  const inside = distance <= d.radiusM + e.fields.accuracyM;
  return { inside, reason: `delivered ${Math.round(distance)} m from the destination (geofence ${d.radiusM} m, GPS accuracy ${e.fields.accuracyM} m): ${inside ? 'inside' : 'outside'}` };
}

function claimContext(claim: DisputeClaim, bundle: ProofBundle, delivery: PodEvent | undefined, promised: Date | null): string[] {
  if (claim === 'LATE' && promised) {
    if (!delivery) return [`promised for ${promised.toISOString()}; not delivered yet`];
    const at = Number(delivery.fields.occurredAt);
    return [`promised for ${promised.toISOString()}, delivered ${at > promised.getTime() ? `${Math.round((at - promised.getTime()) / 3_600_000)} h late` : 'on time'}`];
  }
  if (claim === 'DAMAGED') {
    const exceptions = bundle.events.filter((e) => e.fields.eventType === 'EXCEPTION' && !e.correctedBy);
    return [exceptions.length ? `${exceptions.length} EXCEPTION event(s) recorded, last by ${exceptions[exceptions.length - 1].signerOrganization}` : 'no EXCEPTION was recorded during custody'];
  }
  return [];
}
