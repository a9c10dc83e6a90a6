import { Signature, hexlify, keccak256, randomBytes, toUtf8Bytes, type Wallet } from 'ethers';
import { CUSTODY_DELEGATION_TYPES, type DelegationFields } from '../../src/signing/delegation-signing';
import { ERROR_CODES } from '../../src/common/errors';
import { sqlRows } from '../../src/database/data-source';
import { ZERO_HASH, type CustodyEventFields, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { sealAndAnchor } from '../../src/bootstrap';
import { TEST_ADMIN_KEY, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import {
  RECORD,
  createShipment,
  eventFields,
  fetchDomain,
  mustGql,
  newEventId,
  newWallet,
  record,
  registerKey,
  registerOrganization,
  signEvent,
  type SignedEventInput,
} from '../support/factories';

/**
 * Hostile input over raw HTTP. Every row of the table sends one request a careless or malicious
 * client could send and asserts:
 *   (a) the HTTP status and the exact error code (errors[0].extensions.code, or the per-event
 *       error.code of recordCustodyEvents),
 *   (b) a non-empty message that leaks nothing: no stack frame, no SQL, no driver name, no key,
 *   (c) the process still answers (`{ custodySigningSpec { version } }` right after),
 *   (d) not one row of any ledger table changed (t.fingerprint()).
 *
 * Two ledgers: `main` (default body limit, MAX_EVENTS_PER_CALL 50) and `strict`
 * (MAX_BODY_BYTES 200000, RATE_LIMIT_PER_MINUTE 5) for the body-size and rate-limit rows.
 *
 * The last block, "known service defects", holds requests the service answers wrongly today
 * (a masked 500 instead of a client error). Those rows assert the behaviour we want, run as
 * `it.failing`, and turn red the day the service is fixed: then move them into the table.
 */

const HOUR = 3_600_000;
const CARRIER = 'acme-express';
const MERCHANT = 'shop-hostile';
const TRACKING = 'HOSTILE-0001';
const MAX_EVENTS = 50;
const MB = 1024 * 1024;
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

const CYRILLIC_A = '\u0430'; // looks like Latin "a"
const CONFUSABLE_CARRIER = `${CYRILLIC_A}cme-express`;
const FULLWIDTH_CARRIER = '\uff41\uff43\uff4d\uff45-express'; // ａｃｍｅ-express
const ZWJ_CARRIER = 'acme\u200d-express';
const RTL_OVERRIDE = '\u202e';
const SQL_OR = "' OR 1=1 --";
const SQL_DROP = "'; DROP TABLE custody_events; --";

interface Raw {
  status: number;
  text: string;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> } | null;
}

interface Ctx {
  main: TestLedger;
  strict: TestLedger;
  domain: CustodySigningDomain;
  carrierKey: Wallet;
  merchantApiKey: string;
  /** the event accepted in beforeAll, as sent */
  accepted: SignedEventInput;
  acceptedReceipt: Record<string, unknown>;
  /** issue 9: another carrier and two hubs, with their device keys, and the rival's API key */
  rivalKey: Wallet;
  hubKey: Wallet;
  hub2Key: Wallet;
  rivalApiKey: string;
}
const ctx = {} as Ctx;
const RIVAL = 'rival-hostile';
const HUB = 'hub-hostile';
const HUB2 = 'hub2-hostile';
const REGISTER_DELEGATION = `mutation($i: RegisterDelegationInput!) { registerDelegation(input: $i) { delegationId } }`;
/** A custody-delegation/1 statement as GraphQL takes it, signed by `signer`. */
async function delegationInput(signer: Wallet, overrides: Partial<DelegationFields> = {}): Promise<Record<string, string>> {
  const now = BigInt(Date.now());
  const d: DelegationFields = { delegationId: hexlify(randomBytes(32)), delegator: CARRIER, delegate: HUB, carrier: CARRIER, trackingNumber: '', validFrom: now - 10n * BigInt(HOUR), validUntil: now + BigInt(HOUR), ...overrides };
  return { ...d, validFrom: d.validFrom.toString(), validUntil: d.validUntil.toString(), signature: await signer.signTypedData(ctx.domain, CUSTODY_DELEGATION_TYPES, d) };
}
/** A transfer of the shipment the carrier holds, to `custodian`, signed (and counter-signed) as given. */
const transferOf = (custodian: string, signer: Wallet, counter?: Wallet): Promise<SignedEventInput> =>
  signEvent(ctx.domain, signer, fields({ eventType: 'HANDOFF', custodian }), counter);

type On = 'main' | 'strict';
const ledger = (on: On): TestLedger => (on === 'main' ? ctx.main : ctx.strict);
const origin = (on: On): string => ledger(on).url.replace(/\/graphql$/, '');

async function http(on: On, path: string, init: RequestInit): Promise<Raw> {
  const res = await fetch(origin(on) + path, init);
  const text = await res.text();
  let body: Raw['body'] = null;
  try {
    body = JSON.parse(text) as Raw['body'];
  } catch {
    body = null;
  }
  return { status: res.status, text, body };
}

const ADMIN_JSON = (): Record<string, string> => ({ 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` });
/** POST /graphql with this exact body and these headers. */
const post = (body: string, headers: Record<string, string> = ADMIN_JSON(), on: On = 'main'): Promise<Raw> => http(on, '/graphql', { method: 'POST', headers, body });
/** A GraphQL operation as JSON; `auth` false sends no Authorization header, a string sends it verbatim. */
const gql = (query: string, variables?: unknown, auth: string | false = `Bearer ${TEST_ADMIN_KEY}`, on: On = 'main', extra: Record<string, unknown> = {}): Promise<Raw> =>
  post(JSON.stringify({ query, variables, ...extra }), { 'content-type': 'application/json', ...(auth === false ? {} : { authorization: auth }) }, on);
const recordRaw = (events: unknown[], auth?: string): Promise<Raw> => gql(RECORD, { events }, auth);

/** The next scan of the shipment the carrier holds: accepted as it is, so each row changes one thing. */
const fields = (overrides: Partial<CustodyEventFields> = {}): CustodyEventFields =>
  eventFields({ trackingNumber: TRACKING, carrier: CARRIER, eventType: 'ARRIVED_AT_FACILITY', custodian: CARRIER, locationCode: 'DE-BER-01', ...overrides });
const signed = (overrides: Partial<CustodyEventFields> = {}, domain: CustodySigningDomain = ctx.domain, signer: Wallet = ctx.carrierKey): Promise<SignedEventInput> =>
  signEvent(domain, signer, fields(overrides));
/** A valid signed event, then fields replaced after signing (a type error or a malformed value). */
const mangled = async (patch: Record<string, unknown>): Promise<Record<string, unknown>> => ({ ...(await signed()), ...patch });

/** The malleable twin (s → n − s, v flipped) of a valid low-s signature. */
function highSTwin(signature: string): string {
  const sig = Signature.from(signature);
  const highS = SECP256K1_N - BigInt(sig.s);
  return sig.r + highS.toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
}

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const aliases = (n: number): string => Array.from({ length: n }, (_, i) => `a${i}: custodySigningSpec { version }`).join(' ');
/** `n` levels of fields, whatever they are called: the depth limit runs before field validation. */
const nested = (n: number): string => Array.from({ length: n }, (_, i) => `f${i} {`).join(' ') + ' x ' + '}'.repeat(n);
/** Introspection nests without limit (__Type.fields → __Field.type → __Type …): a valid query `levels` deep. */
function deepIntrospection(levels: number): string {
  let inner = 'name';
  let depth = 3; // __schema, types, then `inner`'s own level counted below
  const parts: string[] = [];
  while (depth < levels) {
    parts.push(parts.length % 2 === 0 ? 'fields' : 'type');
    depth++;
  }
  for (const p of parts.reverse()) inner = `${p} { ${inner} }`;
  return `{ __schema { types { ${inner} } } }`;
}
/** The same depth through a chain of distinct fragments. */
function deepFragments(levels: number): string {
  const frags: string[] = [];
  const hops = levels - 2; // __schema and types are in the operation
  for (let i = 0; i < hops; i++) {
    const onType = i % 2 === 0 ? '__Type' : '__Field';
    const field = i % 2 === 0 ? 'fields' : 'type';
    frags.push(i === hops - 1 ? `fragment L${i} on ${onType} { name }` : `fragment L${i} on ${onType} { ${field} { ...L${i + 1} } }`);
  }
  return `query Deep { __schema { types { ...L0 } } } ${frags.join(' ')}`;
}
const EVENT_FIELDS_21 = 'eventId leaf digest signature signer carrier custodian eventType trackingNumber latE6 lonE6 accuracyM locationCode scanMethod evidenceHash dataHash previousLeaf receivedAt occurredAt status flags';

interface Case {
  name: string;
  on?: On;
  send: () => Promise<Raw>;
  status: number;
  /** errors[0].extensions.code, or with perEvent the code of the only result */
  code: string;
  perEvent?: boolean;
  /** extensions.http.status of a domain error */
  httpStatus?: number;
  field?: string;
  message?: RegExp;
}

const STACK_OR_INTERNALS: RegExp[] = [
  /(^|\n)\s*at\s/, // a stack frame line; "at most 30 aliases" in a sentence is fine
  /\bat (async )?[\w$.<>[\]]+ \(/, // "at fn (" of a frame inside a line
  /\.(ts|js|mjs|cjs):\d+/, // file:line
  /node_modules|\/work\/|\/src\//,
  /\bSELECT\b|\bINSERT INTO\b|\bDELETE FROM\b|\bUPDATE \w+ SET\b/,
  /QueryFailedError|TypeORM|driverError|sqlState|invalid byte sequence|out of range for type|violates|syntax error at or near|relation "/i,
  /postgres|pglite|DATABASE_URL/i,
];

/** (b): no leak anywhere in the body, and the message itself is a sentence. */
function expectNoLeak(raw: Raw, message: string | undefined): void {
  expect(typeof message).toBe('string');
  expect(message!.trim().length).toBeGreaterThan(0);
  for (const pattern of STACK_OR_INTERNALS) {
    expect({ pattern: String(pattern), message }).toEqual({ pattern: String(pattern), message: expect.not.stringMatching(pattern) });
  }
  expect(raw.text).not.toContain(TEST_ADMIN_KEY);
  for (const pattern of STACK_OR_INTERNALS.slice(1)) expect(raw.text).not.toMatch(pattern);
  for (const error of raw.body?.errors ?? []) {
    expect(error.extensions ?? {}).not.toHaveProperty('stacktrace');
    expect(error.extensions ?? {}).not.toHaveProperty('exception');
  }
}

/** (c): the process answers a plain query (no key: it is public, and the strict ledger's key bucket may be empty). */
async function expectAlive(on: On): Promise<void> {
  const res = await gql('{ custodySigningSpec { version } }', undefined, false, on);
  expect(res.status).toBe(200);
  expect(res.body?.data).toEqual({ custodySigningSpec: { version: 'custody-signing/1' } });
}

async function runCase(c: Case): Promise<void> {
  const on = c.on ?? 'main';
  const before = await ledger(on).fingerprint();
  const raw = await c.send();
  const summary = `HTTP ${raw.status}: ${raw.text.slice(0, 600)}`;
  // (a)
  expect({ status: raw.status, summary }).toEqual({ status: c.status, summary });
  expect(raw.body).not.toBeNull();
  let message: string | undefined;
  if (c.perEvent) {
    expect(raw.body!.errors).toBeUndefined();
    const results = raw.body!.data!.recordCustodyEvents as Array<{ index: number; outcome: string; receipt: unknown; error: { code: string; message: string; field: string | null } | null }>;
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ index: 0, outcome: 'REJECTED', receipt: null, error: { code: c.code } });
    if (c.field !== undefined) expect(results[0].error!.field).toBe(c.field);
    message = results[0].error!.message;
  } else {
    const first = raw.body!.errors?.[0];
    expect({ code: first?.extensions?.code, summary }).toEqual({ code: c.code, summary });
    // no data: null, or (a nullable field such as sealBatch) every top-level field null
    for (const value of Object.values(raw.body!.data ?? {})) expect(value).toBeNull();
    if (c.httpStatus !== undefined) expect(first!.extensions!.http).toEqual({ status: c.httpStatus });
    if (c.field !== undefined) expect(first!.extensions!.field).toBe(c.field);
    message = first!.message;
  }
  if (c.message) expect(message).toMatch(c.message);
  // (b)
  expectNoLeak(raw, message);
  // (c)
  await expectAlive(on);
  // (d)
  expect(await ledger(on).fingerprint()).toEqual(before);
}

const perEvent = (name: string, send: () => Promise<Raw>, code: string, field?: string, message?: RegExp): Case => ({ name, send, status: 200, code, perEvent: true, field, message });
/** A domain error of the whole operation: HTTP 200 (GraphQL), the HTTP-ish status in extensions.http. */
const domain = (name: string, send: () => Promise<Raw>, code: string, httpStatus: number, field?: string, message?: RegExp): Case => ({ name, send, status: 200, code, httpStatus, field, message });
/** A request refused before execution (transport, parse, validation, variable coercion). */
const refused = (name: string, send: () => Promise<Raw>, status: number, code: string, message?: RegExp, on?: On): Case => ({ name, send, status, code, message, on });

const SHIP = `query($c: String!, $t: String!) { shipment(carrier: $c, trackingNumber: $t) { id } }`;
const ORG = `query($s: String!) { organization(slug: $s) { id slug } }`;
const REGISTER_ORG = `mutation($i: RegisterOrganizationInput!) { registerOrganization(input: $i) { id } }`;
const CREATE_SHIPMENT = `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`;
const EVENT = `query($e: String!) { custodyEvent(eventId: $e) { eventId } }`;
const PROOF = `query($e: String!) { inclusionProof(eventId: $e) { eventId } }`;
const BATCH = `query($s: Uint64!) { batch(seq: $s) { seq } }`;
const BATCHES = `query($n: Int!, $a: String) { batches(first: $n, after: $a) { totalCount } }`;
const EVENTS = `query($n: Int!, $a: String) { custodyEvents(first: $n, after: $a) { edges { cursor } } }`;

const CASES: Case[] = [
  // ---- transport: body, content type, method, route ----------------------------------------
  refused('malformed JSON', () => post('{"query": '), 400, 'MALFORMED_JSON'),
  refused('JSON with trailing garbage', () => post('{"query":"{ __typename }"}}'), 400, 'MALFORMED_JSON'),
  refused('a bare JSON string as body', () => post('"{ custodySigningSpec { version } }"'), 400, 'MALFORMED_JSON'),
  refused('JSON null as body', () => post('null'), 400, 'MALFORMED_JSON'),
  refused('empty body with content-type application/json', () => post(''), 400, 'BAD_REQUEST'),
  refused('empty JSON object', () => post('{}'), 400, 'BAD_REQUEST'),
  refused('wrong content type text/plain (CSRF-safe refusal)', () => post(JSON.stringify({ query: '{ __typename }' }), { 'content-type': 'text/plain', authorization: `Bearer ${TEST_ADMIN_KEY}` }), 400, 'BAD_REQUEST'),
  refused('wrong content type form-urlencoded', () => post('query=%7B__typename%7D', { 'content-type': 'application/x-www-form-urlencoded' }), 400, 'BAD_REQUEST'),
  refused('wrong content type application/xml', () => post('<query>{ __typename }</query>', { 'content-type': 'application/xml' }), 400, 'BAD_REQUEST'),
  refused('body without any content type', () => post(JSON.stringify({ query: '{ __typename }' }), {}), 400, 'BAD_REQUEST'),
  refused('JSON in a non-UTF-8 charset', () => post('{}', { 'content-type': 'application/json; charset=latin1' }), 415, 'UNSUPPORTED_ENCODING'),
  refused('Content-Encoding gzip on a body that is not gzip', () => post(JSON.stringify({ query: '{ __typename }' }), { ...ADMIN_JSON(), 'content-encoding': 'gzip' }), 400, 'MALFORMED_JSON'),
  refused('a JSON array (batched operations)', () => post(JSON.stringify([{ query: '{ custodySigningSpec { version } }' }, { query: '{ __typename }' }])), 400, 'BAD_REQUEST', /batching disabled/i),
  refused('a body larger than MAX_BODY_BYTES (200000)', () => post(JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(300_000) } }), ADMIN_JSON(), 'strict'), 413, 'PAYLOAD_TOO_LARGE', /MAX_BODY_BYTES/, 'strict'),
  refused('a body larger than the default MAX_BODY_BYTES (4 MiB)', () => post(JSON.stringify({ query: RECORD, variables: { events: [], pad: 'x'.repeat(4 * MB + 10) } })), 413, 'PAYLOAD_TOO_LARGE'),
  refused('query that is not a string', () => post(JSON.stringify({ query: { kind: 'Document' } })), 400, 'BAD_REQUEST'),
  refused('variables as a JSON-encoded string', () => post(JSON.stringify({ query: '{ __typename }', variables: '{"a":1}' })), 400, 'BAD_REQUEST'),
  refused('GET /graphql without a query', () => http('main', '/graphql', { method: 'GET' }), 400, 'BAD_REQUEST'),
  refused('GET /graphql without a query, preflight header set', () => http('main', '/graphql', { method: 'GET', headers: { 'apollo-require-preflight': '1' } }), 400, 'BAD_REQUEST', /query/),
  refused('a mutation over GET', () => http('main', `/graphql?query=${encodeURIComponent('mutation { sealBatch { seq } }')}`, { method: 'GET', headers: { 'apollo-require-preflight': '1', authorization: `Bearer ${TEST_ADMIN_KEY}` } }), 405, 'BAD_REQUEST'),
  refused('PUT /graphql', () => http('main', '/graphql', { method: 'PUT', headers: ADMIN_JSON(), body: '{}' }), 405, 'BAD_REQUEST'),
  refused('unknown route GET /admin', () => http('main', '/admin', { method: 'GET' }), 404, 'NOT_FOUND'),
  refused('unknown route POST /api/graphql', () => http('main', '/api/graphql', { method: 'POST', headers: ADMIN_JSON(), body: JSON.stringify({ query: '{ __typename }' }) }), 404, 'NOT_FOUND'),
  refused('unknown route GET /.env', () => http('main', '/.env', { method: 'GET' }), 404, 'NOT_FOUND'),
  refused('proof download without .json', () => http('main', `/proofs/${CARRIER}/${TRACKING}`, { method: 'GET', headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } }), 404, 'NOT_FOUND'),

  // ---- documents: parse, validation, operations, limits -------------------------------------
  refused('a syntax error', () => gql('{ custodySigningSpec { '), 400, 'GRAPHQL_PARSE_FAILED'),
  refused('a blank document', () => gql('   '), 400, 'GRAPHQL_PARSE_FAILED'),
  refused('an unknown field', () => gql('{ custodySigningSpec { version privateKey } }'), 400, 'GRAPHQL_VALIDATION_FAILED'),
  refused('a forged root: sealBatch(root: …)', () => gql(`mutation { sealBatch(root: "0x${'ab'.repeat(32)}") { seq root } }`), 400, 'GRAPHQL_VALIDATION_FAILED'),
  refused('a forged root: recordCustodyEvents(root: …)', () => gql(`mutation { recordCustodyEvents(events: [], root: "0x${'ab'.repeat(32)}") { index } }`), 400, 'GRAPHQL_VALIDATION_FAILED'),
  refused('two operations without operationName', () => gql('query A { __typename } mutation B { sealBatch { seq } }'), 400, 'OPERATION_RESOLUTION_FAILURE'),
  refused('200 operations without operationName', () => gql(Array.from({ length: 200 }, (_, i) => `query Q${i} { __typename }`).join(' ')), 400, 'OPERATION_RESOLUTION_FAILURE'),
  refused('an operationName that is not in the document', () => gql('query A { __typename }', undefined, undefined, 'main', { operationName: 'DropTables' }), 400, 'OPERATION_RESOLUTION_FAILURE'),
  refused('a fragment that spreads itself', () => gql('query { ...A } fragment A on Query { __typename ...A }'), 400, 'GRAPHQL_VALIDATION_FAILED'),
  refused('13 levels of introspection fields', () => gql(deepIntrospection(13)), 400, 'QUERY_TOO_DEEP', /13 levels/),
  refused('14 levels through a chain of fragments', () => gql(deepFragments(14)), 400, 'QUERY_TOO_DEEP', /levels deep/),
  refused('40 levels of unknown fields (the limit runs first)', () => gql(`{ ${nested(40)} }`), 400, 'QUERY_TOO_DEEP'),
  refused('31 aliases', () => gql(`{ ${aliases(31)} }`), 400, 'TOO_MANY_ALIASES', /31 aliases/),
  refused('1000 aliases', () => gql(`{ ${aliases(1000)} }`), 400, 'TOO_MANY_ALIASES'),
  refused('a wide query: 100 shipments × 50 events × 21 fields', () => gql(`{ shipments(first: 100) { edges { node { events { ${EVENT_FIELDS_21} } } } } }`), 400, 'QUERY_TOO_COMPLEX'),
  refused('a costly query: 10 aliased pages of 500 events', () => gql(`{ ${Array.from({ length: 10 }, (_, i) => `p${i}: custodyEvents(first: 500) { edges { cursor node { ${EVENT_FIELDS_21} } } }`).join(' ')} }`), 400, 'QUERY_TOO_COMPLEX'),
  refused('first: 2147483648 as a literal (costed before it is rejected)', () => gql('{ batches(first: 2147483648) { totalCount } }'), 400, 'QUERY_TOO_COMPLEX'),
  refused('first: 2^31 as a variable', () => gql(BATCHES, { n: 2 ** 31 }), 400, 'BAD_USER_INPUT'),
  domain('batches(first: -1)', () => gql(BATCHES, { n: -1 }), 'VALIDATION_FAILED', 400, 'first'),
  domain('batches(first: 0)', () => gql(BATCHES, { n: 0 }), 'VALIDATION_FAILED', 400, 'first'),
  domain('batches(first: 501)', () => gql(BATCHES, { n: 501 }), 'VALIDATION_FAILED', 400, 'first'),
  domain('custodyEvents(first: 100000)', () => gql(EVENTS, { n: 100_000 }), 'VALIDATION_FAILED', 400, 'first'),
  refused('batch(seq: "-1")', () => gql(BATCH, { s: '-1' }), 400, 'BAD_USER_INPUT'),
  refused('batch(seq: "18446744073709551616") (Uint64 overflow)', () => gql(BATCH, { s: '18446744073709551616' }), 400, 'BAD_USER_INPUT'),
  refused('batch(seq: 18446744073709551616) as a literal', () => gql('{ batch(seq: "18446744073709551616") { seq } }'), 400, 'BAD_USER_INPUT'),
  refused('batch(seq: 1.5)', () => gql(BATCH, { s: 1.5 }), 400, 'BAD_USER_INPUT'),
  refused('batch(seq: 2^53) as a JSON number (unsafe integer)', () => gql(BATCH, { s: 2 ** 53 }), 400, 'BAD_USER_INPUT'),

  // ---- authentication, authorization, rate limit -------------------------------------------
  domain('garbage bearer token', () => gql('{ batches { totalCount } }', undefined, 'Bearer not-a-key'), 'UNAUTHENTICATED', 401),
  domain('empty Authorization header', () => gql('{ batches { totalCount } }', undefined, ''), 'UNAUTHENTICATED', 401),
  domain('"Bearer" without a token', () => gql('{ batches { totalCount } }', undefined, 'Bearer'), 'UNAUTHENTICATED', 401),
  domain('Basic credentials', () => gql('{ batches { totalCount } }', undefined, 'Basic dXNlcjpwYXNz'), 'UNAUTHENTICATED', 401),
  domain('the admin key with one character more', () => gql('{ batches { totalCount } }', undefined, `Bearer ${TEST_ADMIN_KEY}x`), 'UNAUTHENTICATED', 401),
  domain('two tokens in one header', () => gql('{ batches { totalCount } }', undefined, `Bearer ${TEST_ADMIN_KEY} ${TEST_ADMIN_KEY}`), 'UNAUTHENTICATED', 401),
  domain('a well-formed but unknown API key', () => gql('{ batches { totalCount } }', undefined, `Bearer cl_${'0'.repeat(12)}_${'0'.repeat(48)}`), 'UNAUTHENTICATED', 401),
  domain('a token of SQL', () => gql('{ batches { totalCount } }', undefined, `Bearer ${SQL_OR.replace(/ /g, '')}`), 'UNAUTHENTICATED', 401),
  domain('recordCustodyEvents without a key', async () => recordRaw([await signed()], ''), 'UNAUTHENTICATED', 401),
  domain('recordCustodyEvents with a MERCHANT key', async () => recordRaw([await signed()], `Bearer ${ctx.merchantApiKey}`), 'FORBIDDEN', 403),
  domain('sealBatch with a MERCHANT key', () => gql('mutation { sealBatch { seq } }', undefined, `Bearer ${ctx.merchantApiKey}`), 'FORBIDDEN', 403),
  {
    // every HTTP request of the key counts (the refused oversized body of another row too): at most 5 pass, then 429 before any parsing
    name: 'the 6th request within a second with RATE_LIMIT_PER_MINUTE 5',
    on: 'strict',
    send: async () => {
      let passed = 0;
      for (;;) {
        const answer = await gql('{ batches(first: 1) { totalCount } }', undefined, undefined, 'strict');
        if (answer.status === 429 || passed > 5) {
          expect(passed).toBeLessThanOrEqual(5);
          return answer;
        }
        expect(answer.body?.errors).toBeUndefined();
        passed++;
      }
    },
    status: 429,
    code: 'RATE_LIMITED',
    message: /retry in \d+ s/,
  },

  // ---- SQL metacharacters and look-alike Unicode in lookups ---------------------------------
  domain(`organization(slug: ${SQL_OR})`, () => gql(ORG, { s: SQL_OR }), 'NOT_FOUND', 404, 'slug'),
  domain('organization(slug) with a Cyrillic "а" (looks like acme-express)', () => gql(ORG, { s: CONFUSABLE_CARRIER }), 'NOT_FOUND', 404, 'slug'),
  domain('organization(slug) in full-width letters', () => gql(ORG, { s: FULLWIDTH_CARRIER }), 'NOT_FOUND', 404, 'slug'),
  domain('organization(slug) with a zero-width joiner', () => gql(ORG, { s: ZWJ_CARRIER }), 'NOT_FOUND', 404, 'slug'),
  domain('organization(slug) with an RTL override', () => gql(ORG, { s: `${RTL_OVERRIDE}sserpxe-emca` }), 'NOT_FOUND', 404, 'slug'),
  domain(`shipment(trackingNumber: ${SQL_DROP})`, () => gql(SHIP, { c: CARRIER, t: SQL_DROP }), 'NOT_FOUND', 404, 'trackingNumber'),
  domain(`shipment(carrier: ${SQL_OR})`, () => gql(SHIP, { c: SQL_OR, t: TRACKING }), 'NOT_FOUND', 404),
  domain('shipment of a look-alike carrier', () => gql(SHIP, { c: CONFUSABLE_CARRIER, t: TRACKING }), 'NOT_FOUND', 404),
  domain(`custodyEvent(eventId: ${SQL_OR})`, () => gql(EVENT, { e: SQL_OR }), 'NOT_FOUND', 404, 'eventId'),
  domain('custodyEvent(eventId) of 31 bytes', () => gql(EVENT, { e: '0x' + 'ab'.repeat(31) }), 'NOT_FOUND', 404, 'eventId'),
  domain('inclusionProof(eventId) of non-hex', () => gql(PROOF, { e: '0x' + 'zz'.repeat(32) }), 'NOT_FOUND', 404, 'eventId'),
  domain(`custodyEvents(after: ${SQL_OR})`, () => gql(EVENTS, { n: 10, a: SQL_OR }), 'VALIDATION_FAILED', 400, 'after'),
  domain('custodyEvents(after: base64 of SQL)', () => gql(EVENTS, { n: 10, a: b64(`event:1:1; DROP TABLE custody_events`) }), 'VALIDATION_FAILED', 400, 'after'),
  domain('batches(after: "; DROP TABLE anchor_batches")', () => gql(BATCHES, { n: 10, a: '; DROP TABLE anchor_batches' }), 'VALIDATION_FAILED', 400, 'after'),
  domain('shipments(after: base64 of a forged cursor)', () => gql(`query($a: String) { shipments(after: $a) { edges { cursor } } }`, { a: b64(`shipment:${SQL_OR}`) }), 'VALIDATION_FAILED', 400, 'after'),
  domain('registerOrganization with a Cyrillic look-alike slug', () => gql(REGISTER_ORG, { i: { slug: CONFUSABLE_CARRIER, name: 'Fake ACME', kind: 'CARRIER' } }), 'VALIDATION_FAILED', 400, 'slug'),
  domain('registerOrganization with a full-width slug', () => gql(REGISTER_ORG, { i: { slug: FULLWIDTH_CARRIER, name: 'Fake ACME', kind: 'CARRIER' } }), 'VALIDATION_FAILED', 400, 'slug'),
  domain('registerOrganization with a zero-width joiner in the slug', () => gql(REGISTER_ORG, { i: { slug: ZWJ_CARRIER, name: 'Fake ACME', kind: 'CARRIER' } }), 'VALIDATION_FAILED', 400, 'slug'),
  domain('registerOrganization with an RTL override in the slug', () => gql(REGISTER_ORG, { i: { slug: `acme${RTL_OVERRIDE}sserpxe`, name: 'Fake', kind: 'CARRIER' } }), 'VALIDATION_FAILED', 400, 'slug'),
  domain('registerOrganization with an emoji slug', () => gql(REGISTER_ORG, { i: { slug: '📦-express', name: 'Parcel', kind: 'CARRIER' } }), 'VALIDATION_FAILED', 400, 'slug'),
  domain('registerOrganization with an SQL slug', () => gql(REGISTER_ORG, { i: { slug: "x'); DROP TABLE organizations; --", name: 'x', kind: 'CARRIER' } }), 'VALIDATION_FAILED', 400, 'slug'),
  domain('registerOrganization with an existing slug', () => gql(REGISTER_ORG, { i: { slug: CARRIER, name: 'Twin', kind: 'CARRIER' } }), 'ALREADY_EXISTS', 409, 'slug'),
  domain(`createShipment with trackingNumber ${SQL_DROP}`, () => gql(CREATE_SHIPMENT, { i: { trackingNumber: SQL_DROP, carrier: CARRIER } }), 'VALIDATION_FAILED', 400, 'trackingNumber'),
  domain('createShipment with a 1 MB trackingNumber', () => gql(CREATE_SHIPMENT, { i: { trackingNumber: 'A'.repeat(MB), carrier: CARRIER } }), 'VALIDATION_FAILED', 400, 'trackingNumber'),
  domain('createShipment for a look-alike carrier', () => gql(CREATE_SHIPMENT, { i: { trackingNumber: 'FAKE-0001', carrier: CONFUSABLE_CARRIER } }), 'NOT_FOUND', 404, 'carrier'),
  domain('createShipment by a MERCHANT key for a carrier it has no contract with', () => gql(CREATE_SHIPMENT, { i: { trackingNumber: 'NOCONTRACT-0001', carrier: CARRIER, merchant: MERCHANT } }, `Bearer ${ctx.merchantApiKey}`), 'NO_CARRIER_CONTRACT', 403, 'carrier', /registerCarrierContract/),

  // ---- issue 9: custody moves only with the holder's consent ---------------------------------
  perEvent('HANDOFF of the carrier’s parcel signed by another carrier to itself, sent with its own API key (the hijack)', async () => recordRaw([await transferOf(RIVAL, ctx.rivalKey)], `Bearer ${ctx.rivalApiKey}`), 'TRANSFER_NOT_CONSENTED', 'signature', /passes to "rival-hostile" only with the consent of whoever holds it/),
  perEvent('HANDOFF to a hub under an expired delegation of the carrier', async () => recordRaw([await transferOf(HUB, ctx.hubKey)]), 'TRANSFER_NOT_CONSENTED', 'signature', /expired/),
  perEvent('HANDOFF to a hub under a revoked delegation of the carrier', async () => recordRaw([await transferOf(HUB2, ctx.hub2Key)]), 'TRANSFER_NOT_CONSENTED', 'signature', /revoked/),
  perEvent('HANDOFF signed by the hub, counter-signed by another carrier instead of the releasing one', async () => recordRaw([await transferOf(HUB, ctx.hubKey, ctx.rivalKey)]), 'INVALID_COUNTER_SIGNATURE', 'counterSignature'),
  domain('registerDelegation forged: "the carrier lets the rival take custody", signed by the rival’s key', async () => gql(REGISTER_DELEGATION, { i: await delegationInput(ctx.rivalKey, { delegate: RIVAL }) }), 'INVALID_DELEGATION', 400, 'signature'),
  domain('registerDelegation signed by the carrier’s key, the delegate swapped after signing', async () => gql(REGISTER_DELEGATION, { i: { ...(await delegationInput(ctx.carrierKey)), delegate: RIVAL } }), 'INVALID_DELEGATION', 400, 'signature'),
  domain('registerDelegation of the carrier sent with the rival’s API key', async () => gql(REGISTER_DELEGATION, { i: await delegationInput(ctx.carrierKey, { delegate: RIVAL }) }, `Bearer ${ctx.rivalApiKey}`), 'FORBIDDEN', 403, 'delegator'),
  domain('registerDelegation whose validUntil is before validFrom', async () => gql(REGISTER_DELEGATION, { i: await delegationInput(ctx.carrierKey, { validFrom: 2_000n, validUntil: 1_000n }) }), 'VALIDATION_FAILED', 400, 'validUntil'),

  // ---- recordCustodyEvents: the request as a whole -----------------------------------------
  domain(`MAX_EVENTS_PER_CALL + 1 (${MAX_EVENTS + 1}) events`, async () => {
    const one = await signed();
    return recordRaw(Array.from({ length: MAX_EVENTS + 1 }, () => one));
  }, 'TOO_MANY_EVENTS', 400, undefined, /at most 50 events/),
  refused('10000 empty objects as events (errors capped, not amplified)', async () => {
    const raw = await recordRaw(Array.from({ length: 10_000 }, () => ({})));
    expect(raw.text.length).toBeLessThan(100_000);
    return raw;
  }, 400, 'BAD_USER_INPUT'),
  refused('events: null', () => gql(RECORD, { events: null }), 400, 'BAD_USER_INPUT'),
  refused('events: an object', () => gql(RECORD, { events: { 0: {} } }), 400, 'BAD_USER_INPUT'),
  refused('an unknown input field (root) in an event', async () => recordRaw([await mangled({ root: '0x' + 'ab'.repeat(32) })]), 400, 'BAD_USER_INPUT'),
  refused('latE6: "x"', async () => recordRaw([await mangled({ latE6: 'x' })]), 400, 'BAD_USER_INPUT'),
  refused('latE6: 2^31', async () => recordRaw([await mangled({ latE6: 2 ** 31 })]), 400, 'BAD_USER_INPUT'),
  refused('latE6: 1.5', async () => recordRaw([await mangled({ latE6: 1.5 })]), 400, 'BAD_USER_INPUT'),
  refused('lonE6: true', async () => recordRaw([await mangled({ lonE6: true })]), 400, 'BAD_USER_INPUT'),
  refused('occurredAt: -1', async () => recordRaw([await mangled({ occurredAt: -1 })]), 400, 'BAD_USER_INPUT'),
  refused('occurredAt: 1e30', async () => recordRaw([await mangled({ occurredAt: 1e30 })]), 400, 'BAD_USER_INPUT'),
  refused('occurredAt: "1.5"', async () => recordRaw([await mangled({ occurredAt: '1.5' })]), 400, 'BAD_USER_INPUT'),
  refused('occurredAt: "-1"', async () => recordRaw([await mangled({ occurredAt: '-1' })]), 400, 'BAD_USER_INPUT'),
  refused('occurredAt: "18446744073709551616" (Uint64 overflow)', async () => recordRaw([await mangled({ occurredAt: '18446744073709551616' })]), 400, 'BAD_USER_INPUT'),
  refused('occurredAt: "0x10"', async () => recordRaw([await mangled({ occurredAt: '0x10' })]), 400, 'BAD_USER_INPUT'),
  refused('accuracyM: "10" (a string for a Float)', async () => recordRaw([await mangled({ accuracyM: '10' })]), 400, 'BAD_USER_INPUT'),
  refused('trackingNumber: true', async () => recordRaw([await mangled({ trackingNumber: true })]), 400, 'BAD_USER_INPUT'),
  refused('carrier: false', async () => recordRaw([await mangled({ carrier: false })]), 400, 'BAD_USER_INPUT'),
  refused('signature: 12345', async () => recordRaw([await mangled({ signature: 12345 })]), 400, 'BAD_USER_INPUT'),
  refused('evidence.sizeBytes: 2^31', async () => recordRaw([await mangled({ evidence: { contentType: 'image/jpeg', sizeBytes: 2 ** 31, hash: ZERO_HASH } })]), 400, 'BAD_USER_INPUT'),

  // ---- recordCustodyEvents: one malformed event, rejected on its own ------------------------
  perEvent(`eventId ${SQL_OR}`, async () => recordRaw([await mangled({ eventId: SQL_OR })]), 'INVALID_FIELD', 'eventId'),
  perEvent('eventId of 31 bytes', async () => recordRaw([await mangled({ eventId: '0x' + 'ab'.repeat(31) })]), 'INVALID_FIELD', 'eventId'),
  perEvent('eventId of 33 bytes', async () => recordRaw([await mangled({ eventId: '0x' + 'ab'.repeat(33) })]), 'INVALID_FIELD', 'eventId'),
  perEvent('eventId of non-hex', async () => recordRaw([await mangled({ eventId: '0x' + 'g'.repeat(64) })]), 'INVALID_FIELD', 'eventId'),
  refused('eventId with a NUL byte (text PostgreSQL cannot store: the whole request)', async () => recordRaw([await mangled({ eventId: '0x' + '0'.repeat(63) + '\u0000' })]), 400, 'BAD_USER_INPUT'),
  perEvent(`trackingNumber ${SQL_DROP}`, async () => recordRaw([await mangled({ trackingNumber: SQL_DROP })]), 'INVALID_FIELD', 'trackingNumber'),
  perEvent('trackingNumber of 1 MB', async () => recordRaw([await mangled({ trackingNumber: 'A'.repeat(MB) })]), 'INVALID_FIELD', 'trackingNumber'),
  perEvent('trackingNumber with emoji', async () => recordRaw([await mangled({ trackingNumber: 'HOSTILE-📦-0001' })]), 'INVALID_FIELD', 'trackingNumber'),
  perEvent('trackingNumber with an RTL override', async () => recordRaw([await mangled({ trackingNumber: `HOSTILE${RTL_OVERRIDE}1000` })]), 'INVALID_FIELD', 'trackingNumber'),
  perEvent('carrier with a Cyrillic look-alike', async () => recordRaw([await mangled({ carrier: CONFUSABLE_CARRIER })]), 'INVALID_FIELD', 'carrier'),
  perEvent('carrier in full-width letters', async () => recordRaw([await mangled({ carrier: FULLWIDTH_CARRIER })]), 'INVALID_FIELD', 'carrier'),
  perEvent('carrier with a zero-width joiner', async () => recordRaw([await mangled({ carrier: ZWJ_CARRIER })]), 'INVALID_FIELD', 'carrier'),
  perEvent(`custodian ${SQL_OR}`, async () => recordRaw([await mangled({ custodian: SQL_OR })]), 'INVALID_FIELD', 'custodian'),
  perEvent('eventType "LOST; DROP TABLE shipments"', async () => recordRaw([await mangled({ eventType: 'LOST; DROP TABLE shipments' })]), 'INVALID_FIELD', 'eventType'),
  perEvent('occurredAt "0"', async () => recordRaw([await mangled({ occurredAt: '0' })]), 'INVALID_FIELD', 'occurredAt'),
  perEvent('occurredAt "18446744073709551615" (beyond unix milliseconds)', async () => recordRaw([await mangled({ occurredAt: '18446744073709551615' })]), 'INVALID_FIELD', 'occurredAt'),
  perEvent('occurredAt in the year 287396 (signed)', async () => recordRaw([await signed({ occurredAt: BigInt(Number.MAX_SAFE_INTEGER) })]), 'OCCURRED_IN_FUTURE', 'occurredAt'),
  perEvent('latE6 91000000', async () => recordRaw([await mangled({ latE6: 91_000_000 })]), 'INVALID_FIELD', 'latE6'),
  perEvent('lonE6 -2147483648', async () => recordRaw([await mangled({ lonE6: -2147483648 })]), 'INVALID_FIELD', 'lonE6'),
  perEvent('accuracyM 4294967296', async () => recordRaw([await mangled({ accuracyM: 4294967296 })]), 'INVALID_FIELD', 'accuracyM'),
  perEvent('accuracyM -1', async () => recordRaw([await mangled({ accuracyM: -1 })]), 'INVALID_FIELD', 'accuracyM'),
  perEvent('accuracyM 0.5', async () => recordRaw([await mangled({ accuracyM: 0.5 })]), 'INVALID_FIELD', 'accuracyM'),
  perEvent('accuracyM 1e308', async () => recordRaw([await mangled({ accuracyM: 1e308 })]), 'INVALID_FIELD', 'accuracyM'),
  perEvent('locationCode of 1 MB', async () => recordRaw([await mangled({ locationCode: 'L'.repeat(MB) })]), 'INVALID_FIELD', 'locationCode'),
  refused('locationCode with a NUL byte (text PostgreSQL cannot store: the whole request)', async () => recordRaw([await mangled({ locationCode: 'DE\u0000BER' })]), 400, 'BAD_USER_INPUT'),
  perEvent('locationCode with an RTL override (display spoofing)', async () => recordRaw([await signed({ locationCode: `DE-${RTL_OVERRIDE}REB` }, ctx.domain, newWallet())]), 'INVALID_FIELD', 'locationCode'),
  perEvent('scanMethod "barcode" (wrong case)', async () => recordRaw([await mangled({ scanMethod: 'barcode' })]), 'INVALID_FIELD', 'scanMethod'),
  perEvent('evidenceHash of non-hex', async () => recordRaw([await mangled({ evidenceHash: '0x' + 'x'.repeat(64) })]), 'INVALID_FIELD', 'evidenceHash'),
  perEvent('dataHash of 20 bytes', async () => recordRaw([await mangled({ dataHash: '0x' + 'ab'.repeat(20) })]), 'INVALID_FIELD', 'dataHash'),
  perEvent('signature of 64 bytes', async () => {
    const e = await signed();
    return recordRaw([{ ...e, signature: e.signature.slice(0, 2 + 128) }]);
  }, 'INVALID_SIGNATURE', 'signature'),
  perEvent('signature of 66 bytes', async () => {
    const e = await signed();
    return recordRaw([{ ...e, signature: e.signature + '00' }]);
  }, 'INVALID_SIGNATURE', 'signature'),
  perEvent('signature of an odd number of hex digits', async () => {
    const e = await signed();
    return recordRaw([{ ...e, signature: e.signature + '0' }]);
  }, 'INVALID_SIGNATURE', 'signature'),
  perEvent('signature that is not hex', async () => recordRaw([await mangled({ signature: '0x' + 'zz'.repeat(65) })]), 'INVALID_SIGNATURE', 'signature'),
  perEvent('signature without 0x', async () => {
    const e = await signed();
    return recordRaw([{ ...e, signature: e.signature.slice(2) }]);
  }, 'INVALID_SIGNATURE', 'signature'),
  perEvent('signature of 65 zero bytes', async () => recordRaw([await mangled({ signature: '0x' + '00'.repeat(65) })]), 'INVALID_SIGNATURE', 'signature'),
  perEvent('signature with v = 29', async () => {
    const e = await signed();
    return recordRaw([{ ...e, signature: e.signature.slice(0, 130) + '1d' }]);
  }, 'INVALID_SIGNATURE', 'signature'),
  perEvent('the high-s twin of a valid signature', async () => {
    const e = await signed();
    return recordRaw([{ ...e, signature: highSTwin(e.signature) }]);
  }, 'INVALID_SIGNATURE', 'signature', /high-s/),
  perEvent('counterSignature of garbage', async () => recordRaw([await mangled({ counterSignature: '0xdeadbeef' })]), 'INVALID_COUNTER_SIGNATURE', 'counterSignature'),
  perEvent("replay: the same event signed for another deployment's chainId", async () => recordRaw([await signed({}, { ...ctx.domain, chainId: ctx.domain.chainId + 1n })]), 'UNKNOWN_SIGNER', 'signature'),
  perEvent("replay: the same event signed for another deployment's verifyingContract", async () => recordRaw([await signed({}, { ...ctx.domain, verifyingContract: newWallet().address })]), 'UNKNOWN_SIGNER', 'signature'),
  perEvent('replay: signed under another domain name', async () => recordRaw([await signed({}, { ...ctx.domain, name: 'CustodyLedger2' })]), 'UNKNOWN_SIGNER', 'signature'),
  perEvent('a signed field changed after signing', async () => recordRaw([{ ...(await signed()), locationCode: 'DE-BER-99' }]), 'UNKNOWN_SIGNER', 'signature'),
  perEvent('the accepted eventId reused for other content', async () => recordRaw([await signed({ eventId: ctx.accepted.eventId })]), 'EVENT_ID_CONFLICT', 'eventId'),
  perEvent('extraData that is not canonical', async () => {
    const text = '{ "v": 1 }';
    return recordRaw([{ ...(await signed({ dataHash: keccak256(toUtf8Bytes(text)) })), extraData: text }]);
  }, 'DATA_HASH_MISMATCH', 'extraData'),
  perEvent('extraData with a zero dataHash', async () => recordRaw([{ ...(await signed()), extraData: '{"v":1}' }]), 'DATA_HASH_MISMATCH', 'extraData'),
  perEvent('extraData nested 8000 deep', async () => {
    const text = '['.repeat(8000) + ']'.repeat(8000);
    return recordRaw([{ ...(await signed({ dataHash: keccak256(toUtf8Bytes(text)) })), extraData: text }]);
  }, 'INVALID_EXTRA_DATA', 'extraData'),
  perEvent('extraData of 1 MB', async () => {
    const text = JSON.stringify({ note: 'n'.repeat(MB), v: 1 });
    return recordRaw([{ ...(await signed({ dataHash: keccak256(toUtf8Bytes(text)) })), extraData: text }]);
  }, 'INVALID_EXTRA_DATA', 'extraData'),
  perEvent('personalData without a commitment to open', async () => recordRaw([await mangled({ personalData: [{ path: 'recipient.name', value: 'Jane', salt: '0x' + '11'.repeat(32) }] })]), 'PERSONAL_DATA_MISMATCH', 'personalData'),
  perEvent('11 personalData values', async () => recordRaw([await mangled({ personalData: Array.from({ length: 11 }, () => ({ path: 'recipient.name', value: 'x', salt: ZERO_HASH })) })]), 'INVALID_FIELD', 'personalData'),
  perEvent('evidence that does not match evidenceHash', async () => recordRaw([await mangled({ evidence: { contentType: 'image/jpeg', sizeBytes: 10, hash: '0x' + '22'.repeat(32) } })]), 'EVIDENCE_MISMATCH', 'evidence.hash'),
  perEvent('evidence.contentType of SQL', async () => recordRaw([await mangled({ evidence: { contentType: "image/jpeg'; --", sizeBytes: 10, hash: ZERO_HASH } })]), 'INVALID_FIELD', 'evidence.contentType'),
  perEvent('evidence.sizeBytes -1', async () => recordRaw([await mangled({ evidence: { contentType: 'image/jpeg', sizeBytes: -1, hash: ZERO_HASH } })]), 'INVALID_FIELD', 'evidence.sizeBytes'),
];

/**
 * Requests the service answers with a masked 500 (INTERNAL_SERVER_ERROR) today, or too slowly.
 * Each asserts what a client should get: a client error with a code, or data; never a 500.
 */
interface Defect {
  name: string;
  send: () => Promise<Raw>;
  perEvent?: boolean;
  /** max milliseconds for the answer */
  withinMs?: number;
}
const CLIENT_CODES = new Set([...Object.keys(ERROR_CODES), 'BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED', 'GRAPHQL_PARSE_FAILED', 'BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE', 'QUERY_TOO_DEEP', 'TOO_MANY_ALIASES', 'QUERY_TOO_COMPLEX']);
const personalDoc = (salt: string, value: string): { text: string } => ({ text: JSON.stringify({ recipient: { name: keccak256(Buffer.concat([Buffer.from(salt.slice(2), 'hex'), Buffer.from(value, 'utf8')])) }, v: 1 }) });
const DEFECTS: Defect[] = [
  { name: 'batch(seq: "18446744073709551615"): a valid Uint64 beyond PostgreSQL bigint', send: () => gql(BATCH, { s: '18446744073709551615' }) },
  { name: 'batches(after:) with a cursor of seq 9999999999999999999', send: () => gql(BATCHES, { n: 10, a: b64('batch:9999999999999999999') }) },
  { name: 'custodyEvents(after:) with a cursor of id 9999999999999999999', send: () => gql(EVENTS, { n: 10, a: b64('event:1:9999999999999999999') }) },
  { name: 'custodyEvents(filter: { occurredFrom: "yesterday" })', send: () => gql(`{ custodyEvents(filter: { occurredFrom: "yesterday" }) { edges { cursor } } }`) },
  { name: 'shipments(filter: { updatedSince: 1e20 })', send: () => gql(`query($d: DateTime) { shipments(filter: { updatedSince: $d }) { edges { cursor } } }`, { d: 1e20 }) },
  { name: 'shipments(after:) with a cursor of date 9999-99-99', send: () => gql(`query($a: String) { shipments(after: $a) { edges { cursor } } }`, { a: b64('shipment:9999-99-99T99:99:99Z:00000000-0000-0000-0000-000000000000') }) },
  { name: 'createShipment(promisedDeliveryAt: "yesterday")', send: () => gql(CREATE_SHIPMENT, { i: { trackingNumber: 'DATE-0001', carrier: CARRIER, promisedDeliveryAt: 'yesterday' } }) },
  { name: 'registerSigningKey(validFrom: "soon")', send: () => gql(`mutation($i: RegisterSigningKeyInput!) { registerSigningKey(input: $i) { address } }`, { i: { organization: CARRIER, address: newWallet().address, validFrom: 'soon' } }) },
  { name: 'shipment(trackingNumber) with a NUL byte', send: () => gql(SHIP, { c: CARRIER, t: 'HOSTILE\u00000001' }) },
  { name: 'custodyEvents(filter: { trackingNumber }) with a NUL byte', send: () => gql(`query($t: String) { custodyEvents(filter: { trackingNumber: $t }) { edges { cursor } } }`, { t: 'A\u0000B' }) },
  { name: 'registerOrganization(name) with a NUL byte', send: () => gql(REGISTER_ORG, { i: { slug: 'nul-name', name: 'A\u0000B', kind: 'HUB' } }) },
  { name: 'a subscription operation', send: () => gql('subscription { custodySigningSpec { version } }') },
  { name: 'recordCustodyEvents: locationCode with a lone surrogate', perEvent: true, send: async () => recordRaw([await mangled({ locationCode: 'DE-\ud800' })]) },
  {
    name: 'recordCustodyEvents: personalData.value with a lone surrogate',
    perEvent: true,
    send: async () => {
      const salt = '0x' + '33'.repeat(32);
      const doc = personalDoc(salt, 'Jane');
      return recordRaw([{ ...(await signed({ dataHash: keccak256(toUtf8Bytes(doc.text)) })), extraData: doc.text, personalData: [{ path: 'recipient.name', value: '\ud800', salt }] }]);
    },
  },
  {
    name: 'recordCustodyEvents: a correctly committed personalData.value with a NUL byte',
    perEvent: true,
    send: async () => {
      const salt = '0x' + '44'.repeat(32);
      const value = 'Jane\u0000Doe';
      const doc = personalDoc(salt, value);
      return recordRaw([{ ...(await signed({ dataHash: keccak256(toUtf8Bytes(doc.text)) })), extraData: doc.text, personalData: [{ path: 'recipient.name', value, salt }] }]);
    },
  },
  {
    name: 'recordCustodyEvents: a CORRECTION whose reason holds a NUL byte',
    perEvent: true,
    send: async () => {
      const text = JSON.stringify({ corrects: ctx.accepted.eventId, reason: 'wrong\u0000scan', v: 1 });
      return recordRaw([{ ...(await signed({ eventType: 'CORRECTION', dataHash: keccak256(toUtf8Bytes(text)) })), extraData: text }]);
    },
  },
  {
    name: 'a fragment fan-out (2^20 spreads in 1.5 kB) is refused quickly',
    withinMs: 1000,
    send: () => {
      const frags = ['fragment F0 on Query { ...Missing }'];
      for (let i = 1; i <= 20; i++) frags.push(`fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`);
      return gql(`query { ...F20 } ${frags.join(' ')}`, undefined, false);
    },
  },
];

describe('hostile input over HTTP', () => {
  beforeAll(async () => {
    // one after the other: the embedded chains of two ledgers must not deploy at the same time
    ctx.main = await startTestLedger({ MAX_EVENTS_PER_CALL: String(MAX_EVENTS) });
    ctx.strict = await startTestLedger({ RATE_LIMIT_PER_MINUTE: '5', MAX_BODY_BYTES: '200000' });
    const t = ctx.main;
    ctx.domain = await fetchDomain(t);
    await registerOrganization(t, CARRIER, 'CARRIER', 'ACME Express');
    await registerOrganization(t, MERCHANT, 'MERCHANT', 'Hostile Shop');
    ctx.carrierKey = await registerKey(t, CARRIER);
    await createShipment(t, TRACKING, CARRIER, MERCHANT);
    ctx.accepted = await signEvent(ctx.domain, ctx.carrierKey, eventFields({ trackingNumber: TRACKING, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: BigInt(Date.now() - 2 * HOUR) }));
    const [r] = await record(t, [ctx.accepted]);
    expect(r.outcome).toBe('ACCEPTED');
    ctx.acceptedReceipt = r.receipt as unknown as Record<string, unknown>;
    const created = await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization: MERCHANT, role: 'MERCHANT', label: 'hostile merchant' } });
    ctx.merchantApiKey = created.createApiKey.key;
    await registerOrganization(t, RIVAL, 'CARRIER', 'Rival Post');
    await registerOrganization(t, HUB, 'HUB', 'Hostile Hub');
    await registerOrganization(t, HUB2, 'HUB', 'Hostile Hub 2');
    ctx.rivalKey = await registerKey(t, RIVAL);
    ctx.hubKey = await registerKey(t, HUB);
    ctx.hub2Key = await registerKey(t, HUB2);
    ctx.rivalApiKey = (await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization: RIVAL, role: 'CARRIER', label: 'hostile rival' } })).createApiKey.key;
    // an expired delegation of the carrier to the hub, and a revoked one to the second hub
    const past = BigInt(Date.now() - 20 * HOUR);
    await mustGql(t, REGISTER_DELEGATION, { i: await delegationInput(ctx.carrierKey, { validFrom: past, validUntil: past + BigInt(HOUR) }) });
    const revoked = await delegationInput(ctx.carrierKey, { delegate: HUB2 });
    await mustGql(t, REGISTER_DELEGATION, { i: revoked });
    await mustGql(t, `mutation($i: RevokeDelegationInput!) { revokeDelegation(input: $i) { delegationId } }`, { i: { delegationId: revoked.delegationId, reason: 'contract ended', revokedAt: new Date(Date.now() - 5 * HOUR).toISOString() } });
    // nothing pending, every batch final: from here on the fingerprint only moves if a row does
    await sealAndAnchor(t.ledger);
    await eventually(async () => {
      const rows = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM anchor_batches WHERE status <> 'FINAL'`);
      if (rows[0].n === 0) return true;
      await sealAndAnchor(t.ledger);
      return undefined;
    }, 30_000, 'the setup batch to be final');
  });

  afterAll(async () => {
    await ctx.strict?.stop();
    await ctx.main?.stop();
  });

  it('has at least 60 hostile cases, each with a unique name', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(60);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES)('$name', async (c) => {
    await runCase(c);
  });

  it('re-sending the exact accepted event is a DUPLICATE with the original receipt, and stores nothing', async () => {
    const before = await ctx.main.fingerprint();
    const raw = await recordRaw([ctx.accepted, ctx.accepted]);
    expect(raw.status).toBe(200);
    const results = raw.body!.data!.recordCustodyEvents as Array<{ outcome: string; receipt: Record<string, unknown>; error: unknown }>;
    expect(results.map((r) => r.outcome)).toEqual(['DUPLICATE', 'DUPLICATE']);
    for (const r of results) {
      expect(r.error).toBeNull();
      expect(r.receipt).toMatchObject({ eventId: ctx.accepted.eventId, leaf: ctx.acceptedReceipt.leaf, digest: ctx.acceptedReceipt.digest, previousLeaf: ctx.acceptedReceipt.previousLeaf, receivedAt: ctx.acceptedReceipt.receivedAt });
    }
    expectNoLeak(raw, 'duplicate');
    await expectAlive('main');
    expect(await ctx.main.fingerprint()).toEqual(before);
  });

  it('no mutation takes a root (at any depth of its input), and sealBatch with nothing pending returns null', async () => {
    const TYPE = `fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }`;
    const res = await mustGql<{ __schema: { mutationType: { fields: Array<{ name: string; args: Array<{ name: string; type: TypeRef }> }> }; types: Array<{ name: string; kind: string; inputFields: Array<{ name: string; type: TypeRef }> | null }> } }>(
      ctx.main,
      `{ __schema { mutationType { fields { name args { name type { ...T } } } } types { name kind inputFields { name type { ...T } } } } } ${TYPE}`,
    );
    type TypeRef = { kind: string; name: string | null; ofType: TypeRef | null };
    const named = (t: TypeRef): string | null => (t.ofType ? named(t.ofType) : t.name);
    const inputs = new Map(res.__schema.types.filter((t) => t.kind === 'INPUT_OBJECT').map((t) => [t.name, t.inputFields ?? []]));
    const names = (args: Array<{ name: string; type: TypeRef }>, seen = new Set<string>()): string[] =>
      args.flatMap((a) => {
        const type = named(a.type);
        if (!type || !inputs.has(type) || seen.has(type)) return [a.name];
        return [a.name, ...names(inputs.get(type)!, new Set([...seen, type]))];
      });
    const mutations = res.__schema.mutationType.fields;
    expect(mutations.length).toBeGreaterThan(5);
    for (const m of mutations) expect({ mutation: m.name, args: names(m.args).filter((n) => /root/i.test(n)) }).toEqual({ mutation: m.name, args: [] });

    const before = await ctx.main.fingerprint();
    const sealed = await gql('mutation { sealBatch { seq root } }');
    expect(sealed.status).toBe(200);
    expect(sealed.body).toEqual({ data: { sealBatch: null } });
    expect(await ctx.main.fingerprint()).toEqual(before);
  });

  it('introspection of __schema follows the configuration (allowed outside production)', async () => {
    const production = ctx.main.ledger.runtime.config.production;
    expect(production).toBe(false); // startTestLedger runs with NODE_ENV=test
    const res = await gql('{ __schema { queryType { name } mutationType { name } } }', undefined, false);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { __schema: { queryType: { name: 'Query' }, mutationType: { name: 'Mutation' } } } });
  });

  it('a query of exactly 12 levels and 30 aliases is allowed (the limits are not off by one)', async () => {
    const deep = await gql(deepIntrospection(12));
    expect(deep.body?.errors?.map((e) => e.extensions?.code) ?? []).not.toContain('QUERY_TOO_DEEP');
    const aliased = await gql(`{ ${aliases(30)} }`);
    expect(aliased.status).toBe(200);
    expect(aliased.body?.errors).toBeUndefined();
  });

  describe('inputs that once reached the database or the validator unchecked: refused as client errors', () => {
    it.each(DEFECTS)('$name', async (d) => {
      const before = await ctx.main.fingerprint();
      const started = Date.now();
      const raw = await d.send();
      const elapsed = Date.now() - started;
      expect(raw.text).not.toContain('INTERNAL_SERVER_ERROR');
      expect(raw.status).toBeLessThan(500);
      if (d.perEvent && raw.body?.data?.recordCustodyEvents) {
        const results = raw.body?.data?.recordCustodyEvents as Array<{ outcome: string; error: { code: string; message: string } | null }>;
        expect(results).toHaveLength(1);
        expect(results[0].outcome).toBe('REJECTED');
        expect(CLIENT_CODES).toContain(results[0].error!.code);
        expectNoLeak(raw, results[0].error!.message);
      } else {
        for (const error of raw.body?.errors ?? []) expect(CLIENT_CODES).toContain(error.extensions?.code);
        expectNoLeak(raw, raw.body?.errors?.[0]?.message ?? 'answered with data');
      }
      if (d.withinMs !== undefined) expect(elapsed).toBeLessThan(d.withinMs);
      await expectAlive('main');
      expect(await ctx.main.fingerprint()).toEqual(before);
    });
  });
});
