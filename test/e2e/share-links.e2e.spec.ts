import { randomBytes, randomUUID } from 'node:crypto';
import { hexlify, id, type Wallet } from 'ethers';
import { sealAndAnchor } from '../../src/bootstrap';
import { canonicalJson, dataHashOf, personalCommitment } from '../../src/custody/extra-data';
import { sqlRows } from '../../src/database/data-source';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import type { TrackingView } from '../../src/proofs/tracking-view';
import { parseTrustFile } from '../../src/proofs/trust-root';
import type { CustodyEventFields, CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent, type SignedEventInput } from '../support/factories';

/**
 * Share links and the public tracking page (issue 12). The attacks first: another tenant cannot
 * create, list or revoke a shipment's links (it gets the NOT_FOUND it gets for the shipment), and a
 * visitor cannot find a page by anything but its token: tracking numbers, made-up, revoked and
 * expired tokens all get one identical 404.
 */

const ACME = 'acme-express';
const ZOOM = 'zoom-post';
const SHOP = 'shop-one';
const SHOP2 = 'shop-two';
const HOUR = 3_600_000;

type Who = 'admin' | 'acme' | 'zoom' | 'shop' | 'shop2';

interface Err {
  code: string;
  message: string;
}

const CREATE = `mutation($c: String!, $n: String!, $g: Boolean, $e: DateTime) { createShareLink(carrier: $c, trackingNumber: $n, grantsPersonalData: $g, expiresAt: $e) { id token path grantsPersonalData expiresAt createdAt } }`;
const LIST = `query($c: String!, $n: String!) { shareLinks(carrier: $c, trackingNumber: $n) { id grantsPersonalData expiresAt revokedAt createdAt active } }`;
const REVOKE = `mutation($id: ID!) { revokeShareLink(id: $id) { id revokedAt active } }`;

export interface CreatedLink {
  id: string;
  token: string;
  path: string;
  grantsPersonalData: boolean;
  expiresAt: string | null;
  createdAt: string;
}

type Call = <T>(who: Who, query: string, variables: Record<string, unknown>) => Promise<{ data?: T; error?: Err & { field?: string } }>;

/** Calls as one of the tenants' keys; a refused call gives its code, message and field. */
const caller = (t: () => TestLedger, keys: Map<Who, string | true>): Call => async <T>(who: Who, query: string, variables: Record<string, unknown>) => {
  const res = await t().gql<T>(query, variables, keys.get(who)!);
  if (res.errors?.length) return { error: { code: String(res.errors[0].extensions?.code), message: res.errors[0].message, field: res.errors[0].extensions?.field } };
  return { data: res.data };
};

/** Two carriers and two merchants with a key each (acme carries for shop-one), and device keys of acme and shop-one. */
async function tenants(t: TestLedger, keys: Map<Who, string | true>): Promise<{ domain: CustodySigningDomain; w: Record<'acme' | 'shop', Wallet> }> {
  const domain = await fetchDomain(t);
  await registerOrganization(t, ACME, 'CARRIER', 'Acme Express');
  await registerOrganization(t, ZOOM, 'CARRIER', 'Zoom Post');
  await registerOrganization(t, SHOP, 'MERCHANT', 'Shop One');
  await registerOrganization(t, SHOP2, 'MERCHANT', 'Shop Two');
  const w = { acme: await registerKey(t, ACME), shop: await registerKey(t, SHOP) };
  await mustGql(t, `mutation { registerCarrierContract(carrier: "${ACME}", merchant: "${SHOP}") { active } }`);
  for (const [who, org, role] of [['acme', ACME, 'CARRIER'], ['zoom', ZOOM, 'CARRIER'], ['shop', SHOP, 'MERCHANT'], ['shop2', SHOP2, 'MERCHANT']] as const) {
    const d = await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization: org, role, label: who } });
    keys.set(who, d.createApiKey.key);
  }
  return { domain, w };
}

describe('share links: attacks (other tenants, enumeration)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let w: Record<'acme' | 'shop', Wallet>;
  const keys = new Map<Who, string | true>([['admin', true]]);
  const base = (): string => t.url.replace(/\/graphql$/, '');

  const call = caller(() => t, keys);

  async function snapshot(): Promise<string> {
    const [row] = await sqlRows<{ n: string; h: string | null }>(t.ledger.runtime.dataSource, `SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM share_links t`);
    return JSON.stringify([await t.fingerprint(), row]);
  }

  async function track(token: string): Promise<{ status: number; body: string; headers: Headers }> {
    const res = await fetch(`${base()}/api/track/${token}`);
    return { status: res.status, body: await res.text(), headers: res.headers };
  }

  beforeAll(async () => {
    t = await startTestLedger();
    ({ domain, w } = await tenants(t, keys));
    await createShipment(t, 'SHARE-ATTACK-1', ACME, SHOP);
    const pick = await signEvent(domain, w.acme, eventFields({ trackingNumber: 'SHARE-ATTACK-1', carrier: ACME, eventType: 'PICKED_UP', custodian: ACME, occurredAt: BigInt(Date.now() - HOUR) }));
    expect((await record(t, [pick]))[0].outcome).toBe('ACCEPTED');
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('another tenant cannot create, list or revoke a shipment\'s share links: the same NOT_FOUND it gets for the shipment, and nothing changes', async () => {
    const own = await call<{ createShareLink: CreatedLink }>('shop', CREATE, { c: ACME, n: 'SHARE-ATTACK-1' });
    expect(own.error).toBeUndefined();
    const link = own.data!.createShareLink;
    for (const who of ['zoom', 'shop2'] as const) {
      const seen = await call(who, `query($c: String!, $n: String!) { shipment(carrier: $c, trackingNumber: $n) { id } }`, { c: ACME, n: 'SHARE-ATTACK-1' });
      expect(seen.error?.code).toBe('NOT_FOUND');
      const before = await snapshot();
      const created = await call(who, CREATE, { c: ACME, n: 'SHARE-ATTACK-1', g: true });
      const listed = await call(who, LIST, { c: ACME, n: 'SHARE-ATTACK-1' });
      expect(created.error).toEqual(seen.error);
      expect(listed.error).toEqual(seen.error);
      // revoking someone else's link answers exactly like revoking a link that does not exist
      const revoked = await call(who, REVOKE, { id: link.id });
      const missing = await call(who, REVOKE, { id: randomUUID() });
      expect(revoked.error?.code).toBe('NOT_FOUND');
      expect(revoked.error).toEqual(missing.error);
      expect(await snapshot()).toBe(before);
    }
    // the link still works
    expect((await track(link.token)).status).toBe(200);
  });

  it('a page is found by its token only: tracking numbers, made-up, malformed, revoked and expired tokens get one identical 404', async () => {
    const a = (await call<{ createShareLink: CreatedLink }>('acme', CREATE, { c: ACME, n: 'SHARE-ATTACK-1' })).data!.createShareLink;
    const b = (await call<{ createShareLink: CreatedLink }>('acme', CREATE, { c: ACME, n: 'SHARE-ATTACK-1' })).data!.createShareLink;
    const soon = (await call<{ createShareLink: CreatedLink }>('shop', CREATE, { c: ACME, n: 'SHARE-ATTACK-1', e: new Date(Date.now() + 1500).toISOString() })).data!.createShareLink;
    // 32 random bytes, base64url: two links to one shipment share nothing, and neither is derived from it
    for (const l of [a, b, soon]) {
      expect(l.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(l.token, 'base64url')).toHaveLength(32);
      expect(l.path).toBe(`/t/${l.token}`);
    }
    expect(new Set([a.token, b.token, soon.token]).size).toBe(3);
    // the token is never stored, only its SHA-256
    const rows = await sqlRows<{ row: string }>(t.ledger.runtime.dataSource, `SELECT t::text AS row FROM share_links t`);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const r of rows) for (const l of [a, b, soon]) expect(r.row).not.toContain(l.token);
    expect((await track(a.token)).status).toBe(200);
    expect((await call('acme', REVOKE, { id: a.id })).error).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1600));
    const probes = [
      a.token, // revoked
      soon.token, // expired
      randomBytes(32).toString('base64url'), // made up, well formed
      'SHARE-ATTACK-1', // the tracking number
      `${ACME}%2FSHARE-ATTACK-1`,
      b.token.slice(0, 42), // one character short
      `${b.token.slice(0, 42)}${b.token[42] === 'A' ? 'B' : 'A'}`, // one character off
      'x'.repeat(300),
    ];
    const answers = await Promise.all(probes.map(track));
    for (const r of answers) {
      expect(r.status).toBe(404);
      expect(r.body).toBe(answers[0].body);
      expect(r.headers.get('cache-control')).toBe('no-store');
      expect(r.headers.get('referrer-policy')).toBe('no-referrer');
      expect(r.headers.get('x-robots-tag')).toBe('noindex');
    }
    expect(JSON.parse(answers[0].body)).toEqual({ errors: [{ message: expect.any(String), extensions: { code: 'SHARE_LINK_NOT_FOUND' } }] });
    // nor under another path
    expect((await fetch(`${base()}/api/track/${ACME}/SHARE-ATTACK-1`)).status).toBe(404);
    expect((await fetch(`${base()}/api/track`)).status).toBe(404);
    // the other link is untouched
    expect((await track(b.token)).status).toBe(200);
  });

  it('the list never carries a token, and a revoked link stays revoked', async () => {
    const listed = await call<{ shareLinks: Array<Record<string, unknown>> }>('shop', LIST, { c: ACME, n: 'SHARE-ATTACK-1' });
    expect(listed.data!.shareLinks.length).toBeGreaterThanOrEqual(4);
    const withToken = await call('shop', `query($c: String!, $n: String!) { shareLinks(carrier: $c, trackingNumber: $n) { token } }`, { c: ACME, n: 'SHARE-ATTACK-1' });
    expect(withToken.error?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('share links and the public tracking page: a realistic anchored journey', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let w: Record<'acme' | 'shop', Wallet>;
  const keys = new Map<Who, string | true>([['admin', true]]);
  const base = (): string => t.url.replace(/\/graphql$/, '');
  const TN = 'SHARE-JOURNEY-1';
  const T0 = Date.now() - 23 * HOUR;
  const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
  const recipientName = 'Erika Mustermann';
  const recipientSalt = hexlify(randomBytes(32));
  const commitment = personalCommitment(recipientSalt, recipientName);
  const sensors = canonicalJson({ v: 1, sensors: [{ type: 'temperature', value: 4.5, unit: 'CEL' }], note: 'cold chain ok' });
  const delivered = canonicalJson({ v: 1, recipient: { name: commitment } });
  const photo = id('doorstep photo 1');
  const eventIds: string[] = [];

  const call = caller(() => t, keys);

  async function track(token: string): Promise<TrackingView> {
    const res = await fetch(`${base()}/api/track/${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-robots-tag')).toBe('noindex');
    return (await res.json()) as TrackingView;
  }

  const link = async (who: Who, grantsPersonalData = false, n = TN): Promise<CreatedLink> => {
    const out = await call<{ createShareLink: CreatedLink }>(who, CREATE, { c: ACME, n, g: grantsPersonalData });
    if (out.error) throw new Error(JSON.stringify(out.error));
    return out.data!.createShareLink;
  };

  beforeAll(async () => {
    t = await startTestLedger();
    ({ domain, w } = await tenants(t, keys));
    await createShipment(t, TN, ACME, SHOP);
    await mustGql(t, `mutation { updateShipment(input: { trackingNumber: "${TN}", carrier: "${ACME}", promisedDeliveryAt: "${new Date(T0 + 48 * HOUR).toISOString()}" }) { id } }`);
    const sign = (signer: Wallet, f: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>, counter?: Wallet) =>
      signEvent(domain, signer, eventFields({ trackingNumber: TN, carrier: ACME, ...f }), counter);
    const wrong = await sign(w.acme, { eventType: 'ARRIVED_AT_FACILITY', custodian: ACME, occurredAt: at(3), locationCode: 'HUB-WRONG' });
    const journey: SignedEventInput[] = [
      await sign(w.shop, { eventType: 'LABEL_CREATED', custodian: SHOP, occurredAt: at(0), scanMethod: 'MANUAL', latE6: 0, lonE6: 0, accuracyM: 0 }),
      await sign(w.acme, { eventType: 'PICKED_UP', custodian: ACME, occurredAt: at(1) }, w.shop),
      { ...(await sign(w.acme, { eventType: 'ARRIVED_AT_FACILITY', custodian: ACME, occurredAt: at(2), locationCode: 'HUB-N-1', dataHash: dataHashOf(sensors) })), extraData: sensors } as SignedEventInput,
      wrong,
    ];
    expect((await record(t, journey)).map((r) => [r.outcome, r.error?.code ?? null])).toEqual(journey.map(() => ['ACCEPTED', null]));
    const fix = canonicalJson({ v: 1, corrects: wrong.eventId, reason: 'scanned at the wrong facility' });
    const rest: SignedEventInput[] = [
      { ...(await sign(w.acme, { eventType: 'CORRECTION', custodian: ACME, occurredAt: at(3.5), dataHash: dataHashOf(fix) })), extraData: fix } as SignedEventInput,
      await sign(w.acme, { eventType: 'OUT_FOR_DELIVERY', custodian: ACME, occurredAt: at(20) }),
      {
        ...(await sign(w.acme, { eventType: 'DELIVERED', custodian: ACME, occurredAt: at(22), evidenceHash: photo, dataHash: dataHashOf(delivered), latE6: 52_500_050, lonE6: 13_400_020, accuracyM: 5 })),
        evidence: { contentType: 'image/jpeg', sizeBytes: 284_113, hash: photo },
        extraData: delivered,
        personalData: [{ path: 'recipient.name', value: recipientName, salt: recipientSalt }],
      } as SignedEventInput,
    ];
    const results = await record(t, rest);
    expect(results.map((r) => [r.outcome, r.error?.code ?? null])).toEqual(rest.map(() => ['ACCEPTED', null]));
    eventIds.push(...journey.map((e) => e.eventId), ...rest.map((e) => e.eventId));
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('before anything is anchored: the page shows the journey, and says why there is no bundle yet', async () => {
    const view = await track((await link('shop')).token);
    expect(view.timeline.map((e) => e.batchStatus)).toEqual(['PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING', 'PENDING']);
    expect(view.verification).toMatchObject({ bundle: null, reason: 'NOT_ANCHORED_YET', omitted: [] });
  });

  it('create, list and revoke: by the merchant, the carrier and the admin; a past expiry is refused and changes nothing', async () => {
    const byShop = await link('shop');
    const byAcme = await link('acme', true);
    const byAdmin = await link('admin');
    expect(byAcme).toMatchObject({ grantsPersonalData: true, expiresAt: null, path: `/t/${byAcme.token}` });
    expect(byShop.grantsPersonalData).toBe(false);
    expect((await call<{ createShareLink: CreatedLink }>('shop', CREATE, { c: ACME, n: TN, g: null })).data!.createShareLink.grantsPersonalData).toBe(false);
    const listed = (await call<{ shareLinks: Array<{ id: string; active: boolean; grantsPersonalData: boolean; revokedAt: string | null }> }>('acme', LIST, { c: ACME, n: TN })).data!.shareLinks;
    expect(listed.map((l) => l.id)).toEqual(expect.arrayContaining([byShop.id, byAcme.id, byAdmin.id]));
    expect(listed.every((l) => l.active)).toBe(true);
    const full = await call<{ shareLinks: Array<{ createdBy: string; createdByOrganization: string | null }> }>('shop', `query($c: String!, $n: String!) { shareLinks(carrier: $c, trackingNumber: $n) { id createdBy createdByOrganization } }`, { c: ACME, n: TN });
    expect(full.data!.shareLinks.map((l) => l.createdByOrganization)).toEqual(expect.arrayContaining([SHOP, ACME, null]));
    const revoked = await call<{ revokeShareLink: { id: string; revokedAt: string; active: boolean } }>('shop', REVOKE, { id: byAcme.id });
    expect(revoked.data!.revokeShareLink).toMatchObject({ id: byAcme.id, active: false });
    const again = await call<{ revokeShareLink: { revokedAt: string } }>('acme', REVOKE, { id: byAcme.id });
    expect(again.data!.revokeShareLink.revokedAt).toBe(revoked.data!.revokeShareLink.revokedAt);
    expect((await fetch(`${base()}/api/track/${byAcme.token}`)).status).toBe(404);
    expect((await fetch(`${base()}/api/track/${byShop.token}`)).status).toBe(200);
    const before = await t.fingerprint();
    const [{ n: count }] = await sqlRows<{ n: string }>(t.ledger.runtime.dataSource, `SELECT count(*) AS n FROM share_links`);
    const past = await call('shop', CREATE, { c: ACME, n: TN, e: new Date(Date.now() - 1000).toISOString() });
    expect(past.error).toMatchObject({ code: 'VALIDATION_FAILED', field: 'expiresAt' });
    expect((await call('shop', CREATE, { c: ACME, n: 'NO-SUCH-TN' })).error?.code).toBe('NOT_FOUND');
    expect((await call('admin', REVOKE, { id: 'not-a-uuid' })).error?.code).toBe('NOT_FOUND');
    expect(await t.fingerprint()).toEqual(before);
    expect((await sqlRows<{ n: string }>(t.ledger.runtime.dataSource, `SELECT count(*) AS n FROM share_links`))[0].n).toBe(count);
  });

  it('anchored: the JSON has the journey in order, and its bundle verifies VALID against the trust root through the rpc URL it gives', async () => {
    await sealAndAnchor(t.ledger);
    const view = await track((await link('shop')).token);
    expect(view).toMatchObject({
      format: 'custody-track/1',
      brand: { organization: SHOP, name: 'Shop One', logoUrl: null, brandColor: null, accentColor: null },
      carrier: 'Acme Express',
      carrierSlug: ACME,
      trackingNumber: TN,
      status: 'DELIVERED',
      subStatus: 'DELIVERED',
      promisedDeliveryAt: new Date(T0 + 48 * HOUR).toISOString(),
      estimatedDeliveryAt: new Date(Number(at(22))).toISOString(),
      deliveredAt: new Date(Number(at(22))).toISOString(),
      personalDataShown: false,
      destination: null,
    });
    expect(view.timeline.map((e) => [e.eventId, e.eventType, e.occurredAt])).toEqual([
      [eventIds[0], 'LABEL_CREATED', iso(0)],
      [eventIds[1], 'PICKED_UP', iso(1)],
      [eventIds[2], 'ARRIVED_AT_FACILITY', iso(2)],
      [eventIds[3], 'ARRIVED_AT_FACILITY', iso(3)],
      [eventIds[4], 'CORRECTION', iso(3.5)],
      [eventIds[5], 'OUT_FOR_DELIVERY', iso(20)],
      [eventIds[6], 'DELIVERED', iso(22)],
    ]);
    const [label, pickUp, arrived, wrong, correction, , done] = view.timeline;
    expect(label).toMatchObject({ custodian: 'Shop One', custodianSlug: SHOP, latitude: null, longitude: null, accuracyM: null, locationCode: null, personal: null });
    expect(pickUp).toMatchObject({ custodian: 'Acme Express', dualAttested: true, latitude: 52.520008, longitude: 13.404954, accuracyM: 10 });
    expect(arrived.locationCode).toBe('HUB-N-1');
    expect(wrong.correctedBy).toBe(eventIds[4]);
    expect(correction.correctsEventId).toBe(eventIds[3]);
    // a scan at the recipient's door: no position without the personal-data grant
    expect(done).toMatchObject({ latitude: null, longitude: null, accuracyM: null, hasEvidence: true, personal: null });
    for (const e of view.timeline) {
      expect(['ANCHORED', 'FINAL']).toContain(e.batchStatus);
      expect(e.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    }
    const v = view.verification;
    expect(v.reason).toBeNull();
    expect(v.rpcUrl).toBe(t.ledger.rpcUrl);
    expect(v.explorerTxUrl).toBeNull();
    expect(parseTrustFile(v.trust).anchors[0]).toMatchObject({ chainId: '31337', contract: t.ledger.contractAddress });
    expect(v.bundle!.format).toBe('custody-pod/3');
    const report = await verifyProofBundle(v.bundle, { rpcUrl: v.rpcUrl!, trust: v.trust });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('VALID');
    // what was left out is what the verifier lists as not carried, nothing it needs
    expect(report.ledgerStatements.filter((s) => /extraData$/.test(s.field)).map((s) => s.field)).toEqual(['events[2].extraData', 'events[6].extraData']);
  });

  it("the embedded chain's JSON-RPC, the page's default rpcUrl, answers a browser's CORS preflight from another origin", async () => {
    const preflight = await fetch(t.ledger.rpcUrl, { method: 'OPTIONS', headers: { origin: base(), 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } });
    expect(preflight.status).toBe(200);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('*');
    expect(preflight.headers.get('access-control-allow-headers')).toBe('*');
    const call = await fetch(t.ledger.rpcUrl, { method: 'POST', headers: { origin: base(), 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) });
    expect(call.headers.get('access-control-allow-origin')).toBe('*');
    expect(((await call.json()) as { result: string }).result).toBe('0x7a69');
  });

  it('without the grant the JSON holds no personal data of a journey whose events carry extra data; with it, it does (erased stays erased), and that bundle verifies too', async () => {
    const plain = await track((await link('acme')).token);
    const text = JSON.stringify(plain);
    for (const secret of [recipientName, recipientSalt.slice(2), commitment.slice(2), sensors, 'cold chain ok', 'temperature', 'image/jpeg', '284113', '52500000', '13400000', '"radiusM"']) {
      expect({ secret, found: text.includes(secret) }).toEqual({ secret, found: false });
    }
    expect(plain.verification.bundle!.shipment.destination).toBeNull();
    expect(plain.verification.bundle!.findings).toEqual([]);
    expect(plain.verification.omitted).toEqual(['shipment.destination', 'events[].extraData (except CORRECTION events)', 'events[].evidence', 'findings']);
    const plainReport = await verifyProofBundle(plain.verification.bundle, { rpcUrl: plain.verification.rpcUrl!, trust: plain.verification.trust });
    expect(plainReport.verdict).toBe('VALID');

    const granted = await track((await link('shop', true)).token);
    expect(granted.personalDataShown).toBe(true);
    expect(granted.destination).toEqual({ latitude: 52.5, longitude: 13.4, radiusM: 200 });
    expect(granted.timeline[2].personal).toEqual({ extraData: sensors, evidence: null, personalData: [] });
    expect(granted.timeline[6].personal).toEqual({ extraData: delivered, evidence: { contentType: 'image/jpeg', sizeBytes: 284_113, hash: photo }, personalData: [{ path: 'recipient.name', value: recipientName, erased: false }] });
    expect(granted.verification.bundle!.shipment.destination).toEqual({ latE6: 52_500_000, lonE6: 13_400_000, radiusM: 200 });
    expect(granted.verification.bundle!.events[6].extraData).toBe(delivered);
    // the bundle never carries a personal value, with the grant or without
    expect(JSON.stringify(granted.verification.bundle)).not.toContain(recipientName);
    const report = await verifyProofBundle(granted.verification.bundle, { rpcUrl: granted.verification.rpcUrl!, trust: granted.verification.trust });
    expect(report.verdict).toBe('VALID');

    await mustGql(t, `mutation { erasePersonalData(trackingNumber: "${TN}", carrier: "${ACME}", reason: "data-subject request") }`);
    const erased = await track((await link('shop', true)).token);
    expect(erased.timeline[6].personal!.personalData).toEqual([{ path: 'recipient.name', value: null, erased: true }]);
    expect(JSON.stringify(erased)).not.toContain(recipientName);
  });

  it('branding: the merchant sets its own and the page shows it; bad values are refused with their code and change nothing; another organization\'s is FORBIDDEN', async () => {
    const BRAND = `mutation($i: UpdateOrganizationBrandingInput!) { updateOrganizationBranding(input: $i) { slug displayName logoUrl brandColor accentColor } }`;
    const logo = `data:image/png;base64,${Buffer.from('not really a png').toString('base64')}`;
    const set = await call<{ updateOrganizationBranding: Record<string, string> }>('shop', BRAND, { i: { displayName: '  Shop One — Berlin ', logoUrl: logo, brandColor: '#0A66C2', accentColor: '#ffcc00' } });
    expect(set.data!.updateOrganizationBranding).toEqual({ slug: SHOP, displayName: 'Shop One — Berlin', logoUrl: logo, brandColor: '#0a66c2', accentColor: '#ffcc00' });
    const shown = await mustGql<{ organization: Record<string, string> }>(t, `{ organization(slug: "${SHOP}") { displayName logoUrl brandColor accentColor } }`);
    expect(shown.organization).toEqual({ displayName: 'Shop One — Berlin', logoUrl: logo, brandColor: '#0a66c2', accentColor: '#ffcc00' });
    expect((await track((await link('shop')).token)).brand).toEqual({ organization: SHOP, name: 'Shop One — Berlin', logoUrl: logo, brandColor: '#0a66c2', accentColor: '#ffcc00' });

    const orgs = async () => JSON.stringify(await sqlRows(t.ledger.runtime.dataSource, `SELECT slug, display_name, logo_url, brand_color, accent_color FROM organizations ORDER BY slug`));
    const before = await orgs();
    const bad: Array<[Who, Record<string, unknown>, string, string]> = [
      ['shop', { brandColor: '#12345' }, 'INVALID_COLOR', 'brandColor'],
      ['shop', { accentColor: 'red' }, 'INVALID_COLOR', 'accentColor'],
      ['shop', { displayName: '   ' }, 'INVALID_DISPLAY_NAME', 'displayName'],
      ['shop', { displayName: 'x'.repeat(81) }, 'INVALID_DISPLAY_NAME', 'displayName'],
      ['shop', { displayName: 'Shop\u202eenO' }, 'INVALID_DISPLAY_NAME', 'displayName'],
      ['shop', { logoUrl: 'http://cdn.example/logo.png' }, 'INVALID_LOGO_URL', 'logoUrl'],
      ['shop', { logoUrl: 'javascript:alert(1)' }, 'INVALID_LOGO_URL', 'logoUrl'],
      ['shop', { logoUrl: 'https://user:pw@cdn.example/logo.png' }, 'INVALID_LOGO_URL', 'logoUrl'],
      ['shop', { logoUrl: `data:image/gif;base64,${Buffer.from('gif').toString('base64')}` }, 'INVALID_LOGO_URL', 'logoUrl'],
      ['shop', { logoUrl: `data:image/png;base64,${Buffer.alloc(50_000).toString('base64')}` }, 'INVALID_LOGO_URL', 'logoUrl'],
      // a valid field beside a bad one: nothing of the call is written
      ['shop', { displayName: 'Renamed', brandColor: 'blue' }, 'INVALID_COLOR', 'brandColor'],
      ['shop', { organization: ACME, displayName: 'Hijacked' }, 'FORBIDDEN', 'organization'],
      ['acme', { organization: SHOP, brandColor: '#000000' }, 'FORBIDDEN', 'organization'],
      ['shop', {}, 'VALIDATION_FAILED', 'input'],
    ];
    for (const [who, input, code, field] of bad) {
      const out = await call(who, BRAND, { i: input });
      expect({ input, error: out.error && { code: out.error.code, field: out.error.field } }).toEqual({ input, error: { code, field } });
      expect(out.error!.message.length).toBeGreaterThan(20);
    }
    expect(await orgs()).toBe(before);
    // http://localhost is allowed outside production; null clears
    expect((await call<{ updateOrganizationBranding: Record<string, string | null> }>('shop', BRAND, { i: { logoUrl: 'http://localhost:5173/logo.svg', accentColor: null } })).data!.updateOrganizationBranding).toMatchObject({ logoUrl: 'http://localhost:5173/logo.svg', accentColor: null });
    // the admin sets any organization's; a shipment without merchant shows its carrier's brand
    await mustGql(t, `mutation { updateOrganizationBranding(input: { organization: "${ACME}", displayName: "ACME", brandColor: "#aa0000" }) { slug } }`);
    await createShipment(t, 'SHARE-NOMERCHANT-1', ACME);
    const carrierOnly = await track((await link('acme', false, 'SHARE-NOMERCHANT-1')).token);
    expect(carrierOnly.brand).toEqual({ organization: ACME, name: 'ACME', logoUrl: null, brandColor: '#aa0000', accentColor: null });
    expect(carrierOnly.carrier).toBe('ACME');
    expect(carrierOnly.timeline).toEqual([]);
  });

  const iso = (h: number): string => new Date(Number(at(h))).toISOString();
});

describe('the public tracking page under the rate limit', () => {
  let t: TestLedger;

  beforeAll(async () => {
    t = await startTestLedger({ RATE_LIMIT_PER_MINUTE: '3' });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('anonymous callers are counted by address: the fourth request in a minute is 429 RATE_LIMITED', async () => {
    const url = `${t.url.replace(/\/graphql$/, '')}/api/track/${randomBytes(32).toString('base64url')}`;
    const answers: Array<[number, string | null]> = [];
    for (let i = 0; i < 4; i++) {
      const res = await fetch(url);
      answers.push([res.status, res.headers.get('cache-control')]);
    }
    // the refusal too is never kept by a cache
    expect(answers).toEqual([[404, 'no-store'], [404, 'no-store'], [404, 'no-store'], [429, 'no-store']]);
  });
});
