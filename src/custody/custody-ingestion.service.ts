import { Inject, Injectable } from '@nestjs/common';
import type { QueryRunner } from 'typeorm';
import { LedgerError, type ErrorCode } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { inTransaction, sqlRows } from '../database/data-source';
import { custodyEventDigest, custodyLeaf, signaturesHash } from '../signing/custody-signing';
import { recoverSigners } from '../signing/signature-verifier';
import { SealerService } from '../batching/sealer.service';
import type { SignedCustodyEventInput } from './dto/signed-custody-event.input';
import { parseSignedEvent, type ParsedEvent } from './event-validation';
import { STATUS_AFTER, type CustodyEventType } from './event-types';
import { EVENT_STATUS_SQL, type CustodyEventStatus } from './custody-event.row';

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
  valid_from: Date;
  revoked_at: Date | null;
}

interface ShipmentRow {
  id: string;
  carrier: string;
  tracking_number: string;
  head_leaf: string;
  status: string;
  current_custodian_id: string | null;
  last_event_at_ms: string | null;
}

const UNIQUE_VIOLATION = '23505';

/**
 * Records signed custody events. Works on whole calls: signatures are recovered in one batch,
 * every lookup is one statement for all events, and the accepted events are written with one
 * multi-row INSERT. Each event is accepted or rejected on its own; a rejected event writes
 * nothing. Resubmitting an accepted event returns its receipt again (idempotent on eventId).
 */
@Injectable()
export class CustodyIngestionService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly sealer: SealerService,
  ) {}

  async record(inputs: SignedCustodyEventInput[]): Promise<RecordOutcome[]> {
    const max = this.runtime.config.maxEventsPerCall;
    if (inputs.length > max) {
      throw new LedgerError('TOO_MANY_EVENTS', `recordCustodyEvents takes at most ${max} events per call (got ${inputs.length}); split the upload`);
    }
    const outcomes: RecordOutcome[] = new Array(inputs.length);
    const candidates = this.verify(inputs, outcomes);
    for (let attempt = 1; ; attempt++) {
      try {
        await inTransaction(this.runtime.dataSource, (runner) => this.store(runner, candidates, outcomes));
        break;
      } catch (err) {
        // a concurrent call stored the same event id first: run again, it is then a duplicate or a conflict
        const code = (err as { driverError?: { code?: string } }).driverError?.code;
        if (code !== UNIQUE_VIOLATION || attempt >= 3) throw err;
      }
    }
    this.sealer.nudge();
    return outcomes;
  }

  /** Stateless checks and signature recovery, before any database work. */
  private verify(inputs: SignedCustodyEventInput[], outcomes: RecordOutcome[]): Candidate[] {
    const parsed: Array<{ index: number; event: ParsedEvent; digest: string }> = [];
    const latest = BigInt(Date.now() + this.runtime.config.maxClockSkewMs);
    inputs.forEach((input, index) => {
      try {
        const event = parseSignedEvent(input);
        if (event.fields.occurredAt > latest) {
          throw new LedgerError('OCCURRED_IN_FUTURE', `occurredAt ${event.fields.occurredAt} is more than ${this.runtime.config.maxClockSkewMs} ms ahead of the server clock; check the device clock`, 'occurredAt');
        }
        parsed.push({ index, event, digest: custodyEventDigest(this.runtime.domainSeparator, event.fields) });
      } catch (err) {
        outcomes[index] = rejection(index, typeof input.eventId === 'string' ? input.eventId.toLowerCase() : null, err);
      }
    });
    const requests = parsed.flatMap(({ event, digest }) => [
      { digest, signature: event.signature },
      ...(event.counterSignature ? [{ digest, signature: event.counterSignature }] : []),
    ]);
    const recovered = recoverSigners(requests);
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

  private async store(runner: QueryRunner, candidates: Candidate[], outcomes: RecordOutcome[]): Promise<void> {
    // a retried transaction starts from the stateless outcomes only
    for (const c of candidates) delete (outcomes as Array<RecordOutcome | undefined>)[c.index];
    if (candidates.length === 0) return;

    const shipmentKeys = unique(candidates.map((c) => `${c.fields.carrier}\u0000${c.fields.trackingNumber}`));
    // lock the shipments in a fixed order: their head leaf is read and advanced here
    const shipments = await sqlRows<ShipmentRow>(
      runner,
      `SELECT s.id, o.slug AS carrier, s.tracking_number, s.head_leaf, s.status, s.current_custodian_id, s.last_event_at_ms
         FROM shipments s JOIN organizations o ON o.id = s.carrier_id
         JOIN unnest($1::text[], $2::text[]) AS k(carrier, tracking_number) ON k.carrier = o.slug AND k.tracking_number = s.tracking_number
        ORDER BY s.id FOR UPDATE OF s`,
      [shipmentKeys.map((k) => k.split('\u0000')[0]), shipmentKeys.map((k) => k.split('\u0000')[1])],
    );
    const existing = await sqlRows<{ event_id: string; digest: string; signatures_hash: string; leaf: string; previous_leaf: string; received_at: Date; status: CustodyEventStatus }>(
      runner,
      `SELECT e.event_id, e.digest, e.signatures_hash, e.leaf, e.previous_leaf, e.received_at, ${EVENT_STATUS_SQL} AS status
         FROM custody_events e LEFT JOIN anchor_batches b ON b.seq = e.batch_seq WHERE e.event_id = ANY($1::text[])`,
      [unique(candidates.map((c) => c.fields.eventId))],
    );
    const orgs = await sqlRows<{ id: string; slug: string; kind: string }>(runner, `SELECT id, slug, kind FROM organizations WHERE slug = ANY($1::text[])`, [
      unique(candidates.flatMap((c) => [c.fields.carrier, c.fields.custodian])),
    ]);
    const keys = await sqlRows<KeyRow>(
      runner,
      `SELECT k.address, k.organization_id, o.slug, k.valid_from, k.revoked_at FROM signing_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.address = ANY($1::text[])`,
      [unique(candidates.flatMap((c) => [c.signer, c.counterSigner]).filter((a): a is string => a !== null))],
    );

    const shipmentBy = new Map(shipments.map((s) => [`${s.carrier}\u0000${s.tracking_number}`, s]));
    const existingBy = new Map(existing.map((e) => [e.event_id, e]));
    const orgBy = new Map(orgs.map((o) => [o.slug, o]));
    const keyBy = new Map(keys.map((k) => [k.address, k]));
    const acceptedNow = new Map<string, { candidate: Candidate; receipt: CustodyReceiptData }>();
    const rows: Array<{ c: Candidate; shipment: ShipmentRow; custodianId: string; previousLeaf: string; leaf: string }> = [];
    const addedTo = new Map<ShipmentRow, number>();
    const receivedAt = new Date();

    for (const c of candidates) {
      const f = c.fields;
      const reject = (code: ErrorCode, message: string, field: string | null = null): void => {
        outcomes[c.index] = { index: c.index, eventId: f.eventId, outcome: 'REJECTED', error: { code, message, field } };
      };
      const stored = existingBy.get(f.eventId);
      const earlier = acceptedNow.get(f.eventId);
      if (stored || earlier) {
        const same = stored ? stored.digest === c.digest && stored.signatures_hash === c.sigHash : earlier!.candidate.digest === c.digest && earlier!.candidate.sigHash === c.sigHash;
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
      const carrier = orgBy.get(f.carrier);
      if (!carrier || carrier.kind !== 'CARRIER') {
        reject('UNKNOWN_CARRIER', `carrier "${f.carrier}" is not a registered carrier organization`, 'carrier');
        continue;
      }
      const shipment = shipmentBy.get(`${f.carrier}\u0000${f.trackingNumber}`);
      if (!shipment) {
        reject('UNKNOWN_SHIPMENT', `carrier "${f.carrier}" has no shipment "${f.trackingNumber}"; create it with createShipment first`, 'trackingNumber');
        continue;
      }
      const custodian = orgBy.get(f.custodian);
      if (!custodian) {
        reject('UNKNOWN_CUSTODIAN', `custodian "${f.custodian}" is not a registered organization`, 'custodian');
        continue;
      }
      const key = keyBy.get(c.signer!);
      const keyProblem = key ? keyValidity(key, f.occurredAt) : null;
      if (!key) {
        reject('UNKNOWN_SIGNER', `the signature recovers to ${c.signer}, which is not a registered signing key (or a signed field was changed after signing)`, 'signature');
        continue;
      }
      if (keyProblem) {
        reject(keyProblem.code, `signing key ${key.address}: ${keyProblem.message}`, 'signature');
        continue;
      }
      if (key.slug !== f.carrier && key.slug !== f.custodian) {
        reject('SIGNER_NOT_AUTHORIZED', `signing key ${key.address} belongs to "${key.slug}", which is neither the carrier "${f.carrier}" nor the custodian "${f.custodian}"`, 'signature');
        continue;
      }
      if (c.counterSigner) {
        const counterKey = keyBy.get(c.counterSigner);
        const problem = counterKey ? keyValidity(counterKey, f.occurredAt) : { message: 'is not a registered signing key' };
        if (problem || c.counterSigner === c.signer) {
          reject('INVALID_COUNTER_SIGNATURE', `counterSignature recovers to ${c.counterSigner}, which ${problem ? problem.message : 'is the signer itself; the counter-signature must come from the releasing party'}`, 'counterSignature');
          continue;
        }
      }
      const previousLeaf = shipment.head_leaf;
      const leaf = custodyLeaf(c.digest, c.sigHash, previousLeaf);
      shipment.head_leaf = leaf;
      // the timeline is ordered by the device clock: a late upload of an older scan keeps the current status
      if (shipment.last_event_at_ms === null || f.occurredAt >= BigInt(shipment.last_event_at_ms)) {
        shipment.last_event_at_ms = f.occurredAt.toString();
        shipment.status = STATUS_AFTER[f.eventType as CustodyEventType] ?? shipment.status;
        shipment.current_custodian_id = custodian.id;
      }
      addedTo.set(shipment, (addedTo.get(shipment) ?? 0) + 1);
      rows.push({ c, shipment, custodianId: custodian.id, previousLeaf, leaf });
      const receipt: CustodyReceiptData = { eventId: f.eventId, digest: c.digest, leaf, previousLeaf, status: 'PENDING', receivedAt };
      acceptedNow.set(f.eventId, { candidate: c, receipt });
      outcomes[c.index] = { index: c.index, eventId: f.eventId, outcome: 'ACCEPTED', receipt };
    }
    if (rows.length === 0) return;

    const col = <T>(pick: (r: (typeof rows)[number]) => T): T[] => rows.map(pick);
    await runner.query(
      `INSERT INTO custody_events (event_id, shipment_id, tracking_number, carrier, event_type, custodian, custodian_id, occurred_at_ms,
         lat_e6, lon_e6, accuracy_m, location_code, scan_method, evidence_hash, data_hash, signature, counter_signature, signer,
         counter_signer, digest, signatures_hash, previous_leaf, leaf, received_at)
       SELECT *, $23::timestamptz FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::bigint[],
         $9::int[], $10::int[], $11::bigint[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::text[], $18::text[],
         $19::text[], $20::text[], $21::text[], $22::text[], $24::text[])`,
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
      ],
    );
    const list = [...addedTo.keys()];
    await runner.query(
      `UPDATE shipments s SET head_leaf = u.head_leaf, status = u.status, current_custodian_id = u.custodian, last_event_at_ms = u.last_ms,
              event_count = s.event_count + u.added, updated_at = now()
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::bigint[], $6::int[]) AS u(id, head_leaf, status, custodian, last_ms, added)
        WHERE s.id = u.id`,
      [list.map((s) => s.id), list.map((s) => s.head_leaf), list.map((s) => s.status), list.map((s) => s.current_custodian_id), list.map((s) => s.last_event_at_ms), list.map((s) => addedTo.get(s))],
    );
  }
}

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
