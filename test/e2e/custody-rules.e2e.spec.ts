import { hexlify, randomBytes, type Wallet } from 'ethers';
import { canonicalJson, dataHashOf, personalCommitment } from '../../src/custody/extra-data';
import { ZERO_HASH, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { eventFields, fetchDomain, mustGql, newEventId, newWallet, record, registerKey, registerOrganization, signEvent, type RecordResult, type SignedEventInput } from '../support/factories';

/**
 * The custody continuity rules (src/custody/custody-rules.ts, issue 3) through GraphQL on a real
 * database: every rejection with its code and field and an unchanged fingerprint of every ledger
 * table; every accepted-and-flagged case with its flags (custodyEvent { flags dualAttested }); and
 * the shipment's status and custodian after each step.
 *
 * Each case gets a shipment of its own, brought to the state it needs by a journey of accepted
 * events one hour apart (T0 + 1 h, + 2 h, ...), so the cases are independent of each other.
 */

const HOUR = 3_600_000;
const CARRIER = 'acme-cr';
const ORGS = {
  carrier: { slug: CARRIER, kind: 'CARRIER' },
  otherCarrier: { slug: 'parcelco-cr', kind: 'CARRIER' },
  merchant: { slug: 'shop-cr', kind: 'MERCHANT' },
  otherMerchant: { slug: 'other-shop-cr', kind: 'MERCHANT' },
  hub: { slug: 'hub-cr', kind: 'HUB' },
  locker: { slug: 'locker-cr', kind: 'LOCKER_OPERATOR' },
  outsider: { slug: 'third-party-cr', kind: 'HUB' },
} as const;
type Party = keyof typeof ORGS;
const PARTIES = Object.keys(ORGS) as Party[];

/** The field each rule rejection names. */
const FIELD: Record<string, string> = {
  CUSTODY_NOT_ESTABLISHED: 'eventType',
  INVALID_TRANSITION: 'eventType',
  AFTER_TERMINAL_STATE: 'eventType',
  CUSTODIAN_MISMATCH: 'custodian',
  SIGNER_NOT_AUTHORIZED: 'signature',
  TRANSFER_NOT_CONSENTED: 'signature',
  SIGNER_REVOKED: 'signature',
  INVALID_COUNTER_SIGNATURE: 'counterSignature',
  INVALID_CORRECTION: 'extraData',
  DATA_HASH_MISMATCH: 'extraData',
  INVALID_EXTRA_DATA: 'extraData',
  PERSONAL_DATA_MISMATCH: 'personalData',
  EVIDENCE_MISMATCH: 'evidence.hash',
  INVALID_FIELD: 'extraData',
  OCCURRED_IN_FUTURE: 'occurredAt',
};

interface Step {
  type: string;
  custodian: Party;
  signer: Party;
  counter?: Party;
  /** hours after T0; default: one hour after the journey's last step */
  at?: number;
  /** absolute unix ms, overrides `at` */
  atMs?: number;
  /** a key other than the party's usual one */
  signerKey?: Wallet;
  counterKey?: Wallet;
  /** CORRECTION: the index of the corrected step in the journey, or an event id */
  corrects?: number | string;
  /** the extra-data document (canonicalised and committed by dataHash); null: none, even for a CORRECTION */
  doc?: Record<string, unknown> | null;
  /** raw overrides of what is sent */
  extraData?: string;
  dataHash?: string;
  evidenceHash?: string;
  evidence?: { contentType: string; sizeBytes: number; hash: string };
  personalData?: Array<{ path: string; value: string; salt: string }>;
}

interface Journey {
  tracking: string;
  ids: string[];
  lastHour: number;
}

interface ShipmentView {
  status: string;
  currentCustodian: { slug: string } | null;
  eventCount: number;
  events: Array<{ eventId: string; eventType: string; occurredAt: string; flags: string[] }>;
}

const PICKUP: Step = { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier' };
const CARRIER_HOLDS: Step[] = [PICKUP];
const HUB_HOLDS: Step[] = [PICKUP, { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'carrier' }];
const LOCKER_HOLDS: Step[] = [PICKUP, { type: 'LOCKER_DEPOSITED', custodian: 'locker', signer: 'carrier', counter: 'locker' }];
const LABELLED: Step[] = [{ type: 'LABEL_CREATED', custodian: 'merchant', signer: 'merchant' }];
const DELIVERED: Step[] = [PICKUP, { type: 'OUT_FOR_DELIVERY', custodian: 'carrier', signer: 'carrier' }, { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' }];
const HUB_SCANNED: Step[] = [...HUB_HOLDS, { type: 'ARRIVED_AT_FACILITY', custodian: 'hub', signer: 'hub' }];

describe('custody continuity and terminal-state rules over GraphQL', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  const keys = {} as Record<Party, Wallet>;
  const T0 = Date.now() - 48 * HOUR;
  let shipments = 0;

  async function newShipment(options: { merchant?: Party | null; requireDeliveryEvidence?: boolean } = {}): Promise<string> {
    const trackingNumber = `CR-${String(++shipments).padStart(4, '0')}`;
    const merchant = options.merchant === undefined ? ORGS.merchant.slug : options.merchant === null ? undefined : ORGS[options.merchant].slug;
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
      i: { trackingNumber, carrier: CARRIER, merchant, ...(options.requireDeliveryEvidence ? { requireDeliveryEvidence: true } : {}) },
    });
    return trackingNumber;
  }

  /** Signs a step as the device of its signer would, with the extra data it names. */
  async function sign(j: Journey, step: Step, eventId = newEventId()): Promise<SignedEventInput> {
    const hour = step.at ?? j.lastHour + 1;
    let doc = step.doc;
    if (step.corrects !== undefined && doc !== null) {
      doc = { corrects: typeof step.corrects === 'number' ? j.ids[step.corrects] : step.corrects, reason: 'wrong parcel scanned', v: 1, ...(doc ?? {}) };
    }
    const extraData = step.extraData ?? (doc ? canonicalJson(doc) : undefined);
    const fields = eventFields({
      eventId,
      trackingNumber: j.tracking,
      carrier: CARRIER,
      eventType: step.type,
      custodian: ORGS[step.custodian].slug,
      occurredAt: BigInt(step.atMs ?? T0 + hour * HOUR),
      dataHash: step.dataHash ?? (extraData !== undefined ? dataHashOf(extraData) : ZERO_HASH),
      evidenceHash: step.evidenceHash ?? ZERO_HASH,
    });
    const counter = step.counterKey ?? (step.counter ? keys[step.counter] : undefined);
    const signed = await signEvent(domain, step.signerKey ?? keys[step.signer], fields, counter);
    return {
      ...signed,
      ...(extraData !== undefined ? { extraData } : {}),
      ...(step.evidence ? { evidence: step.evidence } : {}),
      ...(step.personalData ? { personalData: step.personalData } : {}),
    } as SignedEventInput;
  }

  /** Records the steps in one call, all of which must be accepted; returns the journey so far. */
  async function extend(j: Journey, steps: Step[]): Promise<Journey> {
    if (steps.length === 0) return j;
    const events: SignedEventInput[] = [];
    let cursor = { ...j, ids: [...j.ids] };
    for (const step of steps) {
      const eventId = newEventId();
      events.push(await sign(cursor, step, eventId));
      cursor = { ...cursor, ids: [...cursor.ids, eventId], lastHour: Math.max(cursor.lastHour, step.at ?? cursor.lastHour + 1) };
    }
    const results = await record(t, events);
    expect(results.map((r) => [r.outcome, r.error?.code ?? null])).toEqual(events.map(() => ['ACCEPTED', null]));
    return cursor;
  }

  async function journey(steps: Step[], options?: { merchant?: Party | null; requireDeliveryEvidence?: boolean }): Promise<Journey> {
    return extend({ tracking: await newShipment(options), ids: [], lastHour: 0 }, steps);
  }

  /** Records one step, expects it accepted, and returns its event id and stored flags. */
  async function accept(j: Journey, step: Step): Promise<{ journey: Journey; eventId: string; flags: string[]; dualAttested: boolean }> {
    const event = await sign(j, step);
    const [r] = await record(t, [event]);
    expect([r.outcome, r.error]).toEqual(['ACCEPTED', null]);
    const info = await eventInfo(event.eventId);
    const next = { ...j, ids: [...j.ids, event.eventId], lastHour: Math.max(j.lastHour, step.at ?? j.lastHour + 1) };
    return { journey: next, eventId: event.eventId, flags: info.flags, dualAttested: info.dualAttested };
  }

  /** Records one event, expects exactly this rejection, and that not one row of any ledger table changed. */
  async function expectRejected(event: SignedEventInput, code: string, field: string | null = FIELD[code]): Promise<RecordResult> {
    const before = await t.fingerprint();
    const results = await record(t, [event]);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ index: 0, outcome: 'REJECTED', receipt: null, error: { code, field } });
    expect(results[0].error!.message.length).toBeGreaterThan(0);
    expect(await t.fingerprint()).toEqual(before);
    return results[0];
  }

  async function rejectStep(j: Journey, step: Step, code: string, field: string | null = FIELD[code]): Promise<void> {
    const before = await view(j.tracking);
    await expectRejected(await sign(j, step), code, field);
    expect(await view(j.tracking)).toEqual(before);
  }

  async function view(tracking: string): Promise<ShipmentView> {
    const data = await mustGql<{ shipment: ShipmentView }>(
      t,
      `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { status currentCustodian { slug } eventCount events { eventId eventType occurredAt flags } } }`,
      { n: tracking, c: CARRIER },
    );
    return data.shipment;
  }

  async function expectState(j: Journey, status: string, custodian: Party | null): Promise<ShipmentView> {
    const v = await view(j.tracking);
    expect({ status: v.status, custodian: v.currentCustodian?.slug ?? null }).toEqual({ status, custodian: custodian ? ORGS[custodian].slug : null });
    return v;
  }

  async function eventInfo(eventId: string): Promise<{ flags: string[]; dualAttested: boolean; correctsEventId: string | null; correctedBy: string | null }> {
    const data = await mustGql<{ custodyEvent: { flags: string[]; dualAttested: boolean; correctsEventId: string | null; correctedBy: string | null } }>(
      t,
      `query($id: String!) { custodyEvent(eventId: $id) { flags dualAttested correctsEventId correctedBy } }`,
      { id: eventId },
    );
    return data.custodyEvent;
  }

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    for (const party of PARTIES) {
      await registerOrganization(t, ORGS[party].slug, ORGS[party].kind);
      keys[party] = await registerKey(t, ORGS[party].slug, newWallet(), new Date(T0 - 24 * HOUR));
    }
  });

  afterAll(async () => {
    await t?.stop();
  });

  describe('rejections: the event is refused with its code, and nothing changes', () => {
    interface Rejection {
      what: string;
      prefix: Step[];
      event: Step;
      code: string;
    }
    const table = (rows: Rejection[]) => rows;

    describe('the first event establishes custody', () => {
      it.each(
        table([
          { what: 'ARRIVED_AT_FACILITY as the first event', prefix: [], event: { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier' }, code: 'CUSTODY_NOT_ESTABLISHED' },
          { what: 'HANDOFF as the first event', prefix: [], event: { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'carrier' }, code: 'CUSTODY_NOT_ESTABLISHED' },
          { what: 'DELIVERED as the first event', prefix: [], event: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' }, code: 'CUSTODY_NOT_ESTABLISHED' },
          { what: 'a carrier-declared EXCEPTION as the first event', prefix: [], event: { type: 'EXCEPTION', custodian: 'carrier', signer: 'carrier' }, code: 'CUSTODY_NOT_ESTABLISHED' },
          { what: 'LOCKER_DEPOSITED as the first event', prefix: [], event: { type: 'LOCKER_DEPOSITED', custodian: 'locker', signer: 'locker' }, code: 'CUSTODY_NOT_ESTABLISHED' },
          { what: 'LABEL_CREATED naming a hub as custodian', prefix: [], event: { type: 'LABEL_CREATED', custodian: 'hub', signer: 'merchant' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'LABEL_CREATED naming another merchant as custodian', prefix: [], event: { type: 'LABEL_CREATED', custodian: 'otherMerchant', signer: 'merchant' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'LABEL_CREATED signed by a hub', prefix: [], event: { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'hub' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'LABEL_CREATED signed by another merchant', prefix: [], event: { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'otherMerchant' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'PICKED_UP naming another carrier', prefix: [], event: { type: 'PICKED_UP', custodian: 'otherCarrier', signer: 'otherCarrier' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'PICKED_UP naming a hub', prefix: [], event: { type: 'PICKED_UP', custodian: 'hub', signer: 'merchant' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'PICKED_UP signed by a hub', prefix: [], event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'hub' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'PICKED_UP signed by another carrier', prefix: [], event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'otherCarrier' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: "PICKED_UP signed by a merchant that is not the shipment's", prefix: [], event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'otherMerchant' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'PICKED_UP after the label, signed by a hub', prefix: LABELLED, event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'hub' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'LABEL_CREATED after the pickup', prefix: CARRIER_HOLDS, event: { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'merchant' }, code: 'INVALID_TRANSITION' },
          { what: 'a second LABEL_CREATED', prefix: LABELLED, event: { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'merchant' }, code: 'INVALID_TRANSITION' },
          { what: 'a second PICKED_UP once in transit', prefix: CARRIER_HOLDS, event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier' }, code: 'INVALID_TRANSITION' },
          { what: 'PICKED_UP while a hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier', counter: 'hub' }, code: 'INVALID_TRANSITION' },
        ]),
      )('rejects $what as $code', async ({ prefix, event, code }) => {
        await rejectStep(await journey(prefix), event, code);
      });
    });

    describe('KEEP events name the current custodian', () => {
      const keepTypes = ['ARRIVED_AT_FACILITY', 'DEPARTED_FACILITY', 'OUT_FOR_DELIVERY', 'DELIVERY_ATTEMPTED', 'DELIVERED', 'EXCEPTION', 'LOST', 'COLLECTED_FROM_LOCKER'];
      it.each(keepTypes)('rejects %s naming a hub while the carrier holds the parcel as CUSTODIAN_MISMATCH', async (type) => {
        await rejectStep(await journey(CARRIER_HOLDS), { type, custodian: 'hub', signer: 'carrier' }, 'CUSTODIAN_MISMATCH');
      });
      it.each(
        table([
          { what: 'ARRIVED_AT_FACILITY naming the carrier while the hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'DELIVERED naming the carrier while the locker holds the parcel', prefix: LOCKER_HOLDS, event: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'a CORRECTION naming the carrier while the hub holds the parcel', prefix: HUB_SCANNED, event: { type: 'CORRECTION', custodian: 'carrier', signer: 'carrier', corrects: 2 }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'an EXCEPTION naming the merchant after the pickup', prefix: LABELLED.concat(PICKUP), event: { type: 'EXCEPTION', custodian: 'merchant', signer: 'merchant' }, code: 'CUSTODIAN_MISMATCH' },
        ]),
      )('rejects $what as $code', async ({ prefix, event, code }) => {
        await rejectStep(await journey(prefix), event, code);
      });
    });

    describe('TRANSFER events name the party taking custody, of the right kind', () => {
      it.each(
        table([
          { what: 'HANDOFF naming the carrier that holds the parcel', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'carrier', signer: 'carrier' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'HANDOFF naming the hub that holds the parcel', prefix: HUB_HOLDS, event: { type: 'HANDOFF', custodian: 'hub', signer: 'hub' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'LOCKER_DEPOSITED naming the locker that holds the parcel', prefix: LOCKER_HOLDS, event: { type: 'LOCKER_DEPOSITED', custodian: 'locker', signer: 'locker' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'RETURNED_TO_SENDER naming the merchant that still holds the labelled parcel', prefix: LABELLED, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'merchant' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'LOCKER_DEPOSITED naming a hub (not a LOCKER_OPERATOR)', prefix: CARRIER_HOLDS, event: { type: 'LOCKER_DEPOSITED', custodian: 'hub', signer: 'carrier', counter: 'hub' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'LOCKER_DEPOSITED naming the merchant (not a LOCKER_OPERATOR)', prefix: CARRIER_HOLDS, event: { type: 'LOCKER_DEPOSITED', custodian: 'merchant', signer: 'carrier' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'RETURNED_TO_SENDER naming another merchant', prefix: CARRIER_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'otherMerchant', signer: 'carrier', counter: 'otherMerchant' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'RETURNED_TO_SENDER naming a hub', prefix: CARRIER_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'hub', signer: 'carrier' }, code: 'CUSTODIAN_MISMATCH' },
          { what: 'COLLECTED_FROM_LOCKER without a deposit, naming the carrier', prefix: CARRIER_HOLDS, event: { type: 'COLLECTED_FROM_LOCKER', custodian: 'carrier', signer: 'carrier' }, code: 'INVALID_TRANSITION' },
          {
            what: 'COLLECTED_FROM_LOCKER from a locker operator that got the parcel by HANDOFF, not LOCKER_DEPOSITED',
            prefix: [PICKUP, { type: 'HANDOFF', custodian: 'locker', signer: 'locker', counter: 'carrier' }],
            event: { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'locker' },
            code: 'INVALID_TRANSITION',
          },
        ]),
      )('rejects $what as $code', async ({ prefix, event, code }) => {
        await rejectStep(await journey(prefix), event, code);
      });
    });

    describe('custody continuity: only the parties of the moment may sign', () => {
      it.each(
        table([
          { what: "a scan naming the carrier, signed by a third organization's key", prefix: CARRIER_HOLDS, event: { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'outsider' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'a HANDOFF from the carrier to the hub signed by a third organization', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'hub', signer: 'outsider' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'a HANDOFF to a third organization signed by a hub that is neither party', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'outsider', signer: 'hub' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'a scan by the carrier while the hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'ARRIVED_AT_FACILITY', custodian: 'hub', signer: 'carrier' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'DELIVERED signed by the carrier while the hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'DELIVERED', custodian: 'hub', signer: 'carrier' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'a HANDOFF to the locker released by the carrier, which no longer holds the parcel', prefix: HUB_HOLDS, event: { type: 'HANDOFF', custodian: 'locker', signer: 'carrier' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'an EXCEPTION signed by a third organization while the hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'EXCEPTION', custodian: 'hub', signer: 'outsider' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'LOST declared by a third organization', prefix: CARRIER_HOLDS, event: { type: 'LOST', custodian: 'carrier', signer: 'outsider' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'LOCKER_DEPOSITED signed by a hub that is neither party', prefix: CARRIER_HOLDS, event: { type: 'LOCKER_DEPOSITED', custodian: 'locker', signer: 'hub' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'COLLECTED_FROM_LOCKER signed by the carrier that deposited it', prefix: LOCKER_HOLDS, event: { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'carrier' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'RETURNED_TO_SENDER signed by another merchant', prefix: CARRIER_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'otherMerchant' }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: "a CORRECTION of the hub's scan signed by a third organization", prefix: HUB_SCANNED, event: { type: 'CORRECTION', custodian: 'hub', signer: 'outsider', corrects: 2 }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: "a CORRECTION of the carrier's PICKED_UP by the hub (custodian, but neither the carrier nor the signer of the corrected event)", prefix: HUB_HOLDS, event: { type: 'CORRECTION', custodian: 'hub', signer: 'hub', corrects: 0 }, code: 'SIGNER_NOT_AUTHORIZED' },
          { what: 'a HANDOFF signed by the receiving hub alone (the carrier never consented)', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'hub', signer: 'hub' }, code: 'TRANSFER_NOT_CONSENTED' },
          { what: 'a HANDOFF to another carrier signed by that carrier alone (the hijack of issue 9)', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'otherCarrier', signer: 'otherCarrier' }, code: 'TRANSFER_NOT_CONSENTED' },
          { what: 'LOCKER_DEPOSITED signed by the receiving locker operator alone', prefix: CARRIER_HOLDS, event: { type: 'LOCKER_DEPOSITED', custodian: 'locker', signer: 'locker' }, code: 'TRANSFER_NOT_CONSENTED' },
          { what: 'RETURNED_TO_SENDER signed by the receiving merchant alone while the hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'merchant' }, code: 'TRANSFER_NOT_CONSENTED' },
          { what: 'a HANDOFF from the hub onward, signed by the receiver and counter-signed by the carrier instead of the hub', prefix: HUB_HOLDS, event: { type: 'HANDOFF', custodian: 'locker', signer: 'locker', counter: 'carrier' }, code: 'INVALID_COUNTER_SIGNATURE' },
        ]),
      )('rejects $what as $code', async ({ prefix, event, code }) => {
        await rejectStep(await journey(prefix), event, code);
      });
    });

    describe('counter-signatures come from the other party of a transfer', () => {
      it.each(
        table([
          { what: 'a HANDOFF signed by the receiving hub, counter-signed by a third organization', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'outsider' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'a HANDOFF signed by the releasing carrier, counter-signed by a third organization', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'hub', signer: 'carrier', counter: 'outsider' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'a HANDOFF from the hub to the carrier counter-signed by the merchant', prefix: HUB_HOLDS, event: { type: 'HANDOFF', custodian: 'carrier', signer: 'carrier', counter: 'merchant' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'PICKED_UP signed by the carrier, counter-signed by another merchant', prefix: [], event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier', counter: 'otherMerchant' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'PICKED_UP signed by the merchant, counter-signed by a hub', prefix: LABELLED, event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'merchant', counter: 'hub' }, code: 'INVALID_COUNTER_SIGNATURE' },
          {
            what: 'a HANDOFF counter-signed by a second key of the signing organization',
            prefix: CARRIER_HOLDS,
            event: { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'hub' },
            code: 'INVALID_COUNTER_SIGNATURE',
          },
          { what: 'LOCKER_DEPOSITED signed by the carrier, counter-signed by a hub', prefix: CARRIER_HOLDS, event: { type: 'LOCKER_DEPOSITED', custodian: 'locker', signer: 'carrier', counter: 'hub' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'RETURNED_TO_SENDER signed by the carrier, counter-signed by another merchant', prefix: CARRIER_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'carrier', counter: 'otherMerchant' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'a counter-signed ARRIVED_AT_FACILITY (not a transfer)', prefix: CARRIER_HOLDS, event: { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', counter: 'hub' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'a counter-signed LABEL_CREATED (not a transfer)', prefix: [], event: { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'merchant', counter: 'carrier' }, code: 'INVALID_COUNTER_SIGNATURE' },
          { what: 'a counter-signed DELIVERED (not a transfer)', prefix: CARRIER_HOLDS, event: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier', counter: 'merchant' }, code: 'INVALID_COUNTER_SIGNATURE' },
        ]),
      )('rejects $what as $code', async ({ prefix, event, code }) => {
        // a second key of the hub, for the row that names it
        const step = event.counter === 'hub' && event.signer === 'hub' ? { ...event, counterKey: await registerKey(t, ORGS.hub.slug, newWallet(), new Date(T0 - 24 * HOUR)) } : event;
        await rejectStep(await journey(prefix), step, code);
      });
    });

    describe('after a terminal state only CORRECTION and EXCEPTION', () => {
      it.each(
        table([
          { what: 'a HANDOFF to a hub after DELIVERED', prefix: DELIVERED, event: { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'carrier' }, code: 'AFTER_TERMINAL_STATE' },
          { what: 'OUT_FOR_DELIVERY after DELIVERED', prefix: DELIVERED, event: { type: 'OUT_FOR_DELIVERY', custodian: 'carrier', signer: 'carrier' }, code: 'AFTER_TERMINAL_STATE' },
          { what: 'a second DELIVERED', prefix: DELIVERED, event: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' }, code: 'AFTER_TERMINAL_STATE' },
          { what: 'LOST after DELIVERED', prefix: DELIVERED, event: { type: 'LOST', custodian: 'carrier', signer: 'carrier' }, code: 'AFTER_TERMINAL_STATE' },
          { what: 'RETURNED_TO_SENDER after DELIVERED', prefix: DELIVERED, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'carrier' }, code: 'AFTER_TERMINAL_STATE' },
          { what: 'PICKED_UP after DELIVERED', prefix: DELIVERED, event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier' }, code: 'INVALID_TRANSITION' },
        ]),
      )('rejects $what as $code', async ({ prefix, event, code }) => {
        await rejectStep(await journey(prefix), event, code);
      });
    });

    describe('a CORRECTION names one correctable event of this shipment', () => {
      interface BadCorrection {
        what: string;
        prefix: Step[];
        event: () => Promise<Step> | Step;
      }
      const CORRECTION: Step = { type: 'CORRECTION', custodian: 'hub', signer: 'carrier' };
      const CORRECTED: Step[] = [...HUB_SCANNED, { ...CORRECTION, corrects: 2 }];
      it.each<BadCorrection>([
        { what: 'a CORRECTION without extraData', prefix: HUB_SCANNED, event: () => ({ ...CORRECTION, doc: null }) },
        { what: 'a CORRECTION whose extraData names no corrected event', prefix: HUB_SCANNED, event: () => ({ ...CORRECTION, doc: { note: 'scanned twice', v: 1 } }) },
        { what: 'a CORRECTION of an unknown event', prefix: HUB_SCANNED, event: () => ({ ...CORRECTION, corrects: newEventId() }) },
        { what: "a CORRECTION of another shipment's event", prefix: HUB_SCANNED, event: async () => ({ ...CORRECTION, corrects: (await journey(HUB_SCANNED)).ids[2] }) },
        { what: 'a CORRECTION of a CORRECTION', prefix: CORRECTED, event: () => ({ ...CORRECTION, corrects: 3 }) },
        { what: 'a second CORRECTION of the same event', prefix: CORRECTED, event: () => ({ ...CORRECTION, corrects: 2 }) },
        { what: 'a second CORRECTION of the same event, by the signer of the event', prefix: CORRECTED, event: () => ({ ...CORRECTION, signer: 'hub', corrects: 2 }) },
      ])('rejects $what as INVALID_CORRECTION', async ({ prefix, event }) => {
        const j = await journey(prefix);
        await rejectStep(j, await event(), 'INVALID_CORRECTION');
      });

      it('refuses a CORRECTION on the wrong shipment; the same CORRECTION on the right one is accepted and links both events', async () => {
        const a = await journey(HUB_SCANNED);
        const b = await journey(HUB_SCANNED);
        await rejectStep(b, { ...CORRECTION, corrects: a.ids[2] }, 'INVALID_CORRECTION');
        // and the same correction on the right shipment is accepted
        const ok = await accept(a, { ...CORRECTION, corrects: 2 });
        expect(await eventInfo(a.ids[2])).toMatchObject({ correctedBy: ok.eventId });
        expect(await eventInfo(ok.eventId)).toMatchObject({ correctsEventId: a.ids[2], flags: [] });
      });
    });
  });

  describe('accepted events: flags, dual attestation and the status after each', () => {
    interface Acceptance {
      what: string;
      prefix: Step[];
      event: Step;
      flags: string[];
      dualAttested: boolean;
      status: string;
      custodian: Party;
      options?: { merchant?: Party | null; requireDeliveryEvidence?: boolean };
    }
    it.each<Acceptance>([
      { what: 'LABEL_CREATED by the merchant naming itself', prefix: [], event: LABELLED[0], flags: [], dualAttested: false, status: 'PRE_TRANSIT', custodian: 'merchant' },
      { what: 'LABEL_CREATED by the carrier naming the merchant', prefix: [], event: { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'carrier' }, flags: [], dualAttested: false, status: 'PRE_TRANSIT', custodian: 'merchant' },
      { what: 'PICKED_UP as the first event, signed by the carrier', prefix: [], event: PICKUP, flags: [], dualAttested: false, status: 'IN_TRANSIT', custodian: 'carrier' },
      { what: 'PICKED_UP as the first event, signed by the releasing merchant', prefix: [], event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'merchant' }, flags: [], dualAttested: false, status: 'IN_TRANSIT', custodian: 'carrier' },
      { what: 'PICKED_UP signed by the carrier, counter-signed by the merchant', prefix: [], event: { ...PICKUP, counter: 'merchant' }, flags: [], dualAttested: true, status: 'IN_TRANSIT', custodian: 'carrier' },
      { what: 'PICKED_UP after the label, signed by the merchant, counter-signed by the carrier', prefix: LABELLED, event: { type: 'PICKED_UP', custodian: 'carrier', signer: 'merchant', counter: 'carrier' }, flags: [], dualAttested: true, status: 'IN_TRANSIT', custodian: 'carrier' },
      { what: 'a HANDOFF signed by the receiving hub, counter-signed by the releasing carrier', prefix: CARRIER_HOLDS, event: HUB_HOLDS[1], flags: [], dualAttested: true, status: 'IN_TRANSIT', custodian: 'hub' },
      { what: 'a HANDOFF signed by the releasing carrier, counter-signed by the receiving hub', prefix: CARRIER_HOLDS, event: { type: 'HANDOFF', custodian: 'hub', signer: 'carrier', counter: 'hub' }, flags: [], dualAttested: true, status: 'IN_TRANSIT', custodian: 'hub' },
      { what: 'a HANDOFF back from the hub, signed by the hub, counter-signed by the carrier', prefix: HUB_HOLDS, event: { type: 'HANDOFF', custodian: 'carrier', signer: 'hub', counter: 'carrier' }, flags: [], dualAttested: true, status: 'IN_TRANSIT', custodian: 'carrier' },
      { what: "a scan by the hub that holds the parcel", prefix: HUB_HOLDS, event: HUB_SCANNED[2], flags: [], dualAttested: false, status: 'IN_TRANSIT', custodian: 'hub' },
      { what: 'OUT_FOR_DELIVERY by the carrier', prefix: CARRIER_HOLDS, event: { type: 'OUT_FOR_DELIVERY', custodian: 'carrier', signer: 'carrier' }, flags: [], dualAttested: false, status: 'OUT_FOR_DELIVERY', custodian: 'carrier' },
      { what: 'DELIVERY_ATTEMPTED by the carrier', prefix: CARRIER_HOLDS, event: { type: 'DELIVERY_ATTEMPTED', custodian: 'carrier', signer: 'carrier' }, flags: [], dualAttested: false, status: 'DELIVERY_FAILED', custodian: 'carrier' },
      { what: 'LOCKER_DEPOSITED signed by the carrier, counter-signed by the locker operator', prefix: CARRIER_HOLDS, event: LOCKER_HOLDS[1], flags: [], dualAttested: true, status: 'AVAILABLE_FOR_PICKUP', custodian: 'locker' },
      { what: 'COLLECTED_FROM_LOCKER after the deposit, signed by the locker operator', prefix: LOCKER_HOLDS, event: { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'locker' }, flags: [], dualAttested: false, status: 'DELIVERED', custodian: 'locker' },
      { what: 'RETURNED_TO_SENDER signed by the carrier, counter-signed by the merchant', prefix: CARRIER_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'carrier', counter: 'merchant' }, flags: [], dualAttested: true, status: 'RETURN_TO_SENDER', custodian: 'merchant' },
      { what: 'RETURNED_TO_SENDER signed by the receiving merchant', prefix: HUB_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'merchant', counter: 'hub' }, flags: [], dualAttested: true, status: 'RETURN_TO_SENDER', custodian: 'merchant' },
      { what: 'an EXCEPTION by the hub that holds the parcel', prefix: HUB_HOLDS, event: { type: 'EXCEPTION', custodian: 'hub', signer: 'hub' }, flags: [], dualAttested: false, status: 'EXCEPTION', custodian: 'hub' },
      { what: 'an EXCEPTION by the carrier while it holds the parcel (not carrier-declared)', prefix: CARRIER_HOLDS, event: { type: 'EXCEPTION', custodian: 'carrier', signer: 'carrier' }, flags: [], dualAttested: false, status: 'EXCEPTION', custodian: 'carrier' },
      { what: 'an EXCEPTION declared by the carrier while a hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'EXCEPTION', custodian: 'hub', signer: 'carrier' }, flags: ['CARRIER_DECLARED'], dualAttested: false, status: 'EXCEPTION', custodian: 'hub' },
      { what: 'LOST declared by the carrier while a hub holds the parcel', prefix: HUB_HOLDS, event: { type: 'LOST', custodian: 'hub', signer: 'carrier' }, flags: ['CARRIER_DECLARED'], dualAttested: false, status: 'LOST', custodian: 'hub' },
      { what: 'an EXCEPTION declared by the carrier while the locker holds the parcel', prefix: LOCKER_HOLDS, event: { type: 'EXCEPTION', custodian: 'locker', signer: 'carrier' }, flags: ['CARRIER_DECLARED'], dualAttested: false, status: 'EXCEPTION', custodian: 'locker' },
      { what: "a CORRECTION by the carrier of the hub's scan (not flagged carrier-declared)", prefix: HUB_SCANNED, event: { type: 'CORRECTION', custodian: 'hub', signer: 'carrier', corrects: 2 }, flags: [], dualAttested: false, status: 'IN_TRANSIT', custodian: 'hub' },
      { what: 'a CORRECTION by the hub of its own scan', prefix: HUB_SCANNED, event: { type: 'CORRECTION', custodian: 'hub', signer: 'hub', corrects: 2 }, flags: [], dualAttested: false, status: 'IN_TRANSIT', custodian: 'hub' },
      {
        what: 'DELIVERED without evidence although the merchant requires it',
        prefix: CARRIER_HOLDS,
        event: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' },
        flags: ['MISSING_REQUIRED_EVIDENCE'],
        dualAttested: false,
        status: 'DELIVERED',
        custodian: 'carrier',
        options: { requireDeliveryEvidence: true },
      },
      {
        what: 'DELIVERED with evidence when the merchant requires it',
        prefix: CARRIER_HOLDS,
        event: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier', evidenceHash: hexlify(randomBytes(32)) },
        flags: [],
        dualAttested: false,
        status: 'DELIVERED',
        custodian: 'carrier',
        options: { requireDeliveryEvidence: true },
      },
      {
        what: 'COLLECTED_FROM_LOCKER without evidence although the merchant requires it',
        prefix: LOCKER_HOLDS,
        event: { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'locker' },
        flags: ['MISSING_REQUIRED_EVIDENCE'],
        dualAttested: false,
        status: 'DELIVERED',
        custodian: 'locker',
        options: { requireDeliveryEvidence: true },
      },
      { what: 'RETURNED_TO_SENDER to a merchant on a shipment without merchant', prefix: CARRIER_HOLDS, event: { type: 'RETURNED_TO_SENDER', custodian: 'otherMerchant', signer: 'carrier' }, flags: [], dualAttested: false, status: 'RETURN_TO_SENDER', custodian: 'otherMerchant', options: { merchant: null } },
    ])('accepts $what', async ({ prefix, event, flags, dualAttested, status, custodian, options }) => {
      const j = await journey(prefix, options);
      const r = await accept(j, event);
      expect({ flags: r.flags, dualAttested: r.dualAttested }).toEqual({ flags, dualAttested });
      const v = await expectState(r.journey, status, custodian);
      expect(v.eventCount).toBe(prefix.length + 1);
    });

    it('a CORRECTION of a HANDOFF voids the transfer: custody is back with the carrier', async () => {
      const j = await journey(HUB_HOLDS);
      await expectState(j, 'IN_TRANSIT', 'hub');
      const c = await accept(j, { type: 'CORRECTION', custodian: 'hub', signer: 'carrier', corrects: 1 });
      expect(c.flags).toEqual([]);
      await expectState(c.journey, 'IN_TRANSIT', 'carrier');
      await rejectStep(c.journey, { type: 'ARRIVED_AT_FACILITY', custodian: 'hub', signer: 'hub' }, 'CUSTODIAN_MISMATCH');
      const scan = await accept(c.journey, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier' });
      expect(scan.flags).toEqual([]);
      await expectState(scan.journey, 'IN_TRANSIT', 'carrier');
    });
  });

  describe('terminal states', () => {
    interface Terminal {
      terminal: string;
      prefix: Step[];
      step: Step;
      terminalFlags: string[];
      status: string;
      /** who holds the parcel after the terminal event */
      keeper: Party;
      /** status and holder before the terminal event */
      before: { status: string; custodian: Party };
      /** signs the CORRECTION of the terminal event */
      corrector: Party;
      /** an event that is possible again once the terminal event is corrected, and the status after it */
      resume: Step;
      resumed: string;
    }
    const TERMINALS: Terminal[] = [
      {
        terminal: 'DELIVERED',
        prefix: [PICKUP, { type: 'OUT_FOR_DELIVERY', custodian: 'carrier', signer: 'carrier' }],
        step: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' },
        terminalFlags: [],
        status: 'DELIVERED',
        keeper: 'carrier',
        before: { status: 'OUT_FOR_DELIVERY', custodian: 'carrier' },
        corrector: 'carrier',
        resume: { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier' },
        resumed: 'DELIVERED',
      },
      {
        terminal: 'COLLECTED_FROM_LOCKER',
        prefix: LOCKER_HOLDS,
        step: { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'locker' },
        terminalFlags: [],
        status: 'DELIVERED',
        keeper: 'locker',
        before: { status: 'AVAILABLE_FOR_PICKUP', custodian: 'locker' },
        corrector: 'locker',
        resume: { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'locker' },
        resumed: 'DELIVERED',
      },
      {
        terminal: 'RETURNED_TO_SENDER',
        prefix: [PICKUP, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier' }],
        step: { type: 'RETURNED_TO_SENDER', custodian: 'merchant', signer: 'carrier', counter: 'merchant' },
        terminalFlags: [],
        status: 'RETURN_TO_SENDER',
        keeper: 'merchant',
        before: { status: 'IN_TRANSIT', custodian: 'carrier' },
        corrector: 'carrier',
        resume: { type: 'DEPARTED_FACILITY', custodian: 'carrier', signer: 'carrier' },
        resumed: 'IN_TRANSIT',
      },
      {
        terminal: 'LOST',
        prefix: HUB_HOLDS,
        step: { type: 'LOST', custodian: 'hub', signer: 'carrier' },
        terminalFlags: ['CARRIER_DECLARED'],
        status: 'LOST',
        keeper: 'hub',
        before: { status: 'IN_TRANSIT', custodian: 'hub' },
        corrector: 'carrier',
        resume: { type: 'ARRIVED_AT_FACILITY', custodian: 'hub', signer: 'hub' },
        resumed: 'IN_TRANSIT',
      },
    ];

    it.each(TERMINALS)(
      'after $terminal: DEPARTED_FACILITY is AFTER_TERMINAL_STATE, an EXCEPTION is accepted flagged AFTER_TERMINAL, the status stays',
      async ({ prefix, step, terminalFlags, status, keeper }) => {
        const j0 = await journey(prefix);
        const term = await accept(j0, step);
        expect(term.flags).toEqual(terminalFlags);
        const j = term.journey;
        await expectState(j, status, keeper);
        await rejectStep(j, { type: 'DEPARTED_FACILITY', custodian: keeper, signer: keeper }, 'AFTER_TERMINAL_STATE');
        await rejectStep(j, { type: 'HANDOFF', custodian: 'outsider', signer: 'outsider', counter: keeper }, 'AFTER_TERMINAL_STATE');
        const byKeeper = await accept(j, { type: 'EXCEPTION', custodian: keeper, signer: keeper });
        expect(byKeeper.flags).toEqual(['AFTER_TERMINAL']);
        await expectState(byKeeper.journey, status, keeper);
        // the carrier declares problems for the whole journey, also after it ended
        const byCarrier = await accept(byKeeper.journey, { type: 'EXCEPTION', custodian: keeper, signer: 'carrier' });
        expect([...byCarrier.flags].sort()).toEqual(keeper === 'carrier' ? ['AFTER_TERMINAL'] : ['AFTER_TERMINAL', 'CARRIER_DECLARED']);
        await expectState(byCarrier.journey, status, keeper);
        // the exceptions did not end the terminal state
        await rejectStep(byCarrier.journey, { type: 'DEPARTED_FACILITY', custodian: keeper, signer: keeper }, 'AFTER_TERMINAL_STATE');
        const v = await view(j.tracking);
        expect(v.events.map((e) => e.eventType)).toEqual([...prefix.map((s) => s.type), step.type, 'EXCEPTION', 'EXCEPTION']);
      },
    );

    it.each(TERMINALS)(
      'a CORRECTION of $terminal voids it: the status reverts and further events are accepted again',
      async ({ prefix, step, status, keeper, before, corrector, resume, resumed }) => {
        const j0 = await journey(prefix);
        const term = await accept(j0, step);
        await expectState(term.journey, status, keeper);
        const correction = await accept(term.journey, { type: 'CORRECTION', custodian: keeper, signer: corrector, corrects: term.eventId });
        expect(correction.flags).toEqual([]);
        expect(await eventInfo(term.eventId)).toMatchObject({ correctedBy: correction.eventId });
        await expectState(correction.journey, before.status, before.custodian);
        // corrected once is enough
        await rejectStep(correction.journey, { type: 'CORRECTION', custodian: before.custodian, signer: 'carrier', corrects: term.eventId }, 'INVALID_CORRECTION');
        const again = await accept(correction.journey, resume);
        expect(again.flags).toEqual([]);
        await expectState(again.journey, resumed, resume.custodian);
      },
    );
  });

  describe('late arrivals (offline scanners) are checked against the state at their occurredAt', () => {
    it('accepts a late offline sequence sent together (a late HANDOFF alone would break stored scans), orders the timeline by occurredAt, the status follows the latest event', async () => {
      let j = await journey([{ ...PICKUP, at: 1 }]);
      await expectState(j, 'IN_TRANSIT', 'carrier');
      j = (await accept(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', at: 4 })).journey;
      await expectState(j, 'IN_TRANSIT', 'carrier');
      const ofd = await accept(j, { type: 'OUT_FOR_DELIVERY', custodian: 'carrier', signer: 'carrier', at: 5 });
      expect(ofd.flags).toEqual([]);
      j = ofd.journey;
      await expectState(j, 'OUT_FOR_DELIVERY', 'carrier');

      // the hub's scanner was offline: its handoff alone, slid in before the carrier's scans at t4 and t5, would make them continuity breaks
      await rejectStep(j, { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'carrier', at: 2 }, 'INVALID_TRANSITION', 'occurredAt');
      // the whole offline sequence in one call: the handoff to it at t2, its scan at t2.5 and the hand-back at t3
      j = await extend(j, [
        { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counter: 'carrier', at: 2 },
        { type: 'ARRIVED_AT_FACILITY', custodian: 'hub', signer: 'hub', at: 2.5 },
        { type: 'HANDOFF', custodian: 'carrier', signer: 'carrier', counter: 'hub', at: 3 },
      ]);
      // at t4.5 the carrier held it: a late hub scan then does not fit
      await rejectStep(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'hub', signer: 'hub', at: 4.5 }, 'CUSTODIAN_MISMATCH');
      const v = await expectState(j, 'OUT_FOR_DELIVERY', 'carrier');
      // timeline by occurredAt, not by arrival: PICKED_UP t1, HANDOFF t2, ARRIVED t2.5, HANDOFF t3, ARRIVED t4, OUT_FOR_DELIVERY t5
      const [pickedUp, arrived, outForDelivery, handoffToHub, hubArrived, handoffBack] = j.ids;
      expect(v.events.map((e) => e.eventId)).toEqual([pickedUp, handoffToHub, hubArrived, handoffBack, arrived, outForDelivery]);
      expect(v.events.map((e) => e.eventType)).toEqual(['PICKED_UP', 'HANDOFF', 'ARRIVED_AT_FACILITY', 'HANDOFF', 'ARRIVED_AT_FACILITY', 'OUT_FOR_DELIVERY']);
      const times = v.events.map((e) => BigInt(e.occurredAt));
      expect([...times].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(times);
      expect(v.events.map((e) => e.flags)).toEqual([[], ['LATE_ARRIVAL'], ['LATE_ARRIVAL'], ['LATE_ARRIVAL'], [], []]);
      expect(v.eventCount).toBe(6);

      // a late event that is now the latest by occurredAt moves the status
      const attempt = await accept(j, { type: 'DELIVERY_ATTEMPTED', custodian: 'carrier', signer: 'carrier', at: 6 });
      expect(attempt.flags).toEqual([]);
      await expectState(attempt.journey, 'DELIVERY_FAILED', 'carrier');
    });

    it('checks a late event before the first one as the first event: a late LABEL_CREATED fits, a late scan does not', async () => {
      const j = await journey([{ ...PICKUP, at: 3 }]);
      await rejectStep(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', at: 2 }, 'CUSTODY_NOT_ESTABLISHED');
      const label = await accept(j, { type: 'LABEL_CREATED', custodian: 'merchant', signer: 'merchant', at: 1 });
      expect(label.flags).toEqual(['LATE_ARRIVAL']);
      const v = await expectState(label.journey, 'IN_TRANSIT', 'carrier');
      expect(v.events.map((e) => e.eventType)).toEqual(['LABEL_CREATED', 'PICKED_UP']);
    });

    it('accepts an offline scan arriving after the delivery that occurred before it (LATE_ARRIVAL, not AFTER_TERMINAL_STATE); the status stays DELIVERED', async () => {
      const j = await journey([{ ...PICKUP, at: 1 }, { type: 'OUT_FOR_DELIVERY', custodian: 'carrier', signer: 'carrier', at: 3 }, { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier', at: 5 }]);
      await expectState(j, 'DELIVERED', 'carrier');
      const scan = await accept(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', at: 2 });
      expect(scan.flags).toEqual(['LATE_ARRIVAL']);
      await expectState(scan.journey, 'DELIVERED', 'carrier');
      // an exception that occurred before the delivery is late, not after the terminal state
      const exception = await accept(scan.journey, { type: 'EXCEPTION', custodian: 'carrier', signer: 'carrier', at: 4 });
      expect(exception.flags).toEqual(['LATE_ARRIVAL']);
      await expectState(exception.journey, 'DELIVERED', 'carrier');
      // but a scan that occurred after the delivery is refused
      await rejectStep(exception.journey, { type: 'DEPARTED_FACILITY', custodian: 'carrier', signer: 'carrier', at: 6 }, 'AFTER_TERMINAL_STATE');
      const v = await view(j.tracking);
      expect(v.events.map((e) => e.eventType)).toEqual(['PICKED_UP', 'ARRIVED_AT_FACILITY', 'OUT_FOR_DELIVERY', 'EXCEPTION', 'DELIVERED']);
    });
  });

  describe('clocks and keys', () => {
    it('rejects an event more than MAX_CLOCK_SKEW_MS in the future as OCCURRED_IN_FUTURE, accepts one within the skew', async () => {
      const skew = t.ledger.runtime.config.maxClockSkewMs;
      const j = await journey(CARRIER_HOLDS);
      await rejectStep(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', atMs: Date.now() + skew + 60_000 }, 'OCCURRED_IN_FUTURE');
      const ok = await accept(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', atMs: Date.now() + skew - 60_000 });
      expect(ok.flags).toEqual([]);
      await expectState(ok.journey, 'IN_TRANSIT', 'carrier');
    });

    it('a key revoked at T: its event at T-1 is accepted even when uploaded after the revocation, its event at T is SIGNER_REVOKED', async () => {
      const oldKey = await registerKey(t, CARRIER, newWallet(), new Date(T0 - 24 * HOUR));
      const j = await journey(CARRIER_HOLDS);
      const revokedAt = T0 + 3 * HOUR;
      await mustGql(t, `mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address } }`, {
        i: { address: oldKey.address, reason: 'scanner stolen', revokedAt: new Date(revokedAt).toISOString() },
      });
      const before = await accept(j, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', signerKey: oldKey, atMs: revokedAt - 1 });
      expect(before.flags).toEqual([]);
      await rejectStep(before.journey, { type: 'DEPARTED_FACILITY', custodian: 'carrier', signer: 'carrier', signerKey: oldKey, atMs: revokedAt }, 'SIGNER_REVOKED');
      await rejectStep(before.journey, { type: 'DEPARTED_FACILITY', custodian: 'carrier', signer: 'carrier', signerKey: oldKey, atMs: revokedAt + HOUR }, 'SIGNER_REVOKED');
      // as a counter-signature the same: valid before T, not from T on
      await rejectStep(before.journey, { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counterKey: oldKey, atMs: revokedAt }, 'INVALID_COUNTER_SIGNATURE');
      const handoff = await accept(before.journey, { type: 'HANDOFF', custodian: 'hub', signer: 'hub', counterKey: oldKey, atMs: revokedAt - 1 });
      expect({ flags: handoff.flags, dualAttested: handoff.dualAttested }).toEqual({ flags: [], dualAttested: true });
      await expectState(handoff.journey, 'IN_TRANSIT', 'hub');
    });
  });

  describe('extra data, evidence and personal data', () => {
    const salt = hexlify(randomBytes(32));
    const recipient = { name: personalCommitment(salt, 'Erika Mustermann') };
    const SCAN: Step = { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier' };
    const evidenceHash = hexlify(randomBytes(32));
    it.each<{ what: string; step: Step; code: string }>([
      { what: 'extraData with a zero dataHash', step: { ...SCAN, extraData: canonicalJson({ note: 'x', v: 1 }), dataHash: ZERO_HASH }, code: 'DATA_HASH_MISMATCH' },
      { what: 'extraData whose keccak256 is not the signed dataHash', step: { ...SCAN, extraData: canonicalJson({ note: 'x', v: 1 }), dataHash: dataHashOf(canonicalJson({ note: 'y', v: 1 })) }, code: 'DATA_HASH_MISMATCH' },
      { what: 'extraData that is not canonical JSON (keys unsorted)', step: { ...SCAN, extraData: '{"v":1,"note":"x"}' }, code: 'DATA_HASH_MISMATCH' },
      { what: 'extraData that is not canonical JSON (whitespace)', step: { ...SCAN, extraData: '{"note": "x", "v": 1}' }, code: 'DATA_HASH_MISMATCH' },
      { what: 'extraData that is not JSON', step: { ...SCAN, extraData: 'note=x' }, code: 'INVALID_EXTRA_DATA' },
      { what: 'extraData of another version', step: { ...SCAN, doc: { note: 'x', v: 2 } }, code: 'INVALID_EXTRA_DATA' },
      { what: 'extraData with an unknown key', step: { ...SCAN, doc: { colour: 'red', v: 1 } }, code: 'INVALID_EXTRA_DATA' },
      { what: 'extraData with a personal value in clear', step: { ...SCAN, doc: { recipient: { name: 'Erika Mustermann' }, v: 1 } }, code: 'INVALID_EXTRA_DATA' },
      { what: 'extraData with a malformed sensor reading', step: { ...SCAN, doc: { sensors: [{ type: 'temperature', value: 'cold', unit: 'CEL' }], v: 1 } }, code: 'INVALID_EXTRA_DATA' },
      { what: '"corrects" on an event that is not a CORRECTION', step: { ...SCAN, doc: { corrects: newEventId(), reason: 'oops', v: 1 } }, code: 'INVALID_FIELD' },
      { what: 'a personal value that does not open its commitment', step: { ...SCAN, doc: { recipient, v: 1 }, personalData: [{ path: 'recipient.name', value: 'Max Mustermann', salt }] }, code: 'PERSONAL_DATA_MISMATCH' },
      { what: 'a personal value with no commitment at its path', step: { ...SCAN, doc: { recipient, v: 1 }, personalData: [{ path: 'recipient.phone', value: '+49 30 1234', salt }] }, code: 'PERSONAL_DATA_MISMATCH' },
      { what: 'a personal value without extraData', step: { ...SCAN, personalData: [{ path: 'recipient.name', value: 'Erika Mustermann', salt }] }, code: 'PERSONAL_DATA_MISMATCH' },
      { what: 'evidence whose hash is not the signed evidenceHash', step: { ...SCAN, evidenceHash, evidence: { contentType: 'image/jpeg', sizeBytes: 1024, hash: hexlify(randomBytes(32)) } }, code: 'EVIDENCE_MISMATCH' },
      { what: 'evidence described with a zero evidenceHash', step: { ...SCAN, evidence: { contentType: 'image/jpeg', sizeBytes: 1024, hash: ZERO_HASH } }, code: 'EVIDENCE_MISMATCH' },
    ])('rejects $what as $code', async ({ step, code }) => {
      await rejectStep(await journey(CARRIER_HOLDS), step, code);
    });

    it('accepts sensors, recipient commitments with their personal values and evidence, and serves them back', async () => {
      const j = await journey(CARRIER_HOLDS);
      const doc = { note: 'cold chain', recipient, sensors: [{ at: String(T0 + 2 * HOUR), type: 'temperature', unit: 'CEL', value: 4.5 }], v: 1 };
      const evidence = { contentType: 'image/jpeg', sizeBytes: 2048, hash: evidenceHash };
      const r = await accept(j, { ...SCAN, doc, evidenceHash, evidence, personalData: [{ path: 'recipient.name', value: 'Erika Mustermann', salt }] });
      expect(r.flags).toEqual([]);
      const data = await mustGql<{ custodyEvent: { extraData: string; dataHash: string; hasEvidence: boolean; evidence: unknown; personalData: unknown[] } }>(
        t,
        `query($id: String!) { custodyEvent(eventId: $id) { extraData dataHash hasEvidence evidence { contentType sizeBytes hash } personalData { path commitment value } } }`,
        { id: r.eventId },
      );
      expect(data.custodyEvent).toEqual({
        extraData: canonicalJson(doc),
        dataHash: dataHashOf(canonicalJson(doc)),
        hasEvidence: true,
        evidence,
        personalData: [{ path: 'recipient.name', commitment: recipient.name, value: 'Erika Mustermann' }],
      });
      await expectState(r.journey, 'IN_TRANSIT', 'carrier');
    });
  });

  describe('late terminal events, labels printed by the carrier, exceptions on the way', () => {
    it('rejects a late DELIVERED that would precede a scan already recorded after it as INVALID_TRANSITION', async () => {
      const j = await journey([{ ...PICKUP, at: 1 }, { type: 'ARRIVED_AT_FACILITY', custodian: 'carrier', signer: 'carrier', at: 5 }]);
      await expectRejected(await sign(j, { type: 'DELIVERED', custodian: 'carrier', signer: 'carrier', at: 3 }), 'INVALID_TRANSITION', 'occurredAt');
      await expectState(j, 'IN_TRANSIT', 'carrier');
    });

    it('rejects a late LOST before a recorded delivery, keeps the delivery', async () => {
      const j = await journey(DELIVERED);
      await expectRejected(await sign(j, { type: 'LOST', custodian: 'carrier', signer: 'carrier', at: 2.5 }), 'INVALID_TRANSITION', 'occurredAt');
      await expectState(j, 'DELIVERED', 'carrier');
    });

    it('accepts the pickup of a label the carrier created itself', async () => {
      const j = await journey([{ type: 'LABEL_CREATED', custodian: 'carrier', signer: 'carrier' }]);
      await accept(j, { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier' });
      await expectState(j, 'IN_TRANSIT', 'carrier');
    });

    it('accepts the collection from a locker after an EXCEPTION at the locker', async () => {
      const j = await journey([...LOCKER_HOLDS, { type: 'EXCEPTION', custodian: 'locker', signer: 'locker' }]);
      await expectState(j, 'EXCEPTION', 'locker');
      await accept(j, { type: 'COLLECTED_FROM_LOCKER', custodian: 'locker', signer: 'locker' });
      await expectState(j, 'DELIVERED', 'locker');
    });

    it('accepts the pickup after an EXCEPTION before it (e.g. the label was re-printed)', async () => {
      const j = await journey([...LABELLED, { type: 'EXCEPTION', custodian: 'merchant', signer: 'merchant' }]);
      await accept(j, { type: 'PICKED_UP', custodian: 'carrier', signer: 'carrier', counter: 'merchant' });
      await expectState(j, 'IN_TRANSIT', 'carrier');
    });

    it('rejects a CORRECTION that occurred before the event it corrects as INVALID_CORRECTION', async () => {
      const j = await journey(DELIVERED);
      await expectRejected(await sign(j, { type: 'CORRECTION', custodian: 'carrier', signer: 'carrier', corrects: 2, at: 2.5 }), 'INVALID_CORRECTION', 'occurredAt');
    });
  });
});
