import { sealAndAnchor } from '../../src/bootstrap';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import http from 'node:http';

/**
 * Attack review of the web pages and the public tracking API (helper review, not a fix).
 * Static serving is probed with raw paths (fetch would normalise ../ away).
 */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('web attack review', () => {
  let t: TestLedger;
  let base: string;
  let token: string;

  beforeAll(async () => {
    t = await startTestLedger();
    base = t.url.replace(/\/graphql$/, '');
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'acme', 'CARRIER', 'Acme');
    await registerOrganization(t, 'shop', 'MERCHANT', 'Shop');
    const w = await registerKey(t, 'acme');
    await mustGql(t, `mutation { registerCarrierContract(carrier: "acme", merchant: "shop") { active } }`);
    await createShipment(t, 'WA-1', 'acme', 'shop');
    const now = Date.now();
    await record(t, [await signEvent(domain, w, eventFields({ trackingNumber: 'WA-1', carrier: 'acme', eventType: 'PICKED_UP', custodian: 'acme', occurredAt: BigInt(now - 60_000) }))]);
    await sealAndAnchor(t.ledger);
    const shopKey = (await mustGql<{ createApiKey: { key: string } }>(t, `mutation { createApiKey(input: { organization: "shop", role: "MERCHANT", label: "s" }) { key } }`)).createApiKey.key;
    const b = await t.gql(`mutation { updateOrganizationBranding(input: { displayName: "Shop Brand", logoUrl: "https://tracker.example/pixel.png" }) { slug } }`, {}, shopKey);
    expect(b.errors).toBeUndefined();
    const c = await t.gql<{ createShareLink: { token: string } }>(`mutation { createShareLink(carrier: "acme", trackingNumber: "WA-1") { token } }`, {}, shopKey);
    token = c.data!.createShareLink.token;
  }, 120_000);
  afterAll(() => t?.stop());

  it('static files: traversal attempts never leave web/dist/assets', async () => {
    const probes = [
      '/assets/../../package.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/..%2f..%2fpackage.json',
      '/assets/..%5c..%5cpackage.json',
      '/assets/%2e%2e%5c%2e%2e%5cpackage.json',
      '/assets/..%252f..%252fpackage.json',
      '/assets/%00../package.json',
      '/assets/x%00.js',
      '/assets/../index.html',
      '/assets/.env',
      '/assets/index.js.map',
      '/assets//etc/passwd',
      '/assets/%2fetc%2fpasswd',
    ];
    for (const p of probes) {
      const r = await rawGet(base, p);
      expect(r.status).toBe(404);
      expect({ p, leak: /"name":\s*"custody|devDependencies|root:x:0|ADMIN_API_KEY/.test(r.body) }).toEqual({ p, leak: false });
    }
  });

  it('the tracking API answers JSON with nosniff', async () => {
    const res = await fetch(`${base}/api/track/${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it("a suspended merchant's share link stops showing its brand (attack: it keeps working, brand and tracking logo included)", async () => {
    await mustGql(t, `mutation { suspendOrganization(slug: "shop", reason: "phishing logos") { slug } }`);
    const res = await fetch(`${base}/api/track/${token}`);
    const body = (await res.json()) as { brand?: { logoUrl: string | null; name: string } };
    // what a fix would do: either SHARE_LINK_NOT_FOUND, or a page without the suspended organization's brand
    expect(res.status === 404 || (body.brand?.logoUrl === null && body.brand?.name !== 'Shop Brand')).toBe(true);
  });
});
