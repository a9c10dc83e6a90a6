import { CUSTODY_RULES, custodyState, movedCustody, transferConsent, type Consent, type DelegationCandidate, type Org, type TimelineEntry } from '../custody/custody-rules';
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

const isRuleType = (t: string): t is CustodyEventType => Object.prototype.hasOwnProperty.call(CUSTODY_RULES, t);
const org = (slug: string): Org => ({ id: slug, slug, kind: '' });

/**
 * Every uncorrected transfer's releasing custodian and the consent found for it. `preferred`:
 * the delegation the ledger says a transfer relies on, tried first (ingestion took the first that
 * covered it; any other that covers it proves consent as well).
 */
export function replayTransfers(
  events: readonly ChainEvent[],
  shipment: { carrier: string; merchant: string | null; trackingNumber: string },
  delegations: readonly ChainDelegation[],
  preferred: (index: number) => string | null = () => null,
): TransferFinding[] {
  const corrected = new Set(events.map((e) => e.correctsEventId?.toLowerCase()).filter((id): id is string => !!id));
  const timeline: TimelineEntry[] = [];
  const findings: TransferFinding[] = [];
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
    // voiding a transfer hands the parcel back: only the organization it went to, or the carrier, may sign that
    const voided = e.eventType === 'CORRECTION' && entry.correctsEventId ? movedCustody(timeline, entry.correctsEventId) : null;
    if (voided && e.signerOrganization !== voided.target.custodianId && e.signerOrganization !== shipment.carrier) {
      findings.push({
        eventIndex: index,
        from: voided.target.custodianId,
        consent: null,
        delegation: null,
        keepMismatch: true,
        problem: `voids the ${voided.target.eventType} ${voided.target.eventId} to "${voided.target.custodianId}" without its consent: custody went back to "${voided.before ?? 'nobody'}" on the signature of "${e.signerOrganization}" (only the organization holding the parcel, or the carrier, may void a transfer)`,
      });
    }
    const moves = e.eventType !== 'CORRECTION' && !corrected.has(entry.eventId);
    if (moves && CUSTODY_RULES[e.eventType].custodian === 'KEEP') {
      const state = custodyState(timeline, e.occurredAt);
      if (state.started && state.custodianId !== e.custodian) {
        findings.push({ eventIndex: index, from: state.custodianId, consent: null, delegation: null, keepMismatch: true, problem: `names "${e.custodian}" as custodian while "${state.custodianId}" held the parcel: custody moved without a transfer` });
      }
    }
    if (moves && CUSTODY_RULES[e.eventType].custodian === 'TRANSFER') {
      const state = custodyState(timeline, e.occurredAt);
      const from = state.custodianId ?? (e.eventType === 'PICKED_UP' ? shipment.merchant : null);
      const wanted = preferred(index);
      const candidates = delegations
        .filter((d) => d.delegate === e.custodian && d.carrier === shipment.carrier)
        .sort((a, b) => Number(b.delegationId === wanted) - Number(a.delegationId === wanted));
      const found = transferConsent(
        { eventType: e.eventType, occurredAt: e.occurredAt, custodian: org(e.custodian), signerOrg: org(e.signerOrganization), counterSignerOrg: e.counterSignerOrganization === null ? null : org(e.counterSignerOrganization), delegations: candidates, trackingNumber: shipment.trackingNumber },
        from,
        { carrier: org(shipment.carrier) },
      );
      if ('problem' in found) findings.push({ eventIndex: index, from, consent: null, delegation: null, keepMismatch: false, problem: found.problem });
      else findings.push({ eventIndex: index, from, consent: found, delegation: found.delegationId === null ? null : candidates.find((d) => d.delegationId === found.delegationId)!, keepMismatch: false, problem: null });
    }
    timeline.push(entry);
  });
  return findings;
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
 * first uncorrected event (a LABEL_CREATED naming the carrier or the merchant, or the carrier's
 * PICKED_UP) and passes only by consented transfers up to `at`. The first transfer without proven
 * consent breaks the chain: nobody after it received custody with consent.
 */
export function consentedHolder(
  chain: readonly CustodyLink[],
  events: readonly ChainEvent[],
  shipment: { carrier: string; merchant: string | null },
  organization: string,
  at: bigint,
): HolderFinding {
  const corrected = new Set(events.map((e) => e.correctsEventId?.toLowerCase()).filter((id): id is string => !!id));
  const first = events
    .map((e, i) => ({ e, i }))
    .filter(({ e }) => isRuleType(e.eventType) && e.eventType !== 'CORRECTION' && !corrected.has(e.eventId.toLowerCase()))
    .sort((a, b) => (a.e.occurredAt < b.e.occurredAt ? -1 : a.e.occurredAt > b.e.occurredAt ? 1 : a.i - b.i))[0]?.e;
  let holder: string | null = first?.eventType === 'LABEL_CREATED' && (first.custodian === shipment.carrier || first.custodian === shipment.merchant) ? first.custodian : null;
  const links = chain.filter((l) => BigInt(l.occurredAt) <= at).sort((a, b) => (BigInt(a.occurredAt) < BigInt(b.occurredAt) ? -1 : BigInt(a.occurredAt) > BigInt(b.occurredAt) ? 1 : a.eventIndex - b.eventIndex));
  for (const link of links) {
    if (link.status !== 'CONSENTED') return { kind: link.status, link };
    // a consented transfer from someone who never held it with consent passes nothing on
    if (link.from !== holder && !(holder === null && link.eventType === 'PICKED_UP')) return { kind: 'NOT_HOLDER', holder };
    holder = link.to;
  }
  return holder === organization ? { kind: 'CONSENTED', holder, links } : { kind: 'NOT_HOLDER', holder };
}
