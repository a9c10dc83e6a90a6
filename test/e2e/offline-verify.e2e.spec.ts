import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JsonRpcProvider, Wallet } from 'ethers';
import { deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import type { VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 } from '../../src/proofs/pod-bundle';
import type { TrustFile } from '../../src/proofs/trust-root';
import { ExternalNode } from '../support/external-node';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { HOUR, recordCorrectedDelivery } from '../support/pod-fixtures';
import { fetchDomain, mustGql, registerKey, registerOrganization } from '../support/factories';

const ROOT = path.resolve(__dirname, '../..');
/** Hardhat's dev account #1: the ledger's anchorer; #0 deploys and administers roles. */
const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const TRACKING = 'OFFLINE-0001';

/** Every key path of a JSON value, arrays collapsed to their first element: the shape of a format. */
function shape(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.length ? shape(value[0], `${prefix}[]`) : [`${prefix}[]`];
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [`${prefix}.${k}`, ...(k === 'types' || k === 'fields' ? [] : shape(v, `${prefix}.${k}`))]);
  return [];
}

describe('a bundle verifies VALID offline from the service, with only the bundle, the trust file and a JSON-RPC URL', () => {
  const node = new ExternalNode();
  let provider: JsonRpcProvider;
  let t: TestLedger | undefined;
  let ledgerUrl: string;
  let dir: string;
  let bundle: ProofBundleV3;
  let trust: TrustFile;
  let deploymentBlock: number;
  let ids: string[];

  /** `custody verify` in its own process, with nothing of the ledger's environment (asynchronously: the node lives in this process). */
  const cli = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin/custody.js'), 'verify', ...args], { cwd: dir, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      });
    });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custody-offline-'));
    await node.start();
    await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    const { address, blockNumber } = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address });
    deploymentBlock = blockNumber;
    t = await startTestLedger({ CHAIN_RPC_URL: node.url, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, ANCHOR_CONTRACT_ADDRESS: address, ANCHOR_DEPLOYMENT_BLOCK: String(blockNumber) });
    ledgerUrl = t.url;
    const domain = await fetchDomain(t);
    expect(domain.verifyingContract).toBe(address);

    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, 'acme-express', 'CARRIER');
    await registerOrganization(t, 'berlin-hub', 'CARRIER');
    const acme = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    const hub = await registerKey(t, 'berlin-hub', undefined, new Date(T0 - HOUR));
    ids = await recordCorrectedDelivery(t, domain, TRACKING, acme, hub, at);

    const sealed = await mustGql<{ sealBatch: { seq: string } | null }>(t, `mutation { sealBatch { seq } }`);
    expect(sealed.sealBatch?.seq).toBe('0');
    // an external chain defaults to CONFIRMATIONS=3: mine until the batch is final
    await eventually(async () => {
      const { batch } = await mustGql<{ batch: { status: string } }>(t!, `{ batch(seq: "0") { status } }`);
      if (batch.status === 'FINAL') return true;
      if (batch.status === 'ANCHORED') await provider.send('hardhat_mine', ['0x1']);
      return undefined;
    }, 90_000, 'batch 0 FINAL');

    bundle = (await mustGql<{ proofOfDelivery: ProofBundleV3 }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: TRACKING })).proofOfDelivery;
    const res = await fetch(t.url.replace('/graphql', '/trust.json'));
    expect(res.status).toBe(200);
    trust = (await res.json()) as TrustFile;
    writeFileSync(path.join(dir, 'bundle.json'), JSON.stringify(bundle, null, 2));
    writeFileSync(path.join(dir, 'trust.json'), JSON.stringify(trust, null, 2));

    // from here on, no ledger: only the files and the chain
    await t.stop();
    t = undefined;
  }, 180_000);

  afterAll(async () => {
    await t?.stop();
    provider?.destroy();
    await node.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('saved a /3 bundle of the final batch and the ledger’s trust root, and the ledger is gone', async () => {
    expect(bundle.format).toBe('custody-pod/3');
    expect(bundle.events[1].consent).toEqual({ kind: 'COUNTER_SIGNED', delegationId: null });
    expect(bundle.events.map((e) => e.fields.eventType)).toEqual(['PICKED_UP', 'HANDOFF', 'OUT_FOR_DELIVERY', 'DELIVERED', 'CORRECTION', 'DELIVERED']);
    expect(bundle.events[1]).toMatchObject({ dualAttested: true, signerOrganization: 'berlin-hub', counterSignerOrganization: 'acme-express' });
    expect(bundle.events[3].correctedBy).toBe(ids[4]);
    expect(bundle.events[4]).toMatchObject({ correctsEventId: ids[3], extraData: expect.stringContaining(ids[3]) });
    expect(bundle.batches).toEqual([expect.objectContaining({ seq: '0', treeVersion: 2, status: 'FINAL' })]);
    expect(bundle.state).toMatchObject({ seq: '0', shipment: { eventCount: 6, headLeaf: bundle.shipment.headLeaf } });
    // a contract the ledger did not deploy: the block npm run deploy printed, from ANCHOR_DEPLOYMENT_BLOCK
    expect(trust).toEqual({ format: 'custody-trust/1', anchors: [{ chainId: '31337', contract: bundle.signing.domain.verifyingContract, fromSeq: '0', deploymentBlock }] });
    await expect(fetch(ledgerUrl)).rejects.toThrow();
  });

  it('`custody verify bundle.json --rpc <node> --trust trust.json` exits 0 with verdict VALID', async () => {
    const run = await cli(['bundle.json', '--rpc', node.url, '--trust', 'trust.json']);
    expect(run.stdout).toContain('verdict     VALID');
    expect(run.status).toBe(0);
  });

  it('`--json` reports completeness and key ownership PROVEN, against the state of batch 0', async () => {
    const run = await cli(['bundle.json', '--rpc', node.url, '--trust', 'trust.json', '--json']);
    expect(run.status).toBe(0);
    const report = JSON.parse(run.stdout) as VerificationReport;
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ verdict: 'VALID', bundleFormat: 'custody-pod/3', trackingNumber: TRACKING, eventsChecked: 6, batchesChecked: 1, pendingEventIds: [] });
    expect(report.custody).toMatchObject({ consented: true, chain: [{ to: 'acme-express', consent: 'DESIGNATED' }, { from: 'acme-express', to: 'berlin-hub', consent: 'COUNTER_SIGNED' }] });
    expect(report.state).toEqual({ provenAtSeq: '0', latestSeq: '0', completeness: 'PROVEN', keyOwnership: 'PROVEN' });
  });

  it('has exactly the shape, and the formats, of test/vectors/custody-pod-v3.json', () => {
    const vector = JSON.parse(readFileSync(path.join(ROOT, 'test/vectors/custody-pod-v3.json'), 'utf8')) as ProofBundleV3;
    // the vector carries a delegation, this journey none: compare events, state and the rest, and a delegation's shape with the vector's own
    expect(new Set(shape({ ...bundle, delegations: vector.delegations }))).toEqual(new Set(shape(vector)));
    const formats = (b: ProofBundleV3) => ({ format: b.format, leafFormat: b.leafFormat, treeFormat: b.treeFormat, stateFormat: b.stateFormat, signing: { ...b.signing, domain: null } });
    expect(formats(bundle)).toEqual(formats(vector));
  });
});
