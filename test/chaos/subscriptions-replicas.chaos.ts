import { randomBytes } from 'node:crypto';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { LiveUpdatesService } from '../../src/live/live-updates.service';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import { ended, receivedCount, subscribe, wsClient } from '../support/subscriptions';
import { sqlRows } from '../../src/database/data-source';
import { TEST_ADMIN_KEY, dropSchema, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';

/**
 * Issue 13, "tests subscribe over a real WebSocket and receive the updates of events recorded
 * through another replica": two ledgers on one PostgreSQL schema (DATABASE_URL, or the
 * development server at 127.0.0.1:5432), B anchoring on A's chain. A subscriber on A receives
 * what is recorded, sealed and anchored through B (PostgreSQL LISTEN/NOTIFY); PGlite has one
 * process and is covered by subscriptions.e2e.spec.ts.
 */
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'; // the chaos suite's PostgreSQL

describe('subscriptions across two replicas on one PostgreSQL (issue 13)', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let a: TestLedger;
  let b: TestLedger;
  const clients: Client[] = [];
  let carrierKey = '';
  let bClosed = false;
  /** the LISTEN connections of this schema's replicas, as PostgreSQL sees them */
  const listenerPids = async (): Promise<number[]> =>
    (await sqlRows<{ pid: number }>(a.ledger.runtime.dataSource, `SELECT pid FROM pg_stat_activity WHERE application_name = 'custody-ledger-live' AND query = $1 ORDER BY pid`, [`LISTEN "custody_live_${schema}"`])).map((r) => r.pid);
  const listeners = async (): Promise<number> => (await listenerPids()).length;

  beforeAll(async () => {
    a = await startTestLedger({ DATABASE_URL, DATABASE_SCHEMA: schema });
    b = await startTestLedger({ DATABASE_URL, DATABASE_SCHEMA: schema, CHAIN_RPC_URL: a.ledger.rpcUrl, ANCHOR_PRIVATE_KEY: HARDHAT_DEV_PRIVATE_KEY, ANCHOR_CONTRACT_ADDRESS: a.ledger.contractAddress, CONFIRMATIONS: '1' });
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    if (!bClosed) await b?.ledger.close();
    await a?.ledger.close();
    await dropSchema(DATABASE_URL, schema);
  });

  it('a subscriber on replica A receives the events recorded and the batch anchored through replica B', async () => {
    const domain = await fetchDomain(b);
    await registerOrganization(b, 'replica-post', 'CARRIER');
    const device = await registerKey(b, 'replica-post');
    const key = await mustGql<{ createApiKey: { key: string } }>(b, `mutation { createApiKey(input: { organization: "replica-post", role: "CARRIER", label: "live", manageKeys: false }) { key } }`);
    await createShipment(b, 'REPL0001', 'replica-post');
    carrierKey = key.createApiKey.key;
    const client = wsClient(a, carrierKey);
    clients.push(client);
    const updates = subscribe<{ shipmentUpdated: { event: { eventId: string; status: string } } }>(
      client,
      `subscription { shipmentUpdated(trackingNumber: "REPL0001", carrier: "replica-post") { event { eventId status } } }`,
    );
    const batches = subscribe<{ batchAnchored: { seq: string; leafCount: number } }>(client, `subscription { batchAnchored { seq leafCount } }`);
    await eventually(async () => (a.ledger.app.get(LiveUpdatesService).subscriberCount() === 2 ? true : undefined), 30_000, 'two subscriptions on A');

    const first = eventFields({ trackingNumber: 'REPL0001', carrier: 'replica-post', custodian: 'replica-post', eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 120_000) });
    const second = eventFields({ trackingNumber: 'REPL0001', carrier: 'replica-post', custodian: 'replica-post', eventType: 'ARRIVED_AT_FACILITY', occurredAt: BigInt(Date.now() - 60_000) });
    const results = await record(b, [await signEvent(domain, device, first), await signEvent(domain, device, second)], TEST_ADMIN_KEY);
    expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
    const got = await receivedCount(updates, 2, 'two updates on A');
    expect(got.map((u) => u.shipmentUpdated.event)).toEqual([
      { eventId: first.eventId, status: 'PENDING' },
      { eventId: second.eventId, status: 'PENDING' },
    ]);

    const sealed = await mustGql<{ sealBatch: { seq: string } }>(b, `mutation { sealBatch { seq } }`);
    const [anchored] = await receivedCount(batches, 1, 'batchAnchored on A');
    expect(anchored.batchAnchored).toEqual({ seq: sealed.sealBatch.seq, leafCount: 2 });
  }, 120_000);

  it('a replica whose LISTEN connection was cut reconnects and hears the next events', async () => {
    const before = await listenerPids();
    expect(before).toHaveLength(2);
    const cut = await sqlRows<{ ok: boolean }>(a.ledger.runtime.dataSource, `SELECT pg_terminate_backend(pid) AS ok FROM unnest($1::int[]) AS pid`, [before]);
    expect(cut.map((r) => r.ok)).toEqual([true, true]);
    // two new LISTEN sessions (a terminated backend can linger in pg_stat_activity for a moment)
    await eventually(async () => ((await listenerPids()).filter((pid) => !before.includes(pid)).length === 2 ? true : undefined), 30_000, 'both replicas listening again');
    const client = wsClient(a, carrierKey);
    clients.push(client);
    const updates = subscribe<{ shipmentUpdated: { event: { eventId: string } } }>(client, `subscription { shipmentUpdated(trackingNumber: "REPL0001", carrier: "replica-post") { event { eventId } } }`);
    await eventually(async () => (a.ledger.app.get(LiveUpdatesService).subscriberCount() >= 3 ? true : undefined), 30_000, 'the subscription on A');
    const domain = await fetchDomain(b);
    const device = await registerKey(b, 'replica-post');
    const next = eventFields({ trackingNumber: 'REPL0001', carrier: 'replica-post', custodian: 'replica-post', eventType: 'DEPARTED_FACILITY', occurredAt: BigInt(Date.now() - 30_000) });
    expect((await record(b, [await signEvent(domain, device, next)]))[0].outcome).toBe('ACCEPTED');
    const [u] = await receivedCount(updates, 1, 'the update after reconnecting');
    expect(u.shipmentUpdated.event.eventId).toBe(next.eventId);
  }, 120_000);

  it('closing a replica closes its WebSocket connections with 1001 (going away) and ends its LISTEN', async () => {
    const client = wsClient(b, carrierKey);
    clients.push(client);
    const got = subscribe(client, `subscription { batchAnchored { seq } }`);
    await eventually(async () => (b.ledger.app.get(LiveUpdatesService).subscriberCount() === 1 ? true : undefined), 30_000, 'the subscription on B');
    // and a client that stops reading: it never answers the close frame (ws alone would wait 30 s for it)
    const stuck = new WebSocket(b.url.replace(/^http/, 'ws'), 'graphql-transport-ws');
    await new Promise<void>((resolve, reject) => {
      stuck.once('open', () => stuck.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${carrierKey}` } })));
      stuck.once('message', () => resolve()); // connection_ack
      stuck.once('error', reject);
    });
    (stuck as unknown as { _socket: { pause(): void } })._socket.pause();
    bClosed = true;
    const closing = b.ledger.close().then(() => 'closed' as const);
    let timer: NodeJS.Timeout | undefined;
    expect(await Promise.race([closing, new Promise<'waiting'>((resolve) => (timer = setTimeout(() => resolve('waiting'), 20_000)))])).toBe('closed');
    clearTimeout(timer);
    const closed = await ended(got, 'the close');
    expect(closed.closed?.code).toBe(1001);
    await eventually(async () => ((await listeners()) === 1 ? true : undefined), 30_000, "B's LISTEN connection gone");
  }, 60_000);
});
