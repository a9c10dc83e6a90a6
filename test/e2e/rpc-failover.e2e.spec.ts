import { JsonRpcProvider, Wallet } from 'ethers';
import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { ChainClient } from '../../src/anchoring/chain-client';
import { deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { ExternalNode } from '../support/external-node';
import { JsonRpcGate } from '../support/jsonrpc-gate';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';

/** Hardhat's dev account #1: the anchorer; #0 deploys and administers roles. */
const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/**
 * Issue 10: one JSON-RPC URL is one point of failure. With several endpoints in CHAIN_RPC_URL
 * (comma-separated) the service starts, reads and anchors as long as one of them answers, and
 * refuses endpoints of different chains. Real parts: a Hardhat node over HTTP behind two real
 * HTTP gates that hang, refuse connections or answer 503/429 on command.
 */
describe('several JSON-RPC endpoints with fallback (issue 10)', () => {
  const node = new ExternalNode();
  let g1: JsonRpcGate;
  let g2: JsonRpcGate;
  let provider: JsonRpcProvider;
  let contractAddress: string;
  let t: TestLedger | undefined;

  beforeAll(async () => {
    await node.start();
    await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    contractAddress = (await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address })).address;
    g1 = new JsonRpcGate(node.url);
    g2 = new JsonRpcGate(node.url);
    await g1.start();
    await g2.start();
  });

  afterAll(async () => {
    await t?.stop();
    await g1.stop();
    await g2.stop();
    provider.destroy();
    await node.stop();
  });

  const env = (urls = `${g1.url},${g2.url}`) => ({ CHAIN_RPC_URL: urls, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, ANCHOR_CONTRACT_ADDRESS: contractAddress, RPC_TIMEOUT_MS: '2000', CONFIRMATIONS: '1' });
  const secretsIn = (text: string): boolean => text.includes(g1.apiKey) || text.includes(g2.apiKey) || text.includes(`:${g1.port}`) || text.includes(`:${g2.port}`);
  const sent = (gate: JsonRpcGate): number => gate.calls.filter((c) => c.method === 'eth_sendRawTransaction').length;

  async function anchorOneEvent(t: TestLedger, domain: CustodySigningDomain, device: Wallet, eventType: string, seq: string): Promise<{ status: string; lastError: string | null }> {
    const results = await record(t, [await signEvent(domain, device, eventFields({ trackingNumber: 'RPC0001', carrier: 'acme-express', custodian: 'acme-express', eventType }))]);
    expect(results[0].outcome).toBe('ACCEPTED');
    await mustGql(t, `mutation { sealBatch { seq } }`);
    return eventually(async () => {
      const d = await mustGql<{ batch: { status: string; lastError: string | null } }>(t, `query($s: Uint64!) { batch(seq: $s) { status lastError } }`, { s: seq });
      return d.batch.status === 'ANCHORED' || d.batch.status === 'FINAL' ? d.batch : undefined;
    }, 60_000, `batch ${seq} anchored`);
  }

  it('starts, anchors and reads while the first endpoint never answers; goes on when the first comes back and the second refuses, answers 503 or 429', async () => {
    await g1.setMode('hang');
    t = await startTestLedger(env());
    const domain = await fetchDomain(t);
    expect(domain.verifyingContract).toBe(contractAddress);
    await registerOrganization(t, 'acme-express', 'CARRIER');
    const device = await registerKey(t, 'acme-express');
    await createShipment(t, 'RPC0001', 'acme-express');

    await anchorOneEvent(t, domain, device, 'PICKED_UP', '0');
    expect(sent(g2)).toBe(1);
    expect(sent(g1)).toBe(0);
    expect(await t.ledger.runtime.chain.nextSeq()).toBe(1n);

    // the first comes back, the second dies
    await g1.setMode('pass');
    await g2.setMode('refuse');
    await anchorOneEvent(t, domain, device, 'ARRIVED_AT_FACILITY', '1');
    expect(sent(g1)).toBe(1);
    expect(await t.ledger.runtime.chain.nextSeq()).toBe(2n);

    // the second answers again; the first turns to 503, then to 429
    await g2.setMode('pass');
    await g1.setMode('http503');
    await anchorOneEvent(t, domain, device, 'DEPARTED_FACILITY', '2');
    expect(sent(g2)).toBe(2);
    await g1.setMode('pass');
    await g2.setMode('http429');
    await anchorOneEvent(t, domain, device, 'OUT_FOR_DELIVERY', '3');
    expect(sent(g1)).toBe(2);
    expect(await t.ledger.runtime.chain.nextSeq()).toBe(4n);
    await g2.setMode('pass');
  }, 180_000);

  it('when every endpoint is down, the batch waits and the error names endpoints by number, never by URL', async () => {
    await g1.setMode('refuse');
    await g2.setMode('http503');
    const domain = await fetchDomain(t!);
    const results = await record(t!, [await signEvent(domain, (await registerKey(t!, 'acme-express')), eventFields({ trackingNumber: 'RPC0001', carrier: 'acme-express', custodian: 'acme-express', eventType: 'DELIVERED' }))]);
    expect(results[0].outcome).toBe('ACCEPTED');
    await mustGql(t!, `mutation { sealBatch { seq } }`);
    const anchorer = t!.ledger.app.get(AnchorerService);
    const failure = await anchorer.settle().then(() => 'settled', (err: Error) => err.message);
    expect(failure).toMatch(/all 2 JSON-RPC endpoints failed: endpoint #1 refused the connection; endpoint #2 answered HTTP 503/);
    expect(secretsIn(failure)).toBe(false);
    expect((await mustGql<{ batch: { status: string } }>(t!, `{ batch(seq: "4") { status } }`)).batch.status).toBe('SEALED');
    const direct = await t!.ledger.runtime.chain.nextSeq().then(() => 'answered', (err: Error) => err.message);
    expect(direct).toMatch(/all 2 JSON-RPC endpoints failed/);
    expect(secretsIn(direct)).toBe(false);

    await g1.setMode('pass');
    await g2.setMode('pass');
    await anchorer.settle();
    const d = await mustGql<{ batch: { status: string } }>(t!, `{ batch(seq: "4") { status } }`);
    expect(['ANCHORED', 'FINAL']).toContain(d.batch.status);
    await t!.stop();
    t = undefined;
  }, 120_000);

  it('refuses to start when the endpoints serve different chains, naming them by number', async () => {
    g2.chainIdOverride = '0x1';
    try {
      // a generous timeout: this test is about two answers that disagree, and on a loaded machine
      // (PGlite busy on the same event loop) 2 s once let endpoint #2 time out, so only #1 answered
      const err = await startTestLedger({ ...env(), RPC_TIMEOUT_MS: '20000' }).then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(/CHAIN_RPC_URL names endpoints of different chains: endpoint #1 serves chain 31337, endpoint #2 serves chain 1;/);
      expect(secretsIn(err!.message)).toBe(false);
    } finally {
      g2.chainIdOverride = null;
    }
  });

  it('refuses to start when no endpoint answers, saying how many were tried and why', async () => {
    await g1.setMode('hang');
    await g2.setMode('refuse');
    try {
      const err = await startTestLedger(env()).then(() => null, (e: Error) => e);
      expect(err?.message).toMatch(/cannot reach CHAIN_RPC_URL: none of the 2 JSON-RPC endpoints answered eth_chainId: endpoint #1 did not answer within 2000 ms; endpoint #2 refused the connection/);
      expect(secretsIn(err!.message)).toBe(false);
      // ChainClient itself says the same
      const direct = await ChainClient.connect([g1.url, g2.url], ANCHORER_KEY, 1000).then(() => null, (e: Error) => e);
      expect(direct?.message).toMatch(/none of the 2 JSON-RPC endpoints answered eth_chainId/);
      expect(secretsIn(direct!.message)).toBe(false);
    } finally {
      await g1.setMode('pass');
      await g2.setMode('pass');
    }
  });

  it('rejects a malformed entry in CHAIN_RPC_URL by its number, without printing it', async () => {
    const err = await startTestLedger(env(`${g1.url},ftp://user:${g2.apiKey}@example.org`)).then(() => null, (e: Error) => e);
    expect(err?.message).toMatch(/CHAIN_RPC_URL entry #2 must be an http\(s\):\/\/ JSON-RPC URL/);
    expect(secretsIn(err!.message)).toBe(false);
  });
});
