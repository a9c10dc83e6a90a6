import { Contract, ContractFactory, JsonRpcProvider, Wallet, id } from 'ethers';
import { ChainClient } from '../../src/anchoring/chain-client';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor, type CustodyAnchorArtifact } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { auditAnchors } from '../../src/audit/anchor-audit';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 } from '../../src/proofs/pod-bundle';
import type { TrustFile } from '../../src/proofs/trust-root';
import { ANCHORER_KEY, newRecorder, sealOneBatch } from '../support/anchoring-fixtures';
import { nodeWithAnchor } from '../support/anchor-chain';
import type { ExternalNode } from '../support/external-node';
import { fetchDomain, mustGql, registerKey, registerOrganization } from '../support/factories';
import { HOUR, recordCorrectedDelivery } from '../support/pod-fixtures';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import v1Json from './fixtures/custody-anchor-v1.artifact.json';

/**
 * Ledgers deployed before version 2 hold CustodyAnchor version 1 (this fixture: the artifact as
 * committed before, with its `batch(seq)` view and a stored count). The client code is the same for
 * both: it uses only what both versions have (anchorBatch, nextSeq, batchRoot, the BatchAnchored
 * log), so an old deployment keeps anchoring, auditing and verifying.
 */
const V1 = v1Json as CustodyAnchorArtifact;
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const TRACKING = 'LEGACY-0001';

describe('a ledger on a version 1 CustodyAnchor (deployed before one-write anchoring)', () => {
  let chain: Awaited<ReturnType<typeof nodeWithAnchor>>;
  let node: ExternalNode;
  let provider: JsonRpcProvider;
  let legacy: Contract;
  let deploymentBlock: number;
  let t: TestLedger | undefined;

  beforeAll(async () => {
    chain = await nodeWithAnchor(V1, new Wallet(ANCHORER_KEY).address);
    ({ node, provider, deploymentBlock } = chain);
    legacy = new Contract(chain.address, V1.abi, provider);
    expect(await provider.getCode(legacy.target)).toBe(V1.deployedBytecode);
  });

  afterAll(async () => {
    await t?.stop();
    await chain?.close();
  });

  it('anchors, audits clean and verifies a bundle VALID, reading leaf count and time from the log as version 1 stored them', async () => {
    t = await startTestLedger({ CHAIN_RPC_URL: node.url, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, ANCHOR_CONTRACT_ADDRESS: legacy.target as string, ANCHOR_DEPLOYMENT_BLOCK: String(deploymentBlock) });
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, 'acme-express', 'CARRIER');
    await registerOrganization(t, 'berlin-hub', 'CARRIER');
    const acme = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    const hub = await registerKey(t, 'berlin-hub', undefined, new Date(T0 - HOUR));
    await recordCorrectedDelivery(t, domain, TRACKING, acme, hub, at);
    expect((await mustGql<{ sealBatch: { seq: string } }>(t, `mutation { sealBatch { seq } }`)).sealBatch.seq).toBe('0');
    expect(await sealOneBatch(await newRecorder(t, 'legacy-carrier'))).toBe('1');
    // an external chain defaults to CONFIRMATIONS=3: mine until both batches are final
    await eventually(async () => {
      const { batches } = await mustGql<{ batches: { edges: { node: { status: string } }[] } }>(t!, `{ batches(first: 10) { edges { node { status } } } }`);
      if (batches.edges.length === 2 && batches.edges.every((e) => e.node.status === 'FINAL')) return true;
      await provider.send('hardhat_mine', ['0x1']);
      return undefined;
    }, 90_000, 'batches 0 and 1 FINAL');
    expect(await legacy.getFunction('nextSeq')()).toBe(2n);

    // the log carries exactly what version 1 stores, so reading the log loses nothing
    for (const seq of [0n, 1n]) {
      const [root, leafCount, anchoredAt] = (await legacy.getFunction('batch')(seq)) as [string, bigint, bigint];
      const [log] = await legacy.queryFilter(legacy.filters.BatchAnchored(seq), deploymentBlock);
      const args = legacy.interface.parseLog(log)!.args;
      expect([args.getValue('root'), args.getValue('leafCount'), args.getValue('timestamp')]).toEqual([root, leafCount, anchoredAt]);
    }

    const audit = await auditAnchors(t.ledger.runtime.dataSource, t.ledger.runtime.chain, { sealedSlaMs: HOUR, pendingSlaMs: HOUR });
    expect(audit.problems).toEqual([]);
    expect(audit).toMatchObject({ ok: true, batchesChecked: 2, contractAddress: legacy.target });

    const bundle = (await mustGql<{ proofOfDelivery: ProofBundleV3 }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: TRACKING })).proofOfDelivery;
    const trust = (await (await fetch(t.url.replace('/graphql', '/trust.json'))).json()) as TrustFile;
    await t.stop();
    t = undefined;

    const report = await verifyProofBundle(bundle, { rpcUrl: node.url, trust });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('VALID');
    const [, , v1Time] = (await legacy.getFunction('batch')(0n)) as [string, bigint, bigint];
    expect(report.batches).toEqual([expect.objectContaining({ seq: '0', anchoredAt: new Date(Number(v1Time) * 1000).toISOString() })]);

    // a bundle lying about the leaf count or the time still fails against the version 1 log
    const wrongCount = structuredClone(bundle);
    wrongCount.batches[0].leafCount += 1;
    expect((await verifyProofBundle(wrongCount, { rpcUrl: node.url, trust })).failures.map((f) => f.check)).toContain('BATCH_ROOT');
    const wrongTime = structuredClone(bundle);
    wrongTime.batches[0].anchoredAt = new Date(Date.parse(bundle.batches[0].anchoredAt!) - 1000).toISOString();
    expect((await verifyProofBundle(wrongTime, { rpcUrl: node.url, trust })).failures.map((f) => f.check)).toContain('ANCHOR_TIME');
  }, 240_000);

  it('one ChainClient drives version 1 and version 2 alike: nextSeq, batchRoot, the log, and the same rejections', async () => {
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    const current = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address });
    const v1 = await new ContractFactory(V1.abi, V1.bytecode, admin).deploy(admin.address, new Wallet(ANCHORER_KEY).address);
    await v1.deploymentTransaction()!.wait();
    for (const address of [await v1.getAddress(), current.address]) {
      const client = await ChainClient.connect(node.url, ANCHORER_KEY);
      try {
        client.attach(address);
        expect(await client.hasAnchorerRole()).toBe(true);
        expect(await client.nextSeq()).toBe(0n);
        for (const seq of [0n, 1n]) {
          const hash = await client.sendAnchor(seq, id(`compat ${seq}`), 3);
          await provider.waitForTransaction(hash);
          expect(await client.findAnchoredLog(seq)).toMatchObject({ txHash: hash, root: id(`compat ${seq}`), leafCount: 3 });
        }
        expect(await client.nextSeq()).toBe(2n);
        expect(await client.batchRoot(1n)).toBe(id('compat 1'));
        expect(await client.batchRoot(2n)).toBe('0x' + '00'.repeat(32));
        // both refuse a skipped or repeated seq with the same error and the same expected seq
        const asAnchorer = new Contract(address, CUSTODY_ANCHOR_ABI, new Wallet(ANCHORER_KEY, provider));
        for (const seq of [1n, 3n]) {
          await expect(asAnchorer.getFunction('anchorBatch').staticCall(seq, id('again'), 3)).rejects.toMatchObject({ revert: { name: 'CustodyAnchorUnexpectedSeq', args: [2n, seq] } });
        }
      } finally {
        client.close();
      }
    }
  }, 120_000);
});
