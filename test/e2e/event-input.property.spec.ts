import fc from 'fast-check';
import { Signature, Wallet, concat, hexlify, keccak256, toUtf8Bytes } from 'ethers';
import { ERROR_CODES } from '../../src/common/errors';
import { sqlRows } from '../../src/database/data-source';
import { EVENT_TYPE_NAMES, SCAN_METHODS } from '../../src/custody/event-types';
import { CUSTODY_EVENT_TYPES, ZERO_HASH, type CustodyEventFields, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { LEDGER_TABLES, TEST_ADMIN_KEY, startTestLedger, type TestLedger } from '../support/test-ledger';
import { RECORD, createShipment, eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * A property over SignedCustodyEventInput: batches of records that mix valid and invalid values
 * in every field (extraData, evidence and personalData included), sometimes correctly signed by a
 * registered key, sometimes not, sent to recordCustodyEvents over HTTP. Whatever the batch:
 *   - the answer is never a 500 or INTERNAL_SERVER_ERROR;
 *   - either the whole request is refused as BAD_USER_INPUT (a value of the wrong GraphQL type)
 *     and nothing changes, or there is one result per input, in order, each ACCEPTED or DUPLICATE
 *     (with a receipt) or REJECTED (with a known code and a message);
 *   - the database changes by exactly the accepted events: custody_events gains exactly the
 *     ACCEPTED event ids, organizations/keys/batches/proofs stay as they were, and a call without
 *     an ACCEPTED result leaves every ledger table unchanged (no partial write).
 *
 * The seed is fixed (PROPERTY_SEED overrides it, PROPERTY_RUNS the number of runs) and is
 * printed with the counterexample on failure.
 *
 * Left out on purpose, because the service answers them with a 500 today (reported; pinned as
 * `it.failing` in hostile-input.e2e.spec.ts): lone UTF-16 surrogates in any string (ethers'
 * toUtf8Bytes throws while hashing), and NUL bytes in personalData values or a correction reason
 * (PostgreSQL text cannot hold them). fast-check's "grapheme" and "binary" units never produce
 * lone surrogates; personal values and reasons use "grapheme" (printable, no NUL). Set
 * PROPERTY_INCLUDE_KNOWN_DEFECTS=1 to generate them too (the property then fails until fixed).
 */

const SEED = Number(process.env.PROPERTY_SEED ?? 20_251_125);
/** PROPERTY_INCLUDE_KNOWN_DEFECTS=1 adds the values left out below, to check a fix of the service. */
const KNOWN_DEFECTS = process.env.PROPERTY_INCLUDE_KNOWN_DEFECTS === '1';
const RUNS = Number(process.env.PROPERTY_RUNS ?? 100);
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = Date.now();

const CARRIER = 'prop-carrier';
const HUB = 'prop-hub';
const MERCHANT = 'prop-shop';
const LOCKER = 'prop-locker';
/** shipments the carrier picked up ten days ago (it holds them) */
const HELD = ['PROP-H-01', 'PROP-H-02', 'PROP-H-03', 'PROP-H-04'];
/** shipments without any event yet */
const FRESH = ['PROP-F-01', 'PROP-F-02', 'PROP-F-03'];

const SQL_OR = "' OR 1=1 --";
const SQL_DROP = "'; DROP TABLE custody_events; --";
const CONFUSABLE = '\u0430cme-carrier';
const FULLWIDTH = '\uff50\uff52\uff4f\uff50-carrier';
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

// ---- the generated plan of one record ------------------------------------------------------

type SignerPlan = 'carrier' | 'hub' | 'revoked' | 'stranger' | 'otherChain' | 'otherContract' | 'highS' | 'tamper' | 'garbage' | 'short' | 'none';
type ExtraPlan =
  | { kind: 'none' }
  | { kind: 'note'; note: string }
  | { kind: 'sensors'; readings: Array<{ type: string; value: number; unit: string }> }
  | { kind: 'recipient'; values: Array<{ field: string; value: string }>; corrupt: 'none' | 'salt' | 'value' | 'path' | 'tooMany' | 'missing' }
  | { kind: 'correction'; reason: string; target: 'accepted' | 'random' }
  | { kind: 'nonCanonical' }
  | { kind: 'notJson' }
  | { kind: 'wrongVersion' }
  | { kind: 'unknownKey' }
  | { kind: 'zeroDataHash' }
  | { kind: 'hashMismatch' }
  | { kind: 'raw'; text: string };
type EvidencePlan = 'none' | 'hashOnly' | 'matching' | 'mismatch' | 'badType' | 'negativeSize' | 'zeroHashWithMetadata';

interface EventPlan {
  source: 'new' | 'resend' | 'repeatInBatch' | 'reuseId';
  pick: number;
  eventId: string | null; // null: fresh random per run (from the plan's bytes)
  idBytes: string;
  trackingNumber: string;
  carrier: string;
  eventType: string;
  custodian: string;
  occurredAt: bigint;
  latE6: number;
  lonE6: number;
  accuracyM: number;
  locationCode: string;
  scanMethod: string;
  dataHashPlan: 'derived' | 'zero' | 'random' | 'invalid';
  evidence: EvidencePlan;
  evidenceBytes: string;
  extra: ExtraPlan;
  signer: SignerPlan;
  counter: 'none' | 'hub' | 'carrier' | 'garbage';
}

const bytes32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => hexlify(b));
const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>): fc.WeightedArbitrary<T> => ({ weight, arbitrary });
const grapheme = (maxLength: number, minLength = 0): fc.Arbitrary<string> => fc.string({ unit: 'grapheme', minLength, maxLength });
const binary = (maxLength: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength });

/**
 * Each field has a pool of values a well-behaved device sends and a wild pool (mostly invalid
 * values, some valid ones). A record starts all well-behaved and takes 0, 1, a few or all of
 * its fields from the wild pools, so that every kind of rejection, and acceptance, is common.
 */
const sane = {
  source: fc.oneof(w(10, fc.constant('new' as const)), w(1, fc.constant('resend' as const)), w(1, fc.constant('repeatInBatch' as const))),
  pick: fc.nat(1000),
  eventId: fc.constant(null),
  idBytes: bytes32,
  trackingNumber: fc.constantFrom(...HELD, ...FRESH),
  carrier: fc.constant(CARRIER),
  eventType: fc.oneof(w(6, fc.constantFrom('ARRIVED_AT_FACILITY', 'DEPARTED_FACILITY', 'EXCEPTION')), w(2, fc.constant('PICKED_UP')), w(1, fc.constantFrom(...EVENT_TYPE_NAMES))),
  custodian: fc.oneof(w(8, fc.constant(CARRIER)), w(1, fc.constantFrom(HUB, MERCHANT, LOCKER))),
  occurredAt: fc.bigInt(BigInt(NOW - 9 * DAY), BigInt(NOW - 60_000)),
  latE6: fc.integer({ min: -90_000_000, max: 90_000_000 }),
  lonE6: fc.integer({ min: -180_000_000, max: 180_000_000 }),
  accuracyM: fc.nat(10_000),
  locationCode: fc.oneof(w(4, fc.constantFrom('', 'DE-BER-01', 'urn:epc:id:sgln:4012345.00001.0')), w(1, grapheme(40))),
  scanMethod: fc.constantFrom(...SCAN_METHODS),
  dataHashPlan: fc.constant('derived' as const),
  evidence: fc.oneof(w(6, fc.constant('none' as const)), w(1, fc.constantFrom('hashOnly' as const, 'matching' as const))),
  evidenceBytes: bytes32,
  extra: fc.oneof(
    w(8, fc.constant({ kind: 'none' } as ExtraPlan)),
    w(2, grapheme(60).map((note): ExtraPlan => ({ kind: 'note', note }))),
    w(1, fc.array(fc.record({ type: fc.constantFrom('temperature', 'humidity', 'shock'), value: fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), unit: fc.constantFrom('CEL', 'P1', 'G') }), { maxLength: 3 }).map((readings): ExtraPlan => ({ kind: 'sensors', readings }))),
    w(2, fc.uniqueArray(fc.record({ field: fc.constantFrom('name', 'address', 'phone', 'email'), value: grapheme(30, 1) }), { minLength: 1, maxLength: 3, selector: (v) => v.field }).map((values): ExtraPlan => ({ kind: 'recipient', values, corrupt: 'none' }))),
    w(1, grapheme(40, 1).map((reason): ExtraPlan => ({ kind: 'correction', reason, target: 'accepted' }))),
  ),
  signer: fc.oneof(w(8, fc.constant('carrier' as const)), w(1, fc.constant('hub' as const))),
  counter: fc.constant('none' as const),
};

/** values the service answers with a 500 today (see the header comment) */
const defectStrings = fc.constantFrom('DE-\ud800', '\udc00', 'Jane\u0000Doe', '\u0000');
const withDefects = (arb: fc.Arbitrary<string>): fc.Arbitrary<string> => (KNOWN_DEFECTS ? fc.oneof(w(1, arb), w(3, defectStrings)) : arb);

const wild = {
  source: fc.constantFrom('resend' as const, 'repeatInBatch' as const, 'reuseId' as const),
  pick: fc.nat(1000),
  eventId: fc.oneof(
    w(2, fc.constantFrom(SQL_OR, '0x', '0x' + 'ab'.repeat(31), '0x' + 'ab'.repeat(33), '0x' + 'g'.repeat(64), 'ab'.repeat(32), '0X' + 'AB'.repeat(32))),
    w(1, binary(80)),
  ),
  idBytes: bytes32,
  trackingNumber: fc.oneof(w(2, fc.constantFrom('PROP-NO-SUCH-1', SQL_DROP, 'ab', 'A'.repeat(65), 'PROP-\u{1F4E6}-1', 'PROP\u202e1-H', 'prop-h-01')), w(1, binary(70))),
  carrier: fc.oneof(w(2, fc.constantFrom(HUB, MERCHANT, 'no-such-carrier', CONFUSABLE, FULLWIDTH, '', SQL_OR, 'prop\u200d-carrier')), w(1, binary(70))),
  eventType: fc.oneof(w(2, fc.constantFrom(...EVENT_TYPE_NAMES)), w(2, fc.constantFrom('arrived_at_facility', 'DROP TABLE', '', 'LOST ')), w(1, binary(30))),
  custodian: fc.oneof(w(2, fc.constantFrom(HUB, MERCHANT, LOCKER, 'no-such-org', CONFUSABLE, SQL_OR, '-x-', 'A')), w(1, binary(70))),
  occurredAt: fc.constantFrom(0n, 1n, BigInt(NOW - 40 * DAY), BigInt(NOW - 7 * DAY), BigInt(NOW + DAY), BigInt(Number.MAX_SAFE_INTEGER), BigInt(Number.MAX_SAFE_INTEGER) + 1n, (1n << 63n) - 1n, (1n << 64n) - 1n),
  latE6: fc.constantFrom(90_000_001, -90_000_001, 2_147_483_647, -2_147_483_648, 0),
  lonE6: fc.constantFrom(180_000_001, -180_000_001, 2_147_483_647, -2_147_483_648, 0),
  accuracyM: fc.constantFrom(-1, 0.5, 4_294_967_295, 4_294_967_296, 1e308, -0, Number.MAX_SAFE_INTEGER),
  locationCode: withDefects(fc.oneof(w(1, binary(200)), w(1, fc.constantFrom('L'.repeat(129), 'L'.repeat(128), 'DE\u0000BER', 'DE\nBER', `DE-${SQL_DROP}`, 'DE-\u202eREB', '\u{1F4E6}')))),
  scanMethod: fc.constantFrom('barcode', '', 'LASER', 'BARCODE ', SQL_OR),
  dataHashPlan: fc.constantFrom('zero' as const, 'random' as const, 'invalid' as const),
  evidence: fc.constantFrom('mismatch' as const, 'badType' as const, 'negativeSize' as const, 'zeroHashWithMetadata' as const),
  evidenceBytes: bytes32,
  extra: fc.oneof(
    w(2, fc.record({
      values: fc.uniqueArray(fc.record({ field: fc.constantFrom('name', 'address', 'phone', 'email'), value: withDefects(grapheme(30, 1)) }), { minLength: 1, maxLength: 3, selector: (v) => v.field }),
      corrupt: fc.constantFrom('salt' as const, 'value' as const, 'path' as const, 'tooMany' as const, 'missing' as const),
    }).map((r): ExtraPlan => ({ kind: 'recipient', ...r }))),
    w(1, fc.array(fc.record({ type: fc.constantFrom('temperature', 'pressure'), value: fc.double({ noNaN: true, noDefaultInfinity: true }), unit: fc.constantFrom('CEL', 'X'.repeat(17)) }), { minLength: 1, maxLength: 2 }).map((readings): ExtraPlan => ({ kind: 'sensors', readings }))),
    w(1, fc.record({ reason: withDefects(grapheme(40, 1)), target: fc.constantFrom('accepted' as const, 'random' as const) }).map((r): ExtraPlan => ({ kind: 'correction', ...r }))),
    w(3, fc.constantFrom<ExtraPlan>({ kind: 'nonCanonical' }, { kind: 'notJson' }, { kind: 'wrongVersion' }, { kind: 'unknownKey' }, { kind: 'zeroDataHash' }, { kind: 'hashMismatch' })),
    w(1, binary(60).map((text): ExtraPlan => ({ kind: 'raw', text }))),
    w(1, grapheme(600, 501).map((note): ExtraPlan => ({ kind: 'note', note }))),
  ),
  signer: fc.constantFrom('revoked' as const, 'stranger' as const, 'otherChain' as const, 'otherContract' as const, 'highS' as const, 'tamper' as const, 'garbage' as const, 'short' as const, 'none' as const, 'hub' as const),
  counter: fc.constantFrom('hub' as const, 'carrier' as const, 'garbage' as const),
};

const FIELDS = Object.keys(sane) as Array<keyof EventPlan>;
const eventPlan: fc.Arbitrary<EventPlan> = fc
  .tuple(
    fc.record(sane),
    fc.record(wild),
    fc.oneof(w(6, fc.constant([] as Array<keyof EventPlan>)), w(6, fc.subarray(FIELDS, { minLength: 1, maxLength: 1 })), w(2, fc.subarray(FIELDS, { minLength: 2, maxLength: 4 })), w(1, fc.subarray(FIELDS))),
  )
  .map(([base, odd, pickedWild]) => {
    const plan = { ...base } as Record<keyof EventPlan, unknown>;
    for (const field of pickedWild) plan[field] = odd[field as keyof typeof odd];
    return plan as unknown as EventPlan;
  });

/** Rarely, one record gets a value of the wrong GraphQL type: the whole request is refused. */
const typeErrorPlan = fc.oneof(
  w(16, fc.constant(null)),
  w(1, fc.record({ at: fc.nat(20), what: fc.constantFrom('latE6:"x"', 'occurredAt:-1', 'occurredAt:1e30', 'occurredAt:"1.5"', 'accuracyM:"ten"', 'trackingNumber:true', 'missing:signature', 'unknown:root', 'evidence.sizeBytes:2^31') })),
);
const batchPlan = fc.record({ events: fc.array(eventPlan, { minLength: 1, maxLength: 8 }), typeError: typeErrorPlan });

// ---- turning a plan into the JSON a device would send ----------------------------------------

interface Keys {
  carrier: Wallet;
  hub: Wallet;
  revoked: Wallet;
  stranger: Wallet;
}

type Json = Record<string, unknown>;

function highSTwin(signature: string): string {
  const sig = Signature.from(signature);
  return sig.r + (SECP256K1_N - BigInt(sig.s)).toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
}

const saltOf = (plan: EventPlan, i: number): string => keccak256(concat([plan.idBytes, toUtf8Bytes(`salt-${i}`)]));

function extraOf(plan: EventPlan, acceptedIds: string[]): { text: string | null; personalData: Json[] | null; dataHash: string | null } {
  const x = plan.extra;
  const canonical = (doc: unknown): string => JSON.stringify(sortKeys(doc));
  switch (x.kind) {
    case 'none':
      return { text: null, personalData: null, dataHash: null };
    case 'note':
      return { text: canonical({ note: x.note, v: 1 }), personalData: null, dataHash: null };
    case 'sensors':
      return { text: canonical({ sensors: x.readings.map((r) => ({ ...r, at: String(NOW - HOUR) })), v: 1 }), personalData: null, dataHash: null };
    case 'recipient': {
      const recipient: Record<string, string> = {};
      const personal: Json[] = [];
      x.values.forEach(({ field, value }, i) => {
        const salt = saltOf(plan, i);
        recipient[field] = keccak256(concat([salt, toUtf8Bytes(value)]));
        personal.push({ path: `recipient.${field}`, value, salt });
      });
      if (x.corrupt === 'salt') personal[0].salt = saltOf(plan, 99);
      if (x.corrupt === 'value') personal[0].value = `${String(personal[0].value)}!`;
      if (x.corrupt === 'path') personal[0].path = 'recipient.nickname';
      if (x.corrupt === 'tooMany') while (personal.length < 11) personal.push({ ...personal[0] });
      return { text: canonical({ recipient, v: 1 }), personalData: x.corrupt === 'missing' ? null : personal, dataHash: null };
    }
    case 'correction': {
      const corrects = x.target === 'accepted' && acceptedIds.length > 0 ? acceptedIds[plan.pick % acceptedIds.length] : keccak256(plan.idBytes);
      return { text: canonical({ corrects, reason: x.reason, v: 1 }), personalData: null, dataHash: null };
    }
    case 'nonCanonical':
      return { text: '{ "v": 1 }', personalData: null, dataHash: null };
    case 'notJson':
      return { text: '{"v":1', personalData: null, dataHash: null };
    case 'wrongVersion':
      return { text: '{"v":2}', personalData: null, dataHash: null };
    case 'unknownKey':
      return { text: '{"name":"Erika","v":1}', personalData: null, dataHash: null };
    case 'zeroDataHash':
      return { text: '{"v":1}', personalData: null, dataHash: ZERO_HASH };
    case 'hashMismatch':
      return { text: '{"v":1}', personalData: null, dataHash: keccak256(plan.idBytes) };
    case 'raw':
      return { text: x.text, personalData: null, dataHash: null };
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value as Json).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => [k, sortKeys(v)]));
  return value;
}

async function sign(domain: CustodySigningDomain, key: Wallet, fields: CustodyEventFields): Promise<string | null> {
  try {
    return await key.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
  } catch {
    return null; // a field ethers cannot encode (not bytes32, out of int32 …): the service rejects it before the signature
  }
}

const GARBAGE_SIGNATURE = '0x' + '11'.repeat(65);

async function buildEvent(plan: EventPlan, domain: CustodySigningDomain, keys: Keys, acceptedIds: string[]): Promise<Json> {
  const extra = extraOf(plan, acceptedIds);
  const dataHash =
    extra.dataHash ??
    (plan.dataHashPlan === 'zero' ? ZERO_HASH : plan.dataHashPlan === 'random' ? keccak256(concat([plan.idBytes, '0x01'])) : plan.dataHashPlan === 'invalid' ? '0x1234' : extra.text !== null ? keccak256(toUtf8Bytes(extra.text)) : ZERO_HASH);
  const evidenceHash = ['hashOnly', 'matching', 'mismatch', 'badType', 'negativeSize'].includes(plan.evidence) ? plan.evidenceBytes : ZERO_HASH;
  const fields: CustodyEventFields = {
    eventId: plan.eventId ?? plan.idBytes,
    trackingNumber: plan.trackingNumber,
    carrier: plan.carrier,
    eventType: plan.eventType,
    custodian: plan.custodian,
    occurredAt: plan.occurredAt,
    latE6: plan.latE6,
    lonE6: plan.lonE6,
    accuracyM: plan.accuracyM,
    locationCode: plan.locationCode,
    scanMethod: plan.scanMethod,
    evidenceHash,
    dataHash,
  };
  const key = { carrier: keys.carrier, hub: keys.hub, revoked: keys.revoked, stranger: keys.stranger }[plan.signer as 'carrier'] ?? keys.carrier;
  let signature: string | null;
  switch (plan.signer) {
    case 'otherChain':
      signature = await sign({ ...domain, chainId: domain.chainId + 1n }, keys.carrier, fields);
      break;
    case 'otherContract':
      signature = await sign({ ...domain, verifyingContract: keys.stranger.address }, keys.carrier, fields);
      break;
    case 'garbage':
      signature = '0x' + plan.idBytes.slice(2) + plan.evidenceBytes.slice(2) + '1b';
      break;
    case 'short':
      signature = '0x' + plan.idBytes.slice(2, 66);
      break;
    case 'none':
      signature = '';
      break;
    default:
      signature = await sign(domain, key, fields);
  }
  signature ??= GARBAGE_SIGNATURE;
  if (plan.signer === 'highS' && signature !== GARBAGE_SIGNATURE) signature = highSTwin(signature);
  let counterSignature: string | null = null;
  if (plan.counter === 'garbage') counterSignature = '0xdeadbeef';
  else if (plan.counter !== 'none') counterSignature = (await sign(domain, plan.counter === 'hub' ? keys.hub : keys.carrier, fields)) ?? GARBAGE_SIGNATURE;

  const event: Json = { ...fields, occurredAt: fields.occurredAt.toString(), signature, counterSignature };
  if (plan.signer === 'tamper') event.latE6 = plan.latE6 > 0 ? plan.latE6 - 1 : plan.latE6 + 1; // changed after signing, still an Int
  if (extra.text !== null) event.extraData = extra.text;
  if (extra.personalData) event.personalData = extra.personalData;
  if (plan.evidence === 'matching') event.evidence = { contentType: 'image/jpeg', sizeBytes: 123_456, hash: evidenceHash.toUpperCase().replace('0X', '0x') };
  if (plan.evidence === 'mismatch') event.evidence = { contentType: 'image/jpeg', sizeBytes: 1, hash: keccak256(evidenceHash) };
  if (plan.evidence === 'badType') event.evidence = { contentType: `image/jpeg${SQL_OR}`, sizeBytes: 1, hash: evidenceHash };
  if (plan.evidence === 'negativeSize') event.evidence = { contentType: 'application/json', sizeBytes: -5, hash: evidenceHash };
  if (plan.evidence === 'zeroHashWithMetadata') event.evidence = { contentType: 'image/png', sizeBytes: 5, hash: ZERO_HASH };
  return event;
}

function injectTypeError(events: Json[], what: string, at: number): void {
  const e = events[at % events.length];
  const [field, value] = what.split(':');
  if (field === 'missing') delete e[value];
  else if (field === 'unknown') e[value] = ZERO_HASH;
  else if (field === 'evidence.sizeBytes') e.evidence = { contentType: 'image/jpeg', sizeBytes: 2 ** 31, hash: ZERO_HASH };
  else e[field] = value === '"x"' ? 'x' : value === '"1.5"' ? '1.5' : value === '"ten"' ? 'ten' : value === 'true' ? true : Number(value);
}

// ---- the property --------------------------------------------------------------------------

interface Result {
  index: number;
  eventId: string | null;
  outcome: 'ACCEPTED' | 'DUPLICATE' | 'REJECTED';
  receipt: { eventId: string; leaf: string } | null;
  error: { code: string; message: string; field: string | null } | null;
}

const LEAK = /(^|\n)\s*at\s|\.(ts|js):\d+|node_modules|\bSELECT\b|\bINSERT INTO\b|QueryFailedError|postgres|pglite/i;
const KNOWN_CODES = new Set(Object.keys(ERROR_CODES));
/** tables a recordCustodyEvents call may change only by accepting an event */
const UNTOUCHED = LEDGER_TABLES.filter((t) => t !== 'custody_events' && t !== 'shipments');

describe('recordCustodyEvents: property over arbitrary signed event input', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let keys: Keys;

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, CARRIER, 'CARRIER');
    await registerOrganization(t, HUB, 'HUB');
    await registerOrganization(t, MERCHANT, 'MERCHANT');
    await registerOrganization(t, LOCKER, 'LOCKER_OPERATOR');
    const validFrom = new Date(NOW - 30 * DAY);
    keys = {
      carrier: await registerKey(t, CARRIER, newWallet(), validFrom),
      hub: await registerKey(t, HUB, newWallet(), validFrom),
      revoked: await registerKey(t, CARRIER, newWallet(), validFrom),
      stranger: newWallet(),
    };
    await mustGql(t, `mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address } }`, { i: { address: keys.revoked.address, reason: 'lost scanner', revokedAt: new Date(NOW - 5 * DAY).toISOString() } });
    for (const tn of [...HELD, ...FRESH]) await createShipment(t, tn, CARRIER, MERCHANT);
    const pickups = await Promise.all(HELD.map((tn) => signEvent(domain, keys.carrier, eventFields({ trackingNumber: tn, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: BigInt(NOW - 10 * DAY) }))));
    expect((await record(t, pickups)).map((r) => r.outcome)).toEqual(HELD.map(() => 'ACCEPTED'));
  });

  afterAll(async () => {
    await t?.stop();
  });

  it(`holds for ${RUNS} generated batches (seed ${SEED})`, async () => {
    const sent: Json[] = [];
    const acceptedIds: string[] = [];
    const acceptedEvents: Json[] = [];
    const stats = { calls: 0, refused: 0, ACCEPTED: 0, DUPLICATE: 0, REJECTED: 0, codes: new Map<string, number>() };

    const eventIds = async (): Promise<Set<string>> => new Set((await sqlRows<{ event_id: string }>(t.ledger.runtime.dataSource, `SELECT event_id FROM custody_events`)).map((r) => r.event_id));

    const property = fc.asyncProperty(batchPlan, async ({ events: plans, typeError }) => {
      const events: Json[] = [];
      for (const plan of plans) {
        if (plan.source === 'resend' && sent.length > 0) {
          const pool = plan.pick % 2 === 0 && acceptedEvents.length > 0 ? acceptedEvents : sent;
          events.push(structuredClone(pool[plan.pick % pool.length]));
        }
        else if (plan.source === 'repeatInBatch' && events.length > 0) events.push(structuredClone(events[plan.pick % events.length]));
        else {
          const event = await buildEvent(plan, domain, keys, acceptedIds);
          if (plan.source === 'reuseId' && acceptedIds.length > 0) event.eventId = acceptedIds[plan.pick % acceptedIds.length];
          events.push(event);
        }
      }
      if (typeError) injectTypeError(events, typeError.what, typeError.at);

      const before = await t.fingerprint();
      const idsBefore = await eventIds();
      const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` }, body: JSON.stringify({ query: RECORD, variables: { events } }) });
      const text = await res.text();
      const context = `HTTP ${res.status}: ${text.slice(0, 1500)}`;
      stats.calls++;

      expect({ status: res.status < 500, internal: text.includes('INTERNAL_SERVER_ERROR'), context }).toEqual({ status: true, internal: false, context });
      expect(LEAK.test(text) ? context : 'no leak').toBe('no leak');
      const body = JSON.parse(text) as { data?: { recordCustodyEvents: Result[] } | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };

      // text PostgreSQL cannot store (NUL, unpaired surrogates) is refused for the whole request, like a type error
      const unstorable = JSON.stringify(events).match(/\\u0000|\\ud[89a-f][0-9a-f]{2}/i) !== null;
      if (typeError || (unstorable && res.status === 400)) {
        // a value of the wrong GraphQL type anywhere refuses the whole request
        expect({ status: res.status, code: body.errors?.[0]?.extensions?.code, context }).toEqual({ status: 400, code: 'BAD_USER_INPUT', context });
        expect(body.data ?? null).toBeNull();
        expect(await t.fingerprint()).toEqual(before);
        stats.refused++;
        return;
      }

      expect({ status: res.status, errors: body.errors, context }).toEqual({ status: 200, errors: undefined, context });
      const results = body.data!.recordCustodyEvents;
      expect(results).toHaveLength(events.length);
      const acceptedNow = new Set<string>();
      results.forEach((r, i) => {
        const where = { i, result: r, sent: JSON.stringify(events[i]).slice(0, 800) };
        expect({ ...where, index: r.index }).toEqual({ ...where, index: i });
        stats[r.outcome]++;
        if (r.outcome === 'REJECTED') {
          expect({ ...where, receipt: r.receipt, known: KNOWN_CODES.has(r.error?.code ?? '') }).toEqual({ ...where, receipt: null, known: true });
          expect(r.error!.message.trim().length).toBeGreaterThan(0);
          expect(r.error!.field === null || typeof r.error!.field === 'string').toBe(true);
          stats.codes.set(r.error!.code, (stats.codes.get(r.error!.code) ?? 0) + 1);
        } else {
          expect({ ...where, outcome: ['ACCEPTED', 'DUPLICATE'].includes(r.outcome), error: r.error, receiptFor: r.receipt?.eventId }).toEqual({ ...where, outcome: true, error: null, receiptFor: r.eventId });
          if (r.outcome === 'ACCEPTED') {
            expect({ ...where, new: !idsBefore.has(r.eventId!) && !acceptedNow.has(r.eventId!) }).toEqual({ ...where, new: true });
            acceptedNow.add(r.eventId!);
          } else {
            // a duplicate of something stored before or accepted earlier in this very call
            expect({ ...where, known: idsBefore.has(r.eventId!) || acceptedNow.has(r.eventId!) }).toEqual({ ...where, known: true });
          }
        }
      });

      // the database changed by exactly the accepted events
      const after = await t.fingerprint();
      const idsAfter = await eventIds();
      const added = [...idsAfter].filter((id) => !idsBefore.has(id)).sort();
      expect({ added, removed: [...idsBefore].filter((id) => !idsAfter.has(id)) }).toEqual({ added: [...acceptedNow].sort(), removed: [] });
      expect(Number(after.custody_events.split(':')[0])).toBe(Number(before.custody_events.split(':')[0]) + acceptedNow.size);
      for (const table of UNTOUCHED) expect({ table, fingerprint: after[table] }).toEqual({ table, fingerprint: before[table] });
      if (acceptedNow.size === 0) expect(after).toEqual(before); // no partial write

      events.forEach((e) => sent.push(e));
      acceptedIds.push(...acceptedNow);
      results.forEach((r, i) => r.outcome === 'ACCEPTED' && acceptedEvents.push(events[i]));
    });

    const started = Date.now();
    try {
      await fc.assert(property, { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: 150_000, markInterruptAsFailure: true });
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new Error(`property failed; reproduce with PROPERTY_SEED=${SEED} PROPERTY_RUNS=${RUNS}\n${(err as Error).message}${cause ? `\ncaused by: ${cause.message}` : ''}`);
    }
    const codes = Object.fromEntries([...stats.codes].sort(([a], [b]) => a.localeCompare(b)));
    // eslint-disable-next-line no-console
    console.log(`property: seed ${SEED}, ${stats.calls} calls in ${Date.now() - started} ms; refused ${stats.refused}; ACCEPTED ${stats.ACCEPTED}, DUPLICATE ${stats.DUPLICATE}, REJECTED ${stats.REJECTED}; codes ${JSON.stringify(codes)}`);
    // not vacuous: the generator reaches every outcome, and many different rejections
    expect(stats.ACCEPTED).toBeGreaterThan(10);
    expect(stats.DUPLICATE).toBeGreaterThan(0);
    expect(stats.REJECTED).toBeGreaterThan(50);
    expect(stats.refused).toBeGreaterThan(0);
    expect(stats.codes.size).toBeGreaterThanOrEqual(10);
  });
});
