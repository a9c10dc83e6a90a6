import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import nodePath from 'node:path';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildSchema } from 'graphql';
import { Webhook } from 'standardwebhooks';
import { startTestLedger, eventually, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import type { Wallet } from 'ethers';
import { WebhooksService } from '../../src/webhooks/webhooks.service';
import { sqlRows } from '../../src/database/data-source';

/** A real HTTP receiver: each path answers from its own script of statuses (then 200). */
interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
  answeredAt?: number;
}
class Receiver {
  readonly received: Received[] = [];
  readonly scripts = new Map<string, number[]>();
  /** how long a path takes to answer, in ms (a slow receiver) */
  readonly delays = new Map<string, number>();
  private server!: Server;
  port = 0;
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => {
        const path = req.url ?? '/';
        this.received.push({ path, headers: req.headers, body, at: Date.now() });
        const script = this.scripts.get(path);
        const status = script && script.length > 0 ? script.shift()! : path.startsWith('/down') ? 500 : 200;
        const received = this.received[this.received.length - 1];
        setTimeout(() => {
          received.answeredAt = Date.now();
          res.writeHead(status).end();
        }, this.delays.get(path) ?? 0);
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }
  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The most requests of `list` that were in flight at one moment (all of them answered). */
const maxOverlap = (list: Received[]): number => Math.max(0, ...list.map((r) => list.filter((o) => o.at <= r.at && o.answeredAt! > r.at).length));

const headersOf = (r: Received): Record<string, string> => ({
  'webhook-id': String(r.headers['webhook-id']),
  'webhook-timestamp': String(r.headers['webhook-timestamp']),
  'webhook-signature': String(r.headers['webhook-signature']),
});

const CREATE = `mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret endpoint { id url eventTypes enabled } } }`;
const DELIVERIES = `query($id: ID!) { webhookDeliveries(endpointId: $id) { id webhookId eventType status attempts { attemptedAt httpStatus error durationMs } } }`;

interface Created {
  createWebhookEndpoint: { secret: string; endpoint: { id: string; url: string; eventTypes: string[]; enabled: boolean } };
}
interface Delivery {
  id: string;
  webhookId: string;
  eventType: string;
  status: string;
  attempts: Array<{ attemptedAt: string; httpStatus: number | null; error: string | null; durationMs: number }>;
}

describe('webhooks', () => {
  let t: TestLedger;
  const receiver = new Receiver();
  let domain: CustodySigningDomain;
  let device: Wallet;
  let carrierKey: string;
  let merchantKey: string;
  let otherKey: string;
  let n = 0;
  const secrets: string[] = [];
  const logDir = mkdtempSync(nodePath.join(os.tmpdir(), 'webhook-logs-'));
  const logFile = nodePath.join(logDir, 'ledger.log');

  /** A key of the organization; with manageKeys (the default here) it manages the organization's webhook endpoints too. */
  async function key(organization: string, role: string, manageKeys = true): Promise<string> {
    const d = await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization, role, manageKeys, label: `${role} ${organization}` } });
    return d.createApiKey.key;
  }
  async function as<T>(apiKey: string, query: string, variables?: Record<string, unknown>): Promise<T> {
    const out = await t.gql<T>(query, variables, apiKey);
    if (out.errors) throw new Error(JSON.stringify(out.errors));
    return out.data!;
  }
  async function endpoint(apiKey: string, path: string, eventTypes = ['shipment.event_recorded']): Promise<Created['createWebhookEndpoint']> {
    const created = (await as<Created>(apiKey, CREATE, { i: { url: receiver.url(path), eventTypes, description: `test ${path}` } })).createWebhookEndpoint;
    secrets.push(created.secret);
    return created;
  }
  /** A new shipment of wh-carrier (merchant wh-merchant) with one recorded event. */
  async function shipmentWithEvent(): Promise<{ trackingNumber: string; eventId: string; leaf: string }> {
    const trackingNumber = `WH${String(++n).padStart(5, '0')}`;
    await createShipment(t, trackingNumber, 'wh-carrier', 'wh-merchant');
    return { trackingNumber, ...(await recordEvent(trackingNumber, 'PICKED_UP', 3_600_000)) };
  }
  async function recordEvent(trackingNumber: string, eventType: string, ago: number): Promise<{ eventId: string; leaf: string }> {
    const [r] = await record(t, [await signEvent(domain, device, eventFields({ trackingNumber, carrier: 'wh-carrier', custodian: 'wh-carrier', eventType, occurredAt: BigInt(Date.now() - ago) }))]);
    if (r.outcome !== 'ACCEPTED') throw new Error(JSON.stringify(r));
    return { eventId: r.eventId!, leaf: r.receipt!.leaf };
  }
  async function deliveries(apiKey: string, id: string): Promise<Delivery[]> {
    return (await as<{ webhookDeliveries: Delivery[] }>(apiKey, DELIVERIES, { id })).webhookDeliveries;
  }

  /** The receiver has it, and its attempt is recorded (DELIVERED): only then may a test rewrite the row, or the attempt's bookkeeping overwrites it. */
  async function deliveredFirst(path: string): Promise<Received> {
    const [first] = await eventually(async () => (receiver.at(path).length >= 1 ? receiver.at(path) : undefined), 30_000, 'the first delivery');
    await eventually(async () => {
      const [row] = await sqlRows<{ status: string }>(t.ledger.runtime.dataSource, `SELECT status FROM webhook_deliveries WHERE webhook_id = $1`, [first.headers['webhook-id']]);
      return row?.status === 'DELIVERED' ? true : undefined;
    }, 30_000, 'the first attempt to be recorded');
    return first;
  }

  beforeAll(async () => {
    await receiver.start();
    t = await startTestLedger({ WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_DISABLE_AFTER_FAILURES: '8', WEBHOOK_DISABLE_AFTER_HOURS: '0', WEBHOOK_SECRET_GRACE_HOURS: '1', WEBHOOK_POLL_MS: '50', WEBHOOK_SWEEP_MS: '1000', LOG_LEVEL: 'warn', LOG_FORMAT: 'json', LOG_FILE: logFile });
    domain = await fetchDomain(t);
    await registerOrganization(t, 'wh-carrier', 'CARRIER');
    await registerOrganization(t, 'wh-merchant', 'MERCHANT');
    await registerOrganization(t, 'wh-other', 'CARRIER');
    device = await registerKey(t, 'wh-carrier');
    await registerKey(t, 'wh-other', newWallet());
    carrierKey = await key('wh-carrier', 'CARRIER');
    merchantKey = await key('wh-merchant', 'MERCHANT');
    otherKey = await key('wh-other', 'CARRIER');
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await receiver.stop();
    rmSync(logDir, { recursive: true, force: true });
  });

  it('retries a receiver that fails five times with the same webhook-id, each signed, then delivers once', async () => {
    receiver.scripts.set('/fail5', [500, 500, 503, 500, 500]);
    const { secret, endpoint: e } = await endpoint(carrierKey, '/fail5');
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{32,}={0,2}$/);
    const ev = await shipmentWithEvent();
    await eventually(async () => (receiver.at('/fail5').length >= 6 ? true : undefined), 60_000, 'six requests');
    const got = receiver.at('/fail5');
    expect(got).toHaveLength(6);
    const ids = new Set(got.map((r) => r.headers['webhook-id']));
    expect(ids.size).toBe(1);
    const hook = new Webhook(secret);
    for (const r of got) expect(hook.verify(r.body, headersOf(r))).toBeTruthy();
    const payload = JSON.parse(got[5].body) as { type: string; data: Record<string, unknown> };
    expect(payload.type).toBe('shipment.event_recorded');
    expect(payload.data).toMatchObject({ receipt: { eventId: ev.eventId, leaf: ev.leaf, status: 'PENDING' }, trackingNumber: ev.trackingNumber, carrier: 'wh-carrier', eventType: 'PICKED_UP', custodian: 'wh-carrier' });
    expect(typeof payload.data.occurredAt).toBe('string');
    const log = await eventually(async () => {
      const d = await deliveries(carrierKey, e.id);
      return d[0]?.status === 'DELIVERED' ? d : undefined;
    });
    expect(log).toHaveLength(1);
    expect(log[0].webhookId).toBe([...ids][0]);
    expect(log[0].attempts.map((a) => a.httpStatus)).toEqual([500, 500, 503, 500, 500, 200]);
  }, 90_000);

  it('replays a delivery with the same webhook-id and a fresh signature', async () => {
    const { secret, endpoint: e } = await endpoint(carrierKey, '/replay');
    await shipmentWithEvent();
    const [first] = await eventually(async () => {
      const d = await deliveries(carrierKey, e.id);
      return d[0]?.status === 'DELIVERED' ? d : undefined;
    });
    const replayed = await as<{ replayWebhookDelivery: { id: string; status: string } }>(carrierKey, `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id status } }`, { id: first.id });
    expect(replayed.replayWebhookDelivery.id).toBe(first.id);
    await eventually(async () => (receiver.at('/replay').length >= 2 ? true : undefined), 30_000, 'the replay');
    const got = receiver.at('/replay');
    expect(got).toHaveLength(2);
    expect(got[1].headers['webhook-id']).toBe(first.webhookId);
    expect(new Webhook(secret).verify(got[1].body, headersOf(got[1]))).toBeTruthy();
    expect(got[1].body).toBe(got[0].body);
  }, 60_000);

  it('gives a delivery replayed days after it was created a full retry window (it was given up at its first failure)', async () => {
    const { endpoint: e } = await endpoint(carrierKey, '/old-replay');
    await shipmentWithEvent();
    const [first] = await eventually(async () => {
      const d = await deliveries(carrierKey, e.id);
      return d[0]?.status === 'DELIVERED' ? d : undefined;
    });
    // created three days ago, beyond WEBHOOK_RETRY_FOR_HOURS (48): the receiver lost it and asks for it again
    await sqlRows(t.ledger.runtime.dataSource, `UPDATE webhook_deliveries SET created_at = now() - interval '3 days' WHERE id = $1`, [first.id]);
    receiver.scripts.set('/old-replay', [503]);
    await mustGql(t, `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, { id: first.id });
    const [d] = await eventually(async () => {
      const list = await deliveries(carrierKey, e.id);
      return list[0]?.status !== 'PENDING' && list[0].attempts.length >= 3 ? list : undefined;
    }, 30_000, 'the replay to end');
    expect(d.attempts.map((a) => a.httpStatus)).toEqual([200, 503, 200]);
    expect(d.status).toBe('DELIVERED');
  }, 60_000);

  it('signs with the rotated secret, and with the old one too during the grace period', async () => {
    const { secret: oldSecret, endpoint: e } = await endpoint(carrierKey, '/rotate');
    const rotated = await as<{ rotateWebhookSecret: { secret: string } }>(carrierKey, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: e.id });
    const newSecret = rotated.rotateWebhookSecret.secret;
    expect(newSecret).not.toBe(oldSecret);
    await shipmentWithEvent();
    await eventually(async () => (receiver.at('/rotate').length >= 1 ? true : undefined), 30_000, 'a delivery');
    const [r] = receiver.at('/rotate');
    expect(String(r.headers['webhook-signature']).split(' ')).toHaveLength(2);
    expect(new Webhook(newSecret).verify(r.body, headersOf(r))).toBeTruthy();
    expect(new Webhook(oldSecret).verify(r.body, headersOf(r))).toBeTruthy();
    expect(() => new Webhook(`whsec_${Buffer.alloc(24, 7).toString('base64')}`).verify(r.body, headersOf(r))).toThrow();
  }, 60_000);

  it('keeps organizations apart: no registering, listing or reading another organization\'s endpoints or deliveries', async () => {
    const { endpoint: mine } = await endpoint(carrierKey, '/tenant-carrier');
    const { endpoint: merchants } = await endpoint(merchantKey, '/tenant-merchant');
    const { endpoint: others } = await endpoint(otherKey, '/tenant-other');
    const ev = await shipmentWithEvent();
    await eventually(async () => (receiver.at('/tenant-carrier').length >= 1 && receiver.at('/tenant-merchant').length >= 1 ? true : undefined), 30_000, 'both deliveries');
    expect(JSON.parse(receiver.at('/tenant-merchant')[0].body).data.receipt.eventId).toBe(ev.eventId);
    // the other carrier cannot read wh-carrier's shipment, so gets nothing of it
    expect(receiver.at('/tenant-other')).toHaveLength(0);
    const refused = await t.gql(CREATE, { i: { url: receiver.url('/x'), eventTypes: ['shipment.event_recorded'], organization: 'wh-carrier' } }, otherKey);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const listed = await as<{ webhookEndpoints: Array<{ id: string }> }>(otherKey, `{ webhookEndpoints { id } }`);
    expect(listed.webhookEndpoints.map((x) => x.id)).toEqual([others.id]);
    for (const id of [mine.id, merchants.id]) {
      const read = await t.gql(DELIVERIES, { id }, otherKey);
      expect(read.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const del = await t.gql(`mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, { id }, otherKey);
      expect(del.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
      const rot = await t.gql(`mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id }, otherKey);
      expect(rot.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
    const [d] = await deliveries(carrierKey, mine.id);
    const replay = await t.gql(`mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, { id: d.id }, otherKey);
    expect(replay.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  }, 60_000);

  it("refuses every webhook change to a key of the organization without manageKeys (a scanner's), and changes nothing", async () => {
    await registerOrganization(t, 'wh-scan', 'CARRIER');
    const scanDevice = await registerKey(t, 'wh-scan', newWallet());
    const manager = await key('wh-scan', 'CARRIER');
    // the key a scanner integration records events with: a leaked one must not redirect the organization's events
    const scanner = await key('wh-scan', 'CARRIER', false);
    const { endpoint: e } = await endpoint(manager, '/scan');
    const { endpoint: paused } = await endpoint(manager, '/scan-paused');
    await as(manager, `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: paused.id });
    const trackingNumber = `WH${String(++n).padStart(5, '0')}`;
    await createShipment(t, trackingNumber, 'wh-scan');
    const [r] = await record(t, [await signEvent(domain, scanDevice, eventFields({ trackingNumber, carrier: 'wh-scan', custodian: 'wh-scan', eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 60_000) }))], scanner);
    expect(r.outcome).toBe('ACCEPTED');
    // reading stays allowed: the endpoints and the delivery log (payloads the key reads through GraphQL anyway)
    const [delivered] = await eventually(async () => {
      const d = await deliveries(scanner, e.id);
      return d[0]?.status === 'DELIVERED' ? d : undefined;
    }, 30_000, 'the delivery');
    const listed = await as<{ webhookEndpoints: Array<{ id: string }> }>(scanner, `{ webhookEndpoints { id } }`);
    expect(listed.webhookEndpoints.map((x) => x.id).sort()).toEqual([e.id, paused.id].sort());

    const org = `(SELECT id FROM organizations WHERE slug = 'wh-scan')`;
    const webhookRows = async (): Promise<string[]> =>
      (
        await sqlRows<{ r: string }>(
          t.ledger.runtime.dataSource,
          `SELECT w::text AS r FROM webhook_endpoints w WHERE w.organization_id = ${org}
           UNION ALL SELECT d::text FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE w.organization_id = ${org}
           UNION ALL SELECT a::text FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE w.organization_id = ${org}
           ORDER BY 1`,
        )
      ).map((x) => x.r);
    const before = await webhookRows();
    expect(before.length).toBeGreaterThanOrEqual(5);
    const attacks: Array<[string, string, Record<string, unknown>]> = [
      ['createWebhookEndpoint', CREATE, { i: { url: receiver.url('/attacker'), eventTypes: ['shipment.event_recorded', 'batch.anchored'] } }],
      ['rotateWebhookSecret', `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: e.id }],
      ['disableWebhookEndpoint', `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: e.id }],
      ['enableWebhookEndpoint', `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`, { id: paused.id }],
      ['deleteWebhookEndpoint', `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, { id: e.id }],
      ['replayWebhookDelivery', `mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, { id: delivered.id }],
    ];
    // every webhook mutation of the schema is attacked here
    const schema = buildSchema(readFileSync(nodePath.join(__dirname, '../../src/schema.gql'), 'utf8'));
    expect(Object.keys(schema.getMutationType()!.getFields()).filter((f) => /webhook/i.test(f)).sort()).toEqual(attacks.map(([f]) => f).sort());
    for (const [field, query, variables] of attacks) {
      const out = await t.gql<Record<string, unknown>>(query, variables, scanner);
      expect({ field, code: out.errors?.[0]?.extensions?.code }).toEqual({ field, code: 'FORBIDDEN' });
      expect(out.errors?.[0]?.message).toMatch(/manageKeys/);
      expect(out.data?.[field] ?? null).toBeNull();
    }
    expect(await webhookRows()).toEqual(before);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(receiver.at('/attacker')).toHaveLength(0);
    expect(receiver.at('/scan')).toHaveLength(1);
    // the organization's key with manageKeys does the same
    const rotated = await as<{ rotateWebhookSecret: { secret: string } }>(manager, `mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }`, { id: e.id });
    expect(rotated.rotateWebhookSecret.secret).toMatch(/^whsec_/);
    secrets.push(rotated.rotateWebhookSecret.secret);
  }, 60_000);

  it('delivers a shipment\'s events to an endpoint in order, holding the later one until the earlier succeeded', async () => {
    receiver.scripts.set('/order', [500, 500, 500]);
    await endpoint(carrierKey, '/order');
    const first = await shipmentWithEvent();
    const second = await recordEvent(first.trackingNumber, 'ARRIVED_AT_FACILITY', 1_800_000);
    await eventually(async () => (receiver.at('/order').length >= 5 ? true : undefined), 60_000, 'five requests');
    const ids = receiver.at('/order').map((r) => JSON.parse(r.body).data.receipt.eventId as string);
    expect(ids).toEqual([first.eventId, first.eventId, first.eventId, first.eventId, second.eventId]);
  }, 90_000);

  it('disables an endpoint that keeps failing, with a reason and time', async () => {
    const { endpoint: e } = await endpoint(carrierKey, '/down-always');
    await shipmentWithEvent();
    const ep = await eventually(async () => {
      const list = await as<{ webhookEndpoints: Array<{ id: string; enabled: boolean; disabledReason: string | null; disabledAt: string | null }> }>(carrierKey, `{ webhookEndpoints { id enabled disabledReason disabledAt } }`);
      const found = list.webhookEndpoints.find((x) => x.id === e.id);
      return found && !found.enabled ? found : undefined;
    }, 60_000, 'disabled');
    expect(ep.disabledReason).toMatch(/failed/);
    expect(ep.disabledAt).not.toBeNull();
    const count = receiver.at('/down-always').length;
    expect(count).toBe(8);
  }, 90_000);

  it('announces an anchored batch to the endpoints subscribed to batch.anchored, signed like the rest', async () => {
    const { secret } = await endpoint(merchantKey, '/batches', ['batch.anchored']);
    await shipmentWithEvent();
    const sealed = await mustGql<{ sealBatch: { seq: string; root: string } }>(t, `mutation { sealBatch { seq root } }`);
    const got = await eventually(async () => {
      const all = receiver.at('/batches').map((r) => ({ r, body: JSON.parse(r.body) as { type: string; data: { seq: string; root: string; txHash: string } } }));
      return all.find((x) => x.body.data.seq === sealed.sealBatch.seq);
    }, 60_000, 'batch.anchored');
    expect(got.body.type).toBe('batch.anchored');
    expect(got.body.data.root).toBe(sealed.sealBatch.root);
    expect(got.body.data.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(new Webhook(secret).verify(got.r.body, headersOf(got.r))).toBeTruthy();
  }, 90_000);

  it('keeps a delivery committed with its event while the queue is stopped, and sends it when the queue runs again', async () => {
    const webhooks = t.ledger.app.get(WebhooksService);
    const { secret, endpoint: e } = await endpoint(carrierKey, '/durable');
    await webhooks.onApplicationShutdown();
    const ev = await shipmentWithEvent();
    // committed with the event: the outbox row and its pg-boss job, nothing sent yet
    const [row] = await deliveries(carrierKey, e.id);
    expect(row.status).toBe('PENDING');
    expect(row.attempts).toHaveLength(0);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(receiver.at('/durable')).toHaveLength(0);
    await webhooks.onApplicationBootstrap();
    await eventually(async () => (receiver.at('/durable').length >= 1 ? true : undefined), 30_000, 'the delivery after the restart');
    const [r] = receiver.at('/durable');
    expect(r.headers['webhook-id']).toBe(row.webhookId);
    expect(JSON.parse(r.body).data.receipt.eventId).toBe(ev.eventId);
    expect(new Webhook(secret).verify(r.body, headersOf(r))).toBeTruthy();
  }, 60_000);

  it('counts deliveries by outcome, the queue depth and the endpoints disabled in /metrics', async () => {
    const text = await (await fetch(new URL('/metrics', t.url))).text();
    const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    expect(value('custody_webhook_endpoints_disabled_total')).toBe(1);
    expect(value('custody_webhook_deliveries_total{outcome="delivered"}')).toBeGreaterThanOrEqual(7);
    expect(value('custody_webhook_deliveries_total{outcome="failed"}')).toBeGreaterThanOrEqual(16);
    expect(value('custody_webhook_queue_depth')).toBeGreaterThanOrEqual(0);
  });

  it('keeps the 20-endpoint cap under concurrent registrations', async () => {
    await registerOrganization(t, 'wh-cap', 'MERCHANT');
    const answers = await Promise.all(
      Array.from({ length: 26 }, (_, i) => t.gql<Created>(CREATE, { i: { organization: 'wh-cap', url: receiver.url(`/cap-${i}`), eventTypes: ['shipment.event_recorded'] } })),
    );
    const [{ n }] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM webhook_endpoints w JOIN organizations o ON o.id = w.organization_id WHERE o.slug = 'wh-cap' AND w.deleted_at IS NULL`);
    expect(n).toBe(20);
    expect(answers.filter((a) => !a.errors)).toHaveLength(20);
    expect(answers.filter((a) => a.errors?.[0]?.extensions?.code === 'VALIDATION_FAILED')).toHaveLength(6);
  }, 60_000);

  it('never shows a secret in a list, a delivery log or an error', async () => {
    const { secret, endpoint: e } = await endpoint(carrierKey, '/secretive');
    const answers = [
      await t.gql(`{ webhookEndpoints { id url eventTypes description enabled } }`, {}, carrierKey),
      await t.gql(DELIVERIES, { id: e.id }, carrierKey),
      await t.gql(CREATE, { i: { url: 'not a url', eventTypes: ['shipment.event_recorded'] } }, carrierKey),
      await t.gql(CREATE, { i: { url: receiver.url('/y'), eventTypes: ['no.such.type'] } }, carrierKey),
    ];
    const base = secret.slice('whsec_'.length);
    for (const a of answers) expect(JSON.stringify(a)).not.toContain(base);
    expect(answers[2].errors?.[0]?.extensions?.code).toBe('INVALID_WEBHOOK_URL');
    expect(answers[3].errors?.[0]?.extensions?.code).toBe('UNKNOWN_WEBHOOK_EVENT_TYPE');
  });

  // ---- the attacker's review of the merged webhooks (each failed before its fix) ----

  it('keeps the events recorded while an endpoint is disabled, and sends them when it is enabled again', async () => {
    const { secret, endpoint: e } = await endpoint(carrierKey, '/paused');
    await as(carrierKey, `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: e.id });
    const ev = await shipmentWithEvent();
    await as(carrierKey, `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`, { id: e.id });
    const [r] = await eventually(async () => (receiver.at('/paused').length >= 1 ? receiver.at('/paused') : undefined), 30_000, 'the delivery kept while disabled');
    expect(JSON.parse(r.body).data.receipt.eventId).toBe(ev.eventId);
    expect(new Webhook(secret).verify(r.body, headersOf(r))).toBeTruthy();
  }, 60_000);

  it('sends nothing to a hub about the events before it held the parcel', async () => {
    await registerOrganization(t, 'wh-hub', 'HUB');
    const hubDevice = await registerKey(t, 'wh-hub', newWallet());
    const hubKey = await key('wh-hub', 'CARRIER');
    await endpoint(hubKey, '/hub');
    const trackingNumber = `WH${String(++n).padStart(5, '0')}`;
    await createShipment(t, trackingNumber, 'wh-carrier', 'wh-merchant');
    const at = (ago: number): bigint => BigInt(Date.now() - ago);
    const results = await record(t, [
      await signEvent(domain, device, eventFields({ trackingNumber, carrier: 'wh-carrier', custodian: 'wh-carrier', eventType: 'PICKED_UP', occurredAt: at(3_600_000) })),
      await signEvent(domain, hubDevice, eventFields({ trackingNumber, carrier: 'wh-carrier', custodian: 'wh-hub', eventType: 'HANDOFF', occurredAt: at(1_800_000) }), device),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
    await eventually(async () => (receiver.at('/hub').length >= 1 ? true : undefined), 30_000, 'the hub delivery');
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const types = receiver.at('/hub').map((r) => (JSON.parse(r.body) as { data: { eventType: string } }).data.eventType);
    expect(types).toEqual(['HANDOFF']);
  }, 60_000);

  it('gives a delivery that stayed PENDING after a failed bookkeeping step another attempt (it used to stall for good, and the shipment behind it)', async () => {
    await endpoint(carrierKey, '/stall');
    await shipmentWithEvent();
    const first = await deliveredFirst('/stall');
    // the state a failed recordAttempt leaves (the POST went out, the row was not updated): PENDING,
    // still reserved; pg-boss' own retry of the job then arrives inside the reservation
    const [row] = await sqlRows<{ id: string }>(t.ledger.runtime.dataSource, `UPDATE webhook_deliveries SET status = 'PENDING', finished_at = NULL, claimed_until = now() + interval '1 second' WHERE webhook_id = $1 RETURNING id`, [first.headers['webhook-id']]);
    await t.ledger.app.get(WebhooksService).deliver(row.id);
    const again = await eventually(async () => (receiver.at('/stall').length >= 2 ? receiver.at('/stall')[1] : undefined), 30_000, 'the attempt after the reservation');
    expect(again.headers['webhook-id']).toBe(first.headers['webhook-id']);
  }, 60_000);

  it('queues a job again when the reservation it met ended before it could queue itself (CI on PostgreSQL: the delivery stalled for good)', async () => {
    await endpoint(carrierKey, '/stall-race');
    await shipmentWithEvent();
    const first = await deliveredFirst('/stall-race');
    // a job's claim met the reservation of a failed bookkeeping step; by the time it looks for
    // when to come back, the reservation has just ended: the state it then reads
    const [row] = await sqlRows<{ id: string }>(t.ledger.runtime.dataSource, `UPDATE webhook_deliveries SET status = 'PENDING', finished_at = NULL, claimed_until = now() - interval '1 millisecond' WHERE webhook_id = $1 RETURNING id`, [first.headers['webhook-id']]);
    const service = t.ledger.app.get(WebhooksService) as unknown as { requeueIfReserved(id: string): Promise<void> };
    await service.requeueIfReserved(row.id);
    const again = await eventually(async () => (receiver.at('/stall-race').length >= 2 ? receiver.at('/stall-race')[1] : undefined), 30_000, 'the attempt after the reservation ended');
    expect(again.headers['webhook-id']).toBe(first.headers['webhook-id']);
  }, 60_000);

  it('sends a delivery whose job was lost (pg-boss gave it up after its retries in a long outage): the sweeper queues it again', async () => {
    await endpoint(carrierKey, '/lost-job');
    await shipmentWithEvent();
    const first = await deliveredFirst('/lost-job');
    // PENDING, due, claimed by nobody, and no job left for it in the queue
    await sqlRows(t.ledger.runtime.dataSource, `UPDATE webhook_deliveries SET status = 'PENDING', finished_at = NULL, claimed_until = NULL, next_attempt_at = now() - interval '10 minutes' WHERE webhook_id = $1`, [first.headers['webhook-id']]);
    const again = await eventually(async () => (receiver.at('/lost-job').length >= 2 ? receiver.at('/lost-job')[1] : undefined), 30_000, 'the swept delivery');
    expect(again.headers['webhook-id']).toBe(first.headers['webhook-id']);
  }, 60_000);

  it('sends nothing to a suspended organization', async () => {
    await endpoint(merchantKey, '/suspended');
    const trackingNumber = `WH${String(++n).padStart(5, '0')}`;
    await createShipment(t, trackingNumber, 'wh-carrier', 'wh-merchant');
    await mustGql(t, `mutation { suspendOrganization(slug: "wh-merchant", reason: "review") { slug } }`);
    try {
      // the carrier goes on scanning the merchant's parcel
      await recordEvent(trackingNumber, 'PICKED_UP', 3_600_000);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(receiver.at('/suspended')).toHaveLength(0);
    } finally {
      await mustGql(t, `mutation { reinstateOrganization(slug: "wh-merchant") { slug } }`);
    }
  }, 60_000);

  it('sends what waited for a suspended organization once it is reinstated', async () => {
    const { endpoint: e } = await endpoint(merchantKey, '/reinstated');
    await as(merchantKey, `mutation($id: ID!) { disableWebhookEndpoint(id: $id) { id } }`, { id: e.id });
    const ev = await shipmentWithEvent();
    await mustGql(t, `mutation { suspendOrganization(slug: "wh-merchant", reason: "review") { slug } }`);
    try {
      // enabled while suspended (by the platform admin): its job finds the organization suspended
      await mustGql(t, `mutation($id: ID!) { enableWebhookEndpoint(id: $id) { id } }`, { id: e.id });
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(receiver.at('/reinstated')).toHaveLength(0);
    } finally {
      await mustGql(t, `mutation { reinstateOrganization(slug: "wh-merchant") { slug } }`);
    }
    const [r] = await eventually(async () => (receiver.at('/reinstated').length >= 1 ? receiver.at('/reinstated') : undefined), 30_000, 'the delivery kept while suspended');
    expect(JSON.parse(r.body).data.receipt.eventId).toBe(ev.eventId);
  }, 60_000);

  it("keeps one organization's slow receiver from holding up another organization's deliveries", async () => {
    await registerOrganization(t, 'wh-slow', 'CARRIER');
    await registerOrganization(t, 'wh-fast', 'MERCHANT');
    const slowDevice = await registerKey(t, 'wh-slow', newWallet());
    const admin = (q: string, v: Record<string, unknown>) => mustGql<Created>(t, q, v);
    await admin(CREATE, { i: { organization: 'wh-slow', url: receiver.url('/slow'), eventTypes: ['shipment.event_recorded'] } });
    receiver.delays.set('/slow', 2_000);
    const scan = async (): Promise<void> => {
      const trackingNumber = `WH${String(++n).padStart(5, '0')}`;
      await createShipment(t, trackingNumber, 'wh-slow', 'wh-fast');
      const [r] = await record(t, [await signEvent(domain, slowDevice, eventFields({ trackingNumber, carrier: 'wh-slow', custodian: 'wh-slow', eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 3_600_000) }))]);
      expect(r.outcome).toBe('ACCEPTED');
    };
    try {
      // twelve parcels (no order between them): the slow carrier's receiver takes 2 s for each
      for (let i = 0; i < 12; i++) await scan();
      await eventually(async () => (receiver.at('/slow').length >= 1 ? true : undefined), 30_000, 'the first slow delivery');
      await admin(CREATE, { i: { organization: 'wh-fast', url: receiver.url('/fast'), eventTypes: ['shipment.event_recorded'] } });
      await scan();
      const [fast] = await eventually(async () => (receiver.at('/fast').length >= 1 ? receiver.at('/fast') : undefined), 60_000, "the merchant's delivery");
      const slowAnswered = receiver.at('/slow').filter((r) => r.answeredAt !== undefined && r.answeredAt <= fast.at).length;
      // the merchant waited for at most a couple of the carrier's slow answers, not for a queue of them
      expect(slowAnswered).toBeLessThanOrEqual(4);
    } finally {
      receiver.delays.delete('/slow');
    }
    const slow = await eventually(async () => (receiver.at('/slow').every((r) => r.answeredAt !== undefined) && receiver.at('/slow').length >= 13 ? receiver.at('/slow') : undefined), 60_000, 'the slow deliveries to drain');
    // never more than WEBHOOK_ORGANIZATION_CONCURRENCY (2) of the carrier's attempts at once
    expect(maxOverlap(slow)).toBeLessThanOrEqual(2);
    expect(new Set(slow.map((r) => r.headers['webhook-id'])).size).toBe(13);
  }, 120_000);

  // ---- the review of the fair share (each failed before its fix) ----

  /** A carrier of its own (so no other test's attempts count against its share) and a way to scan a new parcel of it. */
  async function tenant(slug: string): Promise<{ endpoint(path: string): Promise<string>; scan(): Promise<void> }> {
    await registerOrganization(t, slug, 'CARRIER');
    const wallet = await registerKey(t, slug, newWallet());
    return {
      endpoint: async (path) => (await mustGql<Created>(t, CREATE, { i: { organization: slug, url: receiver.url(path), eventTypes: ['shipment.event_recorded'] } })).createWebhookEndpoint.endpoint.id,
      scan: async () => {
        const trackingNumber = `WH${String(++n).padStart(5, '0')}`;
        await createShipment(t, trackingNumber, slug);
        const [r] = await record(t, [await signEvent(domain, wallet, eventFields({ trackingNumber, carrier: slug, custodian: slug, eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 3_600_000) }))]);
        expect(r.outcome).toBe('ACCEPTED');
      },
    };
  }
  const answered = (list: Received[]): Received[] | undefined => (list.every((r) => r.answeredAt !== undefined) ? list : undefined);

  it('refuses to replay a delivery while its attempt is in flight (a second, concurrent send past the fair share)', async () => {
    const org = await tenant('wh-replayer');
    const id = await org.endpoint('/replay-busy');
    receiver.delays.set('/replay-busy', 1_500);
    try {
      await org.scan();
      await eventually(async () => (receiver.at('/replay-busy').length >= 1 ? true : undefined), 30_000, 'the attempt in flight');
      const [d] = (await mustGql<{ webhookDeliveries: Delivery[] }>(t, DELIVERIES, { id })).webhookDeliveries;
      const replays = await Promise.all([1, 2, 3].map(() => t.gql(`mutation($id: ID!) { replayWebhookDelivery(id: $id) { id } }`, { id: d.id })));
      for (const r of replays) {
        expect(r.errors?.[0]?.extensions?.code).toBe('VALIDATION_FAILED');
        expect(r.errors?.[0]?.message).toMatch(/being sent right now: replay it once/);
      }
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const got = await eventually(async () => answered(receiver.at('/replay-busy')), 10_000, 'the answers');
      expect(got).toHaveLength(1);
    } finally {
      receiver.delays.delete('/replay-busy');
    }
  }, 60_000);

  it("keeps counting a deleted endpoint's attempts in flight against its organization's share, and records them without an error", async () => {
    const org = await tenant('wh-deleter');
    const first = await org.endpoint('/deleted-slow');
    receiver.delays.set('/deleted-slow', 1_500);
    receiver.delays.set('/after-delete', 1_500);
    try {
      await org.scan();
      await org.scan();
      await eventually(async () => (receiver.at('/deleted-slow').length >= 2 ? true : undefined), 30_000, 'two attempts in flight');
      await mustGql(t, `mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }`, { id: first });
      await org.endpoint('/after-delete');
      await org.scan();
      await org.scan();
      const all = await eventually(async () => (receiver.at('/after-delete').length >= 2 ? answered([...receiver.at('/deleted-slow'), ...receiver.at('/after-delete')]) : undefined), 30_000, 'the deliveries after the delete');
      // never more than WEBHOOK_ORGANIZATION_CONCURRENCY (2) of the organization's attempts at once
      expect(maxOverlap(all)).toBeLessThanOrEqual(2);
      // the attempts that were in flight are gone with their endpoint once they ended
      const left = await eventually(async () => {
        const [{ n: count }] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1`, [first]);
        return count === 0 ? count : undefined;
      }, 10_000, 'the deleted endpoint\'s deliveries to go');
      expect(left).toBe(0);
      expect(readFileSync(logFile, 'utf8')).not.toMatch(/webhook_attempts|foreign key/);
      // one whose worker died mid-attempt: the job pg-boss retries removes it (it never ends otherwise)
      const [crashed] = await sqlRows<{ id: string }>(t.ledger.runtime.dataSource, `INSERT INTO webhook_deliveries (endpoint_id, webhook_id, event_type, payload, claimed_until) VALUES ($1, 'msg_crashed', 'shipment.event_recorded', '{}', now() - interval '1 second') RETURNING id`, [first]);
      await t.ledger.app.get(WebhooksService).deliver(crashed.id);
      expect(await sqlRows(t.ledger.runtime.dataSource, `SELECT id FROM webhook_deliveries WHERE id = $1`, [crashed.id])).toEqual([]);
    } finally {
      receiver.delays.delete('/deleted-slow');
      receiver.delays.delete('/after-delete');
    }
  }, 60_000);

  it('leaves the deliveries parked behind an organization at its share to the wake-up, instead of sweeping them into jobs that park again', async () => {
    const org = await tenant('wh-parker');
    const id = await org.endpoint('/parked');
    receiver.delays.set('/parked', 2_000);
    const db = t.ledger.runtime.dataSource;
    try {
      for (let i = 0; i < 4; i++) await org.scan();
      await eventually(async () => {
        const [{ n: parked }] = await sqlRows<{ n: number }>(db, `SELECT count(*)::int AS n FROM webhook_deliveries WHERE endpoint_id = $1 AND parked_at IS NOT NULL`, [id]);
        return parked === 2 ? true : undefined;
      }, 30_000, 'two parked deliveries');
      // parked long ago (a backlog), and the organization still at its share: a sweep leaves them be
      await sqlRows(db, `UPDATE webhook_deliveries SET created_at = now() - interval '10 minutes', next_attempt_at = now() - interval '10 minutes' WHERE endpoint_id = $1 AND parked_at IS NOT NULL`, [id]);
      await t.ledger.app.get(WebhooksService).sweep();
      const rows = await sqlRows<{ parked: boolean; swept: boolean }>(db, `SELECT parked_at IS NOT NULL AS parked, swept_at IS NOT NULL AS swept FROM webhook_deliveries WHERE endpoint_id = $1 AND claimed_until IS NULL`, [id]);
      expect(rows).toEqual([{ parked: true, swept: false }, { parked: true, swept: false }]);
      const got = await eventually(async () => (receiver.at('/parked').length >= 4 ? answered(receiver.at('/parked')) : undefined), 30_000, 'the parked deliveries');
      expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(4);
      expect(maxOverlap(got)).toBeLessThanOrEqual(2);
    } finally {
      receiver.delays.delete('/parked');
    }
    // a parked delivery whose wake-up was lost (its organization has free slots): the sweeper sends it
    const [lost] = await sqlRows<{ webhook_id: string }>(db, `UPDATE webhook_deliveries SET status = 'PENDING', finished_at = NULL, parked_at = now() - interval '10 minutes', swept_at = NULL, next_attempt_at = now() - interval '10 minutes'
      WHERE id = (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY seq LIMIT 1) RETURNING webhook_id`, [id]);
    await eventually(async () => (receiver.at('/parked').filter((r) => r.headers['webhook-id'] === lost.webhook_id).length >= 2 ? true : undefined), 30_000, 'the swept parked delivery');
  }, 60_000);

  it('logs the disabling of an endpoint, and never a secret', async () => {
    const log = await eventually(async () => {
      const text = readFileSync(logFile, 'utf8');
      return /webhook endpoint [0-9a-f-]{36} disabled/.test(text) ? text : undefined;
    }, 10_000, 'the warning');
    expect(secrets.length).toBeGreaterThan(5);
    for (const secret of secrets) expect(log).not.toContain(secret.slice('whsec_'.length));
  });
});

describe('webhooks in production mode (SSRF)', () => {
  let t: TestLedger;
  const receiver = new Receiver();

  beforeAll(async () => {
    await receiver.start();
    t = await startTestLedger({ WEBHOOK_RETRY_BASE_MS: '20', WEBHOOK_POLL_MS: '50', WEBHOOK_ALLOWED_HOSTS: 'localhost' }, (c) => ({ ...c, production: true }));
    await registerOrganization(t, 'ssrf-carrier', 'CARRIER');
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    await receiver.stop();
  });

  it.each([
    'http://127.0.0.1:8080/hook',
    'https://127.0.0.1/hook',
    'https://10.1.2.3/hook',
    'https://192.168.0.1/hook',
    'https://172.16.5.5/hook',
    'https://169.254.169.254/latest/meta-data',
    'https://100.64.0.1/hook',
    'https://[::1]/hook',
    'https://[fd00::1]/hook',
    'https://[fe80::1]/hook',
    'https://[::ffff:127.0.0.1]/hook',
    // IPv6 forms that carry an IPv4 address: IPv4-compatible, local-use NAT64, 6to4, Teredo, SIIT
    'https://[::127.0.0.1]/hook',
    'https://[64:ff9b:1::a9fe:a9fe]/hook',
    'https://[2002:a9fe:a9fe::1]/hook',
    'https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook',
    'https://[::ffff:0:a9fe:a9fe]/hook',
    'https://0.0.0.0/hook',
    'http://example.com/hook',
  ])('refuses %s at registration', async (url) => {
    const before = await t.fingerprint();
    const out = await t.gql(CREATE, { i: { url, eventTypes: ['shipment.event_recorded'], organization: 'ssrf-carrier' } });
    expect(out.errors?.[0]?.extensions?.code).toBe('WEBHOOK_URL_REFUSED');
    expect(await t.fingerprint()).toEqual(before);
  });

  it('refuses a private address again at delivery time, when the allow-list no longer holds the host', async () => {
    const created = await mustGql<Created>(t, CREATE, { i: { url: `http://localhost:${receiver.port}/late`, eventTypes: ['shipment.event_recorded'], organization: 'ssrf-carrier' } });
    const id = created.createWebhookEndpoint.endpoint.id;
    // the host was allowed when registered; now it is not (as if its DNS name had been re-pointed at a private address)
    t.ledger.runtime.config.webhooks.allowedHosts = [];
    const domain = await fetchDomain(t);
    const device = await registerKey(t, 'ssrf-carrier');
    await createShipment(t, 'SSRF0001', 'ssrf-carrier');
    const [r] = await record(t, [await signEvent(domain, device, eventFields({ trackingNumber: 'SSRF0001', carrier: 'ssrf-carrier', custodian: 'ssrf-carrier', eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 60_000) }))]);
    expect(r.outcome).toBe('ACCEPTED');
    const attempts = await eventually(async () => {
      const d = (await mustGql<{ webhookDeliveries: Delivery[] }>(t, DELIVERIES, { id })).webhookDeliveries;
      return d[0]?.attempts.length ? d[0].attempts : undefined;
    }, 30_000, 'an attempt');
    expect(attempts[0].httpStatus).toBeNull();
    expect(attempts[0].error).toMatch(/WEBHOOK_URL_REFUSED/);
    expect(receiver.received).toHaveLength(0);
  }, 60_000);
});
