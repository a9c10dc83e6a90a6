import { spawn } from 'node:child_process';
import path from 'node:path';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { ExternalNode } from '../support/external-node';
import { startTestLedger, eventually, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/** Hardhat's dev account #1: the anchorer; #0 deploys and administers roles. */
const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const OUTSIDER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';

function runDeploy(env: Record<string, string>): Promise<{ stdout: string; code: number | null }> {
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.resolve(__dirname, '../../scripts/deploy.ts')], {
    env: { PATH: process.env.PATH, ...env },
    cwd: path.resolve(__dirname, '../..'),
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ stdout, code })));
}

describe('an external chain: deploy script path, outages and start-up checks', () => {
  const node = new ExternalNode();
  let provider: JsonRpcProvider;
  let contractAddress: string;
  let t: TestLedger | undefined;

  beforeAll(async () => {
    await node.start();
    await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
    provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    contractAddress = (await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address })).address;
  });

  afterAll(async () => {
    await t?.stop();
    provider.destroy();
    await node.stop();
  });

  const externalEnv = () => ({ CHAIN_RPC_URL: node.url, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, ANCHOR_CONTRACT_ADDRESS: contractAddress });

  it('deploys with `npm run deploy` (scripts/deploy.ts) and prints the address without the key', async () => {
    const { stdout, code } = await runDeploy({ CHAIN_RPC_URL: node.url, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, DEPLOYER_PRIVATE_KEY: HARDHAT_DEV_PRIVATE_KEY });
    expect(code).toBe(0);
    const address = /ANCHOR_CONTRACT_ADDRESS=(0x[0-9a-fA-F]{40})/.exec(stdout)![1];
    expect(stdout).not.toContain(ANCHORER_KEY.slice(2));
    expect(stdout).not.toContain(HARDHAT_DEV_PRIVATE_KEY.slice(2));
    const deployed = new Contract(address, CUSTODY_ANCHOR_ABI, provider);
    const role = (await deployed.getFunction('ANCHORER_ROLE')()) as string;
    expect(await deployed.getFunction('hasRole')(role, new Wallet(ANCHORER_KEY).address)).toBe(true);
    expect(await deployed.getFunction('nextSeq')()).toBe(0n);
  });

  it('the deploy script names what is missing and exits non-zero', async () => {
    const { stdout, code } = await runDeploy({ CHAIN_RPC_URL: node.url });
    expect(code).toBe(1);
    expect(stdout).toContain('ANCHOR_PRIVATE_KEY');
  });

  it('refuses to start when there is no contract at the configured address', async () => {
    await expect(startTestLedger({ ...externalEnv(), ANCHOR_CONTRACT_ADDRESS: '0x000000000000000000000000000000000000dEaD' })).rejects.toThrow(/no contract code at ANCHOR_CONTRACT_ADDRESS/);
  });

  it('refuses to start when the anchoring key lacks the anchorer role', async () => {
    await expect(startTestLedger({ ...externalEnv(), ANCHOR_PRIVATE_KEY: OUTSIDER_KEY })).rejects.toThrow(/lacks ANCHORER_ROLE/);
  });

  it('keeps ingesting and sealing while the chain is down, then recovers an anchor it sent but never recorded', async () => {
    t = await startTestLedger(externalEnv());
    const domain = await fetchDomain(t);
    expect(domain.verifyingContract).toBe(contractAddress);
    await registerOrganization(t, 'acme-express', 'CARRIER');
    const device = await registerKey(t, 'acme-express');
    await createShipment(t, 'EXT0001', 'acme-express');
    const base = { trackingNumber: 'EXT0001', carrier: 'acme-express', custodian: 'acme-express' };

    await node.stop();
    const results = await record(t, [await signEvent(domain, device, eventFields({ ...base, eventType: 'PICKED_UP' }))]);
    expect(results[0].outcome).toBe('ACCEPTED');
    const sealed = await mustGql<{ sealBatch: { seq: string; root: string; leafCount: number } }>(t, `mutation { sealBatch { seq root leafCount } }`);
    // the anchorer tries and fails; the batch waits in the outbox
    const waiting = await eventually(async () => {
      const d = await mustGql<{ batch: { status: string; lastError: string | null } }>(t!, `{ batch(seq: "0") { status lastError } }`);
      return d.batch.status === 'SEALED' ? d.batch : undefined;
    }, 10_000, 'batch 0 waiting');
    expect(waiting.status).toBe('SEALED');
    // ingestion is unaffected by the outage
    expect((await record(t, [await signEvent(domain, device, eventFields({ ...base, eventType: 'ARRIVED_AT_FACILITY' }))]))[0].outcome).toBe('ACCEPTED');

    // the service "crashed" after sending: the anchor is on chain, the ledger does not know its transaction
    const anchorer = new Contract(contractAddress, CUSTODY_ANCHOR_ABI, new Wallet(ANCHORER_KEY, provider));
    await node.start();
    const tx = (await anchorer.getFunction('anchorBatch')(0n, sealed.sealBatch.root, sealed.sealBatch.leafCount)) as { hash: string; wait(): Promise<unknown> };
    await tx.wait();

    const recovered = await eventually(async () => {
      const d = await mustGql<{ batch: { status: string; txHash: string | null; attempts: number } }>(t!, `{ batch(seq: "0") { status txHash attempts } }`);
      return d.batch.status === 'ANCHORED' || d.batch.status === 'FINAL' ? d.batch : undefined;
    }, 90_000, 'batch 0 recovered from the chain');
    expect(recovered.txHash).toBe(tx.hash);

    // the next batch goes on chain normally, after it
    await mustGql(t, `mutation { sealBatch { seq } }`);
    await eventually(async () => {
      const d = await mustGql<{ batch: { status: string } }>(t!, `{ batch(seq: "1") { status } }`);
      return d.batch.status === 'ANCHORED' ? true : undefined;
    }, 60_000, 'batch 1 ANCHORED');
    // external chains default to CONFIRMATIONS=3: two more blocks make it final
    await provider.send('hardhat_mine', ['0x2']);
    const next = await eventually(async () => {
      const d = await mustGql<{ batch: { status: string; txHash: string } }>(t!, `{ batch(seq: "1") { status txHash } }`);
      return d.batch.status === 'FINAL' ? d.batch : undefined;
    }, 60_000, 'batch 1 FINAL');
    expect(next.txHash).not.toBe(tx.hash);
    expect(await anchorer.getFunction('nextSeq')()).toBe(2n);
  }, 180_000);

  it('refuses to start against another contract than the one this ledger anchored on', async () => {
    const schemaOf = t!.ledger.runtime.config.database;
    await t!.ledger.close();
    const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    const other = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address });
    if (schemaOf.kind === 'postgres') {
      // same database and schema, other contract
      await expect(startTestLedger({ ...externalEnv(), ANCHOR_CONTRACT_ADDRESS: other.address, DATABASE_SCHEMA: schemaOf.schema })).rejects.toThrow(/never moves chains silently/);
    } else {
      expect(other.address).not.toBe(contractAddress); // PGlite in memory: nothing persisted to compare against
    }
    t = undefined;
  });
});
