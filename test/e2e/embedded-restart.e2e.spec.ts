import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Contract, JsonRpcProvider } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { CUSTODY_ANCHOR_ABI } from '../../src/anchoring/custody-anchor';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { eventually } from '../support/test-ledger';
import { RECORD, eventFields, newWallet, signEvent, type RecordResult } from '../support/factories';

const ROOT = path.resolve(__dirname, '../..');

interface Started {
  child: ChildProcess;
  graphqlUrl: string;
  rpcUrl: string;
  contract: string;
  adminKey: string;
  output: () => string;
}

/**
 * Starts the service exactly as `npm start` does, in a directory of its own with no
 * configuration (ports 0 only, so parallel test runs never collide). Data lands in ./data.
 */
async function startService(cwd: string): Promise<Started> {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', EMBEDDED_CHAIN_PORT: '0', TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json') };
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src/main.ts')], { cwd, env: { ...env, NODE_PATH: path.join(ROOT, 'node_modules') }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const banner = await eventually(async () => {
    if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${out}`);
    const m = /GraphQL\s+(\S+)[\s\S]*chain JSON-RPC\s+(\S+)[\s\S]*CustodyAnchor\s+(0x[0-9a-fA-F]{40})[\s\S]*admin API key\s+(\S+)/.exec(out);
    return m ? { graphqlUrl: m[1], rpcUrl: m[2], contract: m[3], adminKey: m[4] } : undefined;
  }, 90_000, 'the start-up banner');
  return { child, ...banner, output: () => out };
}

async function gql<T>(s: Started, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(s.graphqlUrl, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${s.adminKey}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

const PROOF = `query($id: String!) { inclusionProof(eventId: $id) { status digest signaturesHash previousLeaf leaf proof batchSeq root contractAddress txHash } }`;
interface Proof {
  status: string;
  digest: string;
  signaturesHash: string;
  previousLeaf: string;
  leaf: string;
  proof: string[];
  batchSeq: string;
  root: string;
  contractAddress: string;
  txHash: string;
}

async function verifyOnChain(rpcUrl: string, p: Proof): Promise<void> {
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  try {
    const contract = new Contract(p.contractAddress, CUSTODY_ANCHOR_ABI, provider);
    expect(StandardMerkleTree.verify(p.root, ['bytes32', 'bytes32', 'bytes32'], [p.digest, p.signaturesHash, p.previousLeaf], p.proof)).toBe(true);
    expect(await contract.getFunction('verifyInclusion')(BigInt(p.batchSeq), p.leaf, p.proof)).toBe(true);
    expect(((await contract.getFunction('batchRoot')(BigInt(p.batchSeq))) as string).toLowerCase()).toBe(p.root);
  } finally {
    provider.destroy();
  }
}

describe('embedded defaults: no configuration, crash, restart', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-embedded-'));
  let running: Started | undefined;

  afterAll(() => {
    running?.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every accepted event across a crash and re-anchors it on the fresh chain', async () => {
    const first = (running = await startService(dir));
    expect(first.output()).toContain(`kept in ${path.join(dir, 'data')}/admin-api-key`);
    const spec = await gql<{ custodySigningSpec: { domain: { name: string; version: string; chainId: string; verifyingContract: string } } }>(first, `{ custodySigningSpec { domain { name version chainId verifyingContract } } }`);
    const domain: CustodySigningDomain = { ...spec.custodySigningSpec.domain, chainId: BigInt(spec.custodySigningSpec.domain.chainId) };
    const device = newWallet();
    await gql(first, `mutation { registerOrganization(input: { slug: "acme-express", name: "ACME", kind: CARRIER }) { id } }`);
    await gql(first, `mutation($a: String!) { registerSigningKey(input: { organization: "acme-express", address: $a, validFrom: "2020-01-01T00:00:00Z" }) { address } }`, { a: device.address });
    await gql(first, `mutation { createShipment(input: { trackingNumber: "EMB0001", carrier: "acme-express" }) { id } }`);
    const base = { trackingNumber: 'EMB0001', carrier: 'acme-express', custodian: 'acme-express' };
    const pickedUp = await signEvent(domain, device, eventFields({ ...base, eventType: 'PICKED_UP' }));
    const [accepted] = (await gql<{ recordCustodyEvents: RecordResult[] }>(first, RECORD, { events: [pickedUp] })).recordCustodyEvents;
    expect(accepted.outcome).toBe('ACCEPTED');
    await gql(first, `mutation { sealBatch { seq } }`);
    const before = await eventually(async () => {
      const p = (await gql<{ inclusionProof: Proof }>(first, PROOF, { id: pickedUp.eventId })).inclusionProof;
      return p.status === 'FINAL' ? p : undefined;
    }, 30_000, 'the first event FINAL');
    await verifyOnChain(first.rpcUrl, before);
    // accepted after the last seal: must survive the crash as PENDING
    const departed = await signEvent(domain, device, eventFields({ ...base, eventType: 'DEPARTED_FACILITY' }));
    expect((await gql<{ recordCustodyEvents: RecordResult[] }>(first, RECORD, { events: [departed] })).recordCustodyEvents[0].outcome).toBe('ACCEPTED');

    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));

    const second = (running = await startService(dir));
    expect(second.adminKey).toBe(first.adminKey);
    expect(second.output()).toContain('The embedded chain started empty');
    expect(second.contract).toBe(first.contract); // same deployer, same nonce: same address
    const after = await eventually(async () => {
      const p = (await gql<{ inclusionProof: Proof }>(second, PROOF, { id: pickedUp.eventId })).inclusionProof;
      return p.status === 'FINAL' ? p : undefined;
    }, 30_000, 'batch 0 re-anchored');
    expect(after.root).toBe(before.root);
    expect(after.leaf).toBe(before.leaf);
    await verifyOnChain(second.rpcUrl, after);
    // the event accepted just before the crash is still there, chained, and can be sealed now
    const shipment = await gql<{ shipment: { eventCount: number; events: Array<{ eventId: string; previousLeaf: string }> } }>(
      second,
      `{ shipment(trackingNumber: "EMB0001", carrier: "acme-express") { eventCount events { eventId previousLeaf } } }`,
    );
    expect(shipment.shipment.eventCount).toBe(2);
    expect(shipment.shipment.events[1]).toEqual({ eventId: departed.eventId, previousLeaf: before.leaf });
    await gql(second, `mutation { sealBatch { seq } }`);
    const late = await eventually(async () => {
      const p = (await gql<{ inclusionProof: Proof }>(second, PROOF, { id: departed.eventId })).inclusionProof;
      return p.status === 'FINAL' ? p : undefined;
    }, 30_000, 'the second event FINAL');
    expect(late.batchSeq).toBe('1');
    await verifyOnChain(second.rpcUrl, late);
    second.child.kill('SIGTERM');
    await new Promise((r) => second.child.once('exit', r));
    running = undefined;
  }, 240_000);
});
