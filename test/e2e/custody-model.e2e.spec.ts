import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { hexlify, id, randomBytes, type Wallet } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { canonicalJson, dataHashOf, personalCommitment } from '../../src/custody/extra-data';
import type { CustodyEventFields, CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { SealerService } from '../../src/batching/sealer.service';
import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { WebhooksService } from '../../src/webhooks/webhooks.service';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent, type SignedEventInput } from '../support/factories';

const HOUR = 3_600_000;
const T0 = Date.now() - 72 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));

interface TimelineEvent {
  eventId: string;
  eventType: string;
  custodian: string;
  signerOrganization: string;
  flags: string[];
  dualAttested: boolean;
  hasEvidence: boolean;
  evidence: { contentType: string; sizeBytes: number; hash: string } | null;
  extraData: string | null;
  dataHash: string;
  personalData: Array<{ path: string; commitment: string; value: string | null; erasedAt: string | null }>;
}

const SHIPMENT = `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) {
  status subStatus currentCustodian { slug } eventCount late deliveredAt promisedDeliveryAt estimatedDeliveryAt lastEventAt requireDeliveryEvidence
  custodyPeriods { custodian from to fromEventId toEventId }
  events { eventId eventType custodian signerOrganization flags dualAttested hasEvidence evidence { contentType sizeBytes hash } extraData dataHash
           personalData { path commitment value erasedAt } } } }`;

describe('custody as parcels really move: handoffs, lockers, evidence, personal data, queries, EPCIS', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let k: Record<'shop' | 'acme' | 'hubA' | 'hubB' | 'locker', Wallet>;
  const journey: SignedEventInput[] = [];
  const recipientSalt = hexlify(randomBytes(32));
  const recipientName = 'Erika Mustermann';

  const sign = (signer: Wallet, fields: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>, counter?: Wallet, tracking = 'JOURNEY0001') =>
    signEvent(domain, signer, eventFields({ trackingNumber: tracking, carrier: 'acme-express', ...fields }), counter);

  beforeAll(async () => {
    // background loops idle, so the statement count below sees only the request's own statements
    t = await startTestLedger({ SEALER_INTERVAL_MS: '60000', ANCHORER_INTERVAL_MS: '600000' });
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, 'acme-express', 'CARRIER');
    await registerOrganization(t, 'hub-north', 'HUB');
    await registerOrganization(t, 'hub-south', 'HUB');
    await registerOrganization(t, 'box-lockers', 'LOCKER_OPERATOR');
    k = {
      shop: await registerKey(t, 'shop-one', undefined, new Date(T0 - HOUR)),
      acme: await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR)),
      hubA: await registerKey(t, 'hub-north', undefined, new Date(T0 - HOUR)),
      hubB: await registerKey(t, 'hub-south', undefined, new Date(T0 - HOUR)),
      locker: await registerKey(t, 'box-lockers', undefined, new Date(T0 - HOUR)),
    };
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
      i: { trackingNumber: 'JOURNEY0001', carrier: 'acme-express', merchant: 'shop-one', requireDeliveryEvidence: true, promisedDeliveryAt: new Date(T0 + 96 * HOUR).toISOString() },
    });
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, {
      i: { trackingNumber: 'RETURN0001', carrier: 'acme-express', merchant: 'shop-one', promisedDeliveryAt: new Date(T0 + 24 * HOUR).toISOString() },
    });
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('records merchant → carrier pick-up → two hubs → driver → locker → customer, dual-attested at every handoff', async () => {
    const photo = id('locker door photo');
    const pin = id('pin check 4711');
    const sensors = canonicalJson({ v: 1, sensors: [{ type: 'temperature', value: 4.5, unit: 'CEL', at: String(at(5)) }, { type: 'shock', value: 0.4, unit: 'K40' }] });
    const collected = canonicalJson({ v: 1, recipient: { name: personalCommitment(recipientSalt, recipientName) } });
    journey.push(
      await sign(k.shop, { eventType: 'LABEL_CREATED', custodian: 'shop-one', occurredAt: at(0), scanMethod: 'MANUAL' }),
      await sign(k.acme, { eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) }, k.shop),
      await sign(k.hubA, { eventType: 'HANDOFF', custodian: 'hub-north', occurredAt: at(4), locationCode: 'HUB-N-1' }, k.acme),
      await sign(k.hubA, { eventType: 'ARRIVED_AT_FACILITY', custodian: 'hub-north', occurredAt: at(5), locationCode: 'HUB-N-1', dataHash: dataHashOf(sensors) }),
      await sign(k.hubA, { eventType: 'DEPARTED_FACILITY', custodian: 'hub-north', occurredAt: at(8), locationCode: 'HUB-N-1' }),
      await sign(k.hubB, { eventType: 'HANDOFF', custodian: 'hub-south', occurredAt: at(12), locationCode: 'HUB-S-2' }, k.hubA),
      await sign(k.acme, { eventType: 'HANDOFF', custodian: 'acme-express', occurredAt: at(20) }, k.hubB),
      await sign(k.acme, { eventType: 'OUT_FOR_DELIVERY', custodian: 'acme-express', occurredAt: at(21) }),
      await sign(k.acme, { eventType: 'LOCKER_DEPOSITED', custodian: 'box-lockers', occurredAt: at(23), locationCode: 'LOCKER-77', evidenceHash: photo }, k.locker),
      await sign(k.locker, { eventType: 'COLLECTED_FROM_LOCKER', custodian: 'box-lockers', occurredAt: at(30), locationCode: 'LOCKER-77', evidenceHash: pin, dataHash: dataHashOf(collected), latE6: 52_500_050, lonE6: 13_400_020, accuracyM: 5 }),
    );
    journey[3] = { ...journey[3], extraData: sensors } as SignedEventInput;
    journey[8] = { ...journey[8], evidence: { contentType: 'image/jpeg', sizeBytes: 284_113, hash: photo } } as SignedEventInput;
    journey[9] = { ...journey[9], evidence: { contentType: 'application/json', sizeBytes: 96, hash: pin }, extraData: collected, personalData: [{ path: 'recipient.name', value: recipientName, salt: recipientSalt }] } as SignedEventInput;
    const results = await record(t, journey);
    expect(results.map((r) => [r.outcome, r.error?.code ?? null])).toEqual(journey.map(() => ['ACCEPTED', null]));

    const { shipment } = await mustGql<{ shipment: { status: string; subStatus: string; currentCustodian: { slug: string }; late: boolean; deliveredAt: string; custodyPeriods: Array<{ custodian: string; from: string; to: string | null }>; events: TimelineEvent[] } }>(t, SHIPMENT, { n: 'JOURNEY0001', c: 'acme-express' });
    expect(shipment.status).toBe('DELIVERED');
    expect(shipment.subStatus).toBe('COLLECTED_FROM_LOCKER');
    expect(shipment.currentCustodian.slug).toBe('box-lockers');
    expect(shipment.deliveredAt).toBe(new Date(Number(at(30))).toISOString());
    expect(shipment.late).toBe(false);
    expect(shipment.custodyPeriods.map((p) => [p.custodian, p.from, p.to])).toEqual([
      ['shop-one', iso(0), iso(1)],
      ['acme-express', iso(1), iso(4)],
      ['hub-north', iso(4), iso(12)],
      ['hub-south', iso(12), iso(20)],
      ['acme-express', iso(20), iso(23)],
      ['box-lockers', iso(23), iso(30)],
    ]);
    expect(shipment.events.filter((e) => e.dualAttested).map((e) => e.eventType)).toEqual(['PICKED_UP', 'HANDOFF', 'HANDOFF', 'HANDOFF', 'LOCKER_DEPOSITED']);
    expect(shipment.events.every((e) => e.flags.length === 0)).toBe(true);
    const deposit = shipment.events[8];
    expect(deposit.evidence).toEqual({ contentType: 'image/jpeg', sizeBytes: 284_113, hash: photo });
    expect(shipment.events[3].extraData).toBe(sensors);
    expect(shipment.events[9].personalData).toEqual([{ path: 'recipient.name', commitment: personalCommitment(recipientSalt, recipientName), value: recipientName, erasedAt: null }]);
  });

  it('records a failed attempt and a return to the merchant; the late shipment shows as late', async () => {
    const s = (signer: Wallet, f: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>, counter?: Wallet) => sign(signer, f, counter, 'RETURN0001');
    const events = [
      await s(k.acme, { eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(2) }),
      await s(k.acme, { eventType: 'OUT_FOR_DELIVERY', custodian: 'acme-express', occurredAt: at(26) }),
      await s(k.acme, { eventType: 'DELIVERY_ATTEMPTED', custodian: 'acme-express', occurredAt: at(27) }),
    ];
    expect((await record(t, events)).map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    let { shipment } = await mustGql<{ shipment: { status: string; subStatus: string; late: boolean } }>(t, SHIPMENT, { n: 'RETURN0001', c: 'acme-express' });
    expect(shipment).toMatchObject({ status: 'DELIVERY_FAILED', subStatus: 'DELIVERY_ATTEMPTED', late: true });
    const back = await s(k.shop, { eventType: 'RETURNED_TO_SENDER', custodian: 'shop-one', occurredAt: at(40) }, k.acme);
    expect((await record(t, [back]))[0].outcome).toBe('ACCEPTED');
    ({ shipment } = await mustGql<{ shipment: { status: string; subStatus: string; late: boolean } }>(t, SHIPMENT, { n: 'RETURN0001', c: 'acme-express' }));
    expect(shipment).toMatchObject({ status: 'RETURN_TO_SENDER', subStatus: 'RETURNED_TO_SENDER', late: true });
  });

  it('flags a DELIVERED without evidence when the merchant requires it', async () => {
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: 'EVID0001', carrier: 'acme-express', merchant: 'shop-one' } });
    await mustGql(t, `mutation { updateShipment(input: { trackingNumber: "EVID0001", carrier: "acme-express", requireDeliveryEvidence: true }) { requireDeliveryEvidence } }`);
    const s = (f: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>) => sign(k.acme, f, undefined, 'EVID0001');
    const results = await record(t, [await s({ eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) }), await s({ eventType: 'DELIVERED', custodian: 'acme-express', occurredAt: at(3) })]);
    const delivered = await mustGql<{ custodyEvent: { flags: string[]; hasEvidence: boolean } }>(t, `query($id: String!) { custodyEvent(eventId: $id) { flags hasEvidence } }`, { id: results[1].eventId });
    expect(delivered.custodyEvent).toEqual({ flags: ['MISSING_REQUIRED_EVIDENCE'], hasEvidence: false });
  });

  it('rejects evidence metadata and extra data that do not match the signed hashes, storing nothing', async () => {
    const before = await t.fingerprint();
    const doc = canonicalJson({ v: 1, note: 'fragile' });
    const cases: Array<[Partial<SignedEventInput>, string]> = [
      [{ evidence: { contentType: 'image/jpeg', sizeBytes: 10, hash: id('other') } } as Partial<SignedEventInput>, 'EVIDENCE_MISMATCH'],
      [{ extraData: canonicalJson({ v: 1, note: 'tampered' }) } as Partial<SignedEventInput>, 'DATA_HASH_MISMATCH'],
      [{ extraData: JSON.stringify({ v: 1, note: 'fragile' }, null, 2) } as Partial<SignedEventInput>, 'DATA_HASH_MISMATCH'],
      [{ extraData: doc, personalData: [{ path: 'recipient.name', value: 'x', salt: recipientSalt }] } as Partial<SignedEventInput>, 'PERSONAL_DATA_MISMATCH'],
    ];
    for (const [extra, code] of cases) {
      const event = await sign(k.acme, { eventType: 'ARRIVED_AT_FACILITY', custodian: 'acme-express', occurredAt: at(2), evidenceHash: id('photo'), dataHash: dataHashOf(doc) }, undefined, 'EVID0001');
      const [result] = await record(t, [{ ...event, ...extra } as SignedEventInput]);
      expect([result.outcome, result.error?.code]).toEqual(['REJECTED', code]);
    }
    const plain = canonicalJson({ recipient: { name: 'Erika Mustermann' }, v: 1 });
    const leak = await sign(k.acme, { eventType: 'ARRIVED_AT_FACILITY', custodian: 'acme-express', occurredAt: at(2), dataHash: dataHashOf(plain) }, undefined, 'EVID0001');
    const [rejected] = await record(t, [{ ...leak, extraData: plain } as SignedEventInput]);
    expect(rejected.error).toMatchObject({ code: 'INVALID_EXTRA_DATA', field: 'extraData' });
    expect(rejected.error!.message).toContain('never the value itself');
    expect(await t.fingerprint()).toEqual(before);
  });

  it('erases personal data on request and every proof still verifies', async () => {
    await mustGql(t, `mutation { sealBatch { seq } }`);
    const collectedId = journey[9].eventId;
    const proofQuery = `query($id: String!) { inclusionProof(eventId: $id) { digest signaturesHash previousLeaf leaf proof root } }`;
    const before = (await mustGql<{ inclusionProof: { digest: string; signaturesHash: string; previousLeaf: string; leaf: string; proof: string[]; root: string } }>(t, proofQuery, { id: collectedId })).inclusionProof;
    const erased = await mustGql<{ erasePersonalData: number }>(t, `mutation { erasePersonalData(trackingNumber: "JOURNEY0001", carrier: "acme-express", reason: "GDPR art. 17 request #991") }`);
    expect(erased.erasePersonalData).toBe(1);
    const { shipment } = await mustGql<{ shipment: { events: TimelineEvent[] } }>(t, SHIPMENT, { n: 'JOURNEY0001', c: 'acme-express' });
    const event = shipment.events[9];
    expect(event.personalData).toEqual([{ path: 'recipient.name', commitment: personalCommitment(recipientSalt, recipientName), value: null, erasedAt: expect.any(String) }]);
    expect(JSON.stringify(shipment)).not.toContain(recipientName);
    // the document still opens to the signed dataHash, and the proof is unchanged and valid
    expect(dataHashOf(event.extraData!)).toBe(event.dataHash);
    const after = (await mustGql<{ inclusionProof: typeof before }>(t, proofQuery, { id: collectedId })).inclusionProof;
    expect(after).toEqual(before);
    expect(StandardMerkleTree.verify(after.root, ['bytes32', 'bytes32', 'bytes32'], [after.digest, after.signaturesHash, after.previousLeaf], after.proof)).toBe(true);
    // erasing again finds nothing left
    expect((await mustGql<{ erasePersonalData: number }>(t, `mutation { erasePersonalData(trackingNumber: "JOURNEY0001", carrier: "acme-express", reason: "again") }`)).erasePersonalData).toBe(0);
  });

  it('exports the journey as an EPCIS 2.0 document that passes the official JSON schema', async () => {
    const schema = JSON.parse(readFileSync(path.join(__dirname, '../vendor/epcis/EPCIS-JSON-Schema.json'), 'utf8'));
    const ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(ajv);
    const validate = ajv.compile(schema);
    const { epcisEvents: doc } = await mustGql<{ epcisEvents: { type: string; epcisBody: { eventList: Array<{ bizStep?: string; readPoint?: { id: string }; sensorElementList?: unknown[]; 'cl:eventId': string }> } } }>(
      t,
      `{ epcisEvents(trackingNumber: "JOURNEY0001", carrier: "acme-express") }`,
    );
    expect(validate(doc)).toBe(true);
    expect(validate.errors ?? []).toEqual([]);
    expect(doc.type).toBe('EPCISDocument');
    const list = doc.epcisBody.eventList;
    expect(list.map((e) => e['cl:eventId'])).toEqual(journey.map((e) => e.eventId.toLowerCase()));
    // both readings share the scan time: one sensor element with two reports
    expect(list[3].sensorElementList).toEqual([expect.objectContaining({ sensorReport: [expect.objectContaining({ type: 'Temperature', value: 4.5 }), expect.objectContaining({ type: 'Acceleration', value: 0.4 })] })]);
    expect(list[3].readPoint?.id).toContain('HUB-N-1');
  });

  describe('queries people run', () => {
    beforeAll(async () => {
      for (let i = 0; i < 7; i++) {
        const n = `PAGE${String(i).padStart(4, '0')}`;
        await createShipment(t, n, 'acme-express', i % 2 ? 'shop-one' : undefined);
        await record(t, [await sign(k.acme, { eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(10 + i) }, undefined, n)]);
      }
    });

    type Page = { shipments: { edges: Array<{ cursor: string; node: { trackingNumber: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };
    const PAGE = `query($f: ShipmentFilter, $first: Int!, $after: String) { shipments(filter: $f, first: $first, after: $after) { edges { cursor node { trackingNumber } } pageInfo { hasNextPage endCursor } } }`;

    it('pages through every shipment exactly once, whatever the page size', async () => {
      const all = (await mustGql<Page>(t, PAGE, { first: 100 })).shipments.edges.map((e) => e.node.trackingNumber);
      expect(all).toHaveLength(10);
      for (const size of [1, 3, 10]) {
        const seen: string[] = [];
        let after: string | null = null;
        for (;;) {
          const page: Page = await mustGql<Page>(t, PAGE, { first: size, after });
          seen.push(...page.shipments.edges.map((e) => e.node.trackingNumber));
          if (!page.shipments.pageInfo.hasNextPage) {
            expect(page.shipments.pageInfo.endCursor).toBe(page.shipments.edges.length ? page.shipments.edges[page.shipments.edges.length - 1].cursor : null);
            break;
          }
          after = page.shipments.pageInfo.endCursor;
        }
        expect(seen).toEqual(all);
      }
      const beyond = await mustGql<Page>(t, PAGE, { first: 5, after: (await mustGql<Page>(t, PAGE, { first: 10 })).shipments.pageInfo.endCursor });
      expect(beyond.shipments).toEqual({ edges: [], pageInfo: { hasNextPage: false, endCursor: null } });
    });

    it('rejects a page size out of range and a forged cursor with clear errors', async () => {
      const tooBig = await t.gql(PAGE, { first: 101 });
      expect(tooBig.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', field: 'first' });
      const zero = await t.gql(PAGE, { first: 0 });
      expect(zero.errors?.[0].extensions?.code).toBe('VALIDATION_FAILED');
      const forged = await t.gql(PAGE, { first: 5, after: Buffer.from("shipment:' OR 1=1 --").toString('base64url') });
      expect(forged.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', field: 'after' });
    });

    it('filters by carrier, merchant, status, custodian, updatedSince and lateness', async () => {
      const names = async (f: Record<string, unknown>) => (await mustGql<Page>(t, PAGE, { f, first: 100 })).shipments.edges.map((e) => e.node.trackingNumber).sort();
      expect(await names({ merchant: 'shop-one' })).toEqual(['EVID0001', 'JOURNEY0001', 'PAGE0001', 'PAGE0003', 'PAGE0005', 'RETURN0001']);
      expect(await names({ status: 'DELIVERED' })).toEqual(['EVID0001', 'JOURNEY0001']);
      expect(await names({ status: 'RETURN_TO_SENDER' })).toEqual(['RETURN0001']);
      expect(await names({ custodian: 'box-lockers' })).toEqual(['JOURNEY0001']);
      expect(await names({ carrier: 'acme-express', status: 'IN_TRANSIT', merchant: 'shop-one' })).toEqual(['PAGE0001', 'PAGE0003', 'PAGE0005']);
      expect(await names({ carrier: 'nobody-here' })).toEqual([]);
      expect(await names({ late: true })).toEqual(['RETURN0001']);
      expect(await names({ updatedSince: new Date(Date.now() + 60_000).toISOString() })).toEqual([]);
      expect((await names({ updatedSince: new Date(Date.now() - 600_000).toISOString() })).length).toBe(10);
    });

    it('finds custody events by signer key, organization, type and time range, page by page', async () => {
      type Events = { custodyEvents: { edges: Array<{ node: { eventId: string; eventType: string; occurredAt: string } }>; pageInfo: { hasNextPage: boolean; endCursor: string } } };
      const Q = `query($f: CustodyEventFilter, $first: Int!, $after: String) { custodyEvents(filter: $f, first: $first, after: $after) { edges { node { eventId eventType occurredAt } } pageInfo { hasNextPage endCursor } } }`;
      const bySigner = await mustGql<Events>(t, Q, { f: { signer: k.hubA.address }, first: 50 });
      expect(bySigner.custodyEvents.edges.map((e) => e.node.eventType)).toEqual(['HANDOFF', 'ARRIVED_AT_FACILITY', 'DEPARTED_FACILITY']);
      const byOrg = await mustGql<Events>(t, Q, { f: { organization: 'hub-south' }, first: 50 });
      expect(byOrg.custodyEvents.edges.map((e) => e.node.eventType)).toEqual(['HANDOFF']);
      const pickups = await mustGql<Events>(t, Q, { f: { eventType: 'PICKED_UP', occurredFrom: new Date(Number(at(10))).toISOString(), occurredTo: new Date(Number(at(13))).toISOString() }, first: 2 });
      expect(pickups.custodyEvents.edges.map((e) => e.node.occurredAt)).toEqual([String(at(10)), String(at(11))]);
      expect(pickups.custodyEvents.pageInfo.hasNextPage).toBe(true);
      const rest = await mustGql<Events>(t, Q, { f: { eventType: 'PICKED_UP', occurredFrom: new Date(Number(at(10))).toISOString(), occurredTo: new Date(Number(at(13))).toISOString() }, first: 2, after: pickups.custodyEvents.pageInfo.endCursor });
      expect(rest.custodyEvents.edges.map((e) => e.node.occurredAt)).toEqual([String(at(12))]);
      expect(rest.custodyEvents.pageInfo.hasNextPage).toBe(false);
    });

    it('answers a page of shipments with their timelines in a bounded number of SQL statements (no N+1)', async () => {
      for (let i = 0; i < 100; i++) await createShipment(t, `BULK${String(i).padStart(4, '0')}`, 'acme-express', 'shop-one');
      const dataSource = t.ledger.runtime.dataSource;
      // no background work while counting: the sealer's and anchorer's timers and the webhook queue's
      // polling run statements of their own on the same connections (a CI run on PGlite counted 3 of them)
      t.ledger.app.get(SealerService).stopTimer();
      t.ledger.app.get(AnchorerService).stopTicks();
      await t.ledger.app.get(WebhooksService).onApplicationShutdown();
      await new Promise((resolve) => setTimeout(resolve, 300));
      const count = async (first: number): Promise<number> => {
        let statements = 0;
        const original = dataSource.logger.logQuery.bind(dataSource.logger);
        dataSource.logger.logQuery = (...args: Parameters<typeof original>) => {
          // per request, whatever the page size: the rate-limit bucket (a chunk of tokens now and then) and
          // the API key (when its cache entry expires), and the anchorer's lease renewal (a timer of its
          // own); what is counted is what the page's data costs
          if (/rate_limit_buckets|api_keys|leader_leases/.test(String(args[0]))) return original(...args);
          statements++;
          if (process.env.DEBUG_SQL) console.log(String(args[0]).slice(0, 120));
          return original(...args);
        };
        try {
          const data = await mustGql<{ shipments: { edges: Array<{ node: { events: unknown[]; custodyPeriods: unknown[]; carrier: { slug: string } } }> } }>(
            t,
            `query($first: Int!) { shipments(first: $first) { edges { node { trackingNumber carrier { slug } merchant { slug } currentCustodian { slug }
               events { eventId flags evidence { hash } personalData { path } } custodyPeriods { custodian } } } } }`,
            { first },
          );
          expect(data.shipments.edges).toHaveLength(first);
        } finally {
          dataSource.logger.logQuery = original;
        }
        return statements;
      };
      const ten = await count(10);
      const hundred = await count(100);
      expect(hundred).toBe(ten);
      expect(hundred).toBeLessThanOrEqual(5);
    });
  });
});

function iso(hours: number): string {
  return new Date(Number(at(hours))).toISOString();
}
