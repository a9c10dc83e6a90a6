import { randomBytes } from 'node:crypto';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { LiveUpdatesService } from '../../src/live/live-updates.service';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import { receivedCount, subscribe, wsClient } from '../support/subscriptions';
import { TEST_ADMIN_KEY, dropSchema, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import type { Client } from 'graphql-ws';

/**
 * Issue 13, "tests subscribe over a real WebSocket and receive the updates of events recorded
 * through another replica": two ledgers on one PostgreSQL schema (DATABASE_URL, or the
 * development server at 127.0.0.1:5432), B anchoring on A's chain. A subscriber on A receives
 * what is recorded, sealed and anchored through B (PostgreSQL LISTEN/NOTIFY); PGlite has one
 * process and is covered by subscriptions.e2e.spec.ts.
 */
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

describe('subscriptions across two replicas on one PostgreSQL (issue 13)', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let a: TestLedger;
  let b: TestLedger;
  const clients: Client[] = [];

  beforeAll(async () => {
    a = await startTestLedger({ DATABASE_URL, DATABASE_SCHEMA: schema });
    b = await startTestLedger({ DATABASE_URL, DATABASE_SCHEMA: schema, CHAIN_RPC_URL: a.ledger.rpcUrl, ANCHOR_PRIVATE_KEY: HARDHAT_DEV_PRIVATE_KEY, ANCHOR_CONTRACT_ADDRESS: a.ledger.contractAddress, CONFIRMATIONS: '1' });
  }, 180_000);

  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await b?.ledger.close();
    await a?.ledger.close();
    await dropSchema(DATABASE_URL, schema);
  });

  it('a subscriber on replica A receives the events recorded and the batch anchored through replica B', async () => {
    const domain = await fetchDomain(b);
    await registerOrganization(b, 'replica-post', 'CARRIER');
    const device = await registerKey(b, 'replica-post');
    const key = await mustGql<{ createApiKey: { key: string } }>(b, `mutation { createApiKey(input: { organization: "replica-post", role: "CARRIER", label: "live", manageKeys: false }) { key } }`);
    await createShipment(b, 'REPL0001', 'replica-post');
    const client = wsClient(a, key.createApiKey.key);
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
});
