import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Contract, JsonRpcProvider, Wallet, parseEther } from 'ethers';
import { connectChain, ChainStartupError } from '../../src/anchoring/chain-bootstrap';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { TEST_ADMIN_KEY, startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

interface JsonRpcServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

describe('security by default', () => {
  let t: TestLedger;
  const output: string[] = [];
  const writes = { out: process.stdout.write.bind(process.stdout), err: process.stderr.write.bind(process.stderr) };

  beforeAll(async () => {
    // everything the service logs, at the most verbose level, is captured and searched for secrets
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => (output.push(String(chunk)), writes.out(chunk, ...(rest as [])))) as typeof process.stdout.write;
    process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => (output.push(String(chunk)), writes.err(chunk, ...(rest as [])))) as typeof process.stderr.write;
    t = await startTestLedger({ LOG_LEVEL: 'debug' });
  });

  afterAll(async () => {
    process.stdout.write = writes.out;
    process.stderr.write = writes.err;
    await t?.stop();
  });

  it('a stolen API key cannot make the service anchor a forged root', async () => {
    await registerOrganization(t, 'acme-express', 'CARRIER');
    const device = await registerKey(t, 'acme-express');
    await createShipment(t, 'SEC0001', 'acme-express');
    const created = await mustGql<{ createApiKey: { key: string } }>(t, `mutation { createApiKey(input: { organization: "acme-express", role: "CARRIER", label: "stolen" }) { key } }`);
    const stolen = created.createApiKey.key;
    const domain = await fetchDomain(t);
    const provider = new JsonRpcProvider(t.ledger.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const anchor = new Contract(t.ledger.contractAddress, CUSTODY_ANCHOR_ABI, provider);
    const nextSeq = (await anchor.getFunction('nextSeq')()) as bigint;
    const before = await t.fingerprint();

    // 1. no operation takes a root: only signed, verified events ever reach a tree
    const schema = await mustGql<{ __schema: { mutationType: { fields: Array<{ name: string; args: Array<{ name: string }> }> } } }>(t, `{ __schema { mutationType { fields { name args { name } } } } }`);
    const argNames = schema.__schema.mutationType.fields.flatMap((f) => f.args.map((a) => a.name.toLowerCase()));
    expect(argNames.filter((n) => n.includes('root') || n.includes('leaf') || n.includes('proof'))).toEqual([]);
    // 2. events the thief signs with a key of its own are refused, with either stolen key
    const forger = newWallet();
    const forged = await signEvent(domain, forger, eventFields({ trackingNumber: 'SEC0001', carrier: 'acme-express', eventType: 'PICKED_UP', custodian: 'acme-express' }));
    for (const key of [stolen, TEST_ADMIN_KEY]) {
      const [result] = await record(t, [forged], key);
      expect(result.error?.code).toBe('UNKNOWN_SIGNER');
    }
    // 3. a carrier key cannot seal, and sealing with the admin key finds nothing to seal
    const seal = await t.gql(`mutation { sealBatch { seq root } }`, {}, stolen);
    expect(seal.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    expect(await mustGql(t, `mutation { sealBatch { seq } }`)).toEqual({ sealBatch: null });
    // 4. nothing changed, here or on chain; and the anchoring account is not the thief's
    expect(await t.fingerprint()).toEqual(before);
    expect(await anchor.getFunction('nextSeq')()).toBe(nextSeq);
    const thiefOnChain = anchor.connect(new Wallet(HARDHAT_DEV_PRIVATE_KEY.replace(/80$/, '81'), provider)) as Contract;
    await expect(thiefOnChain.getFunction('anchorBatch').staticCall(nextSeq, '0x' + 'ab'.repeat(32), 1)).rejects.toThrow();
    // the genuine device's events are still welcome
    expect((await record(t, [await signEvent(domain, device, eventFields({ trackingNumber: 'SEC0001', carrier: 'acme-express', eventType: 'PICKED_UP', custodian: 'acme-express' }))], stolen))[0].outcome).toBe('ACCEPTED');
    provider.destroy();
  });

  it('never puts the anchoring key or API keys into responses or logs', async () => {
    const created = await mustGql<{ createApiKey: { key: string; apiKey: { prefix: string } } }>(t, `mutation { createApiKey(input: { organization: "acme-express", role: "CARRIER" }) { key apiKey { prefix } } }`);
    await t.gql(`{ shipments(first: 5) { edges { node { trackingNumber } } } }`, {}, created.createApiKey.key);
    await t.gql(`{ shipments(first: 5) { edges { node { trackingNumber } } } }`, {}, created.createApiKey.key.replace(/.$/, '0'));
    await t.gql(`{ shipments(first: 5) { edges { node { trackingNumber } } } }`, {}, 'cl_000000000000_' + '1'.repeat(48));
    const listed = await mustGql<{ apiKeys: Array<Record<string, unknown>> }>(t, `{ apiKeys { id prefix role organization label createdAt lastUsedAt } }`);
    const responses = JSON.stringify([listed, await mustGql(t, `{ custodySigningSpec { typedDataJson } batches { edges { node { txHash } } } }`)]);
    const secret = created.createApiKey.key.split('_')[2];
    const anchoringKey = t.ledger.runtime.chain.wallet.privateKey.slice(2);
    for (const text of [responses, output.join('')]) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(anchoringKey);
      expect(text).not.toContain(TEST_ADMIN_KEY);
    }
    expect(listed.apiKeys.some((k) => k.prefix === created.createApiKey.apiKey.prefix)).toBe(true);
  });

  it('refuses in production to anchor with an account that can also grant roles', async () => {
    process.env.HARDHAT_CONFIG ??= path.resolve(__dirname, '../../hardhat.config.ts');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const hre = require('hardhat') as typeof import('hardhat');
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { TASK_NODE_CREATE_SERVER } = require('hardhat/builtin-tasks/task-names') as { TASK_NODE_CREATE_SERVER: string };
    // the ledger's own embedded chain runs in this process: this "external" node is the same network, on another port
    const server = (await hre.run(TASK_NODE_CREATE_SERVER, { hostname: '127.0.0.1', port: 0, provider: hre.network.provider })) as JsonRpcServer;
    const { port } = await server.listen();
    const rpcUrl = `http://127.0.0.1:${port}`;
    const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const operator = newWallet().connect(provider);
      const funder = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
      await (await funder.sendTransaction({ to: operator.address, value: parseEther('1') })).wait();
      const shared = await deployCustodyAnchor(operator, { admin: operator.address, anchorer: operator.address });
      const chain = { kind: 'external' as const, rpcUrls: [rpcUrl], privateKey: operator.privateKey, contractAddress: shared.address };
      await expect(connectChain(chain, t.ledger.runtime.dataSource, true)).rejects.toThrow(ChainStartupError);
      await expect(connectChain(chain, t.ledger.runtime.dataSource, true)).rejects.toThrow(/also holds DEFAULT_ADMIN_ROLE/);
      // separated roles start
      const separate = await deployCustodyAnchor(funder, { admin: funder.address, anchorer: operator.address });
      const ok = await connectChain({ ...chain, contractAddress: separate.address }, t.ledger.runtime.dataSource, true);
      expect(ok.chain.contractAddress).toBe(separate.address);
      ok.chain.close();
    } finally {
      provider.destroy();
      await server.close();
    }
  });
});
