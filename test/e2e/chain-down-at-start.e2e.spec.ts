import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import { deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { ExternalNode } from '../support/external-node';
import { RpcProxy } from '../support/rpc-proxy';
import { dropSchema, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/** Hardhat's dev account #1: the anchorer; #0 deploys and administers roles. */
const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/**
 * Found by the chaos run (issue 10): a replica restarted while the chain node was unreachable
 * refused to start ("cannot reach CHAIN_RPC_URL"), so every crash during a chain outage took a
 * replica away for the whole outage, although ingestion never needs the chain. A ledger that has
 * already checked this chain and contract (recorded in chain_deployments) now starts on what it
 * recorded, accepts events at once, and anchors when the node answers; a ledger that never
 * reached its chain still refuses to start, with the reason.
 */
describe('a restart while the chain node is down', () => {
  const node = new ExternalNode();
  let provider: JsonRpcProvider;
  let contractAddress: string;
  let t: TestLedger | undefined;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-chain-down-'));
  const databaseUrl = process.env.DATABASE_URL;
  let schema: string | undefined;

  beforeAll(async () => {
    await node.start();
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    contractAddress = (await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address })).address;
  });

  afterAll(async () => {
    await t?.ledger.close();
    if (databaseUrl && schema) await dropSchema(databaseUrl, schema);
    rmSync(dataDir, { recursive: true, force: true });
    provider.destroy();
    await node.stop();
  });

  /** The same database on every start: the same PostgreSQL schema, or the same PGlite directory. */
  const env = (): Record<string, string> => ({
    CHAIN_RPC_URL: node.url,
    ANCHOR_PRIVATE_KEY: ANCHORER_KEY,
    ANCHOR_CONTRACT_ADDRESS: contractAddress,
    RPC_TIMEOUT_MS: '1000',
    CONFIRMATIONS: '1',
    ...(databaseUrl ? (schema ? { DATABASE_SCHEMA: schema } : {}) : { PGLITE_IN_MEMORY: '0', DATA_DIR: dataDir }),
  });

  it('a ledger that never reached its chain refuses to start, saying why', async () => {
    await node.stop();
    await expect(startTestLedger(env())).rejects.toThrow(/cannot reach CHAIN_RPC_URL.*did not answer|cannot reach CHAIN_RPC_URL.*ECONNREFUSED|cannot reach CHAIN_RPC_URL/);
    await node.start();
  });

  it('a ledger that checked its chain before starts without it, accepts events, and anchors once the node answers', async () => {
    t = await startTestLedger(env());
    if (t.ledger.runtime.config.database.kind === 'postgres') schema = t.ledger.runtime.config.database.schema;
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-restart', 'CARRIER');
    const device = await registerKey(t, 'acme-restart');
    await createShipment(t, 'DOWN0001', 'acme-restart');
    const base = { trackingNumber: 'DOWN0001', carrier: 'acme-restart', custodian: 'acme-restart' };
    expect((await record(t, [await signEvent(domain, device, eventFields({ ...base, eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 120_000) }))]))[0].outcome).toBe('ACCEPTED');
    await t.ledger.close();
    t = undefined;

    await node.stop();
    t = await startTestLedger(env());
    // the same signing domain as before, from what the ledger recorded
    const again = await fetchDomain(t);
    expect(again).toEqual(domain);
    expect((await record(t, [await signEvent(domain, device, eventFields({ ...base, eventType: 'ARRIVED_AT_FACILITY', occurredAt: BigInt(Date.now() - 60_000) }))]))[0].outcome).toBe('ACCEPTED');
    await mustGql(t, `mutation { sealBatch { seq } }`);
    const waiting = await eventually(async () => {
      const d = await mustGql<{ batch: { status: string; lastError: string | null } }>(t!, `{ batch(seq: "0") { status lastError } }`);
      return d.batch.lastError ? d.batch : undefined;
    }, 20_000, 'the outage shown on batch 0');
    expect(waiting.status).toBe('SEALED');
    expect(waiting.lastError).not.toContain(node.url);

    await node.start();
    await eventually(async () => {
      const d = await mustGql<{ batch: { status: string } }>(t!, `{ batch(seq: "0") { status } }`);
      return d.batch.status === 'FINAL' ? true : undefined;
    }, 90_000, 'batch 0 FINAL after the node came back');
  }, 180_000);

  it('starts when the node answers eth_chainId and then stops answering, during the start-up checks (a CI chaos run: the replica exited)', async () => {
    await t?.ledger.close();
    t = undefined;
    const proxy = await RpcProxy.start(node.url);
    try {
      proxy.passing.add('eth_chainId');
      proxy.mode = 'blackhole';
      t = await startTestLedger({ ...env(), CHAIN_RPC_URL: proxy.url });
      expect(proxy.callsOf('eth_chainId').length).toBeGreaterThan(0);
      expect(proxy.callsOf('eth_getCode').length).toBeGreaterThan(0);
      // it serves and accepts events meanwhile
      const domain = await fetchDomain(t);
      await registerOrganization(t, 'acme-half', 'CARRIER');
      const device = await registerKey(t, 'acme-half');
      await createShipment(t, 'HALF0001', 'acme-half');
      const [r] = await record(t, [await signEvent(domain, device, eventFields({ trackingNumber: 'HALF0001', carrier: 'acme-half', custodian: 'acme-half', eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 60_000) }))]);
      expect(r.outcome).toBe('ACCEPTED');
      const { sealBatch } = await mustGql<{ sealBatch: { seq: string } }>(t, `mutation { sealBatch { seq } }`);
      // the start-up checks run once the node answers again, then the batch is anchored
      const checksBefore = proxy.calls.filter((c) => c.method === 'eth_getCode' && c.mode === 'pass').length;
      proxy.mode = 'pass';
      await eventually(async () => {
        const d = await mustGql<{ batch: { status: string } }>(t!, `query($s: Uint64!) { batch(seq: $s) { status } }`, { s: sealBatch.seq });
        return d.batch.status === 'FINAL' ? true : undefined;
      }, 90_000, 'the batch FINAL after the node answered again');
      expect(proxy.calls.filter((c) => c.method === 'eth_getCode' && c.mode === 'pass').length).toBeGreaterThan(checksBefore);
    } finally {
      await t?.ledger.close();
      t = undefined;
      await proxy.close();
    }
  }, 180_000);
});
