import { randomUUID } from 'node:crypto';
import type { Wallet } from 'ethers';
import { sqlRows } from '../../src/database/data-source';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { TEST_ADMIN_KEY, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * Tenants see only what is theirs (issue 9), each written as the attack first:
 * merchant–carrier contracts, tracking numbers that do not leak through ALREADY_EXISTS, scoped
 * `organization`/`batch`, per-organization dispute analysts, suspended organizations, and no
 * schema names in production errors. Every refused call leaves every table as it was.
 */

const HOUR = 3_600_000;
const ACME = 'acme-express';
const ZOOM = 'zoom-post';
const HUB = 'berlin-hub';
const SHOP = 'shop-one';
const SHOP2 = 'shop-two';
const AUDIT = 'audit-firm';
const DOOR = { latE6: 52_500_000, lonE6: 13_400_000, radiusM: 200 };

type Who = 'admin' | 'acme' | 'zoom' | 'hub' | 'shop' | 'shop2' | 'auditor' | 'shopAnalyst' | 'acmeAnalyst' | 'platformAnalyst';

interface Err {
  code: string;
  message: string;
  field?: string;
}

describe('tenancy: contracts, scoping, per-organization analysts, suspension', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  const keys = new Map<Who, string | true>();
  let w: Record<'acme' | 'zoom' | 'hub' | 'shop', Wallet>;
  let n = 0;
  const fresh = (prefix: string): string => `${prefix}-${Date.now().toString(36)}-${++n}`.toUpperCase();

  async function call<T = Record<string, unknown>>(who: Who, query: string, variables: Record<string, unknown> = {}): Promise<{ data?: T; error?: Err }> {
    const res = await t.gql<T>(query, variables, keys.get(who)!);
    if (res.errors?.length) {
      const e = res.errors[0];
      return { error: { code: String(e.extensions?.code), message: e.message, ...(e.extensions?.field ? { field: String(e.extensions.field) } : {}) } };
    }
    return { data: res.data };
  }

  async function ok<T = Record<string, unknown>>(who: Who, query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const out = await call<T>(who, query, variables);
    if (out.error) throw new Error(`${who}: ${JSON.stringify(out.error)}`);
    return out.data!;
  }

  /** The call is refused with `code`, and not one row of any table changed. */
  async function refused(who: Who, query: string, variables: Record<string, unknown>, code: string): Promise<Err> {
    const before = await snapshot();
    const out = await call(who, query, variables);
    expect({ who, code: out.error?.code }).toEqual({ who, code });
    expect(out.error!.message.length).toBeGreaterThan(10);
    expect(await snapshot()).toEqual(before);
    return out.error!;
  }

  async function snapshot(): Promise<Record<string, string>> {
    const out = await t.fingerprint();
    for (const table of ['carrier_contracts', 'disputes', 'api_keys']) {
      const cols = table === 'api_keys' ? `concat_ws(',', id, organization_id, role, manage_keys, label, revoked_at)` : 't::text';
      const [row] = await sqlRows<{ n: string; h: string | null }>(t.ledger.runtime.dataSource, `SELECT count(*) AS n, md5(string_agg(${cols}, '|' ORDER BY ${cols})) AS h FROM ${table} t`);
      out[table] = `${row.n}:${row.h ?? '-'}`;
    }
    return out;
  }

  async function createKey(organization: string | null, role: string, manageKeys = false, by: Who = 'admin'): Promise<string> {
    const d = await ok<{ createApiKey: { key: string } }>(by, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization, role, manageKeys, label: `${role} of ${organization ?? 'platform'}` } });
    return d.createApiKey.key;
  }

  const CREATE = `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { trackingNumber carrier { slug } merchant { slug } } }`;
  const REGISTER = `mutation($c: String!, $m: String!) { registerCarrierContract(carrier: $c, merchant: $m) { carrier merchant createdAt createdBy endedAt active } }`;
  const END = `mutation($c: String!, $m: String!) { endCarrierContract(carrier: $c, merchant: $m) { carrier merchant endedAt active } }`;
  const shipmentInput = (trackingNumber: string, carrier = ACME, merchant: string | null = SHOP) => ({ i: { trackingNumber, carrier, merchant, destination: DOOR } });

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    keys.set('admin', true);
    await registerOrganization(t, ACME, 'CARRIER', 'ACME Express');
    await registerOrganization(t, ZOOM, 'CARRIER', 'Zoom Post');
    await registerOrganization(t, HUB, 'HUB', 'Berlin Hub');
    await registerOrganization(t, SHOP, 'MERCHANT', 'Shop One');
    await registerOrganization(t, SHOP2, 'MERCHANT', 'Shop Two');
    await registerOrganization(t, AUDIT, 'AUDITOR', 'Audit Firm');
    w = { acme: await registerKey(t, ACME), zoom: await registerKey(t, ZOOM), hub: await registerKey(t, HUB), shop: await registerKey(t, SHOP) };
    keys.set('acme', await createKey(ACME, 'CARRIER'));
    keys.set('zoom', await createKey(ZOOM, 'CARRIER'));
    keys.set('hub', await createKey(HUB, 'CARRIER'));
    keys.set('shop', await createKey(SHOP, 'MERCHANT'));
    keys.set('shop2', await createKey(SHOP2, 'MERCHANT'));
    keys.set('auditor', await createKey(AUDIT, 'AUDITOR'));
  });

  afterAll(async () => {
    await t?.stop();
  });

  // ---- 1. merchant–carrier contracts ----------------------------------------------------------

  describe('merchant–carrier contracts', () => {
    it('refuses a merchant creating a shipment for a carrier it has no contract with, and says what to do', async () => {
      const e = await refused('shop', CREATE, shipmentInput(fresh('NOC')), 'NO_CARRIER_CONTRACT');
      expect(e.message).toContain(ACME);
      expect(e.message).toContain('registerCarrierContract');
      expect(e.field).toBe('carrier');
    });

    it('refuses a carrier naming a merchant it has no contract with; a carrier without merchant and the admin create as before', async () => {
      await refused('zoom', CREATE, shipmentInput(fresh('NOC'), ZOOM, SHOP2), 'NO_CARRIER_CONTRACT');
      const own = fresh('ZNM');
      expect(await ok('zoom', CREATE, shipmentInput(own, ZOOM, null))).toEqual({ createShipment: { trackingNumber: own, carrier: { slug: ZOOM }, merchant: null } });
      const byAdmin = fresh('ADM');
      expect(await ok('admin', CREATE, shipmentInput(byAdmin, ZOOM, SHOP2))).toEqual({ createShipment: { trackingNumber: byAdmin, carrier: { slug: ZOOM }, merchant: { slug: SHOP2 } } });
    });

    it('lets the admin or the carrier itself register and end a contract; nobody else', async () => {
      const v = { c: ACME, m: SHOP };
      for (const who of ['shop', 'shop2', 'auditor'] as const) await refused(who, REGISTER, v, 'FORBIDDEN');
      // another carrier, or a hub, cannot sign customers up for acme
      await refused('zoom', REGISTER, v, 'FORBIDDEN');
      await refused('hub', REGISTER, v, 'FORBIDDEN');
      // only a CARRIER organization has customers, only a MERCHANT is one
      await refused('admin', REGISTER, { c: HUB, m: SHOP }, 'VALIDATION_FAILED');
      await refused('admin', REGISTER, { c: ACME, m: ZOOM }, 'VALIDATION_FAILED');
      await refused('admin', REGISTER, { c: ACME, m: 'no-such-shop' }, 'NOT_FOUND');

      const made = (await ok<{ registerCarrierContract: Record<string, unknown> }>('acme', REGISTER, v)).registerCarrierContract;
      expect(made).toMatchObject({ carrier: ACME, merchant: SHOP, endedAt: null, active: true, createdBy: expect.stringMatching(/^key:/) });
      await refused('acme', REGISTER, v, 'ALREADY_EXISTS');

      // now the merchant creates shipments for acme
      const tn = fresh('CON');
      expect(await ok('shop', CREATE, shipmentInput(tn))).toEqual({ createShipment: { trackingNumber: tn, carrier: { slug: ACME }, merchant: { slug: SHOP } } });
      // and acme may name shop-one, but still not shop-two
      await ok('acme', CREATE, shipmentInput(fresh('CON')));
      await refused('acme', CREATE, shipmentInput(fresh('NOC'), ACME, SHOP2), 'NO_CARRIER_CONTRACT');
      // a contract with acme is not one with zoom-post
      await refused('shop', CREATE, shipmentInput(fresh('NOC'), ZOOM, SHOP), 'NO_CARRIER_CONTRACT');

      // ended: no new shipments; the existing ones stay the merchant's
      await refused('zoom', END, v, 'FORBIDDEN');
      await refused('shop', END, v, 'FORBIDDEN');
      const ended = (await ok<{ endCarrierContract: Record<string, unknown> }>('admin', END, v)).endCarrierContract;
      expect(ended).toMatchObject({ carrier: ACME, merchant: SHOP, active: false, endedAt: expect.any(String) });
      await refused('acme', END, v, 'NOT_FOUND');
      await refused('shop', CREATE, shipmentInput(fresh('END')), 'NO_CARRIER_CONTRACT');
      expect((await ok<{ shipment: { trackingNumber: string } }>('shop', `{ shipment(trackingNumber: "${tn}", carrier: "${ACME}") { trackingNumber } }`)).shipment.trackingNumber).toBe(tn);
      // registered again: works again
      expect((await ok<{ registerCarrierContract: { active: boolean } }>('acme', REGISTER, v)).registerCarrierContract.active).toBe(true);
      await ok('shop', CREATE, shipmentInput(fresh('AGN')));
    });

    it("shows an organization's contracts to itself and the admin only", async () => {
      await ok('admin', REGISTER, { c: ZOOM, m: SHOP });
      const Q = (slug: string) => `{ organization(slug: "${slug}") { slug name kind contracts { carrier merchant active } } }`;
      const acmeView = (await ok<{ organization: { contracts: Array<{ merchant: string }> | null } }>('acme', Q(ACME))).organization;
      expect(acmeView.contracts!.map((c) => c.merchant)).toEqual([SHOP]);
      const shopView = (await ok<{ organization: { contracts: Array<{ carrier: string }> | null } }>('shop', Q(SHOP))).organization;
      expect(shopView.contracts!.map((c) => c.carrier).sort()).toEqual([ACME, ZOOM]);
      expect((await ok<{ organization: { contracts: unknown[] | null } }>('admin', Q(SHOP))).organization.contracts).toHaveLength(2);
      // others see the public identity only
      for (const who of ['shop2', 'zoom', 'hub', 'auditor'] as const) {
        expect({ who, org: (await ok<{ organization: unknown }>(who, Q(ACME))).organization }).toEqual({ who, org: { slug: ACME, name: 'ACME Express', kind: 'CARRIER', contracts: null } });
      }
      expect((await ok<{ organization: { contracts: unknown } }>('zoom', Q(SHOP))).organization.contracts).toBeNull();
    });
  });

  // ---- 2. tracking numbers do not leak --------------------------------------------------------

  it("does not tell a merchant that another merchant's tracking number exists; the one who can see it gets ALREADY_EXISTS", async () => {
    await ok('admin', REGISTER, { c: ACME, m: SHOP2 }).catch(() => undefined);
    const taken = fresh('TAKEN');
    await ok('shop', CREATE, shipmentInput(taken));
    const carriersOwn = fresh('OWN');
    await ok('acme', CREATE, shipmentInput(carriersOwn, ACME, null));

    const theirs = await refused('shop2', CREATE, shipmentInput(taken, ACME, SHOP2), 'TRACKING_NUMBER_UNAVAILABLE');
    const unnamed = await refused('shop2', CREATE, shipmentInput(carriersOwn, ACME, SHOP2), 'TRACKING_NUMBER_UNAVAILABLE');
    // the same answer for another merchant's shipment and for one without merchant: nothing to tell them apart
    expect(theirs.message.replace(taken, '<n>')).toBe(unnamed.message.replace(carriersOwn, '<n>'));
    expect(theirs.message).not.toMatch(/already|exists|shop-one/i);
    expect(theirs.field).toBe('trackingNumber');
    // whoever may see the existing shipment learns it exists
    await refused('shop', CREATE, shipmentInput(taken), 'ALREADY_EXISTS');
    await refused('acme', CREATE, shipmentInput(taken), 'ALREADY_EXISTS');
    await refused('admin', CREATE, shipmentInput(taken, ACME, SHOP2), 'ALREADY_EXISTS');
  });

  // ---- 3. organization and batch scoping ------------------------------------------------------

  describe('organization and batch scoping', () => {
    beforeAll(async () => {
      keys.set('platformAnalyst', await createKey(null, 'DISPUTE_ANALYST'));
      keys.set('shopAnalyst', await createKey(SHOP, 'DISPUTE_ANALYST'));
      keys.set('acmeAnalyst', await createKey(ACME, 'DISPUTE_ANALYST'));
    });

    it("shows another organization's identity but not its signing keys; platform roles and auditors see all keys", async () => {
      const Q = `{ organization(slug: "${ACME}") { slug name kind signingKeys { address } } }`;
      const all: Who[] = ['admin', 'acme', 'zoom', 'hub', 'shop', 'shop2', 'auditor', 'shopAnalyst', 'acmeAnalyst', 'platformAnalyst'];
      for (const who of all) {
        const org = (await ok<{ organization: { slug: string; name: string; kind: string; signingKeys: Array<{ address: string }> | null } }>(who, Q)).organization;
        const seesKeys = ['admin', 'acme', 'auditor', 'acmeAnalyst', 'platformAnalyst'].includes(who);
        expect({ who, org }).toEqual({ who, org: { slug: ACME, name: 'ACME Express', kind: 'CARRIER', signingKeys: seesKeys ? [{ address: w.acme.address.toLowerCase() }] : null } });
      }
      // the same through a shipment: a merchant sees its carrier's identity, not the carrier's keys
      const tn = fresh('NEST');
      await ok('admin', CREATE, shipmentInput(tn));
      const nested = await ok<{ shipment: { carrier: { slug: string; signingKeys: unknown }; merchant: { signingKeys: Array<{ address: string }> } } }>(
        'shop',
        `{ shipment(trackingNumber: "${tn}", carrier: "${ACME}") { carrier { slug signingKeys { address } } merchant { signingKeys { address } } } }`,
      );
      expect(nested.shipment.carrier).toEqual({ slug: ACME, signingKeys: null });
      expect(nested.shipment.merchant.signingKeys).toEqual([{ address: w.shop.address.toLowerCase() }]);
    });

    it("hides a batch's anchoring error (operations detail) from tenants; roots, counts and transactions stay public", async () => {
      const tn = fresh('BAT');
      await ok('admin', CREATE, shipmentInput(tn));
      const [r] = await record(t, [await signEvent(domain, w.acme, eventFields({ trackingNumber: tn, carrier: ACME, eventType: 'PICKED_UP', custodian: ACME, occurredAt: BigInt(Date.now() - HOUR) }))]);
      expect(r.outcome).toBe('ACCEPTED');
      const sealed = await ok<{ sealBatch: { seq: string } }>('admin', `mutation { sealBatch { seq } }`);
      const seq = sealed.sealBatch.seq;
      await eventually(async () => {
        const [row] = await sqlRows<{ status: string }>(t.ledger.runtime.dataSource, `SELECT status FROM anchor_batches WHERE seq = $1`, [seq]);
        return row.status === 'FINAL' ? true : undefined;
      }, 30_000, 'batch FINAL');
      // an earlier failed attempt left the RPC's error text behind
      await sqlRows(t.ledger.runtime.dataSource, `UPDATE anchor_batches SET last_error = $2 WHERE seq = $1`, [seq, 'connect ECONNREFUSED 10.0.0.7:8545 (internal RPC)']);
      const Q = `{ batch(seq: "${seq}") { seq root leafCount status txHash blockNumber lastError } batches(first: 500) { totalCount edges { node { seq lastError } } } }`;
      for (const who of ['admin', 'auditor', 'platformAnalyst', 'acme', 'shop', 'shop2', 'shopAnalyst'] as const) {
        const d = await ok<{ batch: Record<string, unknown>; batches: { edges: Array<{ node: { seq: string; lastError: string | null } }> } }>(who, Q);
        const platform = ['admin', 'auditor', 'platformAnalyst'].includes(who);
        expect({ who, batch: d.batch }).toEqual({ who, batch: { seq, root: expect.stringMatching(/^0x[0-9a-f]{64}$/), leafCount: 1, status: 'FINAL', txHash: expect.any(String), blockNumber: expect.any(Number), lastError: platform ? expect.stringContaining('ECONNREFUSED') : null } });
        expect(d.batches.edges.find((e) => e.node.seq === seq)!.node.lastError).toEqual(platform ? expect.any(String) : null);
      }
    });
  });

  // ---- 4. per-organization dispute analysts ---------------------------------------------------

  describe('DISPUTE_ANALYST keys per organization', () => {
    let shopShipment: string;
    let shop2Shipment: string;
    let zoomShipment: string;
    const disputeIds: Record<'shop' | 'shop2' | 'zoom', string> = { shop: '', shop2: '', zoom: '' };
    const SHIPMENTS = `{ shipments(first: 100) { edges { node { trackingNumber carrier { slug } merchant { slug } } } } }`;
    const DISPUTES = `{ disputes(first: 100) { edges { node { id trackingNumber } } } }`;
    const open = async (tn: string, carrier: string): Promise<string> =>
      (await ok<{ openDispute: { id: string } }>('admin', `mutation { openDispute(trackingNumber: "${tn}", carrier: "${carrier}", claim: NOT_RECEIVED, note: "tenancy") { id } }`)).openDispute.id;

    beforeAll(async () => {
      if (!keys.has('platformAnalyst')) keys.set('platformAnalyst', await createKey(null, 'DISPUTE_ANALYST'));
      if (!keys.has('shopAnalyst')) keys.set('shopAnalyst', await createKey(SHOP, 'DISPUTE_ANALYST'));
      if (!keys.has('acmeAnalyst')) keys.set('acmeAnalyst', await createKey(ACME, 'DISPUTE_ANALYST'));
      shopShipment = fresh('DSHOP');
      shop2Shipment = fresh('DSHOP2');
      zoomShipment = fresh('DZOOM');
      await ok('admin', CREATE, shipmentInput(shopShipment, ACME, SHOP));
      await ok('admin', CREATE, shipmentInput(shop2Shipment, ACME, SHOP2));
      await ok('admin', CREATE, shipmentInput(zoomShipment, ZOOM, SHOP2));
      disputeIds.shop = await open(shopShipment, ACME);
      disputeIds.shop2 = await open(shop2Shipment, ACME);
      disputeIds.zoom = await open(zoomShipment, ZOOM);
    });

    it("a merchant's analyst sees only that merchant's shipments and disputes; others look missing", async () => {
      const tns = (await ok<{ shipments: { edges: Array<{ node: { trackingNumber: string; merchant: { slug: string } | null } }> } }>('shopAnalyst', SHIPMENTS)).shipments.edges.map((e) => e.node);
      expect(tns.map((s) => s.trackingNumber)).toContain(shopShipment);
      expect(tns.every((s) => s.merchant?.slug === SHOP)).toBe(true);
      const ids = (await ok<{ disputes: { edges: Array<{ node: { id: string } }> } }>('shopAnalyst', DISPUTES)).disputes.edges.map((e) => e.node.id);
      expect(ids).toEqual([disputeIds.shop]);

      const hidden = await call('shopAnalyst', `{ shipment(trackingNumber: "${shop2Shipment}", carrier: "${ACME}") { id } }`);
      const missing = await call('shopAnalyst', `{ shipment(trackingNumber: "NO-SUCH-0001", carrier: "${ACME}") { id } }`);
      expect(hidden.error?.code).toBe('NOT_FOUND');
      expect(hidden.error!.message.replace(shop2Shipment, '<n>')).toBe(missing.error!.message.replace('NO-SUCH-0001', '<n>'));
      const hiddenDispute = await call('shopAnalyst', `{ dispute(id: "${disputeIds.shop2}") { id } }`);
      const missingId = randomUUID();
      const missingDispute = await call('shopAnalyst', `{ dispute(id: "${missingId}") { id } }`);
      expect(hiddenDispute.error?.code).toBe('NOT_FOUND');
      expect(hiddenDispute.error!.message.replace(disputeIds.shop2, '<id>')).toBe(missingDispute.error!.message.replace(missingId, '<id>'));
      // nor can it open a dispute about another merchant's shipment
      await refused('shopAnalyst', `mutation { openDispute(trackingNumber: "${shop2Shipment}", carrier: "${ACME}", claim: LATE) { id } }`, {}, 'NOT_FOUND');
      await ok('shopAnalyst', `mutation { openDispute(trackingNumber: "${shopShipment}", carrier: "${ACME}", claim: LATE) { id } }`);
    });

    it("a carrier's analyst sees the shipments the carrier carries and their disputes", async () => {
      const nodes = (await ok<{ shipments: { edges: Array<{ node: { trackingNumber: string; carrier: { slug: string } } }> } }>('acmeAnalyst', SHIPMENTS)).shipments.edges.map((e) => e.node);
      expect(nodes.map((s) => s.trackingNumber)).toEqual(expect.arrayContaining([shopShipment, shop2Shipment]));
      expect(nodes.every((s) => s.carrier.slug === ACME)).toBe(true);
      const ids = (await ok<{ disputes: { edges: Array<{ node: { id: string } }> } }>('acmeAnalyst', DISPUTES)).disputes.edges.map((e) => e.node.id);
      expect(ids).toEqual(expect.arrayContaining([disputeIds.shop, disputeIds.shop2]));
      expect(ids).not.toContain(disputeIds.zoom);
    });

    it('only the admin and a platform-wide analyst resolve disputes: a party does not decide its own case', async () => {
      const R = (id: string) => `mutation { resolveDispute(id: "${id}", outcome: CLAIM_REJECTED, note: "mine") { status } }`;
      await refused('acmeAnalyst', R(disputeIds.shop), {}, 'FORBIDDEN');
      await refused('shopAnalyst', R(disputeIds.shop), {}, 'FORBIDDEN');
      expect(await ok('platformAnalyst', R(disputeIds.shop))).toEqual({ resolveDispute: { status: 'RESOLVED' } });
    });

    it('a platform-wide analyst (no organization) sees everything', async () => {
      const tns = (await ok<{ shipments: { edges: Array<{ node: { trackingNumber: string } }> } }>('platformAnalyst', SHIPMENTS)).shipments.edges.map((e) => e.node.trackingNumber);
      expect(tns).toEqual(expect.arrayContaining([shopShipment, shop2Shipment, zoomShipment]));
      const ids = (await ok<{ disputes: { edges: Array<{ node: { id: string } }> } }>('platformAnalyst', DISPUTES)).disputes.edges.map((e) => e.node.id);
      expect(ids).toEqual(expect.arrayContaining(Object.values(disputeIds)));
    });

    it('only the admin creates a platform-wide analyst key; it cannot manage keys; auditor organizations hold no analyst keys', async () => {
      const C = `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`;
      const manager = await createKey(SHOP, 'DISPUTE_ANALYST', true);
      keys.set('shopAnalyst', manager);
      await refused('shopAnalyst', C, { i: { role: 'DISPUTE_ANALYST', label: 'escalate' } }, 'FORBIDDEN');
      await refused('shopAnalyst', C, { i: { organization: SHOP2, role: 'DISPUTE_ANALYST' } }, 'FORBIDDEN');
      await refused('admin', C, { i: { role: 'DISPUTE_ANALYST', manageKeys: true } }, 'VALIDATION_FAILED');
      await refused('admin', C, { i: { organization: AUDIT, role: 'DISPUTE_ANALYST' } }, 'VALIDATION_FAILED');
      await refused('admin', C, { i: { role: 'CARRIER' } }, 'VALIDATION_FAILED');
      // a platform-wide analyst cannot touch platform keys (it manages none)
      const platformKey = (await ok<{ createApiKey: { apiKey: { id: string } } }>('admin', `mutation { createApiKey(input: { role: "ADMIN", label: "second admin" }) { apiKey { id } } }`)).createApiKey.apiKey;
      await refused('platformAnalyst', `mutation { revokeApiKey(id: "${platformKey.id}") { id } }`, {}, 'FORBIDDEN');
      await refused('platformAnalyst', `mutation { rotateApiKey(id: "${platformKey.id}") { key } }`, {}, 'FORBIDDEN');
      await refused('platformAnalyst', `{ apiKeys { id } }`, {}, 'FORBIDDEN');
    });
  });

  // ---- 6. suspension --------------------------------------------------------------------------

  describe('suspended organizations', () => {
    const SUSPEND = `mutation($s: String!, $r: String!) { suspendOrganization(slug: $s, reason: $r) { slug suspendedAt suspensionReason } }`;
    const REINSTATE = `mutation($s: String!) { reinstateOrganization(slug: $s) { slug suspendedAt suspensionReason } }`;

    it('only the admin suspends; the API keys of a suspended organization stop at once (GraphQL and HTTP); nothing it recorded changes', async () => {
      const tn = fresh('SUS');
      await ok('admin', CREATE, shipmentInput(tn, ZOOM, SHOP));
      const [r] = await record(t, [await signEvent(domain, w.zoom, eventFields({ trackingNumber: tn, carrier: ZOOM, eventType: 'PICKED_UP', custodian: ZOOM, occurredAt: BigInt(Date.now() - HOUR) }))], keys.get('zoom') as string);
      expect(r.outcome).toBe('ACCEPTED');
      for (const who of ['zoom', 'acme', 'shop', 'auditor', 'platformAnalyst'] as const) await refused(who, SUSPEND, { s: ZOOM, r: 'unpaid invoices' }, 'FORBIDDEN');
      await refused('admin', SUSPEND, { s: ZOOM, r: ' ' }, 'VALIDATION_FAILED');
      await refused('admin', SUSPEND, { s: 'no-such-org', r: 'x' }, 'NOT_FOUND');

      const keysBefore = await sqlRows<Record<string, unknown>>(t.ledger.runtime.dataSource, `SELECT * FROM signing_keys ORDER BY address`);
      const eventsBefore = await sqlRows<Record<string, unknown>>(t.ledger.runtime.dataSource, `SELECT * FROM custody_events ORDER BY id`);
      const suspended = (await ok<{ suspendOrganization: { slug: string; suspendedAt: string; suspensionReason: string } }>('admin', SUSPEND, { s: ZOOM, r: 'unpaid invoices' })).suspendOrganization;
      expect(suspended).toEqual({ slug: ZOOM, suspendedAt: expect.any(String), suspensionReason: 'unpaid invoices' });
      // device keys and events are evidence: untouched
      expect(await sqlRows(t.ledger.runtime.dataSource, `SELECT * FROM signing_keys ORDER BY address`)).toEqual(keysBefore);
      expect(await sqlRows(t.ledger.runtime.dataSource, `SELECT * FROM custody_events ORDER BY id`)).toEqual(eventsBefore);

      const e = await refused('zoom', `{ organization(slug: "${ZOOM}") { slug } }`, {}, 'ORGANIZATION_SUSPENDED');
      expect(e.message).toContain(ZOOM);
      expect(e.message).toMatch(/reinstate/);
      const res = await fetch(`${t.url.replace(/\/graphql$/, '')}/proofs/${ZOOM}/${tn}.json`, { headers: { authorization: `Bearer ${keys.get('zoom')}` } });
      expect(res.status).toBe(403);
      expect(((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code).toBe('ORGANIZATION_SUSPENDED');
      // a public operation answers as for a caller without key
      expect((await call('zoom', `{ custodySigningSpec { version } }`)).error).toBeUndefined();
      // others keep working and keep reading what it recorded
      const seen = await ok<{ shipment: { events: Array<{ eventId: string }> } }>('shop', `{ shipment(trackingNumber: "${tn}", carrier: "${ZOOM}") { events { eventId } } }`);
      expect(seen.shipment.events.map((x) => x.eventId)).toEqual([r.eventId]);
      // no new shipments for a suspended carrier
      await refused('admin', CREATE, shipmentInput(fresh('SUS'), ZOOM, SHOP), 'ORGANIZATION_SUSPENDED');
      await refused('admin', SUSPEND, { s: ZOOM, r: 'again' }, 'ORGANIZATION_SUSPENDED');
      // the admin sees why; another tenant does not
      const Q = `{ organization(slug: "${ZOOM}") { suspendedAt suspensionReason } }`;
      expect((await ok<{ organization: unknown }>('admin', Q)).organization).toEqual({ suspendedAt: suspended.suspendedAt, suspensionReason: 'unpaid invoices' });
      expect((await ok<{ organization: unknown }>('acme', Q)).organization).toEqual({ suspendedAt: null, suspensionReason: null });

      await refused('acme', REINSTATE, { s: ZOOM }, 'FORBIDDEN');
      expect((await ok<{ reinstateOrganization: unknown }>('admin', REINSTATE, { s: ZOOM })).reinstateOrganization).toEqual({ slug: ZOOM, suspendedAt: null, suspensionReason: null });
      expect((await call('zoom', `{ organization(slug: "${ZOOM}") { slug suspendedAt } }`)).data).toEqual({ organization: { slug: ZOOM, suspendedAt: null } });
      await refused('admin', REINSTATE, { s: ZOOM }, 'VALIDATION_FAILED');
    });

    it('a suspended organization cannot act through a key minted before or after the suspension', async () => {
      await ok('admin', SUSPEND, { s: SHOP2, r: 'fraud investigation' });
      const minted = await createKey(SHOP2, 'MERCHANT');
      for (const key of [minted, keys.get('shop2') as string]) {
        const res = await t.gql(`{ shipments(first: 1) { edges { cursor } } }`, {}, key);
        expect(res.errors?.[0].extensions?.code).toBe('ORGANIZATION_SUSPENDED');
      }
      await ok('admin', REINSTATE, { s: SHOP2 });
    });
  });

  // ---- 5. production leaks no schema names ----------------------------------------------------

  describe('production mode', () => {
    let prod: TestLedger;
    beforeAll(async () => {
      prod = await startTestLedger({}, (config) => ({ ...config, production: true }));
    });
    afterAll(async () => {
      await prod?.stop();
    });

    const typo = `{ shipmnts(first: 1) { edges { cursor } } }`;
    const badInput = [`mutation($i: RegisterOrganizationInput!) { registerOrganization(input: $i) { id } }`, { i: { slug: 'x-org', name: 'X', kind: 'CARIER' } }] as const;

    it('answers a misspelled field or enum value without "Did you mean" in production, with it outside', async () => {
      const dev = await t.gql(typo);
      expect(dev.errors?.[0].message).toMatch(/Did you mean "shipments"/);
      const devInput = await t.gql(...badInput);
      expect(devInput.errors?.[0].message).toMatch(/Did you mean/);

      for (const [query, variables] of [[typo, undefined], badInput] as const) {
        const res = await prod.gql(query, variables as Record<string, unknown> | undefined, TEST_ADMIN_KEY);
        const e = res.errors![0];
        expect(['GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT']).toContain(e.extensions?.code);
        expect(e.message).not.toMatch(/did you mean|shipments|CARRIER/i);
        expect(e.message.length).toBeGreaterThan(10);
      }
      // and introspection is off
      const intro = await prod.gql(`{ __schema { queryType { name } } }`);
      expect(intro.errors?.[0].message).not.toMatch(/Query/);
    });
  });
});
