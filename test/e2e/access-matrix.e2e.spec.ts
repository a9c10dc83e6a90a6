import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { buildSchema } from 'graphql';
import { hexlify, randomBytes, type Wallet } from 'ethers';
import { canonicalJson, dataHashOf, personalCommitment } from '../../src/custody/extra-data';
import { CUSTODY_DELEGATION_TYPES, type DelegationFields } from '../../src/signing/delegation-signing';
import { sqlRows } from '../../src/database/data-source';
import { WebhooksService } from '../../src/webhooks/webhooks.service';
import type { CustodyEventFields, CustodySigningDomain } from '../../src/signing/custody-signing';
import { TEST_ADMIN_KEY, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { RECORD, eventFields, fetchDomain, mustGql, newEventId, newWallet, record, registerKey, registerOrganization, signEvent, type RecordResult, type SignedEventInput } from '../support/factories';

/**
 * Who may do what: every query and mutation of src/schema.gql (and the HTTP proof download) ×
 * every kind of caller, each row expecting either data without an error or one exact error code.
 * A hidden object must look exactly like a missing one (NOT_FOUND with the same message and
 * extensions); a rejected call must leave the ledger exactly as it was.
 */

const HOUR = 3_600_000;
const T0 = Date.now() - 12 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const DOOR = { latE6: 52_500_000, lonE6: 13_400_000, radiusM: 200 };
const CARRIER = 'acme-express';
const HUB = 'berlin-hub';
const OTHER_CARRIER = 'zoom-post';
const MERCHANT = 'shop-one';
const OTHER_MERCHANT = 'shop-two';
const MAIN = 'ACM-MAIN-0001';
const ZOOM = 'ZOOM-0001';
const MISSING_TRACKING = 'ACM-NO-SUCH-0001';
const RECIPIENT = 'Erika Mustermann';

const CALLERS = ['ADMIN', 'CARRIER(own)', 'CARRIER(hub)', 'CARRIER(other)', 'MERCHANT(own)', 'MERCHANT(other)', 'DISPUTE_ANALYST', 'AUDITOR', 'no key', 'revoked key', 'garbage key'] as const;
type Caller = (typeof CALLERS)[number];
const KEYED = CALLERS.slice(0, 8) as readonly Caller[];

const OK = 'OK';
const F = 'FORBIDDEN';
const N = 'NOT_FOUND';
const S = 'SIGNER_OF_OTHER_ORGANIZATION';
const U = 'UNAUTHENTICATED';
const C = 'NO_CARRIER_CONTRACT';
/** a per-event rejection of recordCustodyEvents: custody taken without the holder's consent */
const T = 'TRANSFER_NOT_CONSENTED';
type Expected = typeof OK | typeof F | typeof N | typeof S | typeof U | typeof C | typeof T;
/** In CALLERS order: ADMIN, CARRIER(own), CARRIER(hub), CARRIER(other), MERCHANT(own), MERCHANT(other), DISPUTE_ANALYST, AUDITOR. */
type Expectations = [Expected, Expected, Expected, Expected, Expected, Expected, Expected, Expected];

interface Outcome {
  status: number;
  /** the operation's field (or the HTTP body) when there was no error */
  data: unknown;
  error?: { code: string; message: string; extensions: Record<string, unknown> };
}

type Auth = boolean | string;

interface Op<P = unknown> {
  /** the schema field this row exercises (or HTTP) */
  field: string;
  name: string;
  expect: Expectations;
  /** needs no API key: no, revoked and garbage keys are let through too */
  public?: boolean;
  mutation?: boolean;
  http?: boolean;
  /** fresh objects for this row, made by the admin before the call */
  prepare?: () => Promise<P>;
  call: (auth: Auth, p: P) => Promise<Outcome>;
  /** the same call on a truly missing object, and the identifiers to compare the errors by */
  missing?: (p: P) => { p: P; hiddenId: string; missingId: string };
  /** a per-item rejection inside data (recordCustodyEvents) */
  itemCode?: (data: unknown) => string;
  check?: (data: unknown, caller: Caller, p: P) => void | Promise<void>;
}

const op = <P>(o: Op<P>): Op => o as unknown as Op;

describe('access matrix: every operation × every caller', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let baseUrl: string;
  const keys = new Map<Caller, string>();
  const keyIds = new Map<Caller, string>();
  /** every API key secret handed out in this suite: none may ever be listed */
  const secrets: string[] = [];
  let w: Record<'acme' | 'hub' | 'zoom' | 'shop', Wallet>;
  let mainEvents: SignedEventInput[] = [];
  let zoomEvent: SignedEventInput;
  let mainDisputeId: string;
  let mainBundle: unknown;
  let counter = 0;
  const fresh = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${++counter}`;

  const authOf = (caller: Caller): Auth => (caller === 'ADMIN' ? true : caller === 'no key' ? false : keys.get(caller)!);

  async function gqlOutcome(query: string, variables: Record<string, unknown>, auth: Auth, field: string): Promise<Outcome> {
    const res = await t.gql<Record<string, unknown>>(query, variables, auth);
    if (res.errors?.length) {
      const e = res.errors[0];
      // a failed non-null root field nulls data; a nullable one is null inside it
      expect(res.data == null || res.data[field] === null).toBe(true);
      return { status: res.status, data: null, error: { code: String(e.extensions?.code), message: e.message, extensions: e.extensions ?? {} } };
    }
    return { status: res.status, data: res.data![field] };
  }

  async function httpProof(carrier: string, tracking: string, auth: Auth): Promise<Outcome> {
    const headers: Record<string, string> = auth === false ? {} : { authorization: `Bearer ${auth === true ? TEST_ADMIN_KEY : auth}` };
    const res = await fetch(`${baseUrl}/proofs/${carrier}/${tracking}.json`, { headers });
    const body = (await res.json()) as { errors?: Array<{ message: string; extensions: Record<string, unknown> }> };
    if (res.status !== 200) {
      const e = body.errors![0];
      return { status: res.status, data: null, error: { code: String(e.extensions.code), message: e.message, extensions: e.extensions } };
    }
    return { status: res.status, data: body };
  }

  /** The ledger tables (t.fingerprint) plus the tables around them that access control also guards. */
  async function snapshot(): Promise<Record<string, string>> {
    const ds = t.ledger.runtime.dataSource;
    const out = await t.fingerprint();
    const hash = async (name: string, sql: string): Promise<void> => {
      const [row] = await sqlRows<{ n: string; h: string | null }>(ds, sql);
      out[name] = `${row.n}:${row.h ?? '-'}`;
    };
    // last_used_at is written asynchronously on every authenticated call: not a change by the call
    await hash('api_keys', `SELECT count(*) AS n, md5(string_agg(concat_ws(',', id, organization_id, role, manage_keys, label, prefix, secret_hash, created_at, created_by, revoked_at, replaced_by), '|' ORDER BY id)) AS h FROM api_keys`);
    for (const table of ['disputes', 'personal_data', 'erasures', 'event_data', 'event_evidence', 'share_links']) {
      await hash(table, `SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t`);
    }
    return out;
  }

  /** Waits until no batch is on its way to the chain (the anchorer would change the ledger under a later row). */
  async function settle(): Promise<void> {
    await eventually(async () => {
      const [row] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM anchor_batches WHERE status <> 'FINAL'`);
      return row.n === 0 ? true : undefined;
    }, 30_000, 'every batch FINAL');
  }

  async function createKey(organization: string | null, role: string, manageKeys = false, auth: Auth = true): Promise<{ key: string; id: string; prefix: string }> {
    const res = await t.gql<{ createApiKey: { key: string; apiKey: { id: string; prefix: string; role: string; organization: string | null; manageKeys: boolean } } }>(
      `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id prefix role organization manageKeys } } }`,
      { i: { organization, role, manageKeys, label: `${role} of ${organization ?? 'platform'}` } },
      auth,
    );
    if (res.errors) throw new Error(`createApiKey failed: ${JSON.stringify(res.errors)}`);
    const { key, apiKey } = res.data!.createApiKey;
    expect(key).toMatch(/^cl_[0-9a-f]{12}_[0-9a-f]{48}$/);
    expect(key.startsWith(`cl_${apiKey.prefix}_`)).toBe(true);
    expect(apiKey).toMatchObject({ role, organization, manageKeys });
    secrets.push(key.split('_')[2]);
    return { key, id: apiKey.id, prefix: apiKey.prefix };
  }

  /** A cheap call every authenticated role may make: tells whether a key works. */
  const whoami = (auth: Auth) => gqlOutcome(`{ organization(slug: "${CARRIER}") { slug } }`, {}, auth, 'organization');

  const sign = (tracking: string, signer: Wallet, f: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>, counterSigner?: Wallet, carrier = CARRIER) =>
    signEvent(domain, signer, eventFields({ trackingNumber: tracking, carrier, latE6: 52_530_000, lonE6: 13_390_000, ...f }), counterSigner);

  async function createShipment(tracking: string, extra: Record<string, unknown> = {}, carrier = CARRIER, merchant = MERCHANT): Promise<void> {
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: tracking, carrier, merchant, destination: DOOR, ...extra } });
  }

  /** pickup by the carrier → handoff to the hub → back to the carrier → delivered (recipient name committed, value kept apart). */
  async function journey(tracking: string, upTo: 1 | 2 | 3 | 4): Promise<SignedEventInput[]> {
    const salt = hexlify(randomBytes(32));
    const doc = canonicalJson({ v: 1, recipient: { name: personalCommitment(salt, RECIPIENT) } });
    const events = [
      await sign(tracking, w.acme, { eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: at(1) }),
      await sign(tracking, w.hub, { eventType: 'HANDOFF', custodian: HUB, occurredAt: at(3), locationCode: 'DE-BER-HUB-1' }, w.acme),
      await sign(tracking, w.acme, { eventType: 'HANDOFF', custodian: CARRIER, occurredAt: at(6) }, w.hub),
      {
        ...(await sign(tracking, w.acme, { eventType: 'DELIVERED', custodian: CARRIER, occurredAt: at(9), latE6: DOOR.latE6, lonE6: DOOR.lonE6, accuracyM: 5, scanMethod: 'GPS', dataHash: dataHashOf(doc) })),
        extraData: doc,
        personalData: [{ path: 'recipient.name', value: RECIPIENT, salt }],
      } as SignedEventInput,
    ].slice(0, upTo);
    const results = await record(t, events);
    expect(results.map((r) => r.error?.code ?? r.outcome)).toEqual(events.map(() => 'ACCEPTED'));
    return events;
  }

  async function freshShipment(upTo: 0 | 1 | 2 | 3 | 4): Promise<string> {
    const tracking = fresh('ACM');
    await createShipment(tracking);
    if (upTo > 0) await journey(tracking, upTo as 1 | 2 | 3 | 4);
    return tracking;
  }

  /** A new MERCHANT organization, registered by the admin. */
  async function freshMerchant(): Promise<string> {
    const slug = fresh('shop').toLowerCase();
    await registerOrganization(t, slug, 'MERCHANT');
    return slug;
  }

  async function openDisputeAsAdmin(tracking: string): Promise<string> {
    const d = await mustGql<{ openDispute: { id: string } }>(t, `mutation($n: String!) { openDispute(trackingNumber: $n, carrier: "${CARRIER}", claim: NOT_RECEIVED, note: "customer says it never arrived") { id } }`, { n: tracking });
    return d.openDispute.id;
  }

  beforeAll(async () => {
    t = await startTestLedger();
    // the matrix checks who may call what, and that a refused call changes nothing: the webhook
    // workers would change delivery rows in the background (attempts to the rows' endpoints), so
    // they are stopped; deliveries are still written with their events (webhooks.e2e sends them)
    await t.ledger.app.get(WebhooksService).onApplicationShutdown();
    baseUrl = t.url.replace(/\/graphql$/, '');
    domain = await fetchDomain(t);
    await registerOrganization(t, CARRIER, 'CARRIER', 'ACME Express');
    await registerOrganization(t, HUB, 'HUB', 'Berlin Hub');
    await registerOrganization(t, OTHER_CARRIER, 'CARRIER', 'Zoom Post');
    await registerOrganization(t, MERCHANT, 'MERCHANT', 'Shop One');
    await registerOrganization(t, OTHER_MERCHANT, 'MERCHANT', 'Shop Two');
    await registerOrganization(t, 'audit-firm', 'AUDITOR', 'Audit Firm');
    w = { acme: await registerKey(t, CARRIER), hub: await registerKey(t, HUB), zoom: await registerKey(t, OTHER_CARRIER), shop: await registerKey(t, MERCHANT) };
    // acme-express has shop-one as customer; zoom-post has no contract with shop-one
    await mustGql(t, `mutation { registerCarrierContract(carrier: "${CARRIER}", merchant: "${MERCHANT}") { active } }`);

    // API keys through the API, as the platform admin; each must work at once
    const plan: Array<[Caller, string | null, string]> = [
      ['CARRIER(own)', CARRIER, 'CARRIER'],
      ['CARRIER(hub)', HUB, 'CARRIER'],
      ['CARRIER(other)', OTHER_CARRIER, 'CARRIER'],
      ['MERCHANT(own)', MERCHANT, 'MERCHANT'],
      ['MERCHANT(other)', OTHER_MERCHANT, 'MERCHANT'],
      ['DISPUTE_ANALYST', null, 'DISPUTE_ANALYST'], // platform-wide (an organization's analyst sees that organization's part only: tenancy.e2e)
      ['AUDITOR', 'audit-firm', 'AUDITOR'],
      ['revoked key', CARRIER, 'CARRIER'],
    ];
    for (const [caller, org, role] of plan) {
      const { key, id } = await createKey(org, role);
      keys.set(caller, key);
      keyIds.set(caller, id);
      expect((await whoami(key)).error).toBeUndefined();
    }
    const listed = await t.gql(`{ apiKeys { id prefix role organization manageKeys label } }`);
    expect(listed.errors).toBeUndefined();
    for (const secret of secrets) expect(JSON.stringify(listed.data)).not.toContain(secret);
    const revoked = await t.gql<{ revokeApiKey: { revokedAt: string | null } }>(`mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: keyIds.get('revoked key') });
    expect(revoked.data!.revokeApiKey.revokedAt).not.toBeNull();
    // the real prefix of a working key, a forged secret
    const ownPrefix = keys.get('CARRIER(own)')!.split('_')[1];
    keys.set('garbage key', `cl_${ownPrefix}_${hexlify(randomBytes(24)).slice(2)}`);

    // the shipment under test, and another tenant's shipment beside it
    await createShipment(MAIN, { promisedDeliveryAt: new Date(T0 + 48 * HOUR).toISOString() });
    mainEvents = await journey(MAIN, 4);
    await createShipment(ZOOM, { promisedDeliveryAt: new Date(Date.now() - HOUR).toISOString() }, OTHER_CARRIER, OTHER_MERCHANT);
    zoomEvent = await sign(ZOOM, w.zoom, { eventType: 'PICKED_UP', custodian: OTHER_CARRIER, occurredAt: at(2) }, undefined, OTHER_CARRIER);
    expect((await record(t, [zoomEvent]))[0].outcome).toBe('ACCEPTED');
    const sealed = await mustGql<{ sealBatch: { seq: string; leafCount: number } }>(t, `mutation { sealBatch { seq leafCount } }`);
    expect(sealed.sealBatch).toEqual({ seq: '0', leafCount: 5 });
    await settle();
    mainDisputeId = await openDisputeAsAdmin(MAIN);
    mainBundle = (await mustGql<{ proofOfDelivery: unknown }>(t, `{ proofOfDelivery(trackingNumber: "${MAIN}", carrier: "${CARRIER}") }`)).proofOfDelivery;
  });

  afterAll(async () => {
    await t?.stop();
  });

  // ---- the operations -------------------------------------------------------------------------

  const mainIds = (): string[] => mainEvents.map((e) => e.eventId);
  /** what each caller may see of MAIN's timeline: the hub from when it took custody on */
  const visibleMainIds = (caller: Caller): string[] =>
    caller === 'CARRIER(hub)' ? mainIds().slice(1) : ['CARRIER(other)', 'MERCHANT(other)'].includes(caller) ? [] : mainIds();
  const seesPersonalData = (caller: Caller): boolean => ['ADMIN', 'CARRIER(own)', 'MERCHANT(own)', 'DISPUTE_ANALYST'].includes(caller);
  /** A fresh endpoint of the carrier; the earlier ones are deleted first (at most 20 per organization). */
  async function carrierEndpoint(): Promise<string> {
    await sqlRows(t.ledger.runtime.dataSource, `UPDATE webhook_endpoints SET deleted_at = now() WHERE deleted_at IS NULL`);
    return (await mustGql<{ createWebhookEndpoint: { endpoint: { id: string } } }>(t, `mutation { createWebhookEndpoint(input: { organization: "${CARRIER}", url: "http://127.0.0.1:9/hook", eventTypes: ["batch.anchored"] }) { endpoint { id } } }`)).createWebhookEndpoint.endpoint.id;
  }
  /** A fresh endpoint of the carrier with one FAILED delivery (the webhook workers are stopped: it stays so). */
  async function carrierDelivery(): Promise<{ endpointId: string; deliveryId: string }> {
    const endpointId = await carrierEndpoint();
    const [row] = await sqlRows<{ id: string }>(t.ledger.runtime.dataSource, `INSERT INTO webhook_deliveries (endpoint_id, webhook_id, event_type, ordering_key, payload, status) VALUES ($1, 'msg_matrix', 'batch.anchored', 'batches', '{}', 'FAILED') RETURNING id`, [endpointId]);
    return { endpointId, deliveryId: row.id };
  }
  /** The webhook calls on one endpoint (replayWebhookDelivery: on one of its deliveries). */
  const WEBHOOK_BY_ID = {
    rotateWebhookSecret: `mutation($id: ID!) { rotateWebhookSecret(id: $id) { endpoint { id } } }`,
    disableWebhookEndpoint: `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`,
    enableWebhookEndpoint: `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`,
    deleteWebhookEndpoint: `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`,
    replayWebhookDelivery: `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id webhookId } }`,
    webhookDeliveries: `query($id: ID!) { webhookDeliveries(endpointId: $id) { id } }`,
  } as const;
  const byTracking = (query: string, field: string) => (auth: Auth, p: { n: string }) => gqlOutcome(query, { n: p.n, c: CARRIER }, auth, field);
  /** createShipment of a new tracking number for `carrier`, naming MERCHANT. */
  const createShipmentFor = (carrier: string) => ({
    prepare: async () => ({ n: fresh('NEW') }),
    call: (auth: Auth, p: { n: string }) =>
      gqlOutcome(`mutation($i: CreateShipmentInput!) { createShipment(input: $i) { trackingNumber carrier { slug } merchant { slug } } }`, { i: { trackingNumber: p.n, carrier, merchant: MERCHANT } }, auth, 'createShipment'),
    check: (data: unknown, _c: Caller, p: { n: string }) => expect(data).toEqual({ trackingNumber: p.n, carrier: { slug: carrier }, merchant: { slug: MERCHANT } }),
  });
  const mainShipment = { prepare: async () => ({ n: MAIN }), missing: () => ({ p: { n: MISSING_TRACKING }, hiddenId: MAIN, missingId: MISSING_TRACKING }) };

  const OPS: Op[] = [
    // -------------------------------------------------------------------------------- queries
    op({
      field: 'apiKeys',
      name: 'apiKeys',
      expect: [OK, F, F, F, F, F, F, F],
      call: (auth) => gqlOutcome(`{ apiKeys { id prefix role organization manageKeys label createdAt revokedAt lastUsedAt replacedBy } }`, {}, auth, 'apiKeys'),
      check: (data) => {
        const listed = JSON.stringify(data);
        for (const secret of secrets) expect(listed).not.toContain(secret);
        expect((data as Array<{ id: string }>).map((k) => k.id)).toEqual(expect.arrayContaining([...keyIds.values()]));
      },
    }),
    op({
      field: 'viewer',
      name: 'viewer: every key learns its own role and organization, nothing else',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ viewer { role organization organizationKind manageKeys } }`, {}, auth, 'viewer'),
      check: (data, caller) => {
        const v = data as { role: string; organization: string | null };
        expect(v.role).toBe(caller.replace(/\(.*\)$/, ''));
        expect(Object.keys(v).sort()).toEqual(['manageKeys', 'organization', 'organizationKind', 'role']);
      },
    }),
    op({
      field: 'auditAnchors',
      name: 'auditAnchors',
      expect: [OK, F, F, F, F, F, F, OK],
      call: (auth) => gqlOutcome(`{ auditAnchors { ok batchesChecked eventsChecked } }`, {}, auth, 'auditAnchors'),
      check: (data) => expect((data as { batchesChecked: number }).batchesChecked).toBeGreaterThanOrEqual(1),
    }),
    op({
      field: 'startAnchorAudit',
      name: 'startAnchorAudit',
      expect: [OK, F, F, F, F, F, F, OK],
      call: (auth) => gqlOutcome(`mutation { startAnchorAudit { id status batchesTotal } }`, {}, auth, 'startAnchorAudit'),
      check: (data) => expect((data as { status: string }).status).toMatch(/^(RUNNING|DONE)$/),
    }),
    op({
      field: 'latestAnchorAudit',
      name: 'latestAnchorAudit',
      expect: [OK, F, F, F, F, F, F, OK],
      call: (auth) => gqlOutcome(`{ latestAnchorAudit { id status } }`, {}, auth, 'latestAnchorAudit'),
      check: (data) => expect(data === null || typeof (data as { id: string }).id === 'string').toBe(true),
    }),
    op({
      field: 'anchorAuditRun',
      name: 'anchorAuditRun',
      expect: [OK, F, F, F, F, F, F, OK],
      call: async (auth) => {
        const started = await gqlOutcome(`mutation { startAnchorAudit { id } }`, {}, TEST_ADMIN_KEY, 'startAnchorAudit');
        return gqlOutcome(`query($id: ID!) { anchorAuditRun(id: $id) { id status } }`, { id: (started.data as { id: string }).id }, auth, 'anchorAuditRun');
      },
      check: (data) => expect((data as { status: string }).status).toMatch(/^(RUNNING|DONE)$/),
    }),
    op({
      field: 'batch',
      name: 'batch',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ batch(seq: "0") { seq status leafCount root } }`, {}, auth, 'batch'),
      check: (data) => expect(data).toMatchObject({ seq: '0', status: 'FINAL', leafCount: 5 }),
    }),
    op({
      field: 'batches',
      name: 'batches',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ batches(first: 10) { totalCount edges { node { seq } } } }`, {}, auth, 'batches'),
      check: (data) => expect((data as { totalCount: number }).totalCount).toBeGreaterThanOrEqual(1),
    }),
    op({
      field: 'custodyEvent',
      name: 'custodyEvent(pickup, before the hub held it)',
      expect: [OK, OK, N, N, OK, N, OK, OK],
      prepare: async () => ({ id: mainEvents[0].eventId }),
      call: (auth, p: { id: string }) => gqlOutcome(`query($id: String!) { custodyEvent(eventId: $id) { eventId trackingNumber } }`, { id: p.id }, auth, 'custodyEvent'),
      missing: (p) => {
        const missingId = newEventId();
        return { p: { id: missingId }, hiddenId: p.id, missingId };
      },
      check: (data, _c, p) => expect(data).toEqual({ eventId: p.id, trackingNumber: MAIN }),
    }),
    op({
      field: 'custodyEvent',
      name: 'custodyEvent(delivered, personal data)',
      expect: [OK, OK, OK, N, OK, N, OK, OK],
      prepare: async () => ({ id: mainEvents[3].eventId }),
      call: (auth, p: { id: string }) => gqlOutcome(`query($id: String!) { custodyEvent(eventId: $id) { eventId personalData { path value } } }`, { id: p.id }, auth, 'custodyEvent'),
      missing: (p) => {
        const missingId = newEventId();
        return { p: { id: missingId }, hiddenId: p.id, missingId };
      },
      check: (data, caller, p) => expect(data).toEqual({ eventId: p.id, personalData: [{ path: 'recipient.name', value: seesPersonalData(caller) ? RECIPIENT : null }] }),
    }),
    op({
      field: 'custodyEvents',
      name: 'custodyEvents',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ custodyEvents(first: 500) { edges { node { eventId trackingNumber carrier } } } }`, {}, auth, 'custodyEvents'),
      check: (data, caller) => {
        const ids = (data as { edges: Array<{ node: { eventId: string } }> }).edges.map((e) => e.node.eventId);
        expect(ids.filter((id) => mainIds().includes(id))).toEqual(visibleMainIds(caller));
        const seesZoom = ['ADMIN', 'DISPUTE_ANALYST', 'AUDITOR', 'CARRIER(other)', 'MERCHANT(other)'].includes(caller);
        expect(ids.includes(zoomEvent.eventId)).toBe(seesZoom);
        if (caller === 'CARRIER(other)' || caller === 'MERCHANT(other)') expect(ids).toEqual([zoomEvent.eventId]);
      },
    }),
    op({
      field: 'custodySigningSpec',
      name: 'custodySigningSpec',
      public: true,
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ custodySigningSpec { version domain { verifyingContract } } }`, {}, auth, 'custodySigningSpec'),
      check: (data) => expect(data).toEqual({ version: 'custody-signing/1', domain: { verifyingContract: domain.verifyingContract } }),
    }),
    op({
      field: 'trustRoot',
      name: 'trustRoot',
      public: true,
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ trustRoot }`, {}, auth, 'trustRoot'),
      check: (data) => expect(data).toEqual({ format: 'custody-trust/1', anchors: [{ chainId: '31337', contract: domain.verifyingContract, fromSeq: '0', deploymentBlock: expect.any(Number) }] }),
    }),
    op({
      field: 'dispute',
      name: 'dispute',
      expect: [OK, F, F, F, OK, N, OK, F],
      prepare: async () => ({ id: mainDisputeId }),
      call: (auth, p: { id: string }) => gqlOutcome(`query($id: ID!) { dispute(id: $id) { id trackingNumber carrier } }`, { id: p.id }, auth, 'dispute'),
      missing: (p) => {
        const missingId = randomUUID();
        return { p: { id: missingId }, hiddenId: p.id, missingId };
      },
      check: (data, _c, p) => expect(data).toEqual({ id: p.id, trackingNumber: MAIN, carrier: CARRIER }),
    }),
    op({
      field: 'disputes',
      name: 'disputes',
      expect: [OK, F, F, F, OK, OK, OK, F],
      call: (auth) => gqlOutcome(`{ disputes(first: 100) { edges { node { id trackingNumber carrier } } } }`, {}, auth, 'disputes'),
      check: (data, caller) => {
        const nodes = (data as { edges: Array<{ node: { id: string; carrier: string } }> }).edges.map((e) => e.node);
        if (caller === 'MERCHANT(other)') expect(nodes).toEqual([]);
        else expect(nodes.map((d) => d.id)).toContain(mainDisputeId);
      },
    }),
    op({
      field: 'epcisEvents',
      name: 'epcisEvents',
      expect: [OK, OK, OK, N, OK, N, OK, OK],
      ...mainShipment,
      call: byTracking(`query($n: String!, $c: String!) { epcisEvents(trackingNumber: $n, carrier: $c) }`, 'epcisEvents'),
      check: (data, caller) => expect((data as { epcisBody: { eventList: unknown[] } }).epcisBody.eventList).toHaveLength(visibleMainIds(caller).length),
    }),
    op({
      field: 'fraudReport',
      name: 'fraudReport',
      expect: [OK, OK, OK, N, OK, N, OK, OK],
      ...mainShipment,
      call: byTracking(`query($n: String!, $c: String!) { fraudReport(trackingNumber: $n, carrier: $c) { trackingNumber findings { code } } }`, 'fraudReport'),
      check: (data) => expect(data).toMatchObject({ trackingNumber: MAIN }),
    }),
    op({
      field: 'carrierAnalytics',
      name: 'carrierAnalytics',
      // a hub's CARRIER key is no carrier: it has no figures of its own
      expect: [OK, OK, F, OK, OK, OK, OK, F],
      call: (auth) =>
        gqlOutcome(
          `query($from: DateTime!, $to: DateTime!) { carrierAnalytics(from: $from, to: $to) { rows { carrier merchant ended } totals { ended } } }`,
          { from: new Date(T0 - 86_400_000).toISOString(), to: new Date(Date.now() + 86_400_000).toISOString() },
          auth,
          'carrierAnalytics',
        ),
      check: (data, caller) => {
        const rows = (data as { rows: Array<{ carrier: string; merchant: string | null }> }).rows;
        if (caller === 'CARRIER(own)') expect(rows.every((r) => r.carrier === CARRIER)).toBe(true);
        if (caller === 'CARRIER(other)') expect(rows.every((r) => r.carrier === OTHER_CARRIER)).toBe(true);
        if (caller === 'MERCHANT(own)') expect(rows.every((r) => r.merchant === MERCHANT)).toBe(true);
        if (caller === 'MERCHANT(other)') expect(rows.every((r) => r.merchant === OTHER_MERCHANT)).toBe(true);
      },
    }),
    op({
      field: 'incidents',
      name: 'incidents',
      expect: [OK, OK, OK, OK, OK, OK, OK, F],
      call: (auth) => gqlOutcome(`{ incidents(scanLimit: 500) { trackingNumber carrier finding { code } } }`, {}, auth, 'incidents'),
      check: (data, caller) => {
        const found = data as Array<{ trackingNumber: string; carrier: string; finding: { code: string } }>;
        const zoomLate = found.some((i) => i.trackingNumber === ZOOM && i.finding.code === 'LATE_SHIPMENT');
        if (caller === 'CARRIER(other)' || caller === 'MERCHANT(other)') {
          expect(zoomLate).toBe(true);
          expect(found.every((i) => i.carrier === OTHER_CARRIER)).toBe(true);
        } else if (caller === 'ADMIN' || caller === 'DISPUTE_ANALYST') {
          expect(zoomLate).toBe(true);
        } else {
          expect(found.filter((i) => i.carrier !== CARRIER)).toEqual([]);
        }
      },
    }),
    op({
      field: 'inclusionProof',
      name: 'inclusionProof(pickup, before the hub held it)',
      expect: [OK, OK, N, N, OK, N, OK, OK],
      prepare: async () => ({ id: mainEvents[0].eventId }),
      call: (auth, p: { id: string }) => gqlOutcome(`query($id: String!) { inclusionProof(eventId: $id) { eventId status root proof } }`, { id: p.id }, auth, 'inclusionProof'),
      missing: (p) => {
        const missingId = newEventId();
        return { p: { id: missingId }, hiddenId: p.id, missingId };
      },
      check: (data, _c, p) => expect(data).toMatchObject({ eventId: p.id, status: 'FINAL' }),
    }),
    op({
      field: 'organization',
      name: 'organization',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ organization(slug: "${CARRIER}") { slug kind signingKeys { address } contracts { merchant } } }`, {}, auth, 'organization'),
      check: (data, caller) => {
        // the identity is public; the signing keys are the organization's and the platform roles', the contracts the organization's and the admin's
        const keysShown = ['ADMIN', 'CARRIER(own)', 'DISPUTE_ANALYST', 'AUDITOR'].includes(caller);
        const contractsShown = ['ADMIN', 'CARRIER(own)'].includes(caller);
        expect(data).toMatchObject({ slug: CARRIER, kind: 'CARRIER', signingKeys: keysShown ? expect.arrayContaining([{ address: w.acme.address.toLowerCase() }]) : null, contracts: contractsShown ? [{ merchant: MERCHANT }] : null });
      },
    }),
    op({
      field: 'proofOfDelivery',
      name: 'proofOfDelivery',
      expect: [OK, OK, OK, N, OK, N, OK, OK],
      ...mainShipment,
      call: byTracking(`query($n: String!, $c: String!) { proofOfDelivery(trackingNumber: $n, carrier: $c) }`, 'proofOfDelivery'),
      check: (data, caller) => expect((data as { events: Array<{ eventId: string }> }).events.map((e) => e.eventId)).toEqual(visibleMainIds(caller)),
    }),
    op({
      field: 'shipment',
      name: 'shipment',
      expect: [OK, OK, OK, N, OK, N, OK, OK],
      ...mainShipment,
      call: byTracking(`query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { trackingNumber events { eventId } } }`, 'shipment'),
      check: (data, caller) => expect(data).toEqual({ trackingNumber: MAIN, events: visibleMainIds(caller).map((eventId) => ({ eventId })) }),
    }),
    op({
      field: 'shipments',
      name: 'shipments',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`{ shipments(first: 100) { edges { node { trackingNumber carrier { slug } merchant { slug } } } } }`, {}, auth, 'shipments'),
      check: (data, caller) => {
        const nodes = (data as { edges: Array<{ node: { trackingNumber: string; carrier: { slug: string }; merchant: { slug: string } | null } }> }).edges.map((e) => e.node);
        const tns = nodes.map((n) => n.trackingNumber);
        const global = ['ADMIN', 'DISPUTE_ANALYST', 'AUDITOR'].includes(caller);
        const other = caller === 'CARRIER(other)' || caller === 'MERCHANT(other)';
        expect(tns.includes(MAIN)).toBe(!other);
        expect(tns.includes(ZOOM)).toBe(global || other);
        if (caller === 'CARRIER(own)' || caller === 'CARRIER(hub)') expect(nodes.every((n) => n.carrier.slug === CARRIER)).toBe(true);
        if (caller === 'MERCHANT(own)') expect(nodes.every((n) => n.merchant?.slug === MERCHANT)).toBe(true);
        if (other) expect(tns).toEqual([ZOOM]);
      },
    }),
    op({
      field: 'verifyProofBundle',
      name: 'verifyProofBundle',
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      call: (auth) => gqlOutcome(`query($b: JSON!) { verifyProofBundle(bundle: $b) { verdict eventsChecked } }`, { b: mainBundle }, auth, 'verifyProofBundle'),
      check: (data) => expect(data).toEqual({ verdict: 'VALID', eventsChecked: 4 }),
    }),
    op({
      field: 'HTTP',
      name: 'GET /proofs/<carrier>/<tracking>.json',
      http: true,
      expect: [OK, OK, OK, N, OK, N, OK, OK],
      ...mainShipment,
      call: (auth, p: { n: string }) => httpProof(CARRIER, p.n, auth),
      check: (data, caller) => expect((data as { events: Array<{ eventId: string }> }).events.map((e) => e.eventId)).toEqual(visibleMainIds(caller)),
    }),
    op({
      field: 'HTTP',
      name: 'GET /api/track/<token> (public tracking page)',
      http: true,
      public: true,
      expect: [OK, OK, OK, OK, OK, OK, OK, OK],
      prepare: async () => ({ token: (await mustGql<{ createShareLink: { token: string } }>(t, `mutation { createShareLink(carrier: "${CARRIER}", trackingNumber: "${MAIN}") { token } }`)).createShareLink.token }),
      call: async (auth, p: { token: string }) => {
        const headers: Record<string, string> = auth === false ? {} : { authorization: `Bearer ${auth === true ? TEST_ADMIN_KEY : auth}` };
        const res = await fetch(`${baseUrl}/api/track/${p.token}`, { headers });
        const body = (await res.json()) as { errors?: Array<{ message: string; extensions: Record<string, unknown> }> };
        return res.status === 200 ? { status: 200, data: body } : { status: res.status, data: null, error: { code: String(body.errors![0].extensions.code), message: body.errors![0].message, extensions: body.errors![0].extensions } };
      },
      // whoever asks, with whatever key: the same page, the whole journey (the token is the credential)
      check: (data) => expect((data as { timeline: Array<{ eventId: string }> }).timeline.map((e) => e.eventId).sort()).toEqual(mainEvents.map((e) => e.eventId).sort()),
    }),
    op({
      field: 'shareLinks',
      name: 'shareLinks',
      expect: [OK, OK, F, N, OK, N, F, F],
      ...mainShipment,
      call: byTracking(`query($n: String!, $c: String!) { shareLinks(trackingNumber: $n, carrier: $c) { id active } }`, 'shareLinks'),
      check: (data) => expect(Array.isArray(data)).toBe(true),
    }),
    op({
      field: 'createShareLink',
      name: 'createShareLink',
      mutation: true,
      expect: [OK, OK, F, N, OK, N, F, F],
      ...mainShipment,
      call: byTracking(`mutation($n: String!, $c: String!) { createShareLink(trackingNumber: $n, carrier: $c) { token path grantsPersonalData } }`, 'createShareLink'),
      check: (data) => expect(data).toEqual({ token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), path: expect.stringMatching(/^\/t\//), grantsPersonalData: false }),
    }),
    op({
      field: 'revokeShareLink',
      name: 'revokeShareLink(a link of a shipment the hub held)',
      mutation: true,
      expect: [OK, OK, N, N, OK, N, F, F],
      prepare: async () => {
        const n = await freshShipment(2);
        return { id: (await mustGql<{ createShareLink: { id: string } }>(t, `mutation { createShareLink(carrier: "${CARRIER}", trackingNumber: "${n}") { id } }`)).createShareLink.id };
      },
      call: (auth, p: { id: string }) => gqlOutcome(`mutation($id: ID!) { revokeShareLink(id: $id) { id active } }`, { id: p.id }, auth, 'revokeShareLink'),
      missing: (p) => {
        const missingId = randomUUID();
        return { p: { id: missingId }, hiddenId: p.id, missingId };
      },
      check: (data, _c, p) => expect(data).toEqual({ id: p.id, active: false }),
    }),
    // webhooks (issue 13): an endpoint of the carrier, made by the admin; a hub, other carrier or merchant gets NOT_FOUND.
    // Changes take the admin or a key of the organization with manageKeys: the carrier's own key here has none (FORBIDDEN,
    // it still reads); its manageKeys key: 'a key with manageKeys manages its own organization's webhook endpoints only'
    op({
      field: 'createWebhookEndpoint',
      name: "createWebhookEndpoint(for the carrier)",
      mutation: true,
      expect: [OK, F, F, F, F, F, F, F],
      call: (auth) => gqlOutcome(`mutation { createWebhookEndpoint(input: { organization: "${CARRIER}", url: "http://127.0.0.1:9/hook", eventTypes: ["batch.anchored"] }) { endpoint { organization } } }`, {}, auth, 'createWebhookEndpoint'),
      check: (data) => expect(data).toEqual({ endpoint: { organization: CARRIER } }),
    }),
    op({
      field: 'webhookEndpoints',
      name: 'webhookEndpoints',
      expect: [OK, OK, OK, OK, OK, OK, F, F],
      call: (auth) => gqlOutcome(`{ webhookEndpoints { id organization } }`, {}, auth, 'webhookEndpoints'),
      check: (data, caller) => {
        const orgs = new Set((data as Array<{ organization: string }>).map((e) => e.organization));
        if (caller !== 'ADMIN' && caller !== 'CARRIER(own)') expect(orgs.has(CARRIER)).toBe(false);
      },
    }),
    ...(['rotateWebhookSecret', 'disableWebhookEndpoint', 'enableWebhookEndpoint', 'deleteWebhookEndpoint', 'webhookDeliveries'] as const).map((field) =>
      op({
        field,
        name: `${field}(the carrier's endpoint)`,
        mutation: field !== 'webhookDeliveries',
        expect: field === 'webhookDeliveries' ? [OK, OK, N, N, N, N, F, F] : [OK, F, N, N, N, N, F, F],
        prepare: async () => ({ id: await carrierEndpoint() }),
        call: (auth, p: { id: string }) => gqlOutcome(WEBHOOK_BY_ID[field], { id: p.id }, auth, field),
        missing: (p) => {
          const missingId = randomUUID();
          return { p: { id: missingId }, hiddenId: p.id, missingId };
        },
      }),
    ),
    op({
      field: 'replayWebhookDelivery',
      name: "replayWebhookDelivery(a delivery to the carrier's endpoint)",
      mutation: true,
      expect: [OK, F, N, N, N, N, F, F],
      prepare: async () => ({ id: (await carrierDelivery()).deliveryId }),
      call: (auth, p: { id: string }) => gqlOutcome(WEBHOOK_BY_ID.replayWebhookDelivery, { id: p.id }, auth, 'replayWebhookDelivery'),
      missing: (p) => {
        const missingId = randomUUID();
        return { p: { id: missingId }, hiddenId: p.id, missingId };
      },
    }),
    op({
      field: 'updateOrganizationBranding',
      name: "updateOrganizationBranding(the carrier's)",
      mutation: true,
      expect: [OK, OK, F, F, F, F, F, F],
      call: (auth) => gqlOutcome(`mutation { updateOrganizationBranding(input: { organization: "${CARRIER}", brandColor: "#112233" }) { slug brandColor } }`, {}, auth, 'updateOrganizationBranding'),
      check: (data) => expect(data).toEqual({ slug: CARRIER, brandColor: '#112233' }),
    }),
    op({
      field: 'updateOrganizationBranding',
      name: "updateOrganizationBranding(the merchant's)",
      mutation: true,
      expect: [OK, F, F, F, OK, F, F, F],
      call: (auth) => gqlOutcome(`mutation { updateOrganizationBranding(input: { organization: "${MERCHANT}", displayName: "Shop One" }) { slug displayName } }`, {}, auth, 'updateOrganizationBranding'),
      check: (data) => expect(data).toEqual({ slug: MERCHANT, displayName: 'Shop One' }),
    }),

    // ------------------------------------------------------------------------------ mutations
    op({
      field: 'createApiKey',
      name: 'createApiKey(CARRIER key of the carrier)',
      mutation: true,
      expect: [OK, F, F, F, F, F, F, F],
      call: (auth) => gqlOutcome(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { prefix organization role } } }`, { i: { organization: CARRIER, role: 'CARRIER', label: 'matrix' } }, auth, 'createApiKey'),
      check: async (data) => {
        const { key, apiKey } = data as { key: string; apiKey: { prefix: string; organization: string; role: string } };
        secrets.push(key.split('_')[2]);
        expect(key.startsWith(`cl_${apiKey.prefix}_`)).toBe(true);
        expect(apiKey).toMatchObject({ organization: CARRIER, role: 'CARRIER' });
        expect((await whoami(key)).error).toBeUndefined();
      },
    }),
    op({
      field: 'createShipment',
      name: 'createShipment(for the carrier and merchant)',
      mutation: true,
      expect: [OK, OK, F, F, OK, F, F, F],
      ...createShipmentFor(CARRIER),
    }),
    op({
      field: 'createShipment',
      name: 'createShipment(for a carrier without a contract with the merchant)',
      mutation: true,
      expect: [OK, F, F, C, C, F, F, F],
      ...createShipmentFor(OTHER_CARRIER),
    }),
    op({
      field: 'registerCarrierContract',
      name: 'registerCarrierContract(the carrier accepts a new merchant)',
      mutation: true,
      expect: [OK, OK, F, F, F, F, F, F],
      prepare: async () => ({ slug: await freshMerchant() }),
      call: (auth, p: { slug: string }) => gqlOutcome(`mutation($m: String!) { registerCarrierContract(carrier: "${CARRIER}", merchant: $m) { carrier merchant active endedAt } }`, { m: p.slug }, auth, 'registerCarrierContract'),
      check: (data, _c, p) => expect(data).toEqual({ carrier: CARRIER, merchant: p.slug, active: true, endedAt: null }),
    }),
    op({
      field: 'endCarrierContract',
      name: 'endCarrierContract',
      mutation: true,
      expect: [OK, OK, F, F, F, F, F, F],
      prepare: async () => {
        const slug = await freshMerchant();
        await mustGql(t, `mutation { registerCarrierContract(carrier: "${CARRIER}", merchant: "${slug}") { active } }`);
        return { slug };
      },
      call: (auth, p: { slug: string }) => gqlOutcome(`mutation($m: String!) { endCarrierContract(carrier: "${CARRIER}", merchant: $m) { merchant active endedAt } }`, { m: p.slug }, auth, 'endCarrierContract'),
      check: (data, _c, p) => expect(data).toEqual({ merchant: p.slug, active: false, endedAt: expect.any(String) }),
    }),
    op({
      field: 'suspendOrganization',
      name: 'suspendOrganization',
      mutation: true,
      expect: [OK, F, F, F, F, F, F, F],
      prepare: async () => ({ slug: await freshMerchant() }),
      call: (auth, p: { slug: string }) => gqlOutcome(`mutation($s: String!) { suspendOrganization(slug: $s, reason: "matrix") { slug suspendedAt suspensionReason } }`, { s: p.slug }, auth, 'suspendOrganization'),
      check: (data, _c, p) => expect(data).toEqual({ slug: p.slug, suspendedAt: expect.any(String), suspensionReason: 'matrix' }),
    }),
    op({
      field: 'reinstateOrganization',
      name: 'reinstateOrganization',
      mutation: true,
      expect: [OK, F, F, F, F, F, F, F],
      prepare: async () => {
        const slug = await freshMerchant();
        await mustGql(t, `mutation { suspendOrganization(slug: "${slug}", reason: "matrix") { slug } }`);
        return { slug };
      },
      call: (auth, p: { slug: string }) => gqlOutcome(`mutation($s: String!) { reinstateOrganization(slug: $s) { slug suspendedAt } }`, { s: p.slug }, auth, 'reinstateOrganization'),
      check: (data, _c, p) => expect(data).toEqual({ slug: p.slug, suspendedAt: null }),
    }),
    op({
      field: 'erasePersonalData',
      name: 'erasePersonalData',
      mutation: true,
      expect: [OK, F, F, F, OK, N, F, F],
      prepare: async () => ({ n: await freshShipment(4) }),
      call: (auth, p: { n: string }) => gqlOutcome(`mutation($n: String!, $c: String!) { erasePersonalData(trackingNumber: $n, carrier: $c, reason: "data subject request") }`, { n: p.n, c: CARRIER }, auth, 'erasePersonalData'),
      missing: (p) => ({ p: { n: MISSING_TRACKING }, hiddenId: p.n, missingId: MISSING_TRACKING }),
      check: (data) => expect(data).toBe(1),
    }),
    op({
      field: 'openDispute',
      name: 'openDispute',
      mutation: true,
      expect: [OK, F, F, F, OK, N, OK, F],
      ...mainShipment,
      call: byTracking(`mutation($n: String!, $c: String!) { openDispute(trackingNumber: $n, carrier: $c, claim: NOT_RECEIVED, note: "matrix") { id trackingNumber status } }`, 'openDispute'),
      check: (data) => expect(data).toMatchObject({ trackingNumber: MAIN, status: 'OPEN' }),
    }),
    op({
      field: 'recordCustodyEvents',
      name: "recordCustodyEvents(the hijack: a HANDOFF of the carrier's parcel to the other carrier, signed by the other carrier alone)",
      mutation: true,
      expect: [T, S, S, T, F, F, F, F],
      prepare: async () => {
        const n = await freshShipment(1);
        return { events: [await sign(n, w.zoom, { eventType: 'HANDOFF', custodian: OTHER_CARRIER, occurredAt: at(3) })] };
      },
      call: (auth, p: { events: SignedEventInput[] }) => gqlOutcome(RECORD, { events: p.events }, auth, 'recordCustodyEvents'),
      itemCode: (data) => recordCode(data),
    }),
    op({
      field: 'recordCustodyEvents',
      name: 'recordCustodyEvents(new event signed by the carrier)',
      mutation: true,
      expect: [OK, OK, S, S, F, F, F, F],
      prepare: async () => {
        const n = await freshShipment(0);
        return { events: [await sign(n, w.acme, { eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: at(1) })] };
      },
      call: (auth, p: { events: SignedEventInput[] }) => gqlOutcome(RECORD, { events: p.events }, auth, 'recordCustodyEvents'),
      itemCode: (data) => recordCode(data),
      check: (data) => expect((data as RecordResult[]).map((r) => r.outcome)).toEqual(['ACCEPTED']),
    }),
    op({
      field: 'recordCustodyEvents',
      name: 'recordCustodyEvents(replay of a recorded event signed by the carrier)',
      mutation: true,
      expect: [OK, OK, S, S, F, F, F, F],
      prepare: async () => ({ events: [mainEvents[0]] }),
      call: (auth, p: { events: SignedEventInput[] }) => gqlOutcome(RECORD, { events: p.events }, auth, 'recordCustodyEvents'),
      itemCode: (data) => recordCode(data),
      check: (data) => expect((data as RecordResult[]).map((r) => r.outcome)).toEqual(['DUPLICATE']),
      // a replay of an event it may not see: refused for whose key signed it, before any receipt is shown
    }),
    op({
      field: 'registerDelegation',
      name: "registerDelegation(the carrier's, to the hub, signed by its key)",
      mutation: true,
      expect: [OK, OK, F, F, F, F, F, F],
      prepare: async () => {
        const d: DelegationFields = { delegationId: hexlify(randomBytes(32)), delegator: CARRIER, delegate: HUB, carrier: CARRIER, trackingNumber: '', validFrom: at(0), validUntil: at(1) };
        return { ...d, validFrom: d.validFrom.toString(), validUntil: d.validUntil.toString(), signature: await w.acme.signTypedData(domain, CUSTODY_DELEGATION_TYPES, d) };
      },
      call: (auth, p: Record<string, string>) => gqlOutcome(`mutation($i: RegisterDelegationInput!) { registerDelegation(input: $i) { delegationId delegator delegate } }`, { i: p }, auth, 'registerDelegation'),
      check: (data, _c, p) => expect(data).toEqual({ delegationId: p.delegationId, delegator: CARRIER, delegate: HUB }),
    }),
    op({
      field: 'registerOrganization',
      name: 'registerOrganization',
      mutation: true,
      expect: [OK, F, F, F, F, F, F, F],
      prepare: async () => ({ slug: fresh('org').toLowerCase() }),
      call: (auth, p: { slug: string }) => gqlOutcome(`mutation($i: RegisterOrganizationInput!) { registerOrganization(input: $i) { slug kind } }`, { i: { slug: p.slug, name: 'New Org', kind: 'CARRIER' } }, auth, 'registerOrganization'),
      check: (data, _c, p) => expect(data).toEqual({ slug: p.slug, kind: 'CARRIER' }),
    }),
    op({
      field: 'registerSigningKey',
      name: "registerSigningKey(for the carrier's organization)",
      mutation: true,
      expect: [OK, OK, F, F, F, F, F, F],
      prepare: async () => ({ address: newWallet().address }),
      call: (auth, p: { address: string }) =>
        gqlOutcome(`mutation($i: RegisterSigningKeyInput!) { registerSigningKey(input: $i) { address organization } }`, { i: { organization: CARRIER, address: p.address, label: 'matrix' } }, auth, 'registerSigningKey'),
      check: (data, _c, p) => expect(data).toEqual({ address: p.address.toLowerCase(), organization: CARRIER }),
    }),
    op({
      field: 'resolveDispute',
      name: 'resolveDispute',
      mutation: true,
      expect: [OK, F, F, F, F, F, OK, F],
      prepare: async () => ({ id: await openDisputeAsAdmin(MAIN) }),
      call: (auth, p: { id: string }) => gqlOutcome(`mutation($id: ID!) { resolveDispute(id: $id, outcome: SETTLED, note: "matrix") { id status outcome } }`, { id: p.id }, auth, 'resolveDispute'),
      check: (data, _c, p) => expect(data).toEqual({ id: p.id, status: 'RESOLVED', outcome: 'SETTLED' }),
    }),
    op({
      field: 'revokeApiKey',
      name: "revokeApiKey(a key of the carrier's organization)",
      mutation: true,
      expect: [OK, F, N, N, N, N, N, N],
      prepare: async () => createKey(CARRIER, 'CARRIER'),
      call: (auth, p: { id: string; key: string }) => gqlOutcome(`mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, { id: p.id }, auth, 'revokeApiKey'),
      missing: (p) => {
        const missingId = randomUUID();
        return { p: { ...p, id: missingId }, hiddenId: p.id, missingId };
      },
      check: async (data, _c, p) => {
        expect(data).toEqual({ id: p.id, revokedAt: expect.any(String) });
        expect((await whoami(p.key)).error?.code).toBe(U);
      },
    }),
    op({
      field: 'revokeDelegation',
      name: "revokeDelegation(one the carrier gave)",
      mutation: true,
      expect: [OK, OK, N, N, N, N, F, F],
      prepare: async () => {
        const d: DelegationFields = { delegationId: hexlify(randomBytes(32)), delegator: CARRIER, delegate: HUB, carrier: CARRIER, trackingNumber: '', validFrom: at(0), validUntil: at(1) };
        const signature = await w.acme.signTypedData(domain, CUSTODY_DELEGATION_TYPES, d);
        await mustGql(t, `mutation($i: RegisterDelegationInput!) { registerDelegation(input: $i) { delegationId } }`, { i: { ...d, validFrom: d.validFrom.toString(), validUntil: d.validUntil.toString(), signature } });
        return { delegationId: d.delegationId };
      },
      call: (auth, p: { delegationId: string }) => gqlOutcome(`mutation($i: RevokeDelegationInput!) { revokeDelegation(input: $i) { delegationId revocationReason } }`, { i: { delegationId: p.delegationId, reason: 'matrix' } }, auth, 'revokeDelegation'),
      missing: (p) => {
        const missingId = hexlify(randomBytes(32));
        return { p: { delegationId: missingId }, hiddenId: p.delegationId, missingId };
      },
      check: (data, _c, p) => expect(data).toEqual({ delegationId: p.delegationId, revocationReason: 'matrix' }),
    }),
    op({
      field: 'revokeSigningKey',
      name: "revokeSigningKey(a key of the carrier's organization)",
      mutation: true,
      expect: [OK, OK, N, N, N, N, F, F],
      prepare: async () => ({ address: (await registerKey(t, CARRIER)).address.toLowerCase() }),
      call: (auth, p: { address: string }) => gqlOutcome(`mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address active revokedAt } }`, { i: { address: p.address, reason: 'matrix' } }, auth, 'revokeSigningKey'),
      missing: (p) => {
        const missingId = newWallet().address.toLowerCase();
        return { p: { address: missingId }, hiddenId: p.address, missingId };
      },
      check: (data, _c, p) => expect(data).toMatchObject({ address: p.address, revokedAt: expect.any(String) }),
    }),
    op({
      field: 'rotateApiKey',
      name: "rotateApiKey(a key of the carrier's organization)",
      mutation: true,
      expect: [OK, F, N, N, N, N, N, N],
      prepare: async () => createKey(CARRIER, 'CARRIER'),
      call: (auth, p: { id: string; key: string }) => gqlOutcome(`mutation($id: ID!) { rotateApiKey(id: $id) { key apiKey { id organization role } } }`, { id: p.id }, auth, 'rotateApiKey'),
      missing: (p) => {
        const missingId = randomUUID();
        return { p: { ...p, id: missingId }, hiddenId: p.id, missingId };
      },
      check: async (data, _c, p) => {
        const rotated = data as { key: string; apiKey: { id: string; organization: string; role: string } };
        secrets.push(rotated.key.split('_')[2]);
        expect(rotated.apiKey).toMatchObject({ organization: CARRIER, role: 'CARRIER' });
        expect(rotated.apiKey.id).not.toBe(p.id);
        expect((await whoami(p.key)).error?.code).toBe(U);
        expect((await whoami(rotated.key)).error).toBeUndefined();
      },
    }),
    op({
      field: 'sealBatch',
      name: 'sealBatch',
      mutation: true,
      expect: [OK, F, F, F, F, F, F, F],
      call: async (auth) => {
        const out = await gqlOutcome(`mutation { sealBatch { seq leafCount } }`, {}, auth, 'sealBatch');
        // null (nothing pending) is an answer too
        return out.error ? out : { ...out, data: out.data ?? 'nothing pending' };
      },
    }),
    op({
      field: 'updateShipment',
      name: 'updateShipment(estimatedDeliveryAt: the carrier\'s field)',
      mutation: true,
      expect: [OK, OK, F, N, F, N, F, F],
      prepare: async () => ({ n: await freshShipment(2) }),
      call: (auth, p: { n: string }) =>
        gqlOutcome(`mutation($i: UpdateShipmentInput!) { updateShipment(input: $i) { trackingNumber estimatedDeliveryAt } }`, { i: { trackingNumber: p.n, carrier: CARRIER, estimatedDeliveryAt: new Date(T0 + 30 * HOUR).toISOString() } }, auth, 'updateShipment'),
      missing: (p) => ({ p: { n: MISSING_TRACKING }, hiddenId: p.n, missingId: MISSING_TRACKING }),
      check: (data, _c, p) => expect(data).toEqual({ trackingNumber: p.n, estimatedDeliveryAt: new Date(T0 + 30 * HOUR).toISOString() }),
    }),
    op({
      field: 'updateShipment',
      name: "updateShipment(promisedDeliveryAt: the merchant's field)",
      mutation: true,
      expect: [OK, F, F, N, OK, N, F, F],
      prepare: async () => ({ n: await freshShipment(2) }),
      call: (auth, p: { n: string }) =>
        gqlOutcome(`mutation($i: UpdateShipmentInput!) { updateShipment(input: $i) { trackingNumber promisedDeliveryAt } }`, { i: { trackingNumber: p.n, carrier: CARRIER, promisedDeliveryAt: new Date(T0 + 40 * HOUR).toISOString() } }, auth, 'updateShipment'),
      missing: (p) => ({ p: { n: MISSING_TRACKING }, hiddenId: p.n, missingId: MISSING_TRACKING }),
      check: (data, _c, p) => expect(data).toEqual({ trackingNumber: p.n, promisedDeliveryAt: new Date(T0 + 40 * HOUR).toISOString() }),
    }),
  ];

  function recordCode(data: unknown): string {
    const results = data as RecordResult[];
    expect(results).toHaveLength(1);
    const [r] = results;
    if (r.outcome === 'REJECTED') {
      expect(r.receipt).toBeNull();
      return r.error!.code;
    }
    return OK;
  }

  const expectationOf = (o: Op, caller: Caller): Expected => {
    const i = KEYED.indexOf(caller);
    if (i >= 0) return o.expect[i];
    return o.public ? OK : U;
  };

  /** A hidden object's error with its identifier masked: must equal a missing object's. */
  const masked = (out: Outcome, id: string): unknown => {
    const re = new RegExp(id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'gi');
    return { status: out.status, code: out.error?.code, message: out.error?.message.replace(re, '<id>'), extensions: out.error?.extensions };
  };

  const HTTP_STATUS: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403, NOT_FOUND: 404 };

  async function runRow(o: Op, caller: Caller): Promise<void> {
    const expected = expectationOf(o, caller);
    const p = o.prepare ? await o.prepare() : undefined;
    const auth = authOf(caller);
    const before = expected === OK ? null : await snapshot();
    const out = await o.call(auth, p);
    const got = out.error ? out.error.code : o.itemCode ? o.itemCode(out.data) : OK;
    expect({ got, message: out.error?.message }).toEqual({ got: expected, message: expected === OK || expected === S || expected === T ? undefined : expect.any(String) });
    if (expected === OK) {
      expect(out.data).not.toBeNull();
      if (o.http) expect(out.status).toBe(200);
      await o.check?.(out.data, caller, p);
      if (o.mutation) await settle();
      return;
    }
    if (o.http) expect(out.status).toBe(HTTP_STATUS[expected]);
    if (expected === N) {
      const probe = o.missing!(p);
      const missing = await o.call(auth, probe.p);
      expect(missing.error?.code).toBe(N);
      expect(masked(out, probe.hiddenId)).toEqual(masked(missing, probe.missingId));
    }
    expect(await snapshot()).toEqual(before);
  }

  const ROWS = OPS.flatMap((o) =>
    CALLERS.map((caller) => ({ name: `${o.name} as ${caller} → ${expectationOf(o, caller)}`, o, caller })),
  );

  it('covers every query and mutation of src/schema.gql, each with every caller', () => {
    const schema = buildSchema(readFileSync(path.join(__dirname, '../../src/schema.gql'), 'utf8'));
    const operations = [...Object.keys(schema.getQueryType()!.getFields()), ...Object.keys(schema.getMutationType()!.getFields())];
    expect(operations.filter((f) => !OPS.some((o) => o.field === f))).toEqual([]);
    expect(OPS.filter((o) => o.field !== 'HTTP' && !operations.includes(o.field)).map((o) => o.field)).toEqual([]);
    expect(ROWS).toHaveLength(OPS.length * CALLERS.length);
    for (const o of OPS) {
      // NOT_FOUND rows need a missing object to compare with
      if (o.expect.includes(N)) expect(o.missing).toBeDefined();
    }
  });

  it.each(ROWS)('$name', async ({ o, caller }) => {
    await runRow(o, caller);
  });

  // ---- key lifecycle ---------------------------------------------------------------------------

  const ROTATE = `mutation($id: ID!) { rotateApiKey(id: $id) { key apiKey { id replacedBy revokedAt } } }`;
  const REVOKE = `mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`;
  const LIST = `{ apiKeys { id prefix organization role manageKeys revokedAt replacedBy lastUsedAt } }`;
  interface Listed {
    id: string;
    prefix: string;
    organization: string | null;
    role: string;
    manageKeys: boolean;
    revokedAt: string | null;
    replacedBy: string | null;
    lastUsedAt: string | null;
  }

  it('apiKeys never returns a secret, and has no field to ask for one', async () => {
    const listed = await gqlOutcome(LIST, {}, true, 'apiKeys');
    expect(listed.error).toBeUndefined();
    for (const secret of secrets) expect(JSON.stringify(listed.data)).not.toContain(secret);
    for (const field of ['key', 'secret', 'secretHash']) {
      const res = await t.gql(`{ apiKeys { id ${field} } }`);
      expect(res.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    }
  });

  it('a key with manageKeys creates, rotates and revokes keys of its own organization only, never ADMIN keys', async () => {
    const manager = await createKey(CARRIER, 'CARRIER', true);
    const zoom = await createKey(OTHER_CARRIER, 'CARRIER');
    const platform = await createKey(null, 'ADMIN');

    // create: own organization yes (and the key works), another organization, another role or ADMIN no
    const own = await createKey(CARRIER, 'CARRIER', false, manager.key);
    expect((await whoami(own.key)).error).toBeUndefined();
    const before = await snapshot();
    const create = (i: Record<string, unknown>) => gqlOutcome(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i }, manager.key, 'createApiKey');
    expect((await create({ organization: OTHER_CARRIER, role: 'CARRIER' })).error?.code).toBe(F);
    expect((await create({ role: 'ADMIN' })).error?.code).toBe(F);
    expect((await create({ organization: CARRIER, role: 'DISPUTE_ANALYST' })).error?.code).toBe(F);
    expect((await create({ organization: CARRIER, role: 'ADMIN' })).error?.code).toBe('VALIDATION_FAILED');
    // ordinary keys may not manage keys at all, not even their own
    const plain = keys.get('CARRIER(own)')!;
    expect((await gqlOutcome(`mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization: CARRIER, role: 'CARRIER' } }, plain, 'createApiKey')).error?.code).toBe(F);
    expect((await gqlOutcome(ROTATE, { id: keyIds.get('CARRIER(own)') }, plain, 'rotateApiKey')).error?.code).toBe(F);
    expect((await gqlOutcome(LIST, {}, plain, 'apiKeys')).error?.code).toBe(F);

    // another organization's keys (and platform keys) look missing
    for (const target of [zoom.id, platform.id]) {
      for (const [query, field] of [[ROTATE, 'rotateApiKey'], [REVOKE, 'revokeApiKey']] as const) {
        const hidden = await gqlOutcome(query, { id: target }, manager.key, field);
        const missingId = randomUUID();
        const missing = await gqlOutcome(query, { id: missingId }, manager.key, field);
        expect(hidden.error?.code).toBe(N);
        expect(masked(hidden, target)).toEqual(masked(missing, missingId));
      }
    }
    expect(await snapshot()).toEqual(before);
    expect((await whoami(zoom.key)).error).toBeUndefined();
    expect((await whoami(platform.key)).error).toBeUndefined();

    // the manager lists its organization's keys only, without secrets
    const listed = (await gqlOutcome(LIST, {}, manager.key, 'apiKeys')).data as Listed[];
    expect(listed.every((k) => k.organization === CARRIER)).toBe(true);
    expect(listed.map((k) => k.id)).toEqual(expect.arrayContaining([manager.id, own.id, keyIds.get('CARRIER(own)')]));
    expect(listed.map((k) => k.id)).not.toContain(zoom.id);
    for (const secret of secrets) expect(JSON.stringify(listed)).not.toContain(secret);

    // rotation: the old key stops at once, the new one works, the old one names its successor
    const rotated = await gqlOutcome(ROTATE, { id: own.id }, manager.key, 'rotateApiKey');
    expect(rotated.error).toBeUndefined();
    const next = rotated.data as { key: string; apiKey: { id: string; replacedBy: string | null; revokedAt: string | null } };
    secrets.push(next.key.split('_')[2]);
    expect(next.apiKey).toMatchObject({ replacedBy: null, revokedAt: null });
    expect((await whoami(own.key)).error?.code).toBe(U);
    expect((await whoami(next.key)).error).toBeUndefined();
    const old = ((await gqlOutcome(LIST, {}, manager.key, 'apiKeys')).data as Listed[]).find((k) => k.id === own.id)!;
    expect(old).toMatchObject({ replacedBy: next.apiKey.id, revokedAt: expect.any(String) });
    expect((await gqlOutcome(ROTATE, { id: own.id }, manager.key, 'rotateApiKey')).error?.code).toBe('KEY_ALREADY_REVOKED');

    // revocation: likewise at once, and only once
    const revoked = await gqlOutcome(REVOKE, { id: next.apiKey.id }, manager.key, 'revokeApiKey');
    expect(revoked.error).toBeUndefined();
    expect((await whoami(next.key)).error?.code).toBe(U);
    expect((await httpProof(CARRIER, MAIN, next.key)).status).toBe(401);
    expect((await gqlOutcome(REVOKE, { id: next.apiKey.id }, manager.key, 'revokeApiKey')).error?.code).toBe('KEY_ALREADY_REVOKED');

    // a manager may retire itself; then it is a revoked key like any other
    expect((await gqlOutcome(REVOKE, { id: manager.id }, manager.key, 'revokeApiKey')).error).toBeUndefined();
    expect((await whoami(manager.key)).error?.code).toBe(U);
  });

  it("a key with manageKeys manages its own organization's webhook endpoints only; one without reads them, changes nothing", async () => {
    const manager = await createKey(CARRIER, 'CARRIER', true);
    const zoomManager = await createKey(OTHER_CARRIER, 'CARRIER', true);
    const plain = keys.get('CARRIER(own)')!;
    const { endpointId, deliveryId } = await carrierDelivery();
    const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id organization } } }`;
    const create = (auth: string, organization?: string) => gqlOutcome(CREATE, { i: { organization, url: 'http://127.0.0.1:9/hook', eventTypes: ['batch.anchored'] } }, auth, 'createWebhookEndpoint');
    const CHANGES = (['rotateWebhookSecret', 'disableWebhookEndpoint', 'enableWebhookEndpoint', 'replayWebhookDelivery', 'deleteWebhookEndpoint'] as const).map((field) => ({ field, id: field === 'replayWebhookDelivery' ? deliveryId : endpointId }));

    const before = await snapshot();
    // without manageKeys: FORBIDDEN for every change, reading as before
    expect((await create(plain)).error?.code).toBe(F);
    for (const { field, id } of CHANGES) expect({ field, code: (await gqlOutcome(WEBHOOK_BY_ID[field], { id }, plain, field)).error?.code }).toEqual({ field, code: F });
    expect(((await gqlOutcome(`{ webhookEndpoints { id } }`, {}, plain, 'webhookEndpoints')).data as Array<{ id: string }>).map((e) => e.id)).toEqual([endpointId]);
    expect((await gqlOutcome(WEBHOOK_BY_ID.webhookDeliveries, { id: endpointId }, plain, 'webhookDeliveries')).data).toEqual([{ id: deliveryId }]);
    // another organization's manager: the carrier's endpoint and delivery look missing, its organization is not to be named
    expect((await create(zoomManager.key, CARRIER)).error?.code).toBe(F);
    for (const { field, id } of CHANGES) {
      const hidden = await gqlOutcome(WEBHOOK_BY_ID[field], { id }, zoomManager.key, field);
      const missingId = randomUUID();
      const missing = await gqlOutcome(WEBHOOK_BY_ID[field], { id: missingId }, zoomManager.key, field);
      expect({ field, code: hidden.error?.code }).toEqual({ field, code: N });
      expect(masked(hidden, id)).toEqual(masked(missing, missingId));
    }
    expect(await snapshot()).toEqual(before);

    // the carrier's manager: every change, delete last
    expect((await create(manager.key)).data).toEqual({ endpoint: { id: expect.any(String), organization: CARRIER } });
    for (const { field, id } of CHANGES) {
      const out = await gqlOutcome(WEBHOOK_BY_ID[field], { id }, manager.key, field);
      expect({ field, error: out.error }).toEqual({ field, error: undefined });
      expect(out.data).not.toBeNull();
    }
    expect((await gqlOutcome(WEBHOOK_BY_ID.webhookDeliveries, { id: endpointId }, manager.key, 'webhookDeliveries')).error?.code).toBe(N);
  });

  it('records when a key was last used', async () => {
    const k = await createKey(MERCHANT, 'MERCHANT');
    const lastUsed = async (): Promise<string | null> => ((await gqlOutcome(LIST, {}, true, 'apiKeys')).data as Listed[]).find((x) => x.id === k.id)!.lastUsedAt;
    expect(await lastUsed()).toBeNull();
    const before = Date.now();
    expect((await whoami(k.key)).error).toBeUndefined();
    const used = await eventually(async () => (await lastUsed()) ?? undefined, 10_000, 'lastUsedAt');
    expect(Math.abs(new Date(used).getTime() - before)).toBeLessThan(120_000);
  });

  it('refuses malformed, forged and stale keys as UNAUTHENTICATED, on GraphQL and HTTP alike', async () => {
    const own = keys.get('CARRIER(own)')!;
    const [, prefix, secret] = own.split('_');
    const forged = [
      'not-a-key',
      `${TEST_ADMIN_KEY}x`,
      own.toUpperCase(),
      `cl_${prefix}_${secret.slice(0, -1)}${secret.endsWith('0') ? '1' : '0'}`,
      `cl_${prefix}_${secret}0`,
      `cl_${'0'.repeat(12)}_${secret}`,
      keys.get('revoked key')!,
    ];
    for (const token of forged) {
      expect({ token, code: (await whoami(token)).error?.code }).toEqual({ token, code: U });
      expect({ token, status: (await httpProof(CARRIER, MAIN, token)).status }).toEqual({ token, status: 401 });
    }
    // no usable Authorization header at all
    for (const header of ['', 'Bearer', `Basic ${own}`, own]) {
      const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: header }, body: JSON.stringify({ query: `{ organization(slug: "${CARRIER}") { slug } }` }) });
      const body = (await res.json()) as { errors?: Array<{ extensions: { code: string } }> };
      expect({ header, code: body.errors?.[0].extensions.code }).toEqual({ header, code: U });
    }
  });

  // ---- data scoping ----------------------------------------------------------------------------

  it('shows personal values to the merchant, the carrier, dispute analysts and the admin; to auditors and hubs only null', async () => {
    const Q = `query($n: String!) { shipment(trackingNumber: $n, carrier: "${CARRIER}") { events { eventId extraData personalData { path commitment value erasedAt } } } }`;
    for (const caller of ['ADMIN', 'CARRIER(own)', 'CARRIER(hub)', 'MERCHANT(own)', 'DISPUTE_ANALYST', 'AUDITOR'] as const) {
      const out = await gqlOutcome(Q, { n: MAIN }, authOf(caller), 'shipment');
      expect(out.error).toBeUndefined();
      const delivered = (out.data as { events: Array<{ eventId: string; extraData: string | null; personalData: Array<{ path: string; commitment: string; value: string | null; erasedAt: string | null }> }> }).events.find((e) => e.eventId === mainEvents[3].eventId)!;
      const doc = JSON.parse(delivered.extraData!) as { recipient: { name: string } };
      // the commitment is no secret, the value is
      expect({ caller, personalData: delivered.personalData }).toEqual({
        caller,
        personalData: [{ path: 'recipient.name', commitment: doc.recipient.name, value: seesPersonalData(caller) ? RECIPIENT : null, erasedAt: null }],
      });
    }
    // the same through the event list
    const listed = await gqlOutcome(`{ custodyEvents(first: 500, filter: { trackingNumber: "${MAIN}" }) { edges { node { eventId personalData { value } } } } }`, {}, authOf('AUDITOR'), 'custodyEvents');
    const values = (listed.data as { edges: Array<{ node: { personalData: Array<{ value: string | null }> } }> }).edges.flatMap((e) => e.node.personalData.map((p) => p.value));
    expect(values).toEqual([null]);
  });

  it('shows a hub only the part of the journey from when it took custody on, and lets it record its own events', async () => {
    const hub = keys.get('CARRIER(hub)')!;
    const Q = `query($n: String!) { shipment(trackingNumber: $n, carrier: "${CARRIER}") { eventCount events { eventId } custodyPeriods { custodian fromEventId } } }`;
    const seen = await gqlOutcome(Q, { n: MAIN }, hub, 'shipment');
    expect(seen.error).toBeUndefined();
    const view = seen.data as { events: Array<{ eventId: string }>; custodyPeriods: Array<{ custodian: string; fromEventId: string }> };
    expect(view.events.map((e) => e.eventId)).toEqual(mainIds().slice(1));
    expect(view.custodyPeriods.map((p) => p.custodian)).toEqual([HUB, CARRIER]);
    expect(view.custodyPeriods[0].fromEventId).toBe(mainEvents[1].eventId);

    // not before it holds the parcel: then it is a shipment like any other it cannot see
    const n = await freshShipment(1);
    const hidden = await gqlOutcome(Q, { n }, hub, 'shipment');
    const missing = await gqlOutcome(Q, { n: MISSING_TRACKING }, hub, 'shipment');
    expect(hidden.error?.code).toBe(N);
    expect(masked(hidden, n)).toEqual(masked(missing, MISSING_TRACKING));

    // it takes the parcel (its own signature, the carrier's counter-signature) with its own API key, and scans it
    const handoff = await sign(n, w.hub, { eventType: 'HANDOFF', custodian: HUB, occurredAt: at(3) }, w.acme);
    const arrived = await sign(n, w.hub, { eventType: 'ARRIVED_AT_FACILITY', custodian: HUB, occurredAt: at(3.5), locationCode: 'DE-BER-HUB-1' });
    expect((await record(t, [handoff, arrived], hub)).map((r) => r.error?.code ?? r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
    const now = (await gqlOutcome(Q, { n }, hub, 'shipment')).data as { eventCount: number; events: Array<{ eventId: string }> };
    expect(now.events.map((e) => e.eventId)).toEqual([handoff.eventId, arrived.eventId]);
    expect(now.eventCount).toBe(3);
    // but it cannot record the carrier's events, not even in a mixed upload
    const carrierScan = await sign(n, w.acme, { eventType: 'EXCEPTION', custodian: HUB, occurredAt: at(4) });
    const before = await snapshot();
    expect((await record(t, [carrierScan], hub)).map((r) => r.error?.code ?? r.outcome)).toEqual([S]);
    expect(await snapshot()).toEqual(before);
  });

  it('refuses a CARRIER key registering or revoking signing keys of another organization', async () => {
    const own = keys.get('CARRIER(own)')!;
    const before = await snapshot();
    const register = await gqlOutcome(`mutation($i: RegisterSigningKeyInput!) { registerSigningKey(input: $i) { address } }`, { i: { organization: OTHER_CARRIER, address: newWallet().address, label: 'planted' } }, own, 'registerSigningKey');
    expect(register.error).toMatchObject({ code: F, extensions: { code: F, field: 'organization' } });
    // a planted key would let acme sign as zoom-post: revoking zoom-post's real key would stop it
    const revoke = await gqlOutcome(`mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address } }`, { i: { address: w.zoom.address, reason: 'sabotage' } }, own, 'revokeSigningKey');
    expect(revoke.error?.code).toBe(N);
    expect(await snapshot()).toEqual(before);
  });
});
