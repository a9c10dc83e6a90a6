import type { CustodyEventType } from '../custody/event-types';

/**
 * EPCIS 2.0 export: one shipment's custody events as a GS1 EPCIS 2.0 JSON-LD document.
 *
 * Pure (no NestJS, no database, no clock): the same input always gives the same document.
 * The output validates against the official EPCIS 2.0 JSON Schema (GS1 EPCIS repo, commit
 * 2b888be; vendored in test/vendor/epcis and checked by test/epcis/epcis-mapper.spec.ts).
 *
 * Identifier choices (every identifier field in the schema is `format: uri`):
 * - the parcel (`epcList`): parcels carry a carrier tracking number, not an SGTIN/SSCC, and
 *   inventing a GS1 key would be wrong. CBV 2.0 allows any URI as an instance identifier, so
 *   we use a private, stable HTTP URI `https://custody-ledger.example/parcel/<carrier>/<tracking>`
 *   (path segments percent-encoded).
 * - `eventID`: the device's 32-byte eventId is unique forever but is not a UUID (so no
 *   `urn:uuid:`) and not the EPCIS canonical hash (`ni:///sha-256;…`, which needs the event-hash
 *   algorithm), so: `https://custody-ledger.example/event/0x<64 hex>`.
 * - locations: a 13-digit GLN with a valid check digit becomes the CBV 2.0 constrained GS1
 *   Digital Link `https://id.gs1.org/414/<GLN>`. (An SGLN EPC URI `urn:epc:id:sgln:…` needs the
 *   GS1 Company Prefix length to split the GLN, which a bare GLN does not carry; guessing it
 *   would produce a different location.) Codes that already are an SGLN URN or a GS1 Digital
 *   Link for AI 414 are kept; anything else becomes `https://custody-ledger.example/location/<code>`.
 *   When an event has no location code but a GPS fix, the read point is an RFC 5870 geo URI
 *   (`geo:52.520008,13.404954;u=12`, u = accuracy in metres), which CBV 2.0 allows for readPoint.
 * - parties (`sourceList` / `destinationList`): `https://custody-ledger.example/org/<slug>`.
 *
 * Our own fields live in the extension namespace `cl:` (https://custody-ledger.example/epcis/),
 * declared in the document's @context; EPCIS accepts any URI-named property as an extension.
 */

export const EPCIS_CONTEXT_URL = 'https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld';
export const CL_NAMESPACE = 'https://custody-ledger.example/epcis/';
const BASE = 'https://custody-ledger.example';

// ---------------------------------------------------------------- input

export type EpcisSensorType = 'temperature' | 'humidity' | 'shock';

export interface EpcisSensorReadingInput {
  type: EpcisSensorType;
  value: number;
  /** UN/CEFACT Rec 20 code (CEL, P1, K40, MSK, …) or a common alias (°C, %, g, m/s2) */
  unit: string;
  /** unix ms of the reading; the event's occurredAt when absent */
  at?: bigint;
}

export interface EpcisCustodyEventInput {
  /** 0x + 64 hex, unique */
  eventId: string;
  /** one of CUSTODY_EVENT_TYPES */
  eventType: string;
  /** unix ms */
  occurredAt: bigint;
  /** latE6 = lonE6 = accuracyM = 0: position unknown */
  latE6: number;
  lonE6: number;
  accuracyM: number;
  /** facility, locker or GLN code; "" if none */
  locationCode: string;
  /** org slug holding the parcel after the event */
  custodian: string;
  previousCustodian: string | null;
  /** 0x address of the signing key */
  signer: string;
  digest: string;
  leaf: string;
  /** ledger status: PENDING | BATCHED | ANCHORED | FINAL */
  status: string;
  batchSeq: string | null;
  sensors: EpcisSensorReadingInput[];
  /** CORRECTION events only */
  corrects: { eventId: string; reason: string } | null;
}

export interface EpcisExportInput {
  shipment: { trackingNumber: string; carrier: string; merchant: string | null };
  /** the document's creationDate */
  createdAt: Date;
  /** in the order they should appear (the custody timeline order) */
  events: EpcisCustodyEventInput[];
}

// ---------------------------------------------------------------- output

/** The CBV 2.0 business steps this mapper uses (all defined in the EPCIS 2.0 context). */
export type CbvBizStep = 'accepting' | 'arriving' | 'commissioning' | 'departing' | 'inspecting' | 'loading' | 'other' | 'receiving' | 'storing';
/** The CBV 2.0 dispositions this mapper uses. */
export type CbvDisposition = 'active' | 'in_progress' | 'in_transit' | 'non_conformant' | 'non_sellable_other' | 'returned' | 'unknown';
export type CbvErrorReason = 'did_not_occur' | 'incorrect_data';

export interface EpcisSensorReport {
  /** CBV measurement type: Temperature, RelativeHumidity, AbsoluteHumidity, Acceleration */
  type: string;
  value: number;
  /** UN/CEFACT Rec 20 code; absent when the input unit is not one we recognise */
  uom?: string;
  /** the input unit as given, when it could not be mapped to a UN/CEFACT code */
  'cl:unit'?: string;
}

export interface EpcisSensorElement {
  sensorMetadata: { time: string };
  sensorReport: EpcisSensorReport[];
}

/** CBV source/destination type: custody is physical possession (ownership is not ours to state). */
export interface EpcisSource {
  type: 'possessing_party';
  source: string;
}
export interface EpcisDestination {
  type: 'possessing_party';
  destination: string;
}

export interface EpcisErrorDeclaration {
  declarationTime: string;
  reason: CbvErrorReason;
  /** absent for did_not_occur (CBV: SHALL NOT be combined with corrective events) */
  correctiveEventIDs?: string[];
  /** the CORRECTION event that declared the error */
  'cl:correctionEventID': string;
  /** the free-text reason given in the CORRECTION */
  'cl:reason': string;
}

export interface EpcisObjectEvent {
  type: 'ObjectEvent';
  eventID: string;
  eventTime: string;
  eventTimeZoneOffset: '+00:00';
  epcList: string[];
  action: 'ADD' | 'OBSERVE';
  bizStep?: CbvBizStep;
  disposition?: CbvDisposition;
  readPoint?: { id: string };
  bizLocation?: { id: string };
  sourceList?: EpcisSource[];
  destinationList?: EpcisDestination[];
  sensorElementList?: EpcisSensorElement[];
  errorDeclaration?: EpcisErrorDeclaration;
  'cl:eventId': string;
  'cl:eventType': CustodyEventType;
  'cl:digest': string;
  'cl:leaf': string;
  'cl:status': string;
  'cl:batchSeq': string | null;
  'cl:signer': string;
  'cl:custodian': string;
  'cl:previousCustodian'?: string;
  'cl:locationCode'?: string;
  'cl:geo'?: string;
  /** CORRECTION only: the eventID of the corrected event */
  'cl:corrects'?: string;
  'cl:correctionReason'?: string;
}

export interface EpcisDocument {
  '@context': [typeof EPCIS_CONTEXT_URL, { cl: typeof CL_NAMESPACE }];
  type: 'EPCISDocument';
  schemaVersion: '2.0';
  creationDate: string;
  'cl:trackingNumber': string;
  'cl:carrier': string;
  'cl:merchant'?: string;
  epcisBody: { eventList: EpcisObjectEvent[] };
}

// ---------------------------------------------------------------- mapping table

export interface EpcisEventMapping {
  action: 'ADD' | 'OBSERVE';
  bizStep?: CbvBizStep;
  disposition?: CbvDisposition;
  /** the parcel stays at the event's location afterwards, so the location is also the bizLocation */
  staysAtLocation: boolean;
  /** possession passes between parties (the custody rules' TRANSFER events): source/destination */
  transfer: boolean;
}

/**
 * Custody event type → EPCIS action, CBV 2.0 bizStep and disposition (the state that holds
 * until a later event says otherwise). Reasons, with the CBV 2.0 definitions:
 * - LABEL_CREATED: the tracking number is attached to the parcel = `commissioning` (the only
 *   `ADD`), disposition `active` ("a commissioned object has just been introduced").
 * - PICKED_UP, HANDOFF: custody passes to another party = `accepting` ("an object changes
 *   possession and/or ownership"); the parcel is still `in_transit` between merchant and recipient.
 * - ARRIVED_AT_FACILITY / DEPARTED_FACILITY: `arriving` / `departing`, `in_transit`.
 * - OUT_FOR_DELIVERY: `loading` ("loaded into shipping conveyance": the delivery vehicle).
 *   Not `shipping`: CBV makes `shipping` mutually exclusive with `departing`/`loading`, which we use.
 * - DELIVERY_ATTEMPTED: `arriving` — CBV's example is "arrives … has not yet been received or
 *   accepted", which is a failed attempt; the parcel stays with the driver, `in_transit`.
 * - DELIVERED, COLLECTED_FROM_LOCKER: the recipient takes the parcel = `accepting` (CBV's own
 *   example: a person signs to accept boxes from a parcel carrier). CBV has no "delivered"
 *   disposition; `in_transit` would be false, so `in_progress` (neutral, as in GS1's receiving
 *   example) ends the transit state.
 * - LOCKER_DEPOSITED: `storing`, `non_sellable_other` (CBV lists "awaiting customer pick-up"
 *   under that disposition, with bizStep `storing`).
 * - EXCEPTION (damage, address problem, delay): `inspecting` ("physical or documentation
 *   defects") with `non_conformant` ("outcome of a failed inspection"); we do not claim
 *   `damaged`, which the event type alone does not tell.
 * - RETURNED_TO_SENDER: back with the merchant = `receiving`, `returned`.
 * - LOST: no CBV step fits = `other`; condition `unknown`.
 * - CORRECTION: changes no business state (the ledger's custodyState skips corrections), so no
 *   bizStep and no disposition; the retraction is the errorDeclaration (see toEpcisDocument).
 */
export const EPCIS_EVENT_MAPPING: Readonly<Record<CustodyEventType, EpcisEventMapping>> = {
  LABEL_CREATED: { action: 'ADD', bizStep: 'commissioning', disposition: 'active', staysAtLocation: true, transfer: false },
  PICKED_UP: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_transit', staysAtLocation: false, transfer: true },
  HANDOFF: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_transit', staysAtLocation: true, transfer: true },
  ARRIVED_AT_FACILITY: { action: 'OBSERVE', bizStep: 'arriving', disposition: 'in_transit', staysAtLocation: true, transfer: false },
  DEPARTED_FACILITY: { action: 'OBSERVE', bizStep: 'departing', disposition: 'in_transit', staysAtLocation: false, transfer: false },
  OUT_FOR_DELIVERY: { action: 'OBSERVE', bizStep: 'loading', disposition: 'in_transit', staysAtLocation: false, transfer: false },
  DELIVERY_ATTEMPTED: { action: 'OBSERVE', bizStep: 'arriving', disposition: 'in_transit', staysAtLocation: false, transfer: false },
  DELIVERED: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_progress', staysAtLocation: true, transfer: false },
  LOCKER_DEPOSITED: { action: 'OBSERVE', bizStep: 'storing', disposition: 'non_sellable_other', staysAtLocation: true, transfer: true },
  COLLECTED_FROM_LOCKER: { action: 'OBSERVE', bizStep: 'accepting', disposition: 'in_progress', staysAtLocation: false, transfer: false },
  EXCEPTION: { action: 'OBSERVE', bizStep: 'inspecting', disposition: 'non_conformant', staysAtLocation: true, transfer: false },
  RETURNED_TO_SENDER: { action: 'OBSERVE', bizStep: 'receiving', disposition: 'returned', staysAtLocation: true, transfer: true },
  LOST: { action: 'OBSERVE', bizStep: 'other', disposition: 'unknown', staysAtLocation: false, transfer: false },
  CORRECTION: { action: 'OBSERVE', staysAtLocation: false, transfer: false },
};

// ---------------------------------------------------------------- identifiers

const enc = encodeURIComponent;
export const parcelUri = (carrier: string, trackingNumber: string): string => `${BASE}/parcel/${enc(carrier)}/${enc(trackingNumber)}`;
export const eventUri = (eventId: string): string => `${BASE}/event/${eventId.toLowerCase()}`;
export const orgUri = (slug: string): string => `${BASE}/org/${enc(slug)}`;

const EVENT_ID = /^0x[0-9a-fA-F]{64}$/;

/** GS1 mod-10 check digit over all digits but the last. */
function gs1CheckDigitOk(digits: string): boolean {
  let sum = 0;
  for (let i = digits.length - 2, w = 3; i >= 0; i--, w = 4 - w) sum += Number(digits[i]) * w;
  return (10 - (sum % 10)) % 10 === Number(digits[digits.length - 1]);
}

/** The location code as a URI (see the header comment); null when the event has none. */
export function locationUri(code: string): string | null {
  const c = code.trim();
  if (c === '') return null;
  if (/^\d{13}$/.test(c) && gs1CheckDigitOk(c)) return `https://id.gs1.org/414/${c}`;
  const sgln = /^urn:epc:id:sgln:(\d{6,12})\.(\d{0,6})\.[!%-?A-Z_a-z"]{1,20}$/.exec(c);
  if (sgln && sgln[1].length + sgln[2].length === 12) return c;
  if (/^https:\/\/id\.gs1\.org\/414\/\d{13}(\/254\/[!%-?A-Z_a-z"]{1,20})?$/.test(c)) return c;
  return `${BASE}/location/${enc(c)}`;
}

function coordinate(e6: number): string {
  const abs = Math.abs(e6);
  return `${e6 < 0 ? '-' : ''}${Math.floor(abs / 1e6)}.${String(abs % 1e6).padStart(6, '0')}`;
}

/** RFC 5870 geo URI, or null when the position is unknown (lat = lon = accuracy = 0). */
export function geoUri(latE6: number, lonE6: number, accuracyM: number): string | null {
  if (latE6 === 0 && lonE6 === 0 && accuracyM === 0) return null;
  if (!Number.isInteger(latE6) || Math.abs(latE6) > 90_000_000) throw new RangeError(`latE6 ${latE6} is not a latitude × 1e6`);
  if (!Number.isInteger(lonE6) || Math.abs(lonE6) > 180_000_000) throw new RangeError(`lonE6 ${lonE6} is not a longitude × 1e6`);
  if (!Number.isInteger(accuracyM) || accuracyM < 0) throw new RangeError(`accuracyM ${accuracyM} must be a non-negative integer`);
  return `geo:${coordinate(latE6)},${coordinate(lonE6)}${accuracyM > 0 ? `;u=${accuracyM}` : ''}`;
}

const MAX_DATE_MS = 8_640_000_000_000_000n;
function isoTime(ms: bigint, what: string): string {
  if (ms < 0n || ms > MAX_DATE_MS) throw new RangeError(`${what} ${ms} is not a unix-ms time`);
  return new Date(Number(ms)).toISOString();
}

// ---------------------------------------------------------------- sensors

const UOM_ALIASES: Record<string, string> = {
  '°C': 'CEL', '℃': 'CEL', C: 'CEL', degC: 'CEL', celsius: 'CEL',
  '°F': 'FAH', F: 'FAH', degF: 'FAH',
  K: 'KEL', kelvin: 'KEL',
  '%': 'P1', '%RH': 'P1', percent: 'P1',
  'g/m3': 'A93', 'g/m³': 'A93',
  g: 'K40', G: 'K40', gn: 'K40', // standard acceleration of free fall
  'm/s2': 'MSK', 'm/s²': 'MSK', 'm/s^2': 'MSK', 'm s-2': 'MSK',
};
/** UN/CEFACT Rec 20 codes are 2-3 upper-case letters or digits. */
const UOM_CODE = /^[A-Z0-9]{2,3}$/;

function sensorReport(r: EpcisSensorReadingInput): EpcisSensorReport {
  if (!Number.isFinite(r.value)) throw new RangeError(`sensor ${r.type}: value must be a finite number`);
  const unit = r.unit.trim();
  const uom = UOM_ALIASES[unit] ?? (UOM_CODE.test(unit) ? unit : undefined);
  let type: string;
  switch (r.type) {
    case 'temperature':
      type = 'Temperature';
      break;
    case 'humidity':
      type = uom === 'A93' ? 'AbsoluteHumidity' : 'RelativeHumidity';
      break;
    case 'shock':
      type = 'Acceleration';
      break;
    default:
      throw new RangeError(`unknown sensor type ${String((r as { type: unknown }).type)}`);
  }
  return uom ? { type, value: r.value, uom } : { type, value: r.value, 'cl:unit': r.unit };
}

/** One sensorElement per reading time (as in GS1's SensorDataExample1), in input order. */
function sensorElements(readings: readonly EpcisSensorReadingInput[], occurredAt: bigint): EpcisSensorElement[] {
  const byTime = new Map<string, EpcisSensorReport[]>();
  for (const r of readings) {
    const time = isoTime(r.at ?? occurredAt, 'sensor reading time');
    const reports = byTime.get(time) ?? [];
    reports.push(sensorReport(r));
    byTime.set(time, reports);
  }
  return [...byTime].map(([time, sensorReport]) => ({ sensorMetadata: { time }, sensorReport }));
}

// ---------------------------------------------------------------- corrections

/** CBV error reason for a CORRECTION's free-text reason: did_not_occur when it says so, else incorrect_data. */
export function errorReason(reason: string): CbvErrorReason {
  const r = reason.trim().toLowerCase().replace(/[\s-]+/g, '_');
  return /^did_?not_?occur$|did_?not_?(occur|happen)|never_?happened/.test(r) ? 'did_not_occur' : 'incorrect_data';
}

// ---------------------------------------------------------------- the mapper

// The table is a Record over CustodyEventType, so its keys are exactly the event types.
const isCustodyEventType = (t: string): t is CustodyEventType => Object.prototype.hasOwnProperty.call(EPCIS_EVENT_MAPPING, t);

function toObjectEvent(e: EpcisCustodyEventInput, type: CustodyEventType, epc: string): EpcisObjectEvent {
  const rule = EPCIS_EVENT_MAPPING[type];
  const eventTime = isoTime(e.occurredAt, `event ${e.eventId} occurredAt`);
  const location = locationUri(e.locationCode);
  const geo = geoUri(e.latE6, e.lonE6, e.accuracyM);
  const readPointId = location ?? geo;
  // PICKED_UP, HANDOFF, LOCKER_DEPOSITED, RETURNED_TO_SENDER, or any other event whose custodian changed
  const transfer = rule.transfer || (e.previousCustodian !== null && e.previousCustodian !== e.custodian && type !== 'CORRECTION');
  const sensors = e.sensors.length > 0 ? sensorElements(e.sensors, e.occurredAt) : null;

  return {
    type: 'ObjectEvent',
    eventID: eventUri(e.eventId),
    eventTime,
    eventTimeZoneOffset: '+00:00',
    epcList: [epc],
    action: rule.action,
    ...(rule.bizStep ? { bizStep: rule.bizStep } : {}),
    ...(rule.disposition ? { disposition: rule.disposition } : {}),
    ...(readPointId ? { readPoint: { id: readPointId } } : {}),
    ...(location && rule.staysAtLocation ? { bizLocation: { id: location } } : {}),
    ...(transfer && e.previousCustodian !== null ? { sourceList: [{ type: 'possessing_party' as const, source: orgUri(e.previousCustodian) }] } : {}),
    ...(transfer ? { destinationList: [{ type: 'possessing_party' as const, destination: orgUri(e.custodian) }] } : {}),
    ...(sensors ? { sensorElementList: sensors } : {}),
    'cl:eventId': e.eventId.toLowerCase(),
    'cl:eventType': type,
    'cl:digest': e.digest,
    'cl:leaf': e.leaf,
    'cl:status': e.status,
    'cl:batchSeq': e.batchSeq,
    'cl:signer': e.signer,
    'cl:custodian': orgUri(e.custodian),
    ...(e.previousCustodian !== null ? { 'cl:previousCustodian': orgUri(e.previousCustodian) } : {}),
    ...(e.locationCode.trim() !== '' ? { 'cl:locationCode': e.locationCode } : {}),
    ...(geo ? { 'cl:geo': geo } : {}),
    ...(type === 'CORRECTION' && e.corrects ? { 'cl:corrects': eventUri(e.corrects.eventId), 'cl:correctionReason': e.corrects.reason } : {}),
  };
}

/**
 * One shipment's custody events as an EPCIS 2.0 document. Every custody event becomes one
 * ObjectEvent, in input order. A CORRECTION additionally produces, right after it, the EPCIS
 * error declaration of the event it corrects (EPCIS 2.0 §7.4.1.4): a copy of the corrected
 * ObjectEvent — same eventID, eventTime and fields — plus `errorDeclaration` with
 * `declarationTime` = the correction's time, the CBV `reason`, and `correctiveEventIDs` = the
 * CORRECTION's eventID (left out for `did_not_occur`, which CBV forbids to combine with
 * corrective events). The corrected event itself stays in the list unchanged: it was signed
 * and anchored, and the ledger never rewrites history.
 *
 * Throws on input the ledger would never produce: an unknown event type, a malformed or
 * duplicate eventId, a CORRECTION without `corrects` or naming an event not in the list.
 */
export function toEpcisDocument(input: EpcisExportInput): EpcisDocument {
  const epc = parcelUri(input.shipment.carrier, input.shipment.trackingNumber);
  const mapped = new Map<string, EpcisObjectEvent>();
  const typed = input.events.map((e) => {
    if (!EVENT_ID.test(e.eventId)) throw new Error(`eventId ${e.eventId} must be 0x + 64 hex`);
    if (!isCustodyEventType(e.eventType)) throw new Error(`event ${e.eventId}: unknown event type ${e.eventType}`);
    const id = e.eventId.toLowerCase();
    if (mapped.has(id)) throw new Error(`event ${e.eventId} appears twice`);
    mapped.set(id, toObjectEvent(e, e.eventType, epc));
    return { e, id };
  });

  const eventList: EpcisObjectEvent[] = [];
  for (const { e, id } of typed) {
    const event = mapped.get(id)!;
    eventList.push(event);
    if (e.eventType !== 'CORRECTION') continue;
    if (!e.corrects) throw new Error(`CORRECTION ${e.eventId} does not name the event it corrects`);
    const corrected = mapped.get(e.corrects.eventId.toLowerCase());
    if (!corrected) throw new Error(`CORRECTION ${e.eventId} corrects ${e.corrects.eventId}, which is not an event of this shipment`);
    if (corrected['cl:eventType'] === 'CORRECTION') throw new Error(`CORRECTION ${e.eventId} corrects another CORRECTION`);
    const reason = errorReason(e.corrects.reason);
    eventList.push({
      ...structuredClone(corrected),
      errorDeclaration: {
        declarationTime: event.eventTime,
        reason,
        ...(reason === 'incorrect_data' ? { correctiveEventIDs: [event.eventID] } : {}),
        'cl:correctionEventID': event.eventID,
        'cl:reason': e.corrects.reason,
      },
    });
  }

  return {
    '@context': [EPCIS_CONTEXT_URL, { cl: CL_NAMESPACE }],
    type: 'EPCISDocument',
    schemaVersion: '2.0',
    creationDate: input.createdAt.toISOString(),
    'cl:trackingNumber': input.shipment.trackingNumber,
    'cl:carrier': orgUri(input.shipment.carrier),
    ...(input.shipment.merchant !== null ? { 'cl:merchant': orgUri(input.shipment.merchant) } : {}),
    epcisBody: { eventList },
  };
}
