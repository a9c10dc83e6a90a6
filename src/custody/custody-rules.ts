import type { ErrorCode } from '../common/errors';
import { STATUS_AFTER, type CustodyEventType, type ShipmentStatus } from './event-types';

/**
 * The custody rules, as one table and one pure function, so the README, the ingestion path and
 * the tests all read the same thing.
 *
 * Custodian column: KEEP = the event must name the current custodian; TRANSFER = it names the
 * new one (the party taking custody). Signers: CUSTODIAN = a key of the current custodian,
 * RECEIVER = a key of the party taking custody, CARRIER = the shipment's carrier even when it
 * does not hold the parcel (it declares problems for the whole journey; flagged CARRIER_DECLARED).
 *
 * Consent (issue 9): custody passes from A to B only when A consented, in one of three ways:
 * A signed the transfer (SIGNED) or counter-signed it (COUNTER_SIGNED), or B holds a delegation
 * (custody-delegation/1) from the shipment's carrier or from A that covers this shipment at the
 * time of the transfer, signed by a key of the delegator valid then, and not revoked then
 * (DELEGATION). The one exception is the root of the chain: the shipment's carrier picking up a
 * parcel the merchant created the shipment for (DESIGNATED: the shipment names that carrier).
 */
export type SignerRole = 'CUSTODIAN' | 'RECEIVER' | 'CARRIER' | 'MERCHANT' | 'CORRECTED_SIGNER';

export interface EventRule {
  custodian: 'KEEP' | 'TRANSFER';
  signers: SignerRole[];
  /** the custodian it transfers to must be this kind of organization (or the shipment's own party) */
  receiver?: 'CARRIER' | 'LOCKER_OPERATOR' | 'MERCHANT';
  /** allowed as a shipment's first event */
  first: boolean;
  /** after it, only CORRECTION and EXCEPTION are accepted */
  terminal: boolean;
  /** accepted after a terminal event */
  afterTerminal: boolean;
  summary: string;
}

export const CUSTODY_RULES: Record<CustodyEventType, EventRule> = {
  LABEL_CREATED: { custodian: 'KEEP', signers: ['MERCHANT', 'CARRIER'], first: true, terminal: false, afterTerminal: false, summary: 'first event only; names the merchant or the carrier as custodian' },
  PICKED_UP: { custodian: 'TRANSFER', signers: ['RECEIVER', 'CUSTODIAN'], receiver: 'CARRIER', first: true, terminal: false, afterTerminal: false, summary: 'the carrier takes the parcel (before it is in transit)' },
  HANDOFF: { custodian: 'TRANSFER', signers: ['RECEIVER', 'CUSTODIAN'], first: false, terminal: false, afterTerminal: false, summary: 'custody passes to the named organization; the other party may counter-sign' },
  ARRIVED_AT_FACILITY: { custodian: 'KEEP', signers: ['CUSTODIAN'], first: false, terminal: false, afterTerminal: false, summary: 'scan at a facility of the custodian' },
  DEPARTED_FACILITY: { custodian: 'KEEP', signers: ['CUSTODIAN'], first: false, terminal: false, afterTerminal: false, summary: 'leaves a facility of the custodian' },
  OUT_FOR_DELIVERY: { custodian: 'KEEP', signers: ['CUSTODIAN'], first: false, terminal: false, afterTerminal: false, summary: 'on the vehicle for the last mile' },
  DELIVERY_ATTEMPTED: { custodian: 'KEEP', signers: ['CUSTODIAN'], first: false, terminal: false, afterTerminal: false, summary: 'nobody there, access failed; the parcel stays with the custodian' },
  DELIVERED: { custodian: 'KEEP', signers: ['CUSTODIAN'], first: false, terminal: true, afterTerminal: false, summary: 'handed to the recipient by the custodian' },
  LOCKER_DEPOSITED: { custodian: 'TRANSFER', signers: ['CUSTODIAN', 'RECEIVER'], receiver: 'LOCKER_OPERATOR', first: false, terminal: false, afterTerminal: false, summary: 'placed in a parcel locker; the locker operator takes custody' },
  COLLECTED_FROM_LOCKER: { custodian: 'KEEP', signers: ['CUSTODIAN'], first: false, terminal: true, afterTerminal: false, summary: 'the recipient took it out of the locker (custodian: the locker operator)' },
  EXCEPTION: { custodian: 'KEEP', signers: ['CUSTODIAN', 'CARRIER'], first: false, terminal: false, afterTerminal: true, summary: 'damage, delay, address problem; also accepted after a terminal state' },
  RETURNED_TO_SENDER: { custodian: 'TRANSFER', signers: ['CUSTODIAN', 'RECEIVER'], receiver: 'MERCHANT', first: false, terminal: true, afterTerminal: false, summary: 'back with the merchant' },
  LOST: { custodian: 'KEEP', signers: ['CUSTODIAN', 'CARRIER'], first: false, terminal: true, afterTerminal: false, summary: 'declared lost' },
  CORRECTION: { custodian: 'KEEP', signers: ['CARRIER', 'CORRECTED_SIGNER'], first: false, terminal: false, afterTerminal: true, summary: 'voids an earlier event (named in the extra data with a reason); history is never rewritten' },
};

/** Flags on an accepted event: recorded, but worth a look. */
export const EVENT_FLAGS = {
  LATE_ARRIVAL: 'arrived after an event that occurred later (offline scanner); ordered by occurredAt in the timeline',
  CARRIER_DECLARED: 'declared by the carrier while another organization held the parcel',
  AFTER_TERMINAL: 'an EXCEPTION after the shipment reached a terminal state (e.g. damage reported after delivery)',
  MISSING_REQUIRED_EVIDENCE: 'DELIVERED without an evidence hash although the merchant requires delivery evidence',
} as const;
export type EventFlag = keyof typeof EVENT_FLAGS;

export interface Org {
  id: string;
  slug: string;
  kind: string;
}

export interface TimelineEntry {
  eventId: string;
  eventType: CustodyEventType;
  occurredAt: bigint;
  /** arrival order: breaks ties of occurredAt */
  arrival: number;
  custodianId: string;
  signerOrgId: string;
  correctsEventId: string | null;
}

export interface CustodyState {
  started: boolean;
  /** the last uncorrected event that moved the parcel along (EXCEPTION does not) */
  phase: CustodyEventType | null;
  custodianId: string | null;
  status: ShipmentStatus;
  subStatus: string | null;
  terminalEvent: TimelineEntry | null;
  deliveredAt: bigint | null;
}

const byTime = (a: TimelineEntry, b: TimelineEntry): number => (a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : a.arrival - b.arrival);

/**
 * The shipment's state after every event up to `until` (all when omitted), in device-clock
 * order. Corrected events and the corrections themselves do not move the state.
 */
export function custodyState(timeline: readonly TimelineEntry[], until?: bigint): CustodyState {
  const corrected = new Set(timeline.map((e) => e.correctsEventId).filter((id): id is string => id !== null));
  const state: CustodyState = { started: false, phase: null, custodianId: null, status: 'PRE_TRANSIT', subStatus: null, terminalEvent: null, deliveredAt: null };
  for (const e of [...timeline].sort(byTime)) {
    if (until !== undefined && e.occurredAt > until) break;
    if (corrected.has(e.eventId) || e.eventType === 'CORRECTION') continue;
    state.started = true;
    state.custodianId = e.custodianId;
    if (e.eventType !== 'EXCEPTION') state.phase = e.eventType;
    const status = STATUS_AFTER[e.eventType];
    if (status && !(state.terminalEvent && e.eventType === 'EXCEPTION')) {
      state.status = status;
      state.subStatus = e.eventType;
    }
    if (CUSTODY_RULES[e.eventType].terminal && !state.terminalEvent) {
      state.terminalEvent = e;
      if (status === 'DELIVERED') state.deliveredAt = e.occurredAt;
    }
  }
  return state;
}

/** A delegation to the event's custodian for the shipment's carrier, as ingestion found it. */
export interface DelegationCandidate {
  delegationId: string;
  delegatorId: string;
  trackingNumber: string;
  validFrom: bigint;
  validUntil: bigint;
  revokedAt: bigint | null;
  /** validity of the key that signed the delegation */
  keyValidFrom: bigint;
  keyRevokedAt: bigint | null;
}

export type Consent = { kind: 'SIGNED' | 'COUNTER_SIGNED' | 'DESIGNATED'; delegationId: null } | { kind: 'DELEGATION'; delegationId: string };

export interface CandidateEvent {
  eventType: CustodyEventType;
  trackingNumber: string;
  /** delegations whose delegate is the event's custodian and whose carrier is the shipment's */
  delegations: readonly DelegationCandidate[];
  occurredAt: bigint;
  custodian: Org;
  signerOrg: Org;
  counterSignerOrg: Org | null;
  hasEvidence: boolean;
  corrects: { eventId: string; signerOrgId: string; eventType: CustodyEventType; occurredAt: bigint; shipmentMatches: boolean; alreadyCorrected: boolean } | null;
}

export interface ShipmentParties {
  carrier: Org;
  merchant: Org | null;
  requireDeliveryEvidence: boolean;
}

export type RuleOutcome =
  | { ok: true; flags: EventFlag[]; dualAttested: boolean; consent: Consent | null; /** the custodian of the moment it was checked against */ custodianBefore: string | null }
  | { ok: false; code: ErrorCode; message: string; field: string };

/** Checks one event against the shipment's timeline; pure, so every rule is testable alone. */
export function checkCustodyRules(timeline: readonly TimelineEntry[], event: CandidateEvent, parties: ShipmentParties, orgName: (id: string | null) => string): RuleOutcome {
  const rule = CUSTODY_RULES[event.eventType];
  const state = custodyState(timeline, event.occurredAt);
  const flags: EventFlag[] = [];
  const reject = (code: ErrorCode, message: string, field: string): RuleOutcome => ({ ok: false, code, message, field });
  if (timeline.some((e) => e.occurredAt > event.occurredAt)) flags.push('LATE_ARRIVAL');

  if (!state.started) {
    if (!rule.first) {
      return reject('CUSTODY_NOT_ESTABLISHED', `a shipment's first event (by occurredAt) must be LABEL_CREATED or PICKED_UP, not ${event.eventType}; upload earlier scans first`, 'eventType');
    }
  } else {
    if (event.eventType === 'LABEL_CREATED') return reject('INVALID_TRANSITION', 'LABEL_CREATED must be the first event of a shipment', 'eventType');
    if (event.eventType === 'PICKED_UP' && state.phase !== 'LABEL_CREATED') return reject('INVALID_TRANSITION', `PICKED_UP is only accepted before the shipment is in transit (it is ${state.status})`, 'eventType');
    if (state.terminalEvent && !rule.afterTerminal) {
      return reject('AFTER_TERMINAL_STATE', `the shipment is ${state.status} since event ${state.terminalEvent.eventId}; only CORRECTION or EXCEPTION are accepted after a terminal state`, 'eventType');
    }
    if (state.terminalEvent && event.eventType === 'EXCEPTION') flags.push('AFTER_TERMINAL');
  }
  if (rule.terminal) {
    // a late terminal event cannot slide in before scans that could not have followed it
    const corrected = new Set(timeline.map((e) => e.correctsEventId));
    const later = timeline.find((e) => e.occurredAt > event.occurredAt && !corrected.has(e.eventId) && e.eventType !== 'EXCEPTION' && e.eventType !== 'CORRECTION');
    if (later) return reject('INVALID_TRANSITION', `${event.eventType} cannot have occurred before ${later.eventType} (event ${later.eventId}), which is recorded later on the timeline`, 'occurredAt');
  }

  const current = state.custodianId;
  // who holds it before, and who after
  const releasing = current ?? (event.eventType === 'PICKED_UP' ? parties.merchant?.id ?? null : null);
  if (rule.custodian === 'KEEP') {
    if (state.started && event.custodian.id !== current) {
      return reject('CUSTODIAN_MISMATCH', `${event.eventType} must name the current custodian "${orgName(current)}" (not "${event.custodian.slug}"); transfer custody with HANDOFF first`, 'custodian');
    }
    if (!state.started && event.custodian.id !== parties.carrier.id && event.custodian.id !== parties.merchant?.id) {
      return reject('CUSTODIAN_MISMATCH', `LABEL_CREATED must name the shipment's merchant or carrier as custodian`, 'custodian');
    }
  } else {
    // a carrier that created the label itself already holds the parcel when it picks it up
    const selfPickup = event.eventType === 'PICKED_UP' && current === parties.carrier.id;
    if (event.custodian.id === current && !selfPickup) return reject('CUSTODIAN_MISMATCH', `${event.eventType} must name the organization taking custody, not the current custodian "${event.custodian.slug}"`, 'custodian');
    if (rule.receiver === 'CARRIER' && event.custodian.id !== parties.carrier.id) return reject('CUSTODIAN_MISMATCH', `PICKED_UP must name the shipment's carrier "${parties.carrier.slug}" as custodian`, 'custodian');
    if (rule.receiver === 'LOCKER_OPERATOR' && event.custodian.kind !== 'LOCKER_OPERATOR') return reject('CUSTODIAN_MISMATCH', `LOCKER_DEPOSITED must name a LOCKER_OPERATOR as custodian ("${event.custodian.slug}" is a ${event.custodian.kind})`, 'custodian');
    if (rule.receiver === 'MERCHANT' && (parties.merchant ? event.custodian.id !== parties.merchant.id : event.custodian.kind !== 'MERCHANT')) {
      return reject('CUSTODIAN_MISMATCH', `RETURNED_TO_SENDER must name the shipment's merchant as custodian`, 'custodian');
    }
  }
  if (event.eventType === 'COLLECTED_FROM_LOCKER' && (event.custodian.kind !== 'LOCKER_OPERATOR' || state.phase !== 'LOCKER_DEPOSITED')) {
    return reject('INVALID_TRANSITION', 'COLLECTED_FROM_LOCKER needs the parcel deposited in a locker first (LOCKER_DEPOSITED)', 'eventType');
  }
  if (event.eventType === 'CORRECTION') {
    const c = event.corrects;
    if (!c) return reject('INVALID_CORRECTION', 'a CORRECTION must carry extra data {"corrects": "<eventId>", "reason": "..."} committed by dataHash', 'extraData');
    if (!c.shipmentMatches) return reject('INVALID_CORRECTION', `event ${c.eventId} is not an event of this shipment`, 'extraData');
    if (c.eventType === 'CORRECTION') return reject('INVALID_CORRECTION', 'a CORRECTION cannot correct another CORRECTION; correct the original event', 'extraData');
    if (c.alreadyCorrected) return reject('INVALID_CORRECTION', `event ${c.eventId} is corrected already`, 'extraData');
    if (event.occurredAt < c.occurredAt) return reject('INVALID_CORRECTION', `a CORRECTION cannot occur before the event it corrects (${c.eventId})`, 'occurredAt');
  }

  const allowed = new Set<string>();
  for (const role of rule.signers) {
    if (role === 'CUSTODIAN' && current) allowed.add(current);
    if (role === 'CUSTODIAN' && !current && releasing) allowed.add(releasing);
    if (role === 'RECEIVER') allowed.add(event.custodian.id);
    if (role === 'CARRIER') allowed.add(parties.carrier.id);
    if (role === 'MERCHANT' && parties.merchant) allowed.add(parties.merchant.id);
    if (role === 'CORRECTED_SIGNER' && event.corrects) allowed.add(event.corrects.signerOrgId);
  }
  if (!allowed.has(event.signerOrg.id)) {
    const who = [...allowed].map((id) => `"${orgName(id)}"`).join(' or ');
    return reject('SIGNER_NOT_AUTHORIZED', `custody continuity: ${event.eventType} here must be signed by ${who || 'the custodian'}, but the key belongs to "${event.signerOrg.slug}"`, 'signature');
  }
  const voided = event.eventType === 'CORRECTION' && event.corrects ? movedCustody(timeline, event.corrects.eventId) : null;
  if (voided) {
    // voiding a transfer would leave later events naming (or released by) a custodian that never
    // held the parcel: those are corrected first, newest first, then the transfer
    const dependent = dependentOnTransfer(timeline, voided.target.eventId);
    if (dependent.length > 0) {
      return reject(
        'INVALID_CORRECTION',
        `event ${voided.target.eventId} transferred custody, and ${dependent.length} later event(s) rest on that transfer (${dependent.slice(0, 3).map((e) => `${e.eventType} ${e.eventId}`).join(', ')}${dependent.length > 3 ? ', …' : ''}): correct them first, newest first, then the transfer`,
        'extraData',
      );
    }
    // and it hands the parcel back: only with the consent of the one holding it now (or by the carrier)
    const holder = voided.target.custodianId;
    if (event.signerOrg.id !== holder && event.signerOrg.id !== parties.carrier.id) {
      return reject(
        'TRANSFER_NOT_CONSENTED',
        `voiding the ${voided.target.eventType} ${voided.target.eventId} gives custody back to "${orgName(voided.before)}" from "${orgName(holder)}", which holds the parcel: the CORRECTION must be signed by "${orgName(holder)}" or by the carrier "${parties.carrier.slug}"`,
        'signature',
      );
    }
  }
  if (rule.signers.includes('CARRIER') && event.signerOrg.id === parties.carrier.id && current && current !== parties.carrier.id && event.eventType !== 'CORRECTION') flags.push('CARRIER_DECLARED');

  let dualAttested = false;
  if (event.counterSignerOrg) {
    if (rule.custodian !== 'TRANSFER') return reject('INVALID_COUNTER_SIGNATURE', `only custody transfers (PICKED_UP, HANDOFF, LOCKER_DEPOSITED, RETURNED_TO_SENDER) carry a counter-signature, not ${event.eventType}`, 'counterSignature');
    const other = event.signerOrg.id === event.custodian.id ? releasing : event.custodian.id;
    if (!other || event.counterSignerOrg.id !== other) {
      return reject('INVALID_COUNTER_SIGNATURE', `the counter-signature must come from the other party of the handoff "${orgName(other)}", not "${event.counterSignerOrg.slug}"`, 'counterSignature');
    }
    dualAttested = true;
  }
  let consent: Consent | null = null;
  if (rule.custodian === 'TRANSFER') {
    const found = transferConsent(event, releasing, parties);
    if ('problem' in found) {
      return reject(
        'TRANSFER_NOT_CONSENTED',
        `${event.eventType} to "${event.custodian.slug}": custody passes only with the consent of the releasing custodian "${orgName(releasing)}". Have "${orgName(releasing)}" sign or counter-sign the transfer, or register a delegation from "${orgName(releasing)}"${releasing !== parties.carrier.id ? ` or the carrier "${parties.carrier.slug}"` : ''} to "${event.custodian.slug}" that covers this shipment at ${new Date(Number(event.occurredAt)).toISOString()}${found.problem ? ` (${found.problem})` : ''}`,
        'signature',
      );
    }
    consent = found;
  }
  if ((event.eventType === 'DELIVERED' || event.eventType === 'COLLECTED_FROM_LOCKER') && parties.requireDeliveryEvidence && !event.hasEvidence) flags.push('MISSING_REQUIRED_EVIDENCE');
  return { ok: true, flags, dualAttested, consent, custodianBefore: current };
}

/** The custodian before each uncorrected event of a timeline (time order, arrival breaking ties). */
export function custodianBeforeEach(timeline: readonly TimelineEntry[]): Map<string, string | null> {
  const corrected = new Set(timeline.map((e) => e.correctsEventId).filter((id): id is string => id !== null));
  const out = new Map<string, string | null>();
  let custodian: string | null = null;
  for (const e of [...timeline].sort(byTime)) {
    if (corrected.has(e.eventId) || e.eventType === 'CORRECTION') continue;
    out.set(e.eventId, custodian);
    custodian = e.custodianId;
  }
  return out;
}

/**
 * The first event of `timeline` whose custodian at its time is no longer the one it was accepted
 * under (`expected`, by event id): a late transfer slid in before scans already accepted (stored,
 * or earlier in the same call) would make them continuity breaks after the fact. Null when every
 * event keeps its custody, e.g. an offline hub's handoff, scans and hand-back sent in one call.
 */
export function retroactiveBreak(timeline: readonly TimelineEntry[], expected: ReadonlyMap<string, string | null>): TimelineEntry | null {
  const now = custodianBeforeEach(timeline);
  for (const e of [...timeline].sort(byTime)) {
    if (!now.has(e.eventId) || !expected.has(e.eventId)) continue;
    if (now.get(e.eventId) !== expected.get(e.eventId)) return e;
  }
  return null;
}

/** The transfer `eventId` and who held the parcel before it, when it moved custody (a carrier picking up its own label does not). */
export function movedCustody(timeline: readonly TimelineEntry[], eventId: string): { target: TimelineEntry; before: string | null } | null {
  const target = timeline.find((e) => e.eventId === eventId);
  if (!target || CUSTODY_RULES[target.eventType].custodian !== 'TRANSFER') return null;
  const before = custodyState(timeline.filter((e) => e !== target && byTime(e, target) < 0)).custodianId;
  return before === target.custodianId ? null : { target, before };
}

/**
 * The uncorrected events after transfer `eventId` that rest on it: they name its custodian or
 * are transfers released by whoever held the parcel then. Empty when the event did not move
 * custody.
 */
export function dependentOnTransfer(timeline: readonly TimelineEntry[], eventId: string): TimelineEntry[] {
  const moved = movedCustody(timeline, eventId);
  if (!moved) return [];
  const { target } = moved;
  const corrected = new Set(timeline.map((e) => e.correctsEventId));
  return timeline
    .filter((e) => byTime(target, e) < 0 && !corrected.has(e.eventId) && e.eventType !== 'CORRECTION' && (e.custodianId === target.custodianId || CUSTODY_RULES[e.eventType].custodian === 'TRANSFER'))
    .sort((a, b) => byTime(b, a));
}

/**
 * How the releasing custodian consented to a transfer, or why no consent was found (the closest
 * delegation's problem, so the message says what to fix).
 */
export function transferConsent(event: Pick<CandidateEvent, 'eventType' | 'occurredAt' | 'custodian' | 'signerOrg' | 'counterSignerOrg' | 'delegations' | 'trackingNumber'>, releasing: string | null, parties: Pick<ShipmentParties, 'carrier'>): Consent | { problem: string | null } {
  // the root of the chain: the shipment names its carrier, so the carrier picking it up needs no one else
  if (event.eventType === 'PICKED_UP' && event.custodian.id === parties.carrier.id) {
    return { kind: releasing !== null && releasing !== parties.carrier.id && event.signerOrg.id === releasing ? 'SIGNED' : 'DESIGNATED', delegationId: null };
  }
  if (releasing !== null && event.signerOrg.id === releasing) return { kind: 'SIGNED', delegationId: null };
  if (releasing !== null && event.counterSignerOrg?.id === releasing) return { kind: 'COUNTER_SIGNED', delegationId: null };
  const t = event.occurredAt;
  // the closest miss, for the message: one in force but revoked (or its key not valid) before one out of its window
  let problem: string | null = null;
  let inWindow = false;
  for (const d of event.delegations) {
    if (d.delegatorId !== parties.carrier.id && d.delegatorId !== releasing) continue;
    if (d.trackingNumber !== '' && d.trackingNumber !== event.trackingNumber) continue;
    const why =
      t < d.validFrom ? `delegation ${d.delegationId} is valid only from ${iso(d.validFrom)}` :
      t >= d.validUntil ? `delegation ${d.delegationId} expired at ${iso(d.validUntil)}` :
      d.revokedAt !== null && t >= d.revokedAt ? `delegation ${d.delegationId} was revoked at ${iso(d.revokedAt)}` :
      t < d.keyValidFrom || (d.keyRevokedAt !== null && t >= d.keyRevokedAt) ? `the key that signed delegation ${d.delegationId} was not valid at the time of the transfer` :
      null;
    if (why === null) return { kind: 'DELEGATION', delegationId: d.delegationId };
    const within = t >= d.validFrom && t < d.validUntil;
    if (problem === null || (within && !inWindow)) [problem, inWindow] = [why, within];
  }
  return { problem };
}

const iso = (ms: bigint): string => new Date(Number(ms)).toISOString();
