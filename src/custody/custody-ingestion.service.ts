import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { LedgerError, type ErrorCode } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { LiveUpdatesService } from '../live/live-updates.service';
import { WebhooksService } from '../webhooks/webhooks.service';
import { inTransaction, isDeadlock, isUniqueViolation, sqlRows } from '../database/data-source';
import { ZERO_HASH, custodyEventDigest, custodyLeaf, signaturesHash } from '../signing/custody-signing';
import { SignaturePool } from '../signing/signature-verifier';
import { keccakReady } from '../signing/keccak';
import { SealerService } from '../batching/sealer.service';
import type { SignedCustodyEventInput } from './dto/signed-custody-event.input';
import { canonicalSignature, parseSignedEvent, type ParsedEvent } from './event-validation';
import type { CustodyEventType } from './event-types';
import type { Principal } from '../auth/principal';
import { CUSTODY_RULES, checkCustodyRules, custodianBeforeEach, custodyState, retroactiveBreak, type Consent, type DelegationCandidate, type EventFlag, type Org, type TimelineEntry } from './custody-rules';
import { EVENT_STATUS_SQL, type CustodyEventStatus } from './custody-event.row';
import { OUTCOME_SQL } from '../database/migrations/1764760000000-analytics';
import { analyticsColumns, placeOf, writeDwell, writeLaneHistory, type Place, type PlaceRow } from '../analytics/analytics-writes';

export interface CustodyReceiptData {
  eventId: string;
  digest: string;
  leaf: string;
  previousLeaf: string;
  status: CustodyEventStatus;
  receivedAt: Date;
}

export type RecordOutcome =
  | { index: number; eventId: string | null; outcome: 'ACCEPTED' | 'DUPLICATE'; receipt: CustodyReceiptData }
  | { index: number; eventId: string | null; outcome: 'REJECTED'; error: { code: ErrorCode; message: string; field: string | null } };

interface Candidate extends ParsedEvent {
  index: number;
  digest: string;
  sigHash: string;
  signer: string | null;
  counterSigner: string | null;
}

interface KeyRow {
  address: string;
  organization_id: string;
  slug: string;
  suspended: boolean;
  valid_from: Date;
  revoked_at: Date | null;
}

interface DelegationRow {
  delegation_id: string;
  delegator_id: string;
  delegate_id: string;
  carrier_id: string;
  tracking_number: string;
  valid_from_ms: string;
  valid_until_ms: string;
  revoked_at_ms: string | null;
  signer: string;
  registered_at: Date;
}

interface ShipmentRow {
  id: string;
  carrier: string;
  carrier_id: string;
  merchant_id: string | null;
  require_delivery_evidence: boolean;
  tracking_number: string;
  head_leaf: string;
  /** what analytics and the estimate need (src/analytics/analytics-writes.ts) */
  delivered_at_ms: string | null;
  promised_delivery_at: Date | null;
  carrier_estimated_delivery_at: Date | null;
  destination_lat_e6: number | null;
  destination_lon_e6: number | null;
}

interface AcceptedRow {
  c: Candidate;
  shipment: ShipmentRow;
  custodianId: string;
  signerOrgId: string;
  previousLeaf: string;
  leaf: string;
  flags: EventFlag[];
  dualAttested: boolean;
  consent: Consent | null;
  /** the custodian of the moment it was accepted under */
  custodianBefore: string | null;
  correctsId: string | null;
}


/**
 * Records signed custody events. Works on whole calls: signatures are recovered in one batch,
 * every lookup is one statement for all events, and the accepted events are written with one
 * multi-row INSERT. Each event is accepted or rejected on its own; a rejected event writes
 * nothing. Resubmitting an accepted event returns its receipt again (idempotent on eventId).
 */
@Injectable()
export class CustodyIngestionService implements OnApplicationShutdown {
  private readonly signatures: SignaturePool;
  /** Time spent in the statements that store accepted events, for the benchmark (and metrics). */
  readonly writeStats = { rows: 0, ms: 0 };
  /** Events by outcome since start (the `/metrics` counter custody_events_recorded_total). */
  readonly outcomeCounts: Record<RecordOutcome['outcome'], number> = { ACCEPTED: 0, DUPLICATE: 0, REJECTED: 0 };

  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly sealer: SealerService,
    private readonly live: LiveUpdatesService,
    private readonly webhooks: WebhooksService,
  ) {
    this.signatures = new SignaturePool(runtime.config.signatureWorkers);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.signatures.close();
  }

  /** `caller`: a CARRIER key records only events signed by its own organization's keys. */
  async record(inputs: SignedCustodyEventInput[], caller: Principal): Promise<RecordOutcome[]> {
    const max = this.runtime.config.maxEventsPerCall;
    if (inputs.length > max) {
      throw new LedgerError('TOO_MANY_EVENTS', `recordCustodyEvents takes at most ${max} events per call (got ${inputs.length}); split the upload`);
    }
    const outcomes: RecordOutcome[] = new Array(inputs.length);
    const candidates = await this.verify(inputs, outcomes);
    const refused = new Map<number, { code: ErrorCode; message: string; field: string }>();
    for (let attempt = 1, rounds = 0; ; attempt++) {
      try {
        await inTransaction(this.runtime.dataSource, (runner) => this.store(runner, candidates, outcomes, caller, refused));
        break;
      } catch (err) {
        // late transfers that would break recorded events: run again with every late transfer of
        // those shipments refused (so a second round finds none; a third cannot happen)
        if (err instanceof RetroactiveBreaks && ++rounds < 3) continue;
        // a concurrent call stored the same event id first: run again, it is then a duplicate or a conflict;
        // or PostgreSQL broke a lock cycle with a concurrent transaction by aborting this one
        if (!(isUniqueViolation(err) || isDeadlock(err)) || attempt >= 3) throw err;
      }
    }
    this.sealer.nudge();
    for (const o of outcomes) this.outcomeCounts[o.outcome] += 1;
    return outcomes;
  }

  /** Stateless checks and signature recovery, before any database work. */
  private async verify(inputs: SignedCustodyEventInput[], outcomes: RecordOutcome[]): Promise<Candidate[]> {
    await keccakReady;
    const parsed: Array<{ index: number; event: ParsedEvent; digest: string }> = [];
    const latest = BigInt(Date.now() + this.runtime.config.maxClockSkewMs);
    for (let index = 0; index < inputs.length; index++) {
      const input = inputs[index];
      // a large call gives other requests a turn every few hundred events (no task holds the loop for long)
      if (index > 0 && index % YIELD_EVERY === 0) await yieldToLoop();
      try {
        const event = parseSignedEvent(input);
        if (event.fields.occurredAt > latest) {
          throw new LedgerError('OCCURRED_IN_FUTURE', `occurredAt ${event.fields.occurredAt} is more than ${this.runtime.config.maxClockSkewMs} ms ahead of the server clock; check the device clock`, 'occurredAt');
        }
        parsed.push({ index, event, digest: custodyEventDigest(this.runtime.domainSeparator, event.fields) });
      } catch (err) {
        outcomes[index] = rejection(index, typeof input.eventId === 'string' ? input.eventId.toLowerCase() : null, err);
      }
    }
    const requests = parsed.flatMap(({ event, digest }) => [
      { digest, signature: event.signature },
      ...(event.counterSignature ? [{ digest, signature: event.counterSignature }] : []),
    ]);
    const recovered = await this.signatures.recover(requests);
    let cursor = 0;
    const candidates: Candidate[] = [];
    for (const { index, event, digest } of parsed) {
      const main = recovered[cursor++];
      const counter = event.counterSignature ? recovered[cursor++] : null;
      if (!main.ok) {
        outcomes[index] = rejection(index, event.fields.eventId, new LedgerError('INVALID_SIGNATURE', `signature: ${main.reason}`, 'signature'));
        continue;
      }
      if (counter && !counter.ok) {
        outcomes[index] = rejection(index, event.fields.eventId, new LedgerError('INVALID_COUNTER_SIGNATURE', `counterSignature: ${counter.reason}`, 'counterSignature'));
        continue;
      }
      candidates.push({
        ...event,
        index,
        digest,
        sigHash: signaturesHash(event.signature, event.counterSignature),
        signer: main.signer,
        counterSigner: counter && counter.ok ? counter.signer : null,
      });
    }
    return candidates;
  }

  private async store(runner: QueryRunner, candidates: Candidate[], outcomes: RecordOutcome[], caller: Principal, refused: Map<number, { code: ErrorCode; message: string; field: string }>): Promise<void> {
    // a retried transaction starts from the stateless outcomes only
    for (const c of candidates) delete (outcomes as Array<RecordOutcome | undefined>)[c.index];
    if (candidates.length === 0) return;

    const shipmentKeys = unique(candidates.map((c) => `${c.fields.carrier}\u0000${c.fields.trackingNumber}`));
    // lock the shipments in a fixed order: their head leaf and timeline are read and advanced here
    const shipments = await sqlRows<ShipmentRow>(
      runner,
      `SELECT s.id, o.slug AS carrier, s.carrier_id, s.merchant_id, s.require_delivery_evidence, s.tracking_number, s.head_leaf,
              s.delivered_at_ms, s.promised_delivery_at, s.carrier_estimated_delivery_at, s.destination_lat_e6, s.destination_lon_e6
         FROM shipments s JOIN organizations o ON o.id = s.carrier_id
         JOIN unnest($1::text[], $2::text[]) AS k(carrier, tracking_number) ON k.carrier = o.slug AND k.tracking_number = s.tracking_number
        ORDER BY s.id FOR UPDATE OF s`,
      [shipmentKeys.map((k) => k.split('\u0000')[0]), shipmentKeys.map((k) => k.split('\u0000')[1])],
    );
    const timelineRows = await sqlRows<{ shipment_id: string; id: string; event_id: string; event_type: CustodyEventType; occurred_at_ms: string; custodian_id: string; signer_organization_id: string; corrects_event_id: string | null } & PlaceRow>(
      runner,
      `SELECT shipment_id, id, event_id, event_type, occurred_at_ms, custodian_id, signer_organization_id, corrects_event_id, location_code, lat_e6, lon_e6, accuracy_m
         FROM custody_events WHERE shipment_id = ANY($1::uuid[])`,
      [shipments.map((s) => s.id)],
    );
    // by the key table, which keeps the ids of ranges archived out of custody_events (then e.event_id is null)
    const known = await sqlRows<{ key: string; event_id: string | null; digest: string; signatures_hash: string; signature: string; counter_signature: string | null; leaf: string; previous_leaf: string; received_at: Date; status: CustodyEventStatus }>(
      runner,
      `SELECT k.event_id AS key, e.event_id, e.digest, e.signatures_hash, e.signature, e.counter_signature, e.leaf, e.previous_leaf, e.received_at, ${EVENT_STATUS_SQL} AS status
         FROM custody_event_keys k LEFT JOIN custody_events e ON e.id = k.id LEFT JOIN anchor_batches b ON b.seq = e.batch_seq WHERE k.event_id = ANY($1::text[])`,
      [unique(candidates.map((c) => c.fields.eventId))],
    );
    const existing = known.filter((e) => e.event_id !== null);
    const archived = new Set(known.filter((e) => e.event_id === null).map((e) => e.key));
    // delegations that may carry a transfer's consent: to a named custodian, for a shipment's carrier.
    // FOR SHARE: a revocation racing this call waits, then sees the transfer it must not void.
    // Locked in key order, like the keys below and in the sealer, so no two transactions deadlock
    const transfers = candidates.filter((c) => CUSTODY_RULES[c.fields.eventType as CustodyEventType]?.custodian === 'TRANSFER');
    const delegationRows = transfers.length === 0 ? [] : await sqlRows<DelegationRow>(
      runner,
      `SELECT d.delegation_id, d.delegator_id, d.delegate_id, d.carrier_id, d.tracking_number, d.valid_from_ms::text AS valid_from_ms, d.valid_until_ms::text AS valid_until_ms,
              (extract(epoch FROM d.revoked_at) * 1000)::bigint::text AS revoked_at_ms, d.signer, d.registered_at
         FROM custody_delegations d
         JOIN organizations dc ON dc.id = d.delegate_id JOIN organizations cc ON cc.id = d.carrier_id JOIN organizations dg ON dg.id = d.delegator_id
        WHERE dg.suspended_at IS NULL AND dc.slug = ANY($1::text[]) AND cc.slug = ANY($2::text[]) AND d.tracking_number = ANY($3::text[])
        ORDER BY d.delegation_id FOR SHARE OF d`,
      [unique(transfers.map((c) => c.fields.custodian)), unique(transfers.map((c) => c.fields.carrier)), ['', ...unique(transfers.map((c) => c.fields.trackingNumber))]],
    );
    delegationRows.sort((a, b) => a.registered_at.getTime() - b.registered_at.getTime() || (a.delegation_id < b.delegation_id ? -1 : 1));
    const keys = await sqlRows<KeyRow>(
      runner,
      // FOR SHARE: a key's revocation waits for this call and then sees what the key signed (or consented to by delegation)
      `SELECT k.address, k.organization_id, o.slug, o.suspended_at IS NOT NULL AS suspended, k.valid_from, k.revoked_at FROM signing_keys k JOIN organizations o ON o.id = k.organization_id
        WHERE k.address = ANY($1::text[]) ORDER BY k.address FOR SHARE OF k`,
      [unique([...candidates.flatMap((c) => [c.signer, c.counterSigner]), ...delegationRows.map((d) => d.signer)].filter((a): a is string => a !== null))],
    );
    const orgs = await sqlRows<Org & { suspended: boolean }>(runner, `SELECT id, slug, kind, suspended_at IS NOT NULL AS suspended FROM organizations WHERE slug = ANY($1::text[]) OR id = ANY($2::uuid[])`, [
      unique(candidates.flatMap((c) => [c.fields.carrier, c.fields.custodian])),
      unique([...shipments.flatMap((s) => [s.merchant_id]), ...timelineRows.map((t) => t.custodian_id)].filter((id): id is string => id !== null)),
    ]);

    const delegationsTo = (custodianId: string, carrierId: string): DelegationCandidate[] =>
      delegationRows.filter((d) => d.delegate_id === custodianId && d.carrier_id === carrierId).map((d) => ({
        delegationId: d.delegation_id,
        delegatorId: d.delegator_id,
        trackingNumber: d.tracking_number,
        validFrom: BigInt(d.valid_from_ms),
        validUntil: BigInt(d.valid_until_ms),
        revokedAt: d.revoked_at_ms === null ? null : BigInt(d.revoked_at_ms),
        keyValidFrom: BigInt(keyBy.get(d.signer)!.valid_from.getTime()),
        keyRevokedAt: keyBy.get(d.signer)!.revoked_at === null ? null : BigInt(keyBy.get(d.signer)!.revoked_at!.getTime()),
      }));

    const shipmentBy = new Map(shipments.map((s) => [`${s.carrier}\u0000${s.tracking_number}`, s]));
    const timelines = new Map<string, TimelineEntry[]>(shipments.map((s) => [s.id, []]));
    const places = new Map<string, Place>();
    for (const t of timelineRows) {
      places.set(t.event_id, placeOf(t));
      timelines.get(t.shipment_id)!.push({ eventId: t.event_id, eventType: t.event_type, occurredAt: BigInt(t.occurred_at_ms), arrival: Number(t.id), custodianId: t.custodian_id, signerOrgId: t.signer_organization_id, correctsEventId: t.corrects_event_id });
    }
    const existingBy = new Map(existing.map((e) => [e.event_id, e]));
    const orgBySlug = new Map(orgs.map((o) => [o.slug, o]));
    const orgById = new Map(orgs.map((o) => [o.id, o]));
    const keyBy = new Map(keys.map((k) => [k.address, k]));
    const orgName = (id: string | null): string => (id ? orgById.get(id)?.slug ?? id : '(nobody)');
    const acceptedNow = new Map<string, { candidate: Candidate; receipt: CustodyReceiptData }>();
    const rows: AcceptedRow[] = [];
    const touched = new Set<ShipmentRow>();
    const receivedAt = new Date();
    let arrival = Number.MAX_SAFE_INTEGER - candidates.length;

    for (const [n, c] of candidates.entries()) {
      if (n > 0 && n % YIELD_EVERY === 0) await yieldToLoop();
      const f = c.fields;
      const reject = (code: ErrorCode, message: string, field: string | null = null): void => {
        outcomes[c.index] = { index: c.index, eventId: f.eventId, outcome: 'REJECTED', error: { code, message, field } };
      };
      const refusal = refused.get(c.index);
      if (refusal) {
        reject(refusal.code, refusal.message, refusal.field);
        continue;
      }
      // whose event it is comes first: a replay of another organization's event must not reveal its receipt
      const signerKey = keyBy.get(c.signer!);
      if (caller.role !== 'ADMIN' && signerKey && signerKey.organization_id !== caller.organizationId) {
        reject('SIGNER_OF_OTHER_ORGANIZATION', `the event is signed by a key of "${signerKey.slug}"; an API key of "${caller.organizationSlug}" records only its own organization's events`, 'signature');
        continue;
      }
      if (archived.has(f.eventId)) {
        reject('EVENT_ID_CONFLICT', `eventId ${f.eventId} was recorded before, in a range of the ledger since archived (its receipt is in the archive); a device must choose a new random eventId for every event`, 'eventId');
        continue;
      }
      const stored = existingBy.get(f.eventId);
      const earlier = acceptedNow.get(f.eventId);
      if (stored || earlier) {
        // the same signatures in any accepted encoding (events stored before signatures were canonical may hold v = 0/1)
        const same = stored
          ? stored.digest === c.digest && canonicalSignature(stored.signature) === c.signature && (stored.counter_signature === null ? null : canonicalSignature(stored.counter_signature)) === c.counterSignature
          : earlier!.candidate.digest === c.digest && earlier!.candidate.sigHash === c.sigHash;
        if (!same) {
          reject('EVENT_ID_CONFLICT', `eventId ${f.eventId} was recorded before with different content or signatures; a device must choose a new random eventId for every event`, 'eventId');
          continue;
        }
        const receipt = stored
          ? { eventId: f.eventId, digest: stored.digest, leaf: stored.leaf, previousLeaf: stored.previous_leaf, status: stored.status, receivedAt: stored.received_at }
          : earlier!.receipt;
        outcomes[c.index] = { index: c.index, eventId: f.eventId, outcome: 'DUPLICATE', receipt };
        continue;
      }
      const carrier = orgBySlug.get(f.carrier);
      if (!carrier || carrier.kind !== 'CARRIER') {
        reject('UNKNOWN_CARRIER', `carrier "${f.carrier}" is not a registered carrier organization`, 'carrier');
        continue;
      }
      const shipment = shipmentBy.get(`${f.carrier}\u0000${f.trackingNumber}`);
      // an organization with no part in this shipment learns nothing about it, not even whether it
      // exists: the same answer, naming only what it sent, for a missing or a foreign shipment
      // (a counter-signature by a party of the shipment vouches for the caller: a hub pulling a parcel the carrier releases)
      const vouching = c.counterSigner ? keyBy.get(c.counterSigner)?.organization_id ?? null : null;
      const party = (org: string | null): boolean => org === carrier.id || (shipment !== undefined && takesPart(org, shipment, timelines.get(shipment.id)!, delegationRows));
      if (caller.role !== 'ADMIN' && !party(caller.organizationId) && !(shipment && party(vouching))) {
        const who = caller.organizationSlug ?? '';
        if (CUSTODY_RULES[f.eventType as CustodyEventType]?.custodian === 'TRANSFER' && f.custodian === who) {
          reject('TRANSFER_NOT_CONSENTED', `${f.eventType} to "${who}": custody of carrier "${f.carrier}"'s shipment "${f.trackingNumber}" passes to "${who}" only with the consent of whoever holds it (its signature or counter-signature) or with a delegation of the carrier or the holder to "${who}" covering this shipment; "${who}" has neither`, 'signature');
        } else {
          reject('SIGNER_NOT_AUTHORIZED', `custody continuity: a key of "${who}" records events of carrier "${f.carrier}"'s shipment "${f.trackingNumber}" only while "${who}" holds the parcel, or takes custody of it with consent`, 'signature');
        }
        continue;
      }
      if (!shipment) {
        reject('UNKNOWN_SHIPMENT', `carrier "${f.carrier}" has no shipment "${f.trackingNumber}"; create it with createShipment first`, 'trackingNumber');
        continue;
      }
      const custodian = orgBySlug.get(f.custodian);
      if (!custodian) {
        reject('UNKNOWN_CUSTODIAN', `custodian "${f.custodian}" is not a registered organization`, 'custodian');
        continue;
      }
      const key = keyBy.get(c.signer!);
      if (!key) {
        reject('UNKNOWN_SIGNER', `the signature recovers to ${c.signer}, which is not a registered signing key (or a signed field was changed after signing)`, 'signature');
        continue;
      }
      // a suspended organization's devices stop at once; what it recorded before stays as it is
      if (key.suspended) {
        reject('ORGANIZATION_SUSPENDED', `signing key ${key.address} belongs to "${key.slug}", which is suspended: its keys sign nothing new until the platform admin reinstates it`, 'signature');
        continue;
      }
      if (custodian.suspended) {
        reject('ORGANIZATION_SUSPENDED', `custodian "${custodian.slug}" is suspended: custody cannot be recorded with it until the platform admin reinstates it`, 'custodian');
        continue;
      }
      const keyProblem = keyValidity(key, f.occurredAt);
      if (keyProblem) {
        reject(keyProblem.code, `signing key ${key.address}: ${keyProblem.message}`, 'signature');
        continue;
      }
      let counterOrg: Org | null = null;
      if (c.counterSigner) {
        const counterKey = keyBy.get(c.counterSigner);
        const problem = counterKey ? keyValidity(counterKey, f.occurredAt) : { message: 'is not a registered signing key' };
        if (counterKey?.suspended) {
          reject('ORGANIZATION_SUSPENDED', `counterSignature: key ${counterKey.address} belongs to "${counterKey.slug}", which is suspended`, 'counterSignature');
          continue;
        }
        if (problem || c.counterSigner === c.signer) {
          reject('INVALID_COUNTER_SIGNATURE', `counterSignature recovers to ${c.counterSigner}, which ${problem ? problem.message : 'is the signer itself; the counter-signature must come from the other party'}`, 'counterSignature');
          continue;
        }
        counterOrg = orgById.get(counterKey!.organization_id) ?? { id: counterKey!.organization_id, slug: counterKey!.slug, kind: '' };
      }
      const timeline = timelines.get(shipment.id)!;
      const correctsId = c.extraData?.doc.corrects ?? null;
      const corrected = correctsId ? timeline.find((e) => e.eventId === correctsId) : undefined;
      const signerOrg = orgById.get(key.organization_id) ?? { id: key.organization_id, slug: key.slug, kind: '' };
      const verdict = checkCustodyRules(
        timeline,
        {
          eventType: f.eventType as CustodyEventType,
          trackingNumber: f.trackingNumber,
          delegations: delegationsTo(custodian.id, carrier.id),
          occurredAt: f.occurredAt,
          custodian,
          signerOrg,
          counterSignerOrg: counterOrg,
          hasEvidence: f.evidenceHash !== ZERO_HASH,
          corrects: correctsId
            ? {
                eventId: correctsId,
                signerOrgId: corrected?.signerOrgId ?? '',
                eventType: corrected?.eventType ?? 'CORRECTION',
                occurredAt: corrected?.occurredAt ?? 0n,
                shipmentMatches: corrected !== undefined,
                alreadyCorrected: timeline.some((e) => e.correctsEventId === correctsId),
              }
            : null,
        },
        { carrier, merchant: shipment.merchant_id ? orgById.get(shipment.merchant_id) ?? null : null, requireDeliveryEvidence: shipment.require_delivery_evidence },
        orgName,
      );
      if (!verdict.ok) {
        reject(verdict.code, verdict.message, verdict.field);
        continue;
      }
      const previousLeaf = shipment.head_leaf;
      const leaf = custodyLeaf(c.digest, c.sigHash, previousLeaf);
      shipment.head_leaf = leaf;
      timeline.push({ eventId: f.eventId, eventType: f.eventType as CustodyEventType, occurredAt: f.occurredAt, arrival: arrival++, custodianId: custodian.id, signerOrgId: signerOrg.id, correctsEventId: correctsId });
      touched.add(shipment);
      places.set(f.eventId, { locationCode: f.locationCode, latE6: f.latE6, lonE6: f.lonE6, accuracyM: f.accuracyM });
      rows.push({ c, shipment, custodianId: custodian.id, signerOrgId: signerOrg.id, previousLeaf, leaf, flags: verdict.flags, dualAttested: verdict.dualAttested, consent: verdict.consent, custodianBefore: verdict.custodianBefore, correctsId });
      const receipt: CustodyReceiptData = { eventId: f.eventId, digest: c.digest, leaf, previousLeaf, status: 'PENDING', receivedAt };
      acceptedNow.set(f.eventId, { candidate: c, receipt });
      outcomes[c.index] = { index: c.index, eventId: f.eventId, outcome: 'ACCEPTED', receipt };
    }
    if (rows.length === 0) return;
    this.refuseRetroactiveBreaks(rows, candidates, timelines, refused);
    const started = performance.now();
    await this.insertEvents(runner, rows, receivedAt);
    this.writeStats.rows += rows.length;
    this.writeStats.ms += performance.now() - started;
    await this.updateShipments(runner, [...touched], timelines, rows, places);
    // announced in this transaction: subscribers hear of the events once they are committed
    await this.live.eventsRecorded(runner, rows.map((r) => ({ shipmentId: r.shipment.id, eventId: r.c.fields.eventId })));
    await this.webhooks.custodyEventsRecorded(runner, rows.map((r) => r.c.fields.eventId));
  }

  /**
   * A late transfer (one that occurred before events already stored) is accepted only if every
   * stored event keeps the custodian it was accepted under, with all of this call's events in
   * place: an offline hub uploads its handoff, scans and hand-back together. Otherwise the late
   * transfers of that shipment are refused and the call runs again without them (nothing
   * recorded is ever rewritten).
   */
  private refuseRetroactiveBreaks(rows: AcceptedRow[], candidates: Candidate[], timelines: Map<string, TimelineEntry[]>, refused: Map<number, { code: ErrorCode; message: string; field: string }>): void {
    const late = rows.filter((r) => r.flags.includes('LATE_ARRIVAL') && CUSTODY_RULES[r.c.fields.eventType as CustodyEventType].custodian === 'TRANSFER');
    if (late.length === 0) return;
    let found = false;
    for (const shipment of new Set(late.map((r) => r.shipment))) {
      // each event keeps the custodian it was accepted under: stored ones as stored (the timeline
      // without this call's events), this call's as checked; worked out only for shipments with a late transfer
      const timeline = timelines.get(shipment.id)!;
      const ours = rows.filter((r) => r.shipment === shipment);
      const added = new Set(ours.map((r) => r.c.fields.eventId));
      const expected = custodianBeforeEach(timeline.filter((e) => !added.has(e.eventId)));
      for (const r of ours) expected.set(r.c.fields.eventId, r.custodianBefore);
      const broken = retroactiveBreak(timeline, expected);
      if (!broken) continue;
      found = true;
      const latest = timeline.reduce((max, e) => (e.occurredAt > max ? e.occurredAt : max), 0n);
      // every transfer of this shipment in the call that occurred before its latest event: one round, whatever the call holds
      for (const c of candidates) {
        const f = c.fields;
        if (`${f.carrier}\u0000${f.trackingNumber}` !== `${shipment.carrier}\u0000${shipment.tracking_number}` || f.occurredAt >= latest) continue;
        if (CUSTODY_RULES[f.eventType as CustodyEventType]?.custodian !== 'TRANSFER') continue;
        refused.set(c.index, {
          code: 'INVALID_TRANSITION',
          message: `this transfer occurred before ${broken.eventType} (event ${broken.eventId}), which is recorded under another custodian: inserting it would make that event a continuity break after the fact. Send the whole offline sequence (the transfer, the scans and the hand-back) in one call, in time order, or record the transfer before later scans`,
          field: 'occurredAt',
        });
      }
    }
    if (found) throw new RetroactiveBreaks();
  }

  private async insertEvents(runner: QueryRunner, rows: AcceptedRow[], receivedAt: Date): Promise<void> {
    const col = <T>(pick: (r: AcceptedRow) => T): T[] => rows.map(pick);
    await runner.query(
      `INSERT INTO custody_events (event_id, shipment_id, tracking_number, carrier, event_type, custodian, custodian_id, occurred_at_ms,
         lat_e6, lon_e6, accuracy_m, location_code, scan_method, evidence_hash, data_hash, signature, counter_signature, signer,
         counter_signer, digest, signatures_hash, previous_leaf, leaf, received_at, signer_organization_id, flags, dual_attested,
         corrects_event_id, correction_reason, consent, delegation_id)
       SELECT u.event_id, u.shipment_id, u.tracking_number, u.carrier, u.event_type, u.custodian, u.custodian_id, u.occurred_at_ms,
         u.lat_e6, u.lon_e6, u.accuracy_m, u.location_code, u.scan_method, u.evidence_hash, u.data_hash, u.signature, u.counter_signature, u.signer,
         u.counter_signer, u.digest, u.signatures_hash, u.previous_leaf, u.leaf, $23::timestamptz, u.signer_org,
         CASE WHEN u.flags = '' THEN '{}'::text[] ELSE string_to_array(u.flags, ',') END, u.dual, u.corrects, u.reason, u.consent, u.delegation
       FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::bigint[],
         $9::int[], $10::int[], $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
         $19::text[], $20::text[], $21::text[], $22::text[], $24::text[], $25::uuid[], $26::text[], $27::boolean[], $28::text[], $29::text[], $30::text[], $31::text[])
         AS u(event_id, shipment_id, tracking_number, carrier, event_type, custodian, custodian_id, occurred_at_ms, lat_e6, lon_e6, accuracy_m,
              location_code, scan_method, evidence_hash, data_hash, signature, counter_signature, signer, counter_signer, digest,
              signatures_hash, previous_leaf, leaf, signer_org, flags, dual, corrects, reason, consent, delegation)`,
      [
        col((r) => r.c.fields.eventId),
        col((r) => r.shipment.id),
        col((r) => r.c.fields.trackingNumber),
        col((r) => r.c.fields.carrier),
        col((r) => r.c.fields.eventType),
        col((r) => r.c.fields.custodian),
        col((r) => r.custodianId),
        col((r) => r.c.fields.occurredAt.toString()),
        col((r) => r.c.fields.latE6),
        col((r) => r.c.fields.lonE6),
        col((r) => r.c.fields.accuracyM),
        col((r) => r.c.fields.locationCode),
        col((r) => r.c.fields.scanMethod),
        col((r) => r.c.fields.evidenceHash),
        col((r) => r.c.fields.dataHash),
        col((r) => r.c.signature),
        col((r) => r.c.counterSignature),
        col((r) => r.c.signer),
        col((r) => r.c.counterSigner),
        col((r) => r.c.digest),
        col((r) => r.c.sigHash),
        col((r) => r.previousLeaf),
        receivedAt,
        col((r) => r.leaf),
        col((r) => r.signerOrgId),
        col((r) => r.flags.join(',')),
        col((r) => r.dualAttested),
        col((r) => r.correctsId),
        col((r) => r.c.extraData?.doc.reason ?? null),
        col((r) => r.consent?.kind ?? null),
        col((r) => r.consent?.delegationId ?? null),
      ],
    );
    const withEvidence = rows.filter((r) => r.c.evidence);
    if (withEvidence.length > 0) {
      await runner.query(`INSERT INTO event_evidence (event_id, content_type, size_bytes, evidence_hash) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])`, [
        withEvidence.map((r) => r.c.fields.eventId),
        withEvidence.map((r) => r.c.evidence!.contentType),
        withEvidence.map((r) => r.c.evidence!.sizeBytes),
        withEvidence.map((r) => r.c.evidence!.hash),
      ]);
    }
    const withData = rows.filter((r) => r.c.extraData);
    if (withData.length > 0) {
      await runner.query(`INSERT INTO event_data (event_id, document) SELECT * FROM unnest($1::text[], $2::text[])`, [withData.map((r) => r.c.fields.eventId), withData.map((r) => r.c.extraData!.text)]);
    }
    const personal = rows.flatMap((r) => r.c.personalData.map((p) => ({ eventId: r.c.fields.eventId, ...p })));
    if (personal.length > 0) {
      await runner.query(`INSERT INTO personal_data (event_id, path, commitment, value, salt) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])`, [
        personal.map((p) => p.eventId),
        personal.map((p) => p.path),
        personal.map((p) => p.commitment),
        personal.map((p) => p.value),
        personal.map((p) => p.salt),
      ]);
    }
  }

  /** Status, custodian and delivery time follow the whole timeline (device-clock order), corrections applied. */
  private async updateShipments(runner: QueryRunner, shipments: ShipmentRow[], timelines: Map<string, TimelineEntry[]>, rows: AcceptedRow[], places: Map<string, Place>): Promise<void> {
    const added = new Map<string, number>();
    for (const r of rows) added.set(r.shipment.id, (added.get(r.shipment.id) ?? 0) + 1);
    const states = shipments.map((s) => {
      const timeline = timelines.get(s.id)!;
      const state = custodyState(timeline);
      const last = timeline.reduce((max, e) => (e.occurredAt > max ? e.occurredAt : max), 0n);
      return { s, state, last };
    });
    // facts and delivery estimates (src/analytics): more columns of this one UPDATE
    const analytics = await analyticsColumns(runner, shipments, timelines, places, this.runtime.config.estimateMinDeliveries, Date.now());
    const live = analytics.map((a) => a.live);
    await runner.query(
      `UPDATE shipments s SET head_leaf = u.head_leaf, status = u.status, sub_status = u.sub_status, current_custodian_id = u.custodian,
              last_event_at_ms = u.last_ms, delivered_at_ms = u.delivered_ms, event_count = s.event_count + u.added, updated_at = now(),
              ended_at_ms = u.ended_ms, end_kind = u.end_kind, first_attempt = u.first_attempt, had_exception = u.had_exception, origin_region = u.origin,
              estimated_delivery_at = CASE WHEN u.recompute THEN u.estimate ELSE s.estimated_delivery_at END,
              estimate_basis = CASE WHEN u.recompute THEN u.basis ELSE s.estimate_basis END,
              estimate_samples = CASE WHEN u.recompute THEN u.samples ELSE s.estimate_samples END,
              estimate_first_scan_at = coalesce(s.estimate_first_scan_at, u.first_estimate),
              estimate_out_for_delivery_at = coalesce(s.estimate_out_for_delivery_at, u.ofd_estimate),
              ${OUTCOME_SQL('u.ended_ms', 'u.end_kind', 'coalesce(s.estimate_first_scan_at, u.first_estimate)', 'coalesce(s.estimate_out_for_delivery_at, u.ofd_estimate)')}
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::bigint[], $7::bigint[], $8::int[], $9::bigint[], $10::text[], $11::boolean[], $12::boolean[],
                     $13::text[], $14::boolean[], $15::timestamptz[], $16::text[], $17::int[], $18::timestamptz[], $19::timestamptz[])
           AS u(id, head_leaf, status, sub_status, custodian, last_ms, delivered_ms, added, ended_ms, end_kind, first_attempt, had_exception,
                origin, recompute, estimate, basis, samples, first_estimate, ofd_estimate)
        WHERE s.id = u.id`,
      [
        states.map((x) => x.s.id),
        states.map((x) => x.s.head_leaf),
        states.map((x) => x.state.status),
        states.map((x) => x.state.subStatus),
        states.map((x) => x.state.custodianId),
        states.map((x) => x.last.toString()),
        states.map((x) => x.state.deliveredAt?.toString() ?? null),
        states.map((x) => added.get(x.s.id) ?? 0),
        analytics.map((a) => a.facts.endedAtMs?.toString() ?? null),
        analytics.map((a) => a.facts.endKind),
        analytics.map((a) => a.facts.firstAttempt),
        analytics.map((a) => a.facts.hadException),
        analytics.map((a) => a.facts.originRegion),
        live.map((e) => e !== undefined),
        live.map((e) => e?.at ?? null),
        live.map((e) => e?.basis ?? null),
        live.map((e) => e?.samples ?? null),
        analytics.map((a) => a.firstScan?.at ?? null),
        analytics.map((a) => a.outForDelivery?.at ?? null),
      ],
    );
    // facility visits change only with arrivals, departures and corrections
    const visitRows = rows.filter((r) => VISIT_EVENTS.has(r.c.fields.eventType));
    if (visitRows.length > 0) {
      const corrected = new Set(visitRows.filter((r) => r.c.fields.eventType === 'CORRECTION').map((r) => r.shipment.id));
      await writeDwell(runner, shipments, analytics, new Set(visitRows.map((r) => r.c.fields.eventId)), corrected);
    }
    await writeLaneHistory(runner, shipments, analytics);
  }
}

/**
 * Whether an organization takes part in a shipment: its merchant, an organization that held it,
 * or the delegate of a delegation that covers it. (The carrier and the platform admin always do.)
 */
function takesPart(organizationId: string | null, shipment: ShipmentRow, timeline: readonly TimelineEntry[], delegations: readonly DelegationRow[]): boolean {
  if (organizationId === null) return false;
  if (shipment.merchant_id === organizationId || timeline.some((e) => e.custodianId === organizationId)) return true;
  return delegations.some((d) => d.delegate_id === organizationId && d.carrier_id === shipment.carrier_id && (d.tracking_number === '' || d.tracking_number === shipment.tracking_number));
}

/** The event types that can change a shipment's facility visits (shipment_dwell). */
const VISIT_EVENTS = new Set<string>(['ARRIVED_AT_FACILITY', 'DEPARTED_FACILITY', 'CORRECTION']);

/** Events checked between two turns of the event loop in a large call. */
const YIELD_EVERY = 200;

/** Thrown inside the transaction to roll it back and run the call again with late transfers refused. */
class RetroactiveBreaks extends Error {}

function keyValidity(key: KeyRow, occurredAt: bigint): { code: ErrorCode; message: string } | null {
  if (key.revoked_at && occurredAt >= BigInt(key.revoked_at.getTime())) {
    return { code: 'SIGNER_REVOKED', message: `was revoked at ${key.revoked_at.toISOString()}, before the event occurred` };
  }
  if (occurredAt < BigInt(key.valid_from.getTime())) {
    return { code: 'SIGNER_NOT_YET_VALID', message: `is valid only from ${key.valid_from.toISOString()}, after the event occurred` };
  }
  return null;
}

function rejection(index: number, eventId: string | null, err: unknown): RecordOutcome {
  if (!(err instanceof LedgerError)) throw err;
  return { index, eventId, outcome: 'REJECTED', error: { code: err.code, message: err.message, field: err.field ?? null } };
}

function unique<T>(values: T[]): T[] {
  return [...new Set(values)];
}
