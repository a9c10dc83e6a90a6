import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { sqlRows } from '../../src/database/data-source';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { ExternalNode } from './external-node';
import { RpcProxy } from './rpc-proxy';
import { startTestLedger, type TestLedger } from './test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from './factories';

/** Hardhat's dev account #1: the anchorer of the external-chain tests; #0 deploys and administers roles. */
export const ANCHORER_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';

/** An external Hardhat node with a fresh CustodyAnchor whose anchorer is ANCHORER_KEY. */
export async function startAnchorNode(): Promise<{ node: ExternalNode; provider: JsonRpcProvider; anchor: Contract; close(): Promise<void> }> {
  const node = new ExternalNode();
  await node.start();
  await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
  const { address } = await deployCustodyAnchor(admin, { admin: admin.address, anchorer: new Wallet(ANCHORER_KEY).address });
  return {
    node,
    provider,
    anchor: new Contract(address, CUSTODY_ANCHOR_ABI, provider),
    async close() {
      provider.destroy();
      await node.stop();
    },
  };
}

/** A node with a fresh CustodyAnchor, a JSON-RPC proxy in front of it, and a ledger anchoring through the proxy with `env` on top. */
export async function startLedgerBehindProxy(env: Record<string, string>): Promise<{ chain: Awaited<ReturnType<typeof startAnchorNode>>; proxy: RpcProxy; t: TestLedger }> {
  const chain = await startAnchorNode();
  const proxy = await RpcProxy.start(chain.node.url);
  const t = await startTestLedger({ CHAIN_RPC_URL: proxy.url, ANCHOR_PRIVATE_KEY: ANCHORER_KEY, ANCHOR_CONTRACT_ADDRESS: chain.anchor.target as string, ...env });
  return { chain, proxy, t };
}

/** A carrier with a registered device key, ready to record events into `sealOneBatch`. */
export interface Recorder {
  t: TestLedger;
  domain: CustodySigningDomain;
  device: Wallet;
  carrier: string;
  n: number;
}

export async function newRecorder(t: TestLedger, carrier = 'acme-anchoring'): Promise<Recorder> {
  const domain = await fetchDomain(t);
  await registerOrganization(t, carrier, 'CARRIER');
  return { t, domain, device: await registerKey(t, carrier), carrier, n: 0 };
}

/** Records one event of a new shipment and seals it: returns the new batch's seq (a decimal string). */
export async function sealOneBatch(r: Recorder): Promise<string> {
  const trackingNumber = `ANCHOR${String(++r.n).padStart(4, '0')}`;
  await createShipment(r.t, trackingNumber, r.carrier);
  const [result] = await record(r.t, [await signEvent(r.domain, r.device, eventFields({ trackingNumber, carrier: r.carrier, custodian: r.carrier, eventType: 'PICKED_UP', occurredAt: BigInt(Date.now() - 60_000) }))]);
  if (result.outcome !== 'ACCEPTED') throw new Error(`event not accepted: ${JSON.stringify(result)}`);
  const sealed = await mustGql<{ sealBatch: { seq: string } }>(r.t, `mutation { sealBatch { seq } }`);
  return sealed.sealBatch.seq;
}

export interface BatchState {
  status: string;
  tx_hash: string | null;
  block_number: string | null;
  block_hash: string | null;
  attempts: number;
  last_error: string | null;
}

export async function batchRow(t: TestLedger, seq: string): Promise<BatchState> {
  const [row] = await sqlRows<BatchState>(t.ledger.runtime.dataSource, `SELECT status, tx_hash, block_number, block_hash, attempts, last_error FROM anchor_batches WHERE seq = $1`, [seq]);
  return row;
}

/** Every BatchAnchored log of `seq` on the current chain: exactly one once anchored. */
export async function anchoredLogs(anchor: Contract, seq: bigint): Promise<Array<{ transactionHash: string; blockHash: string }>> {
  return (await anchor.queryFilter(anchor.filters.BatchAnchored(seq), 0, 'latest')) as Array<{ transactionHash: string; blockHash: string }>;
}
