import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import {
  toEpcisDocument,
  type EpcisCustodyEventInput,
  type EpcisDocument,
  type EpcisExportInput,
  type EpcisObjectEvent,
} from '../../src/epcis/epcis.mapper';

/**
 * The EPCIS export checked against GS1's own EPCIS 2.0 JSON Schema (vendored from the GS1 EPCIS
 * repository, commit 2b888be, in test/vendor/epcis), plus the mapping decisions the schema
 * cannot see (CBV terms per event type, error declarations, parties, extension fields).
 */
const VENDOR = path.join(__dirname, '../vendor/epcis');
const readJson = (file: string): unknown => JSON.parse(readFileSync(path.join(VENDOR, file), 'utf8'));

let validate: ValidateFunction;
beforeAll(() => {
  const ajv = new Ajv({ allErrors: true, strict: false }); // the schema is draft-07: Ajv's default
  addFormats(ajv);
  validate = ajv.compile(readJson('EPCIS-JSON-Schema.json') as object);
});

const fmt = (errors: ErrorObject[] | null | undefined): string[] => (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`);
/** Validates the document as it goes over the wire (JSON text), returning the schema errors. */
function schemaErrors(doc: unknown): string[] {
  const wire = JSON.parse(JSON.stringify(doc)) as unknown;
  return validate(wire) ? [] : fmt(validate.errors);
}

// ------------------------------------------------------------------ fixture helpers

const hex32 = (label: string): string => `0x${createHash('sha256').update(label).digest('hex')}`;
const address = (label: string): string => `0x${createHash('sha256').update(`key:${label}`).digest('hex').slice(0, 40)}`;
const T0 = 1_764_000_000_000n; // 2025-11-24T16:00:00.000Z
const minutes = (m: number): bigint => T0 + BigInt(m) * 60_000n;
const iso = (ms: bigint): string => new Date(Number(ms)).toISOString();

type EventSpec = Partial<EpcisCustodyEventInput> & Pick<EpcisCustodyEventInput, 'eventType' | 'occurredAt' | 'custodian'>;
function makeEvents(shipment: string, specs: EventSpec[]): EpcisCustodyEventInput[] {
  let previous: string | null = null;
  return specs.map((s, i) => {
    const e: EpcisCustodyEventInput = {
      eventId: hex32(`${shipment}/event/${i}`),
      latE6: 0,
      lonE6: 0,
      accuracyM: 0,
      locationCode: '',
      previousCustodian: previous,
      signer: address(s.custodian),
      digest: hex32(`${shipment}/digest/${i}`),
      leaf: hex32(`${shipment}/leaf/${i}`),
      status: i < 6 ? 'FINAL' : 'BATCHED',
      batchSeq: i < 6 ? '41' : '42',
      sensors: [],
      corrects: null,
      ...s,
    };
    previous = e.custodian;
    return e;
  });
}

// Berlin merchant → carrier pickup → Berlin hub → handoff to a linehaul carrier → Munich hub →
// handoff back to the carrier's last mile → out for delivery → failed attempt → parcel locker → collected.
const MERCHANT_GLN = '4012345000009'; // GLN with a valid check digit
const journey: EpcisExportInput = {
  shipment: { trackingNumber: 'SP 4400 1234 5678', carrier: 'swiftpost', merchant: 'nordic-outfitters' },
  createdAt: new Date('2025-11-26T09:00:00.000Z'),
  events: makeEvents('journey', [
    { eventType: 'LABEL_CREATED', occurredAt: minutes(0), custodian: 'nordic-outfitters', locationCode: MERCHANT_GLN, latE6: 52_520_008, lonE6: 13_404_954, accuracyM: 8 },
    {
      eventType: 'PICKED_UP', occurredAt: minutes(95), custodian: 'swiftpost', locationCode: MERCHANT_GLN, latE6: 52_520_008, lonE6: 13_404_954, accuracyM: 12,
      sensors: [{ type: 'temperature', value: 6.5, unit: 'CEL' }],
    },
    { eventType: 'ARRIVED_AT_FACILITY', occurredAt: minutes(180), custodian: 'swiftpost', locationCode: 'HUB-BER-01', latE6: 52_386_110, lonE6: 13_520_277, accuracyM: 30 },
    {
      eventType: 'HANDOFF', occurredAt: minutes(260), custodian: 'linehaul-express', locationCode: 'HUB-BER-01', latE6: 52_386_110, lonE6: 13_520_277, accuracyM: 30,
      sensors: [
        { type: 'temperature', value: 7.25, unit: 'CEL', at: minutes(255) },
        { type: 'humidity', value: 61, unit: '%', at: minutes(255) },
        { type: 'temperature', value: 7.5, unit: '°C' },
      ],
    },
    { eventType: 'DEPARTED_FACILITY', occurredAt: minutes(300), custodian: 'linehaul-express', locationCode: 'HUB-BER-01' },
    { eventType: 'ARRIVED_AT_FACILITY', occurredAt: minutes(640), custodian: 'linehaul-express', locationCode: 'HUB-MUC-02', latE6: 48_353_783, lonE6: 11_786_086, accuracyM: 25 },
    {
      eventType: 'HANDOFF', occurredAt: minutes(700), custodian: 'swiftpost', locationCode: 'HUB-MUC-02', latE6: 48_353_783, lonE6: 11_786_086, accuracyM: 25,
      sensors: [{ type: 'shock', value: 3.2, unit: 'g', at: minutes(611) }],
    },
    { eventType: 'OUT_FOR_DELIVERY', occurredAt: minutes(900), custodian: 'swiftpost', latE6: 48_137_154, lonE6: 11_576_124, accuracyM: 15 },
    { eventType: 'DELIVERY_ATTEMPTED', occurredAt: minutes(1010), custodian: 'swiftpost', latE6: 48_150_018, lonE6: 11_581_000, accuracyM: 6 },
    { eventType: 'LOCKER_DEPOSITED', occurredAt: minutes(1080), custodian: 'boxnet', locationCode: 'LOCKER-MUC-0042', latE6: 48_148_850, lonE6: 11_584_402, accuracyM: 5 },
    { eventType: 'COLLECTED_FROM_LOCKER', occurredAt: minutes(2400), custodian: 'boxnet', locationCode: 'LOCKER-MUC-0042' },
  ]),
};

// A second shipment: a DELIVERED scanned on the wrong parcel is corrected, the address turns out
// to be unknown, and the parcel goes back to the merchant.
const returned: EpcisExportInput = {
  shipment: { trackingNumber: 'SP4400999000', carrier: 'swiftpost', merchant: 'nordic-outfitters' },
  createdAt: new Date('2025-11-28T12:00:00.000Z'),
  events: makeEvents('returned', [
    { eventType: 'LABEL_CREATED', occurredAt: minutes(0), custodian: 'nordic-outfitters' }, // no location, no fix
    { eventType: 'PICKED_UP', occurredAt: minutes(120), custodian: 'swiftpost', locationCode: MERCHANT_GLN },
    { eventType: 'DEPARTED_FACILITY', occurredAt: minutes(400), custodian: 'swiftpost', locationCode: 'HUB-BER-01', sensors: [{ type: 'temperature', value: -1.5, unit: 'CEL' }] },
    { eventType: 'OUT_FOR_DELIVERY', occurredAt: minutes(1300), custodian: 'swiftpost', latE6: -33_868_820, lonE6: 151_209_296, accuracyM: 20 },
    { eventType: 'DELIVERED', occurredAt: minutes(1350), custodian: 'swiftpost', latE6: 48_150_018, lonE6: 11_581_000, accuracyM: 6 },
    {
      eventType: 'CORRECTION', occurredAt: minutes(1500), custodian: 'swiftpost', locationCode: 'HUB-MUC-02',
      corrects: { eventId: hex32('returned/event/4'), reason: 'wrong parcel scanned at the doorstep' },
    },
    { eventType: 'EXCEPTION', occurredAt: minutes(1510), custodian: 'swiftpost', locationCode: 'HUB-MUC-02', sensors: [{ type: 'shock', value: 41.5, unit: 'MSK' }] },
    { eventType: 'RETURNED_TO_SENDER', occurredAt: minutes(4000), custodian: 'nordic-outfitters', locationCode: MERCHANT_GLN },
  ]),
};

// The expected CBV terms, written out independently of the mapper's table.
const EXPECTED: Record<string, { action: string; bizStep?: string; disposition?: string }> = {
  LABEL_CREATED: { action: 'ADD', bizStep: 'commissioning', disposition: 'active' },
  PICKED_UP: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_transit' },
  HANDOFF: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_transit' },
  ARRIVED_AT_FACILITY: { action: 'OBSERVE', bizStep: 'arriving', disposition: 'in_transit' },
  DEPARTED_FACILITY: { action: 'OBSERVE', bizStep: 'departing', disposition: 'in_transit' },
  OUT_FOR_DELIVERY: { action: 'OBSERVE', bizStep: 'loading', disposition: 'in_transit' },
  DELIVERY_ATTEMPTED: { action: 'OBSERVE', bizStep: 'arriving', disposition: 'in_transit' },
  DELIVERED: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_progress' },
  LOCKER_DEPOSITED: { action: 'OBSERVE', bizStep: 'storing', disposition: 'non_sellable_other' },
  COLLECTED_FROM_LOCKER: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_progress' },
  EXCEPTION: { action: 'OBSERVE', bizStep: 'inspecting', disposition: 'non_conformant' },
  RETURNED_TO_SENDER: { action: 'OBSERVE', bizStep: 'receiving', disposition: 'returned' },
  LOST: { action: 'OBSERVE', bizStep: 'other', disposition: 'unknown' },
  CORRECTION: { action: 'OBSERVE' },
};

const eventsOf = (doc: EpcisDocument): EpcisObjectEvent[] => doc.epcisBody.eventList;
const org = (slug: string): string => `https://custody-ledger.example/org/${slug}`;
const eventUrl = (id: string): string => `https://custody-ledger.example/event/${id}`;

// ------------------------------------------------------------------ the validator itself

describe('EPCIS 2.0 JSON Schema validator (vendored GS1 schema)', () => {
  it.each(['Example_9.6.1-ObjectEvent.jsonld', 'SensorDataExample1.jsonld'])('accepts the GS1 example %s', (file) => {
    expect(schemaErrors(readJson(file))).toEqual([]);
  });

  it('rejects documents that break the schema, so a green check means something', () => {
    const good = toEpcisDocument(journey);
    expect(schemaErrors(good)).toEqual([]);
    const broken = (mutate: (e: Record<string, unknown>) => void): unknown => {
      const doc = JSON.parse(JSON.stringify(good)) as { epcisBody: { eventList: Array<Record<string, unknown>> } };
      mutate(doc.epcisBody.eventList[1]);
      return doc;
    };
    expect(schemaErrors(broken((e) => (e.action = 'MOVE'))).join('\n')).toMatch(/\/epcisBody\/eventList\/1\/action must be equal to one of the allowed values/);
    expect(schemaErrors(broken((e) => (e.bizStep = 'delivering')))).not.toEqual([]);
    expect(schemaErrors(broken((e) => (e.digest = e['cl:digest'])))).not.toEqual([]); // extensions must be namespaced (URI names)
    expect(schemaErrors(broken((e) => delete e.eventTimeZoneOffset)).join('\n')).toMatch(/eventTimeZoneOffset/);
    expect(schemaErrors(broken((e) => (e.eventTime = '2025-11-24 16:00')))).not.toEqual([]);
    expect(schemaErrors(broken((e) => (e.readPoint = { id: 'HUB-BER-01' })))).not.toEqual([]); // not a URI
  });
});

// ------------------------------------------------------------------ the mapper

describe('toEpcisDocument', () => {
  it('produces schema-valid EPCIS 2.0 documents for both shipments', () => {
    for (const input of [journey, returned]) {
      const doc = toEpcisDocument(input);
      expect(schemaErrors(doc)).toEqual([]);
      expect(JSON.parse(JSON.stringify(doc))).toEqual(doc); // nothing undefined or bigint on the wire
    }
  });

  it('writes the document header with the GS1 context and our extension namespace', () => {
    const doc = toEpcisDocument(journey);
    expect(doc['@context']).toEqual(['https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld', { cl: 'https://custody-ledger.example/epcis/' }]);
    expect(doc.type).toBe('EPCISDocument');
    expect(doc.schemaVersion).toBe('2.0');
    expect(doc.creationDate).toBe('2025-11-26T09:00:00.000Z');
    expect(doc['cl:trackingNumber']).toBe('SP 4400 1234 5678');
    expect(doc['cl:carrier']).toBe(org('swiftpost'));
    expect(doc['cl:merchant']).toBe(org('nordic-outfitters'));
  });

  it('maps every event to one ObjectEvent on the parcel, with the CBV bizStep and disposition of its type', () => {
    const doc = toEpcisDocument(journey);
    const events = eventsOf(doc);
    expect(events).toHaveLength(journey.events.length);
    events.forEach((ev, i) => {
      const input = journey.events[i];
      const expected = EXPECTED[input.eventType];
      expect(ev.type).toBe('ObjectEvent');
      expect(ev.epcList).toEqual(['https://custody-ledger.example/parcel/swiftpost/SP%204400%201234%205678']);
      expect({ type: ev['cl:eventType'], action: ev.action, bizStep: ev.bizStep, disposition: ev.disposition }).toEqual({ type: input.eventType, ...expected });
      expect(ev.eventID).toBe(eventUrl(input.eventId));
    });
  });

  it('maps all fourteen event types to schema-valid events with the expected CBV terms', () => {
    const types = Object.keys(EXPECTED);
    const specs: EventSpec[] = types.map((t, i) => ({ eventType: t, occurredAt: minutes(i * 10), custodian: 'swiftpost', locationCode: 'HUB-BER-01' }));
    const events = makeEvents('all-types', specs);
    const correction = events.find((e) => e.eventType === 'CORRECTION')!;
    correction.corrects = { eventId: events[types.indexOf('DELIVERED')].eventId, reason: 'incorrect_data' };
    const doc = toEpcisDocument({ shipment: { trackingNumber: 'T1', carrier: 'swiftpost', merchant: null }, createdAt: new Date(Number(T0)), events });
    expect(schemaErrors(doc)).toEqual([]);
    expect(doc['cl:merchant']).toBeUndefined();
    for (const ev of eventsOf(doc).filter((e) => !e.errorDeclaration)) {
      const expected = EXPECTED[ev['cl:eventType']];
      expect({ action: ev.action, bizStep: ev.bizStep, disposition: ev.disposition }).toEqual(expected);
    }
    expect(eventsOf(doc).map((e) => e['cl:eventType'])).toEqual([...types, 'DELIVERED']); // + the error declaration
  });

  it('writes eventTime in ISO-8601 UTC with eventTimeZoneOffset +00:00', () => {
    const events = eventsOf(toEpcisDocument(journey));
    expect(events[0].eventTime).toBe('2025-11-24T16:00:00.000Z');
    expect(events[2].eventTime).toBe('2025-11-24T19:00:00.000Z');
    events.forEach((ev, i) => {
      expect(ev.eventTime).toBe(iso(journey.events[i].occurredAt));
      expect(ev.eventTimeZoneOffset).toBe('+00:00');
    });
  });

  it('sets readPoint from the location code (GLN as GS1 Digital Link), else from the GPS fix, else not at all', () => {
    const j = eventsOf(toEpcisDocument(journey));
    expect(j[0].readPoint).toEqual({ id: 'https://id.gs1.org/414/4012345000009' });
    expect(j[0].bizLocation).toEqual({ id: 'https://id.gs1.org/414/4012345000009' });
    expect(j[0]['cl:geo']).toBe('geo:52.520008,13.404954;u=8');
    expect(j[2].readPoint).toEqual({ id: 'https://custody-ledger.example/location/HUB-BER-01' });
    expect(j[2].bizLocation).toEqual({ id: 'https://custody-ledger.example/location/HUB-BER-01' });
    expect(j[4].readPoint).toEqual({ id: 'https://custody-ledger.example/location/HUB-BER-01' });
    expect(j[4].bizLocation).toBeUndefined(); // departed: the parcel does not stay there
    expect(j[4]['cl:geo']).toBeUndefined(); // no fix
    expect(j[7].readPoint).toEqual({ id: 'geo:48.137154,11.576124;u=15' }); // out for delivery, GPS only
    expect(j[7].bizLocation).toBeUndefined();
    expect(j[8].readPoint).toEqual({ id: 'geo:48.150018,11.581000;u=6' });
    expect(j[9].bizLocation).toEqual({ id: 'https://custody-ledger.example/location/LOCKER-MUC-0042' });
    expect(j[10].bizLocation).toBeUndefined(); // collected: leaves with the recipient

    const r = eventsOf(toEpcisDocument(returned));
    expect(r[0].readPoint).toBeUndefined(); // no location code, no fix
    expect(r[0].bizLocation).toBeUndefined();
    expect(r[3].readPoint).toEqual({ id: 'geo:-33.868820,151.209296;u=20' }); // southern/eastern hemisphere
  });

  it('lists sensor readings as sensorElementList, one element per reading time, with CBV types and UN/CEFACT units', () => {
    const j = eventsOf(toEpcisDocument(journey));
    expect(j[0].sensorElementList).toBeUndefined();
    expect(j[1].sensorElementList).toEqual([{ sensorMetadata: { time: iso(minutes(95)) }, sensorReport: [{ type: 'Temperature', value: 6.5, uom: 'CEL' }] }]);
    expect(j[3].sensorElementList).toEqual([
      {
        sensorMetadata: { time: iso(minutes(255)) },
        sensorReport: [
          { type: 'Temperature', value: 7.25, uom: 'CEL' },
          { type: 'RelativeHumidity', value: 61, uom: 'P1' },
        ],
      },
      { sensorMetadata: { time: iso(minutes(260)) }, sensorReport: [{ type: 'Temperature', value: 7.5, uom: 'CEL' }] },
    ]);
    expect(j[6].sensorElementList).toEqual([{ sensorMetadata: { time: iso(minutes(611)) }, sensorReport: [{ type: 'Acceleration', value: 3.2, uom: 'K40' }] }]);
    const r = eventsOf(toEpcisDocument(returned));
    const exception = r.find((e) => e['cl:eventType'] === 'EXCEPTION')!;
    expect(exception.sensorElementList?.[0].sensorReport).toEqual([{ type: 'Acceleration', value: 41.5, uom: 'MSK' }]);
  });

  it('keeps a unit it cannot map as an extension instead of inventing a UN/CEFACT code', () => {
    const events = makeEvents('odd-unit', [
      { eventType: 'LABEL_CREATED', occurredAt: T0, custodian: 'swiftpost', locationCode: 'HUB-BER-01', sensors: [{ type: 'humidity', value: 0.61, unit: 'fraction' }] },
    ]);
    const doc = toEpcisDocument({ shipment: { trackingNumber: 'T2', carrier: 'swiftpost', merchant: null }, createdAt: new Date(Number(T0)), events });
    expect(schemaErrors(doc)).toEqual([]);
    expect(eventsOf(doc)[0].sensorElementList?.[0].sensorReport).toEqual([{ type: 'RelativeHumidity', value: 0.61, 'cl:unit': 'fraction' }]);
  });

  it('names the parties of custody transfers as possessing_party source and destination', () => {
    const j = eventsOf(toEpcisDocument(journey));
    const parties = (ev: EpcisObjectEvent) => ({ sourceList: ev.sourceList, destinationList: ev.destinationList });
    expect(parties(j[1])).toEqual({
      sourceList: [{ type: 'possessing_party', source: org('nordic-outfitters') }],
      destinationList: [{ type: 'possessing_party', destination: org('swiftpost') }],
    });
    expect(parties(j[3])).toEqual({
      sourceList: [{ type: 'possessing_party', source: org('swiftpost') }],
      destinationList: [{ type: 'possessing_party', destination: org('linehaul-express') }],
    });
    expect(parties(j[6])).toEqual({
      sourceList: [{ type: 'possessing_party', source: org('linehaul-express') }],
      destinationList: [{ type: 'possessing_party', destination: org('swiftpost') }],
    });
    expect(parties(j[9])).toEqual({
      sourceList: [{ type: 'possessing_party', source: org('swiftpost') }],
      destinationList: [{ type: 'possessing_party', destination: org('boxnet') }],
    });
    for (const i of [0, 2, 4, 5, 7, 8, 10]) expect(parties(j[i])).toEqual({ sourceList: undefined, destinationList: undefined });

    const r = eventsOf(toEpcisDocument(returned));
    expect(parties(r.find((e) => e['cl:eventType'] === 'RETURNED_TO_SENDER')!)).toEqual({
      sourceList: [{ type: 'possessing_party', source: org('swiftpost') }],
      destinationList: [{ type: 'possessing_party', destination: org('nordic-outfitters') }],
    });
  });

  it('declares the corrected event erroneous right after the CORRECTION (EPCIS errorDeclaration)', () => {
    const r = eventsOf(toEpcisDocument(returned));
    const delivered = returned.events[4];
    const correction = returned.events[5];
    expect(r).toHaveLength(returned.events.length + 1);
    expect(r.map((e) => e['cl:eventType'])).toEqual(['LABEL_CREATED', 'PICKED_UP', 'DEPARTED_FACILITY', 'OUT_FOR_DELIVERY', 'DELIVERED', 'CORRECTION', 'DELIVERED', 'EXCEPTION', 'RETURNED_TO_SENDER']);

    // the original DELIVERED stays as signed and anchored
    expect(r[4].eventID).toBe(eventUrl(delivered.eventId));
    expect(r[4].errorDeclaration).toBeUndefined();

    // the CORRECTION itself: an observation that asserts no business step or state
    expect(r[5].eventID).toBe(eventUrl(correction.eventId));
    expect(r[5].bizStep).toBeUndefined();
    expect(r[5].disposition).toBeUndefined();
    expect(r[5]['cl:corrects']).toBe(eventUrl(delivered.eventId));
    expect(r[5]['cl:correctionReason']).toBe('wrong parcel scanned at the doorstep');

    // the error declaration: the corrected event repeated (same eventID and eventTime) + errorDeclaration
    const declared = r[6];
    expect(r.filter((e) => e.errorDeclaration)).toEqual([declared]);
    const { errorDeclaration, ...rest } = declared;
    expect(rest).toEqual(r[4]);
    expect(declared.eventID).toBe(eventUrl(delivered.eventId));
    expect(declared.eventTime).toBe(iso(delivered.occurredAt));
    expect(errorDeclaration).toEqual({
      declarationTime: iso(correction.occurredAt),
      reason: 'incorrect_data',
      correctiveEventIDs: [eventUrl(correction.eventId)],
      'cl:correctionEventID': eventUrl(correction.eventId),
      'cl:reason': 'wrong parcel scanned at the doorstep',
    });
  });

  it('uses did_not_occur without corrective events when the correction says the event never happened', () => {
    const events = makeEvents('did-not-occur', [
      { eventType: 'LABEL_CREATED', occurredAt: minutes(0), custodian: 'swiftpost' },
      { eventType: 'DELIVERY_ATTEMPTED', occurredAt: minutes(10), custodian: 'swiftpost' },
    ]);
    events.push(...makeEvents('did-not-occur-2', [{ eventType: 'CORRECTION', occurredAt: minutes(20), custodian: 'swiftpost', corrects: { eventId: events[1].eventId, reason: 'Did not occur: scanner test' } }]));
    const doc = toEpcisDocument({ shipment: { trackingNumber: 'T3', carrier: 'swiftpost', merchant: null }, createdAt: new Date(Number(T0)), events });
    expect(schemaErrors(doc)).toEqual([]);
    const declared = eventsOf(doc)[3];
    expect(declared.eventID).toBe(eventUrl(events[1].eventId));
    expect(declared.errorDeclaration?.reason).toBe('did_not_occur');
    expect(declared.errorDeclaration?.correctiveEventIDs).toBeUndefined();
    expect(declared.errorDeclaration?.['cl:correctionEventID']).toBe(eventUrl(events[2].eventId));
  });

  it('carries the ledger proof fields in the cl: extension namespace on every event', () => {
    const j = eventsOf(toEpcisDocument(journey));
    j.forEach((ev, i) => {
      const input = journey.events[i];
      expect(ev).toMatchObject({
        'cl:eventId': input.eventId,
        'cl:eventType': input.eventType,
        'cl:digest': input.digest,
        'cl:leaf': input.leaf,
        'cl:status': input.status,
        'cl:batchSeq': input.batchSeq,
        'cl:signer': input.signer,
        'cl:custodian': org(input.custodian),
      });
      const extensionKeys = Object.keys(ev).filter((k) => k.includes(':'));
      expect(extensionKeys.every((k) => k.startsWith('cl:'))).toBe(true);
    });
    expect(j[0]['cl:previousCustodian']).toBeUndefined();
    expect(j[3]['cl:previousCustodian']).toBe(org('swiftpost'));
    expect(j[2]['cl:locationCode']).toBe('HUB-BER-01');
  });

  it('refuses input the ledger never produces', () => {
    const base = makeEvents('bad', [{ eventType: 'LABEL_CREATED', occurredAt: T0, custodian: 'swiftpost' }]);
    const run = (events: EpcisCustodyEventInput[]) => () => toEpcisDocument({ shipment: { trackingNumber: 'T4', carrier: 'swiftpost', merchant: null }, createdAt: new Date(Number(T0)), events });
    expect(run([{ ...base[0], eventType: 'TELEPORTED' }])).toThrow(/unknown event type/);
    expect(run([{ ...base[0], eventId: '0x1234' }])).toThrow(/0x \+ 64 hex/);
    expect(run([base[0], { ...base[0] }])).toThrow(/appears twice/);
    expect(run([base[0], { ...base[0], eventId: hex32('bad/c'), eventType: 'CORRECTION', corrects: null }])).toThrow(/does not name/);
    expect(run([base[0], { ...base[0], eventId: hex32('bad/c'), eventType: 'CORRECTION', corrects: { eventId: hex32('elsewhere'), reason: 'x' } }])).toThrow(/not an event of this shipment/);
  });
});
