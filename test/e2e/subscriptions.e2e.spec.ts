import { LiveUpdatesService } from '../../src/live/live-updates.service';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import { ended, receivedCount, subscribe, wsClient } from '../support/subscriptions';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import type { Wallet } from 'ethers';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * Issue 13, live updates: GraphQL subscriptions over graphql-ws on the same server and path as
 * /graphql, over a real WebSocket, on one ledger (PGlite without DATABASE_URL, else PostgreSQL).
 * The attacks first: no, bad or revoked keys; another carrier's shipment; another tenant's
 * incidents; oversized, too complex and too many subscriptions. Two replicas: subscriptions-replicas.e2e.spec.ts.
 */
const SHIPMENT_UPDATED = `subscription($n: String!, $c: String!) { shipmentUpdated(trackingNumber: $n, carrier: $c) { shipment { trackingNumber status } event { eventId eventType status } } }`;
const BATCH_ANCHORED = `subscription { batchAnchored { seq status leafCount } }`;
const INCIDENT_RAISED = `subscription($f: IncidentFilterInput) { incidentRaised(filter: $f) { trackingNumber carrier finding { code severity eventIds } } }`;

interface ShipmentUpdate {
  shipmentUpdated: { shipment: { trackingNumber: string; status: string }; event: { eventId: string; eventType: string; status: string } };
}
interface IncidentRaised {
  incidentRaised: { trackingNumber: string; carrier: string; finding: { code: string; severity: string; eventIds: string[] } };
}

describe('GraphQL subscriptions over graphql-ws (issue 13)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  const devices = new Map<string, Wallet>();
  const keys = new Map<string, { key: string; id: string }>();
  const clients: Client[] = [];
  let n = 0;

  const client = (key: string | null): Client => {
    const c = wsClient(t, key);
    clients.push(c);
    return c;
  };
  const live = () => t.ledger.app.get(LiveUpdatesService);
  /** subscriptions start asynchronously: wait until the server holds `count` of them */
  const serverHolds = (count: number) => eventually(async () => (live().subscriberCount() >= count ? true : undefined), 30_000, `${count} subscriptions on the server`);

  async function createKey(organization: string | null, role: string): Promise<{ key: string; id: string }> {
    const d = await mustGql<{ createApiKey: { key: string; apiKey: { id: string } } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key apiKey { id } } }`, {
      i: { organization, role, manageKeys: false, label: `${role} of ${organization}` },
    });
    return { key: d.createApiKey.key, id: d.createApiKey.apiKey.id };
  }

  /** A new shipment of `carrier` for `merchant`, picked up in Berlin. */
  async function newShipment(carrier: string, merchant: string): Promise<string> {
    const trackingNumber = `LIVE${String(++n).padStart(4, '0')}`;
    await createShipment(t, trackingNumber, carrier, merchant);
    const [r] = await record(t, [await signEvent(domain, devices.get(carrier)!, eventFields({ trackingNumber, carrier, custodian: carrier, eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 600_000) }))]);
    expect(r.outcome).toBe('ACCEPTED');
    return trackingNumber;
  }

  /** A DEPARTED_FACILITY scan in New York one minute after the Berlin pick-up: an IMPOSSIBLE_SPEED (HIGH) finding. */
  async function teleport(carrier: string, trackingNumber: string): Promise<string> {
    const fields = eventFields({ trackingNumber, carrier, custodian: carrier, eventType: 'DEPARTED_FACILITY', occurredAt: BigInt(Date.now() - 540_000), latE6: 40_712_776, lonE6: -74_005_974 });
    const [r] = await record(t, [await signEvent(domain, devices.get(carrier)!, fields)]);
    expect({ outcome: r.outcome, error: r.error }).toEqual({ outcome: 'ACCEPTED', error: null });
    return fields.eventId;
  }

  beforeAll(async () => {
    t = await startTestLedger({ SUBSCRIPTIONS_PER_CONNECTION: '3', WS_CONNECTIONS_PER_KEY: '4', WS_CONNECTIONS_PER_ORGANIZATION: '8', MAX_QUERY_BYTES: '2048' });
    domain = await fetchDomain(t);
    for (const [slug, kind] of [['live-post', 'CARRIER'], ['rival-post', 'CARRIER'], ['shop-a', 'MERCHANT'], ['shop-b', 'MERCHANT']] as const) {
      await registerOrganization(t, slug, kind);
      if (kind === 'CARRIER') devices.set(slug, await registerKey(t, slug));
      keys.set(slug, await createKey(slug, kind));
    }
    for (const carrier of ['live-post', 'rival-post']) {
      for (const merchant of ['shop-a', 'shop-b']) {
        await mustGql(t, `mutation($c: String!, $m: String!) { registerCarrierContract(carrier: $c, merchant: $m) { active } }`, { c: carrier, m: merchant });
      }
    }
  }, 120_000);

  // each test starts from no subscriptions on the server, so serverHolds(n) counts its own
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.dispose();
    await eventually(async () => (live().subscriberCount() === 0 ? true : undefined), 30_000, 'no subscriptions left');
  });

  afterAll(async () => {
    await t?.stop();
  });

  describe('attacks', () => {
    it('refuses a connection without a key, with a made-up key and with a revoked key (4401 UNAUTHENTICATED)', async () => {
      const revoked = await createKey('live-post', 'CARRIER');
      await mustGql(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: revoked.id });
      for (const key of [null, 'cl_000000000000_' + '0'.repeat(48), 'not-a-key', revoked.key]) {
        const got = await ended(subscribe(client(key), BATCH_ANCHORED), `refusal of ${key}`);
        expect(got.closed?.code).toBe(4401);
        expect(got.closed?.reason).toMatch(/^UNAUTHENTICATED: /);
        expect(got.data).toEqual([]);
      }
    });

    it('checks the key again at every subscription start: a key revoked on an open connection starts nothing more', async () => {
      const k = await createKey('live-post', 'CARRIER');
      const c = client(k.key);
      const first = subscribe(c, BATCH_ANCHORED);
      await serverHolds(1);
      await mustGql(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: k.id });
      const second = await ended(subscribe(c, BATCH_ANCHORED), 'refused start');
      expect(second.errors.map((e) => e.extensions?.code)).toEqual(['UNAUTHENTICATED']);
      first.stop();
    });

    it('ends an open subscription once its key is revoked: the next update closes the connection (4401) and delivers nothing', async () => {
      const k = await createKey('live-post', 'CARRIER');
      const trackingNumber = await newShipment('live-post', 'shop-a');
      const got = subscribe<ShipmentUpdate>(client(k.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' });
      await serverHolds(1);
      await mustGql(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id: k.id });
      await teleport('live-post', trackingNumber);
      const closed = await ended(got, 'the revoked subscription to end');
      expect(closed.closed?.code).toBe(4401);
      expect(closed.closed?.reason).toMatch(/^UNAUTHENTICATED: /);
      expect(closed.data).toEqual([]);
    });

    it("a suspended organization's key: its open subscription is closed (4403) at the next update, and it cannot connect", async () => {
      const trackingNumber = await newShipment('live-post', 'shop-b');
      const got = subscribe<ShipmentUpdate>(client(keys.get('shop-b')!.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' });
      await serverHolds(1);
      await mustGql(t, `mutation { suspendOrganization(slug: "shop-b", reason: "subscription test") { slug } }`);
      try {
        await teleport('live-post', trackingNumber);
        const closed = await ended(got, 'the suspended subscription to end');
        expect(closed.closed).toEqual({ code: 4403, reason: expect.stringMatching(/^ORGANIZATION_SUSPENDED: /) });
        expect(closed.data).toEqual([]);
        const again = await ended(subscribe(client(keys.get('shop-b')!.key), BATCH_ANCHORED), 'refused connection');
        expect(again.closed?.code).toBe(4403);
      } finally {
        await mustGql(t, `mutation { reinstateOrganization(slug: "shop-b") { slug } }`);
      }
    });

    it('serves only subscriptions over WebSocket: a query or a mutation is refused (BAD_REQUEST)', async () => {
      const c = client(keys.get('live-post')!.key);
      for (const query of ['{ custodySigningSpec { version } }', 'mutation { sealBatch { seq } }']) {
        const got = await ended(subscribe(c, query), query);
        expect(got.errors.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
        expect(got.data).toEqual([]);
      }
    });

    it("gives a carrier subscribing to another carrier's shipment the answer for a shipment that does not exist, and nothing of it", async () => {
      const theirs = await newShipment('rival-post', 'shop-a');
      const intruder = client(keys.get('live-post')!.key);
      const stranger = await ended(subscribe<ShipmentUpdate>(intruder, SHIPMENT_UPDATED, { n: theirs, c: 'rival-post' }), 'stranger refused');
      const missing = await ended(subscribe<ShipmentUpdate>(intruder, SHIPMENT_UPDATED, { n: 'NO-SUCH-PARCEL', c: 'rival-post' }), 'missing refused');
      const query = await t.gql(`query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { id } }`, { n: theirs, c: 'rival-post' }, keys.get('live-post')!.key);
      expect(stranger.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect(stranger.errors[0].message).toBe(`carrier "rival-post" has no shipment "${theirs}"`);
      expect(stranger.errors[0].message).toBe(query.errors![0].message);
      expect(missing.errors[0].message).toBe(`carrier "rival-post" has no shipment "NO-SUCH-PARCEL"`);
      // the rightful carrier is answered on the same shipment (the refusal is about the caller)
      const owner = subscribe<ShipmentUpdate>(client(keys.get('rival-post')!.key), SHIPMENT_UPDATED, { n: theirs, c: 'rival-post' });
      await serverHolds(1);
      const eventId = await teleport('rival-post', theirs);
      const [update] = await receivedCount(owner, 1, "the owner's update");
      expect(update.shipmentUpdated.event).toEqual({ eventId, eventType: 'DEPARTED_FACILITY', status: 'PENDING' });
      expect(stranger.data).toEqual([]);
      owner.stop();
    });

    it("does not leak another tenant's incidents to a merchant's incidentRaised", async () => {
      const mine = await newShipment('live-post', 'shop-a');
      const theirs = await newShipment('live-post', 'shop-b');
      const shopA = subscribe<IncidentRaised>(client(keys.get('shop-a')!.key), INCIDENT_RAISED, { f: { minSeverity: 'HIGH' } });
      const shopB = subscribe<IncidentRaised>(client(keys.get('shop-b')!.key), INCIDENT_RAISED, { f: { minSeverity: 'HIGH' } });
      await serverHolds(2);
      const theirEvent = await teleport('live-post', theirs); // shop-b's incident first
      const myEvent = await teleport('live-post', mine);
      const [own] = await receivedCount(shopA, 1, "shop-a's own incident");
      expect(own.incidentRaised).toMatchObject({ trackingNumber: mine, carrier: 'live-post', finding: { code: 'IMPOSSIBLE_SPEED', severity: 'HIGH' } });
      expect(own.incidentRaised.finding.eventIds).toContain(myEvent);
      const [other] = await receivedCount(shopB, 1, "shop-b's own incident");
      expect(other.incidentRaised.trackingNumber).toBe(theirs);
      expect(other.incidentRaised.finding.eventIds).toContain(theirEvent);
      // shop-b's incident was raised before shop-a's: had it leaked, shop-a would have it first
      expect(shopA.data.map((d) => d.incidentRaised.trackingNumber)).toEqual([mine]);
      shopA.stop();
      shopB.stop();
    });

    it('refuses an oversized subscription document (QUERY_TOO_LARGE) and one with too many aliases (TOO_MANY_ALIASES)', async () => {
      const c = client(keys.get('live-post')!.key);
      const large = await ended(subscribe(c, `subscription { batchAnchored { seq ${' '.repeat(3000)} } }`), 'oversized');
      expect(large.errors.map((e) => e.extensions?.code)).toEqual(['QUERY_TOO_LARGE']);
      const aliases = `subscription { batchAnchored { ${Array.from({ length: 31 }, (_, i) => `a${i}: seq`).join(' ')} } }`;
      const many = await ended(subscribe(c, aliases), 'aliases');
      expect(many.errors.map((e) => e.extensions?.code)).toEqual(['TOO_MANY_ALIASES']);
    });

    it('refuses more subscriptions on one connection than SUBSCRIPTIONS_PER_CONNECTION (TOO_MANY_SUBSCRIPTIONS)', async () => {
      const c = client(keys.get('shop-a')!.key);
      const before = live().subscriberCount();
      const open = [subscribe(c, BATCH_ANCHORED), subscribe(c, BATCH_ANCHORED), subscribe(c, BATCH_ANCHORED)];
      await serverHolds(before + 3);
      const fourth = await ended(subscribe(c, BATCH_ANCHORED), 'fourth subscription');
      expect(fourth.errors.map((e) => e.extensions?.code)).toEqual(['TOO_MANY_SUBSCRIPTIONS']);
      expect(open.every((s) => !s.done)).toBe(true);
      for (const s of open) s.stop();
    });

    it('refuses more connections of one key than WS_CONNECTIONS_PER_KEY (4429 TOO_MANY_CONNECTIONS)', async () => {
      const k = await createKey('shop-b', 'MERCHANT');
      const open = Array.from({ length: 4 }, () => subscribe(client(k.key), BATCH_ANCHORED));
      await eventually(async () => (live().connectionsOf(k.id) === 4 ? true : undefined), 30_000, 'four connections');
      const fifth = await ended(subscribe(client(k.key), BATCH_ANCHORED), 'fifth connection');
      expect(fifth.closed?.code).toBe(4429);
      expect(fifth.closed?.reason).toMatch(/^TOO_MANY_CONNECTIONS: /);
      expect(open.every((s) => !s.done)).toBe(true);
      for (const s of open) s.stop();
    });

    it('refuses more connections of one organization, over all its keys, than WS_CONNECTIONS_PER_ORGANIZATION (attack: every new key opened WS_CONNECTIONS_PER_KEY more); closed ones give their slots back; another organization is unaffected', async () => {
      await registerOrganization(t, 'crowd-shop', 'MERCHANT');
      const [a, b, c] = [await createKey('crowd-shop', 'MERCHANT'), await createKey('crowd-shop', 'MERCHANT'), await createKey('crowd-shop', 'MERCHANT')];
      const held = () => [a, b, c].reduce((sum, k) => sum + live().connectionsOf(k.id), 0);
      // two keys, each within its own cap of 4, fill the organization's 8
      const conns = [a, a, a, a, b, b, b, b].map((k) => client(k.key));
      const open = conns.map((cl) => subscribe(cl, BATCH_ANCHORED));
      await eventually(async () => (held() === 8 ? true : undefined), 30_000, 'eight connections of the organization');
      const ninth = await ended(subscribe(client(c.key), BATCH_ANCHORED), 'a third key of the organization');
      expect(ninth.closed).toEqual({ code: 4429, reason: 'TOO_MANY_CONNECTIONS: at most 8 connections per organization, over all its API keys (WS_CONNECTIONS_PER_ORGANIZATION)' });
      expect(live().connectionsOf(c.id)).toBe(0);
      // another organization connects meanwhile
      const neighbour = await createKey('shop-a', 'MERCHANT');
      const theirs = subscribe(client(neighbour.key), BATCH_ANCHORED);
      await eventually(async () => (live().connectionsOf(neighbour.id) === 1 ? true : undefined), 30_000, "the other organization's connection");
      expect(theirs.done).toBe(false);
      // two closed: two slots back for any key of the organization, and not one more
      await conns[0].dispose();
      await conns[4].dispose();
      await eventually(async () => (held() === 6 ? true : undefined), 30_000, 'two connections closed');
      const again = [subscribe(client(c.key), BATCH_ANCHORED), subscribe(client(c.key), BATCH_ANCHORED)];
      await eventually(async () => (live().connectionsOf(c.id) === 2 ? true : undefined), 30_000, 'two connections of the third key');
      const over = await ended(subscribe(client(c.key), BATCH_ANCHORED), 'one more than the organization holds');
      expect(over.closed?.code).toBe(4429);
      expect([...open.slice(1, 4), ...open.slice(5), ...again, theirs].every((s) => !s.done)).toBe(true);
      expect(held()).toBe(8);
    });

    it('does not count a connection closed while it was being authenticated (attack: each such close used to keep one of the key\'s slots for good)', async () => {
      const k = await createKey('shop-b', 'MERCHANT');
      // connection_init, then the TCP connection cut at once, more times than the key (4) and its
      // organization (8) have slots
      for (let i = 0; i < 9; i++) {
        await new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(t.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
          ws.on('open', () => {
            ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${k.key}` } }), () => ws.terminate());
          });
          ws.on('close', () => resolve());
          ws.on('error', reject);
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(live().connectionsOf(k.id)).toBe(0);
      const s = subscribe(client(k.key), BATCH_ANCHORED);
      await eventually(async () => (live().connectionsOf(k.id) === 1 ? true : undefined), 30_000, 'a connection of the key');
      expect(s.done).toBe(false);
      s.stop();
    });
  });

  describe('updates', () => {
    it('shipmentUpdated: the carrier and the merchant receive each new event with its status; another merchant is refused', async () => {
      const trackingNumber = await newShipment('live-post', 'shop-a');
      const carrier = subscribe<ShipmentUpdate>(client(keys.get('live-post')!.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' });
      const merchant = subscribe<ShipmentUpdate>(client(keys.get('shop-a')!.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' });
      const other = await ended(subscribe<ShipmentUpdate>(client(keys.get('shop-b')!.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' }), 'other merchant');
      expect(other.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      await serverHolds(2);
      const fields = eventFields({ trackingNumber, carrier: 'live-post', custodian: 'live-post', eventType: 'ARRIVED_AT_FACILITY', occurredAt: BigInt(Date.now() - 300_000) });
      await record(t, [await signEvent(domain, devices.get('live-post')!, fields)]);
      for (const got of [carrier, merchant]) {
        const [u] = await receivedCount(got, 1, 'the update');
        expect(u.shipmentUpdated).toEqual({ shipment: { trackingNumber, status: 'IN_TRANSIT' }, event: { eventId: fields.eventId, eventType: 'ARRIVED_AT_FACILITY', status: 'PENDING' } });
      }
      carrier.stop();
      merchant.stop();
    });

    it("shipmentUpdated for a hub: refused before it holds the parcel; then only the events from its custody on (not a late scan from before it)", async () => {
      await registerOrganization(t, 'live-hub', 'HUB');
      const hubDevice = await registerKey(t, 'live-hub');
      const hubKey = await createKey('live-hub', 'CARRIER');
      const carrierDevice = devices.get('live-post')!;
      const base = Date.now() - 3_600_000;
      const trackingNumber = `LIVE${String(++n).padStart(4, '0')}`;
      await createShipment(t, trackingNumber, 'live-post', 'shop-a');
      const sign = (signer: Wallet, eventType: string, custodian: string, minutes: number, counter?: Wallet) =>
        signEvent(domain, signer, eventFields({ trackingNumber, carrier: 'live-post', eventType, custodian, occurredAt: BigInt(base + minutes * 60_000) }), counter);
      expect((await record(t, [await sign(carrierDevice, 'PICKED_UP', 'live-post', 0)]))[0].outcome).toBe('ACCEPTED');
      const early = await ended(subscribe(client(hubKey.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' }), 'the hub refused');
      expect(early.errors.map((e) => e.extensions?.code)).toEqual(['NOT_FOUND']);
      expect((await record(t, [await sign(hubDevice, 'HANDOFF', 'live-hub', 20, carrierDevice)]))[0].outcome).toBe('ACCEPTED');
      const hub = subscribe<ShipmentUpdate>(client(hubKey.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' });
      const carrier = subscribe<ShipmentUpdate>(client(keys.get('live-post')!.key), SHIPMENT_UPDATED, { n: trackingNumber, c: 'live-post' });
      await serverHolds(2);
      const late = await sign(carrierDevice, 'DEPARTED_FACILITY', 'live-post', 10); // before the hub's custody, arriving late
      const back = await sign(carrierDevice, 'HANDOFF', 'live-post', 40, hubDevice);
      const results = await record(t, [late, back]);
      expect(results.map((r) => r.error?.code ?? r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
      const carrierGot = await receivedCount(carrier, 2, "the carrier's two updates");
      expect(carrierGot.map((u) => u.shipmentUpdated.event.eventId)).toEqual([late.eventId, back.eventId]);
      const [hubGot] = await receivedCount(hub, 1, "the hub's update");
      expect(hubGot.shipmentUpdated.event.eventId).toBe(back.eventId);
      expect(hub.data).toHaveLength(1); // the carrier received both, in order: the late one reached the hub first or never
      hub.stop();
      carrier.stop();
    });

    it('batchAnchored: a subscriber receives the batch once it is anchored', async () => {
      const got = subscribe<{ batchAnchored: { seq: string; status: string; leafCount: number } }>(client(keys.get('shop-b')!.key), BATCH_ANCHORED);
      await serverHolds(1);
      await newShipment('live-post', 'shop-b');
      const sealed = await mustGql<{ sealBatch: { seq: string; leafCount: number } }>(t, `mutation { sealBatch { seq leafCount } }`);
      const [b] = await receivedCount(got, 1, 'batchAnchored');
      expect(b.batchAnchored.seq).toBe(sealed.sealBatch.seq);
      expect(b.batchAnchored.leafCount).toBe(sealed.sealBatch.leafCount);
      expect(['ANCHORED', 'FINAL']).toContain(b.batchAnchored.status);
      got.stop();
    });

    it('incidentRaised filters by carrier and code', async () => {
      const got = subscribe<IncidentRaised>(client(keys.get('shop-a')!.key), INCIDENT_RAISED, { f: { carrier: 'rival-post', codes: ['IMPOSSIBLE_SPEED'] } });
      await serverHolds(1);
      const other = await newShipment('live-post', 'shop-a');
      await teleport('live-post', other); // another carrier: filtered out
      const wanted = await newShipment('rival-post', 'shop-a');
      const eventId = await teleport('rival-post', wanted);
      const [i] = await receivedCount(got, 1, 'the filtered incident');
      expect(i.incidentRaised).toEqual({ trackingNumber: wanted, carrier: 'rival-post', finding: expect.objectContaining({ code: 'IMPOSSIBLE_SPEED', severity: 'HIGH' }) });
      expect(i.incidentRaised.finding.eventIds).toContain(eventId);
      expect(got.data).toHaveLength(1);
      got.stop();
    });
  });
});

describe('rate limits on WebSocket handshakes and subscription starts (issue 13)', () => {
  let t: TestLedger;
  const clients: Client[] = [];

  beforeAll(async () => {
    t = await startTestLedger({ RATE_LIMIT_PER_MINUTE: '4' });
  }, 120_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await t?.stop();
  });

  it("a key's subscription starts take its request budget (RATE_LIMITED), and handshakes their address' budget (HTTP 429)", async () => {
    await registerOrganization(t, 'budget-shop', 'MERCHANT');
    const created = await mustGql<{ createApiKey: { key: string } }>(t, `mutation { createApiKey(input: { organization: "budget-shop", role: "MERCHANT", label: "budget", manageKeys: false }) { key } }`);
    const c = wsClient(t, created.createApiKey.key);
    clients.push(c);
    // a budget of 4: the connection takes one, so at most 3 starts, and one is refused within 10
    const starts: Array<ReturnType<typeof subscribe>> = [];
    let refused: ReturnType<typeof subscribe> | undefined;
    for (let i = 0; i < 10 && !refused; i++) {
      const s = subscribe(c, BATCH_ANCHORED);
      starts.push(s);
      await eventually(async () => (s.done || t.ledger.app.get(LiveUpdatesService).subscriberCount() === starts.length ? true : undefined), 30_000, `start ${i + 1}`);
      if (s.done) refused = s;
    }
    expect(refused?.errors.map((e) => e.extensions?.code)).toEqual(['RATE_LIMITED']);
    expect(starts.length).toBeGreaterThanOrEqual(4);
    // handshakes from this address: one was taken above; one is refused with 429 within 10 more
    const statuses: number[] = [];
    for (let i = 0; i < 10 && !statuses.includes(429); i++) {
      statuses.push(
        await new Promise<number>((resolve) => {
          const ws = new WebSocket(t.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
          ws.on('upgrade', (res) => {
            resolve(res.statusCode ?? 0);
            ws.close();
          });
          ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
          ws.on('error', () => undefined);
        }),
      );
    }
    expect(statuses[statuses.length - 1]).toBe(429);
    expect(statuses.slice(0, 3)).toEqual([101, 101, 101]);
  }, 120_000);
});
