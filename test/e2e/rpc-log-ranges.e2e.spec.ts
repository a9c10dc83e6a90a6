import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { AnchorerService } from '../../src/anchoring/anchorer.service';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { auditAnchors } from '../../src/audit/anchor-audit';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 } from '../../src/proofs/pod-bundle';
import type { TrustFile } from '../../src/proofs/trust-root';
import { ExternalNode } from '../support/external-node';
import { JsonRpcGate } from '../support/jsonrpc-gate';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const CAP = 100;

/**
 * Issue 10: public JSON-RPC endpoints refuse eth_getLogs over more than a few hundred or thousand
 * blocks. Every log scan (the anchorer's recovery, the audit, the verifier) starts at the
 * contract's deployment block and asks for at most CHAIN_LOG_RANGE blocks at a time. A real
 * Hardhat node behind a real HTTP gate that refuses ranges over 100 blocks, on a chain of
 * several hundred blocks whose contract was deployed after block 100.
 */
describe('log scans in bounded block ranges from the deployment block (issue 10)', () => {
  const node = new ExternalNode();
  let gate: JsonRpcGate;
  let provider: JsonRpcProvider;
  let contractAddress: string;
  let deploymentBlock: number;
  let t: TestLedger | undefined;

  beforeAll(async () => {
    await node.start();
    await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    await provider.send('hardhat_mine', ['0x96']); // 150 blocks before the contract exists
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    const deployment = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address });
    contractAddress = deployment.address;
    deploymentBlock = (await provider.getTransactionReceipt(deployment.txHash))!.blockNumber;
    expect(deploymentBlock).toBeGreaterThan(CAP);
    gate = new JsonRpcGate(node.url);
    gate.logRangeCap = CAP;
    await gate.start();
  });

  afterAll(async () => {
    await t?.stop();
    await gate.stop();
    provider.destroy();
    await node.stop();
  });

  const rangesOk = (): void => {
    const queries = gate.logQueries();
    expect(queries.length).toBeGreaterThan(0);
    for (const q of queries) {
      expect(q.fromBlock).toBeGreaterThanOrEqual(deploymentBlock);
      expect(q.toBlock - q.fromBlock + 1).toBeLessThanOrEqual(CAP);
    }
  };

  it('the anchorer finds an anchor it sent but never recorded, scanning from ANCHOR_DEPLOYMENT_BLOCK in ranges of CHAIN_LOG_RANGE', async () => {
    t = await startTestLedger({
      CHAIN_RPC_URL: gate.url,
      ANCHOR_PRIVATE_KEY: ANCHORER_KEY,
      ANCHOR_CONTRACT_ADDRESS: contractAddress,
      ANCHOR_DEPLOYMENT_BLOCK: String(deploymentBlock),
      CHAIN_LOG_RANGE: String(CAP),
      CONFIRMATIONS: '1',
      RPC_TIMEOUT_MS: '2000',
      ANCHORER_INTERVAL_MS: '600000',
    });
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-express', 'CARRIER');
    const device = await registerKey(t, 'acme-express');
    await createShipment(t, 'LOG0001', 'acme-express');
    const base = { trackingNumber: 'LOG0001', carrier: 'acme-express', custodian: 'acme-express' };
    for (const eventType of ['PICKED_UP', 'ARRIVED_AT_FACILITY']) {
      expect((await record(t, [await signEvent(domain, device, eventFields({ ...base, eventType }))]))[0].outcome).toBe('ACCEPTED');
    }
    // the service must not anchor it itself: its endpoint is down meanwhile
    await gate.setMode('refuse');
    const sealed = await mustGql<{ sealBatch: { seq: string; root: string; leafCount: number } }>(t, `mutation { sealBatch { seq root leafCount } }`);

    // "a crash after sending": the anchor goes on chain behind the service's back, 250 blocks pass
    const anchorer = new Contract(contractAddress, CUSTODY_ANCHOR_ABI, new Wallet(ANCHORER_KEY, provider));
    const tx = (await anchorer.getFunction('anchorBatch')(0n, sealed.sealBatch.root, sealed.sealBatch.leafCount)) as { hash: string; wait(): Promise<{ blockNumber: number }> };
    const mined = await tx.wait();
    await provider.send('hardhat_mine', ['0xfa']);

    await gate.setMode('pass');
    gate.calls.length = 0;
    await t.ledger.app.get(AnchorerService).settle();
    const batch = (await mustGql<{ batch: { status: string; txHash: string; blockNumber: number } }>(t, `{ batch(seq: "0") { status txHash blockNumber } }`)).batch;
    expect(batch).toMatchObject({ txHash: tx.hash, blockNumber: mined.blockNumber });
    expect(['ANCHORED', 'FINAL']).toContain(batch.status);
    rangesOk();
  }, 120_000);

  it('the audit checks the anchor log behind the capped endpoint', async () => {
    await t!.ledger.app.get(AnchorerService).settle();
    gate.calls.length = 0;
    const report = await auditAnchors(t!.ledger.runtime.dataSource, t!.ledger.runtime.chain, { sealedSlaMs: 3_600_000, pendingSlaMs: 3_600_000 });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    rangesOk();
  });

  it('the verifier (and `custody verify --log-range`) finds the anchor log behind the capped endpoint, and still finds it when the bundle names a wrong block', async () => {
    const bundle = (await mustGql<{ proofOfDelivery: ProofBundleV3 }>(t!, `{ proofOfDelivery(trackingNumber: "LOG0001", carrier: "acme-express") }`)).proofOfDelivery;
    const trust = (await (await fetch(t!.url.replace('/graphql', '/trust.json'))).json()) as TrustFile;
    expect(trust.anchors[0].deploymentBlock).toBe(deploymentBlock);

    gate.calls.length = 0;
    const report = await verifyProofBundle(JSON.parse(JSON.stringify(bundle)), { rpcUrl: gate.url, trust });
    expect(report.failures).toEqual([]);
    rangesOk();

    // a bundle that lies about the block: the verifier must scan for the real log, in bounded ranges
    const realBlock = bundle.batches[0].blockNumber!;
    const lying = JSON.parse(JSON.stringify(bundle)) as ProofBundleV3;
    lying.batches[0].blockNumber = realBlock + 200;
    gate.calls.length = 0;
    const lied = await verifyProofBundle(lying, { rpcUrl: gate.url, trust, logRange: CAP });
    expect(lied.verdict).toBe('INVALID');
    expect(lied.failures.map((f) => f.message)).toContain(`batch 0: anchored in block ${realBlock}, the bundle says ${realBlock + 200}`);
    rangesOk();

    // the same through the command line: `custody verify --log-range`
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-logrange-'));
    try {
      writeFileSync(path.join(dir, 'bundle.json'), JSON.stringify(lying));
      writeFileSync(path.join(dir, 'trust.json'), JSON.stringify(trust));
      gate.calls.length = 0;
      const run = await custody(['verify', path.join(dir, 'bundle.json'), '--rpc', gate.url, '--trust', path.join(dir, 'trust.json'), '--log-range', String(CAP), '--json']);
      expect(run.status).toBe(1);
      expect((JSON.parse(run.stdout) as { failures: Array<{ message: string }> }).failures.map((f) => f.message)).toContain(`batch 0: anchored in block ${realBlock}, the bundle says ${realBlock + 200}`);
      rangesOk();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it('`custody audit --deployment-block --log-range` finds a log the ledger recorded in the wrong block, behind the capped endpoint', async () => {
    const config = t!.ledger.runtime.config.database;
    const realBlock = (await mustGql<{ batch: { blockNumber: number } }>(t!, `{ batch(seq: "0") { blockNumber } }`)).batch.blockNumber;
    await t!.ledger.runtime.dataSource.query(`UPDATE anchor_batches SET block_number = $1 WHERE seq = 0`, [realBlock + 100]);
    const dbArgs = config.kind === 'postgres' ? ['--database-url', config.url, '--schema', config.schema] : null;
    if (!dbArgs) {
      // PGlite in memory cannot be opened by another process: the same audit in this one
      gate.calls.length = 0;
      const report = await auditAnchors(t!.ledger.runtime.dataSource, t!.ledger.runtime.chain, { sealedSlaMs: 3_600_000, pendingSlaMs: 3_600_000 });
      expect(report.problems.map((p) => p.message)).toEqual([`batch 0: the BatchAnchored log differs from the stored anchor: block ${realBlock} in the log, ${realBlock + 100} stored`]);
      rangesOk();
      return;
    }
    gate.calls.length = 0;
    const run = await custody(['audit', '--rpc', gate.url, ...dbArgs, '--deployment-block', String(deploymentBlock), '--log-range', String(CAP), '--json']);
    expect(run.status).toBe(1);
    expect((JSON.parse(run.stdout) as { problems: Array<{ message: string }> }).problems.map((p) => p.message)).toEqual([
      `batch 0: the BatchAnchored log differs from the stored anchor: block ${realBlock} in the log, ${realBlock + 100} stored`,
    ]);
    rangesOk();
  }, 120_000);
});

/** The command line as a user runs it, in its own process (asynchronously: the chain it asks lives in this one). */
function custody(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [path.resolve(__dirname, '../../bin/custody.js'), ...args], { encoding: 'utf8', timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}
