import { Contract, FetchRequest, JsonRpcProvider, Network, Transaction, Wallet, getAddress, type Log } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor, type CustodyAnchorDeployment } from './custody-anchor';

export interface AnchorLocation {
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

export type ReceiptState =
  | { state: 'unknown' }
  | { state: 'pending' }
  | ({ state: 'mined'; success: boolean } & AnchorLocation);

/** What the node asks for now, in wei per gas; `legacy`: a chain without EIP-1559 (one gas price, both fields equal). */
export interface FeeQuote {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  legacy: boolean;
}

/** An anchor transaction signed but not sent yet: its hash is known (and recorded) before any node sees it. */
export interface SignedAnchor {
  hash: string;
  raw: string;
}

/** How long one JSON-RPC request may take by default (RPC_TIMEOUT_MS). */
export const RPC_TIMEOUT_MS = 10_000;

function rpcRequest(url: string, timeoutMs: number): FetchRequest {
  const request = new FetchRequest(url);
  request.timeout = timeoutMs;
  return request;
}

/**
 * The only code that talks to the chain. Every call is a plain JSON-RPC request, so the
 * embedded Hardhat chain and any external EVM node are handled the same way.
 */
export class ChainClient {
  readonly provider: JsonRpcProvider;
  /** null for a read-only client (views and logs only, see readOnly). */
  private readonly signer: Wallet | null;
  private contract: Contract | undefined;

  private constructor(
    readonly rpcUrl: string,
    readonly chainId: bigint,
    privateKey: string | null,
    readonly timeoutMs: number = RPC_TIMEOUT_MS,
  ) {
    // a static network: no chain-id polling on every request, and no retry storms when the node is down;
    // every request gives up after timeoutMs (ethers' own default is 300 s)
    this.provider = new JsonRpcProvider(rpcRequest(rpcUrl, timeoutMs), Network.from(chainId), { staticNetwork: true, batchMaxCount: 1, polling: false, cacheTimeout: -1 });
    this.signer = privateKey === null ? null : new Wallet(privateKey, this.provider);
  }

  /** Asks the node its chain id, within `timeoutMs`; the error says so plainly (never the URL: it may hold an API key). */
  static async connect(rpcUrl: string, privateKey: string, timeoutMs = RPC_TIMEOUT_MS): Promise<ChainClient> {
    const probe = new JsonRpcProvider(rpcRequest(rpcUrl, timeoutMs), undefined, { staticNetwork: true, batchMaxCount: 1 });
    try {
      const chainIdHex = (await probe.send('eth_chainId', [])) as string;
      return new ChainClient(rpcUrl, BigInt(chainIdHex), privateKey, timeoutMs);
    } catch (err) {
      if ((err as { code?: string }).code === 'TIMEOUT') throw new Error(`the JSON-RPC endpoint did not answer eth_chainId within ${timeoutMs} ms`);
      throw err;
    } finally {
      probe.destroy();
    }
  }

  /**
   * A client without a key, for auditors: views (batchRoot, nextSeq, verifyInclusion) and logs
   * only; anything that sends a transaction throws. Fails within `timeoutMs` when the node
   * cannot be reached or is not a JSON-RPC endpoint.
   */
  static async readOnly(rpcUrl: string, contractAddress: string, timeoutMs = 10_000): Promise<ChainClient> {
    const res = await fetch(rpcUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) throw new Error(`eth_chainId answered HTTP ${res.status}`);
    const body = (await res.json()) as { result?: unknown; error?: { message?: string } };
    if (typeof body.result !== 'string' || !/^0x[0-9a-fA-F]+$/.test(body.result)) {
      throw new Error(`eth_chainId failed: ${body.error?.message ?? 'no chain id in the answer'}`);
    }
    const client = new ChainClient(rpcUrl, BigInt(body.result), null);
    client.attach(contractAddress);
    return client;
  }

  get wallet(): Wallet {
    if (!this.signer) throw new Error('this ChainClient is read-only: it has no key to sign with');
    return this.signer;
  }

  get anchorerAddress(): string {
    return this.wallet.address;
  }

  get contractAddress(): string {
    if (!this.contract) throw new Error('no CustodyAnchor contract attached');
    return this.contract.target as string;
  }

  attach(address: string): void {
    this.contract = new Contract(getAddress(address), CUSTODY_ANCHOR_ABI, this.signer ?? this.provider);
  }

  private anchor(): Contract {
    if (!this.contract) throw new Error('no CustodyAnchor contract attached');
    return this.contract;
  }

  async hasCode(address: string): Promise<boolean> {
    const code = await this.provider.getCode(address);
    return code !== '0x';
  }

  async deploy(): Promise<CustodyAnchorDeployment> {
    const deployment = await deployCustodyAnchor(this.wallet, { admin: this.wallet.address, anchorer: this.wallet.address });
    this.attach(deployment.address);
    return deployment;
  }

  /** Whether the anchoring account could also grant roles (it should not, outside development). */
  async isRoleAdmin(): Promise<boolean> {
    return (await this.anchor().getFunction('hasRole')('0x' + '00'.repeat(32), this.wallet.address)) as boolean;
  }

  async hasAnchorerRole(): Promise<boolean> {
    const role = (await this.anchor().getFunction('ANCHORER_ROLE')()) as string;
    return (await this.anchor().getFunction('hasRole')(role, this.wallet.address)) as boolean;
  }

  async nextSeq(): Promise<bigint> {
    return (await this.anchor().getFunction('nextSeq')()) as bigint;
  }

  async batchRoot(seq: bigint): Promise<string> {
    return ((await this.anchor().getFunction('batchRoot')(seq)) as string).toLowerCase();
  }

  async verifyInclusion(seq: bigint, leaf: string, proof: string[]): Promise<boolean> {
    return (await this.anchor().getFunction('verifyInclusion')(seq, leaf, proof)) as boolean;
  }

  /** Sends anchorBatch and returns as soon as the node accepted the transaction. */
  async sendAnchor(seq: bigint, root: string, leafCount: number): Promise<string> {
    const tx = await this.anchor().getFunction('anchorBatch')(seq, root, leafCount);
    return (tx as { hash: string }).hash;
  }

  /** The fees to offer now: EIP-1559 fields when the chain has a base fee, else its gas price. */
  async feeQuote(): Promise<FeeQuote> {
    const data = await this.provider.getFeeData();
    if (data.maxFeePerGas !== null && data.maxPriorityFeePerGas !== null) return { maxFeePerGas: data.maxFeePerGas, maxPriorityFeePerGas: data.maxPriorityFeePerGas, legacy: false };
    if (data.gasPrice === null) throw new Error('the node reports neither a base fee nor a gas price');
    return { maxFeePerGas: data.gasPrice, maxPriorityFeePerGas: data.gasPrice, legacy: true };
  }

  /** The anchoring account's next nonce, counting its transactions still pending. */
  async pendingNonce(): Promise<number> {
    return this.provider.getTransactionCount(this.wallet.address, 'pending');
  }

  /**
   * Signs anchorBatch with an explicit nonce and fees, without sending it (see broadcast): the
   * caller records the hash first, and a replacement re-uses the nonce with higher fees. Gas is
   * estimated against the current state, so a seq the contract would refuse fails here, unsent.
   */
  async signAnchor(seq: bigint, root: string, leafCount: number, tx: { nonce: number } & FeeQuote): Promise<SignedAnchor> {
    const to = this.contractAddress;
    const data = this.anchor().interface.encodeFunctionData('anchorBatch', [seq, root, leafCount]);
    const gasLimit = await this.provider.estimateGas({ from: this.wallet.address, to, data });
    const fees = tx.legacy ? { type: 0, gasPrice: tx.maxFeePerGas } : { type: 2, maxFeePerGas: tx.maxFeePerGas, maxPriorityFeePerGas: tx.maxPriorityFeePerGas };
    const raw = await this.wallet.signTransaction({ to, data, nonce: tx.nonce, chainId: this.chainId, gasLimit, ...fees });
    return { hash: Transaction.from(raw).hash!, raw };
  }

  /** Sends a signed transaction; a node that already holds it is not an error. */
  async broadcast(raw: string): Promise<void> {
    try {
      await this.provider.broadcastTransaction(raw);
    } catch (err) {
      if (/already known|known transaction/i.test((err as Error).message)) return;
      throw err;
    }
  }

  async receipt(txHash: string): Promise<ReceiptState> {
    const receipt = await this.provider.getTransactionReceipt(txHash);
    if (receipt) return { state: 'mined', success: receipt.status === 1, txHash, blockNumber: receipt.blockNumber, blockHash: receipt.blockHash };
    const tx = await this.provider.getTransaction(txHash);
    return tx ? { state: 'pending' } : { state: 'unknown' };
  }

  /** The timestamp (unix seconds) of a block: when a batch was anchored, as the chain itself says. */
  async blockTime(blockHash: string): Promise<number> {
    const block = await this.provider.getBlock(blockHash);
    if (!block) throw new Error(`block ${blockHash} is unknown to the node`);
    return block.timestamp;
  }

  async blockNumber(): Promise<number> {
    return this.provider.getBlockNumber();
  }

  /** Finds where batch `seq` was anchored, from its BatchAnchored log (seq is an indexed topic). */
  async findAnchoredLog(seq: bigint): Promise<(AnchorLocation & { root: string; leafCount: number }) | null> {
    const anchor = this.anchor();
    const logs = (await anchor.queryFilter(anchor.filters.BatchAnchored(seq), 0, 'latest')) as Log[];
    const log = logs[0];
    if (!log) return null;
    const parsed = anchor.interface.parseLog(log);
    return {
      txHash: log.transactionHash,
      blockNumber: log.blockNumber,
      blockHash: log.blockHash,
      root: (parsed?.args.getValue('root') as string).toLowerCase(),
      leafCount: Number(parsed?.args.getValue('leafCount')),
    };
  }

  close(): void {
    this.provider.destroy();
  }
}
