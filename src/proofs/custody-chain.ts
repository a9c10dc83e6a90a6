import { CUSTODY_RULES, custodianBeforeEach, custodyState, movedCustody, transferConsent, type Consent, type DelegationCandidate, type Org, type TimelineEntry } from '../custody/custody-rules';
import type { CustodyEventType } from '../custody/event-types';

/**
 * The custody chain replayed from a bundle alone (issue 9), with the custody rules' own functions
 * (`custodyState`, `transferConsent`), so the verifier and the dispute verdict judge consent
 * exactly as ingestion did: each transfer against the timeline as it stood when the transfer was
 * accepted (the events before it in arrival order, which is the hash-chain order), at its
 * occurredAt; corrected events and corrections do not move custody. Organizations are slugs.
 */
export type ConsentStatus = 'CONSENTED' | 'NOT_CONSENTED' | 'UNPROVEN';

export interface CustodyLink {
  eventIndex: number;
  eventId: string;
  eventType: string;
  /** unix ms, decimal string */
  occurredAt: string;
  /** the releasing custodian (null: nobody held the parcel before: the root of the chain) */
  from: string | null;
  to: string;
  /** organizations of the signing and counter-signing keys */
  signer: string;
  counterSigner: string | null;
  /** the consent the verifier established; null when none could be */
  consent: Consent['kind'] | null;
  delegationId: string | null;
  /** CONSENTED: proven from the bundle; NOT_CONSENTED: the bundle shows none; UNPROVEN: this bundle cannot show it either way */
  status: ConsentStatus;
  problem: string | null;
}

export interface CustodyReport {
  /** every uncorrected transfer, in the bundle's (arrival) order */
  chain: CustodyLink[];
  /** every uncorrected transfer has a proven consent */
  consented: boolean;
}

export interface ChainEvent {
  eventId: string;
  eventType: string;
  custodian: string;
  occurredAt: bigint;
  signerOrganization: string;
  counterSignerOrganization: string | null;
  correctsEventId: string | null;
}

/** A delegation whose signature checked out; `proven`: its key record and its own record are proven in the anchored state. */
export interface ChainDelegation extends DelegationCandidate {
  delegate: string;
  carrier: string;
  proven: boolean;
}

export interface TransferFinding {
  eventIndex: number;
  from: string | null;
  consent: Consent | null;
  /** the delegation the consent rests on, if any */
  delegation: ChainDelegation | null;
  /** why no consent was found (the closest delegation's problem) */
  problem: string | null;
  /** a keep event naming another custodian than the one holding the parcel: custody moved without any transfer */
  keepMismatch: boolean;
}

const TRANSFER_TYPES = new Set(['PICKED_UP', 'HANDOFF', 'LOCKER_DEPOSITED', 'RETURNED_TO_SENDER']);
const isRuleType = (t: string): t is CustodyEventType => Object.prototype.hasOwnProperty.call(CUSTODY_RULES, t);
const org = (slug: string): Org => ({ id: slug, slug, kind: '' });

/**
 * The custody rules replayed over the bundle, event by event in arrival (hash-chain) order, as
 * ingestion applied them: who may start the chain (a LABEL_CREATED naming the carrier or the
 * merchant, or the carrier's PICKED_UP), who may sign each event (CUSTODY_RULES signers), that a
 * keep event names the holder, that a transfer goes to someone else (a PICKED_UP to the carrier),
 * the consent of every uncorrected transfer, and that voiding a transfer is signed by its receiver
 * or the carrier. An event is judged when it arrived, so a later correction does not excuse it;
 * and at the end every event must still have the custodian it was judged under on the whole
 * timeline (events inserted or reordered around it break that). `preferred`: the delegation the
 * ledger says a transfer relies on, tried first (ingestion took the first that covered it; any
 * other that covers it proves consent as well). One finding per event that moves custody or
 * breaks a rule, in event order; `keepMismatch` marks a broken rule other than a missing consent.
 */
export function replayTransfers(
  events: readonly ChainEvent[],
  shipment: { carrier: string; merchant: string | null; trackingNumber: string },
  delegations: readonly ChainDelegation[],
  preferred: (index: number) => string | null = () => null,
): TransferFinding[] {
  const timeline: TimelineEntry[] = [];
  const findings = new Map<number, TransferFinding>();
  /** the custodian each event was judged under, by event id */
  const judgedUnder = new Map<string, { index: number; custodian: string | null }>();
  const broken = (index: number, from: string | null, problem: string): void => {
    findings.set(index, { eventIndex: index, from, consent: null, delegation: null, keepMismatch: true, problem });
  };
  events.forEach((e, index) => {
    if (!isRuleType(e.eventType)) return; // never accepted by ingestion: moves nothing
    const entry: TimelineEntry = {
      eventId: e.eventId.toLowerCase(),
      eventType: e.eventType,
      occurredAt: e.occurredAt,
      arrival: index,
      custodianId: e.custodian,
      signerOrgId: e.signerOrganization,
      correctsEventId: e.correctsEventId?.toLowerCase() ?? null,
    };
    const rule = CUSTODY_RULES[e.eventType];
    const state = custodyState(timeline, e.occurredAt);
    const current = state.custodianId;
    const releasing = current ?? (e.eventType === 'PICKED_UP' ? shipment.merchant : null);
    const problem = ruleProblem(e, rule, state.started, current, releasing, shipment, timeline);
    if (problem) broken(index, current, problem);
    else if (e.eventType === 'CORRECTION') {
      // voiding a transfer hands the parcel back: only the organization it went to, or the carrier, may sign that
      const voided = entry.correctsEventId ? movedCustody(timeline, entry.correctsEventId) : null;
      if (voided && e.signerOrganization !== voided.target.custodianId && e.signerOrganization !== shipment.carrier) {
        broken(index, voided.target.custodianId, `voids the ${voided.target.eventType} ${voided.target.eventId} to "${voided.target.custodianId}" without its consent: custody went back to "${voided.before ?? 'nobody'}" on the signature of "${e.signerOrganization}" (only the organization holding the parcel, or the carrier, may void a transfer)`);
      }
    } else if (rule.custodian === 'TRANSFER') {
      // judged at arrival like everything else: a transfer corrected later needed consent all the same
      const wanted = preferred(index);
      const candidates = delegations
        .filter((d) => d.delegate === e.custodian && d.carrier === shipment.carrier)
        .sort((a, b) => Number(b.delegationId === wanted) - Number(a.delegationId === wanted));
      const found = transferConsent(
        { eventType: e.eventType, occurredAt: e.occurredAt, custodian: org(e.custodian), signerOrg: org(e.signerOrganization), counterSignerOrg: e.counterSignerOrganization === null ? null : org(e.counterSignerOrganization), delegations: candidates, trackingNumber: shipment.trackingNumber },
        releasing,
        { carrier: org(shipment.carrier) },
      );
      if ('problem' in found) findings.set(index, { eventIndex: index, from: releasing, consent: null, delegation: null, keepMismatch: false, problem: found.problem });
      else findings.set(index, { eventIndex: index, from: releasing, consent: found, delegation: found.delegationId === null ? null : candidates.find((d) => d.delegationId === found.delegationId)!, keepMismatch: false, problem: null });
    }
    if (e.eventType !== 'CORRECTION') judgedUnder.set(entry.eventId, { index, custodian: current });
    timeline.push(entry);
  });
  // every event still has the custodian it was judged under, on the whole timeline
  const now = custodianBeforeEach(timeline);
  for (const [eventId, { index, custodian }] of judgedUnder) {
    if (!now.has(eventId) || now.get(eventId) === custodian || findings.get(index)?.keepMismatch) continue;
    broken(index, now.get(eventId)!, `was judged while "${custodian ?? 'nobody'}" held the parcel, but on the whole timeline "${now.get(eventId) ?? 'nobody'}" held it then: events were inserted or reordered around it`);
  }
  return [...findings.values()].sort((a, b) => a.eventIndex - b.eventIndex);
}

/** The rule an event breaks at its arrival, other than a missing consent (null when none). */
function ruleProblem(
  e: ChainEvent,
  rule: (typeof CUSTODY_RULES)[CustodyEventType],
  started: boolean,
  current: string | null,
  releasing: string | null,
  shipment: { carrier: string; merchant: string | null },
  timeline: readonly TimelineEntry[],
): string | null {
  const type = e.eventType as CustodyEventType;
  if (type !== 'CORRECTION') {
    if (!started) {
      const starts = (type === 'LABEL_CREATED' && (e.custodian === shipment.carrier || e.custodian === shipment.merchant)) || (type === 'PICKED_UP' && e.custodian === shipment.carrier);
      if (!starts) return `starts the custody chain naming "${e.custodian}", but a chain starts only with a LABEL_CREATED naming the carrier "${shipment.carrier}" or the merchant, or the carrier's PICKED_UP: "${e.custodian}" never received custody`;
    } else if (rule.custodian === 'KEEP' && current !== e.custodian) {
      return `names "${e.custodian}" as custodian while "${current}" held the parcel: custody moved without a transfer`;
    }
    if (type === 'PICKED_UP' && e.custodian !== shipment.carrier) return `is a PICKED_UP naming "${e.custodian}", not the shipment's carrier "${shipment.carrier}"`;
    if (rule.custodian === 'TRANSFER' && started && e.custodian === current && !(type === 'PICKED_UP' && current === shipment.carrier)) return `transfers custody to "${e.custodian}", which already held the parcel`;
  }
  const allowed = new Set<string>();
  for (const role of rule.signers) {
    if (role === 'CUSTODIAN' && (current ?? releasing)) allowed.add((current ?? releasing)!);
    if (role === 'RECEIVER') allowed.add(e.custodian);
    if (role === 'CARRIER') allowed.add(shipment.carrier);
    if (role === 'MERCHANT' && shipment.merchant) allowed.add(shipment.merchant);
    if (role === 'CORRECTED_SIGNER') {
      const target = timeline.find((x) => x.eventId === e.correctsEventId?.toLowerCase());
      if (target) allowed.add(target.signerOrgId);
    }
  }
  if (!allowed.has(e.signerOrganization)) return `is signed by a key of "${e.signerOrganization}", but a ${type} here is signed by ${[...allowed].map((o) => `"${o}"`).join(' or ') || 'nobody'}`;
  return null;
}

const iso = (ms: string | bigint): string => new Date(Number(ms)).toISOString();

/** "the HANDOFF of <time> to "x" was signed by "y" alone": how a link was signed, for messages. */
export function describeTransfer(link: Pick<CustodyLink, 'eventType' | 'occurredAt' | 'to' | 'signer' | 'counterSigner'>, quote = (s: string) => `"${s}"`): string {
  return `the ${link.eventType} of ${iso(link.occurredAt)} to ${quote(link.to)} was signed by ${quote(link.signer)}${link.counterSigner ? ` and counter-signed by ${quote(link.counterSigner)}` : ' alone'}`;
}

export type HolderFinding =
  | { kind: 'CONSENTED'; holder: string; links: CustodyLink[] }
  | { kind: 'NOT_CONSENTED' | 'UNPROVEN'; link: CustodyLink }
  | { kind: 'NOT_HOLDER'; holder: string | null };

/**
 * Whether `organization` held the parcel with consent at `at`: custody starts with the shipment's
 * first uncorrected event when it is a LABEL_CREATED naming the carrier or the merchant, or with
 * the carrier's own PICKED_UP, and passes only by consented transfers from whoever holds it then,
 * up to `at`. A transfer without proven consent (or from someone who does not hold the parcel)
 * moves nothing: custody stays where it was, so a stranger's excursion written into the record
 * cannot take a genuine holder's custody away. NOT_CONSENTED / UNPROVEN: the organization got the
 * parcel only through such a link.
 */
export function consentedHolder(
  chain: readonly CustodyLink[],
  events: readonly ChainEvent[],
  shipment: { carrier: string; merchant: string | null },
  organization: string,
  at: bigint,
): HolderFinding {
  // voided only by a correction that holds: one the chain shows broken (a transfer voided without its holder) voids nothing
  const brokenCorrections = new Set(chain.filter((l) => l.eventType === 'CORRECTION' && l.status !== 'CONSENTED').map((l) => l.eventId.toLowerCase()));
  const corrected = new Set(events.filter((e) => !brokenCorrections.has(e.eventId.toLowerCase())).map((e) => e.correctsEventId?.toLowerCase()).filter((id): id is string => !!id));
  const first = events
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => isRuleType(e.eventType) && e.eventType !== 'CORRECTION' && !corrected.has(e.eventId.toLowerCase()))
    .sort((a, b) => (a.e.occurredAt < b.e.occurredAt ? -1 : a.e.occurredAt > b.e.occurredAt ? 1 : a.i - b.i))[0]?.e;
  let holder: string | null = first?.eventType === 'LABEL_CREATED' && (first.custodian === shipment.carrier || first.custodian === shipment.merchant) ? first.custodian : null;
  const links = chain
    .filter((l) => BigInt(l.occurredAt) <= at && TRANSFER_TYPES.has(l.eventType) && !corrected.has(l.eventId.toLowerCase()))
    .sort((a, b) => (BigInt(a.occurredAt) < BigInt(b.occurredAt) ? -1 : BigInt(a.occurredAt) > BigInt(b.occurredAt) ? 1 : a.eventIndex - b.eventIndex));
  const passed: CustodyLink[] = [];
  let only: CustodyLink | null = null;
  for (const link of links) {
    const root = link.eventType === 'PICKED_UP' && link.to === shipment.carrier && (holder === null || holder === shipment.merchant || holder === shipment.carrier);
    if (link.status !== 'CONSENTED' || !(root || link.from === holder)) {
      if (link.to === organization && link.status !== 'CONSENTED') only = link;
      continue;
    }
    holder = link.to;
    passed.push(link);
  }
  if (holder === organization) return { kind: 'CONSENTED', holder, links: passed };
  if (only) return { kind: only.status as 'NOT_CONSENTED' | 'UNPROVEN', link: only };
  return { kind: 'NOT_HOLDER', holder };
}
