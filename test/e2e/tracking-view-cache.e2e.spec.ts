import { sealAndAnchor } from '../../src/bootstrap';
import { SealerService } from '../../src/batching/sealer.service';
import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { WebhooksService } from '../../src/webhooks/webhooks.service';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * The attacker's review of issue 12: an anonymous holder of one valid link made the service
 * rebuild the whole view (timeline, bundle, trust file) on every request: about ten times the
 * work of an unknown token, 20 times a second within the address budget. A view is now built at
 * most once per TRACK_VIEW_CACHE_MS per shipment and grant, while the link itself is checked on
 * every request (a revocation takes effect at once).
 */
describe('the tracking view is built once per TRACK_VIEW_CACHE_MS, the link checked every time', () => {
  let t: TestLedger;
  let base: string;
  let token: string;
  let linkId: string;
  let shopKey: string;
  let domain: Awaited<ReturnType<typeof fetchDomain>>;
  let acme: Awaited<ReturnType<typeof registerKey>>;
  const CACHE_MS = 1_500;

  beforeAll(async () => {
    t = await startTestLedger({ TRACK_VIEW_CACHE_MS: String(CACHE_MS) });
    base = t.url.replace(/\/graphql$/, '');
    domain = await fetchDomain(t);
    await registerOrganization(t, 'acme', 'CARRIER', 'Acme');
    await registerOrganization(t, 'shop', 'MERCHANT', 'Shop');
    acme = await registerKey(t, 'acme');
    await mustGql(t, `mutation { registerCarrierContract(carrier: "acme", merchant: "shop") { active } }`);
    await createShipment(t, 'VC-1', 'acme', 'shop');
    await record(t, [await signEvent(domain, acme, eventFields({ trackingNumber: 'VC-1', carrier: 'acme', eventType: 'PICKED_UP', custodian: 'acme', occurredAt: BigInt(Date.now() - 60_000) }))]);
    await sealAndAnchor(t.ledger);
    shopKey = (await mustGql<{ createApiKey: { key: string } }>(t, `mutation { createApiKey(input: { organization: "shop", role: "MERCHANT", label: "s" }) { key } }`)).createApiKey.key;
    const c = await t.gql<{ createShareLink: { token: string; id: string } }>(`mutation { createShareLink(carrier: "acme", trackingNumber: "VC-1") { id token } }`, {}, shopKey);
    token = c.data!.createShareLink.token;
    linkId = c.data!.createShareLink.id;
  }, 120_000);
  afterAll(() => t?.stop());

  const view = async (): Promise<{ status: number; events: number }> => {
    const res = await fetch(`${base}/api/track/${token}`);
    const body = (await res.json()) as { timeline?: unknown[] };
    return { status: res.status, events: body.timeline?.length ?? -1 };
  };

  it('answers 20 views of one link with the statements of one build plus one link lookup each', async () => {
    await view(); // built and kept
    // no background work while counting (the sealer's and anchorer's timers, the webhook queue's polling)
    t.ledger.app.get(SealerService).stopTimer();
    t.ledger.app.get(AnchorerService).stopTicks();
    await t.ledger.app.get(WebhooksService).onApplicationShutdown();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const dataSource = t.ledger.runtime.dataSource;
    const original = dataSource.logger.logQuery.bind(dataSource.logger);
    let statements = 0;
    dataSource.logger.logQuery = (...args: Parameters<typeof original>) => {
      if (!/rate_limit_buckets|api_keys|leader_leases/.test(String(args[0]))) statements++;
      return original(...args);
    };
    try {
      for (let i = 0; i < 20; i++) expect((await view()).status).toBe(200);
    } finally {
      dataSource.logger.logQuery = original;
    }
    // one indexed lookup of the link per view (a build alone is more than ten statements)
    expect(statements).toBeLessThanOrEqual(20 + 12);
  });

  it('shows a new scan once the kept view is older than TRACK_VIEW_CACHE_MS', async () => {
    expect((await view()).events).toBe(1);
    await record(t, [await signEvent(domain, acme, eventFields({ trackingNumber: 'VC-1', carrier: 'acme', eventType: 'ARRIVED_AT_FACILITY', custodian: 'acme', occurredAt: BigInt(Date.now() - 30_000) }))]);
    await new Promise((r) => setTimeout(r, CACHE_MS + 200));
    expect((await view()).events).toBe(2);
  });

  it('a revoked link answers 404 at once, its view kept or not', async () => {
    expect((await view()).status).toBe(200);
    const r = await t.gql(`mutation($id: ID!) { revokeShareLink(id: $id) { id } }`, { id: linkId }, shopKey);
    expect(r.errors).toBeUndefined();
    expect((await view()).status).toBe(404);
  });
});
