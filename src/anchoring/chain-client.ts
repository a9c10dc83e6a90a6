import { Contract, Transaction, Wallet, getAddress, type Log } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor, type CustodyAnchorDeployment } from './custody-anchor';
import { FailoverJsonRpcProvider, LOG_RANGE, RPC_TIMEOUT_MS, connectEndpoints, findLogNewestFirst, type EndpointFailure } from './json-rpc';

export interface AnchorLocation {
  txHash: string;
  blockNumber: number;
  blockHash: string;
}

export type ReceiptState =
  | { state: 'unknown' }
  | { state: 'pending' }
  | ({ state: 'mined'; success: boolean } & AnchorLocation);

export { RPC_TIMEOUT_MS } from './json-rpc';
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


/** Where log scans start and how many blocks one eth_getLogs may span. */
export interface LogScan {
  /** the contract's deployment block (no BatchAnchored log can be older) */
  fromBlock: number;
  /** CHAIN_LOG_RANGE */
  range: number;
}

/**
 * The only code that talks to the chain. Every call is a plain JSON-RPC request, so the
 * embedded Hardhat chain and any external EVM node are handled the same way; with several
 * endpoints, each request falls back to the next one when one is down (see FailoverJsonRpcProvider).
 */
export class ChainClient {
  readonly provider: FailoverJsonRpcProvider;
  /** null for a read-only client (views and logs only, see readOnly). */
  private readonly signer: Wallet | null;
  private contract: Contract | undefined;
  /** log scans: from the deployment block when known, at most `range` blocks per eth_getLogs */
  logScan: LogScan = { fromBlock: 0, range: LOG_RANGE };

  private constructor(
    provider: FailoverJsonRpcProvider,
    privateKey: string | null,
    /** endpoints that did not answer at start-up, and why (requests try them again later) */
    readonly startupFailures: EndpointFailure[] = [],
  ) {
    this.provider = provider;
    this.signer = privateKey === null ? null : new Wallet(privateKey, this.provider);
  }

  get chainId(): bigint {
    return this.provider.chainId;
  }

  get timeoutMs(): number {
    return this.provider.timeoutMs;
  }

  /** The endpoints, in order. Never log or show them: they may hold API keys. */
  get rpcUrls(): readonly string[] {
    return this.provider.urls;
  }

  /** The first endpoint (the embedded chain's only one). */
  get rpcUrl(): string {
    return this.provider.urls[0];
  }

  /**
   * Asks every endpoint its chain id, each within `timeoutMs`: at least one must answer and all
   * that answer must agree. Errors name endpoints by number ("endpoint #2"), never by URL.
   */
  static async connect(rpcUrls: string | readonly string[], privateKey: string, timeoutMs = RPC_TIMEOUT_MS): Promise<ChainClient> {
    const { provider, failures } = await connectEndpoints(typeof rpcUrls === 'string' ? [rpcUrls] : rpcUrls, timeoutMs);
    return new ChainClient(provider, privateKey, failures);
  }

  /**
   * A client for a chain that did not answer at start-up, on the chain id this ledger recorded
   * when it last checked it: every endpoint is asked its chain id again before its first use.
   * `checks` are what start-up could not do; `ready()` runs them before anything is anchored.
   */
  static offline(rpcUrls: readonly string[], chainId: bigint, privateKey: string, timeoutMs: number, checks: () => Promise<void>): ChainClient {
    const client = new ChainClient(new FailoverJsonRpcProvider(rpcUrls, chainId, timeoutMs), privateKey);
    client.pendingChecks = checks;
    return client;
  }

  /** start-up checks still to run (the chain was down at start-up); see ready() */
  private pendingChecks: (() => Promise<void>) | undefined;

  /**
   * Resolves once the start-up checks have passed against the chain itself (at once when start-up
   * ran them). The anchorer calls it before every tick: nothing is sent to a chain that was never
   * checked. A failed check is thrown, and tried again on the next call.
   */
  async ready(): Promise<void> {
    const checks = this.pendingChecks;
    if (!checks) return;
    await checks();
    this.pendingChecks = undefined;
  }

  /**
   * A client without a key, for auditors: views (batchRoot, nextSeq, verifyInclusion) and logs
   * only; anything that sends a transaction throws. Fails within `timeoutMs` when no endpoint
   * can be reached or is a JSON-RPC endpoint.
   */
  static async readOnly(rpcUrls: string | readonly string[], contractAddress: string, timeoutMs = RPC_TIMEOUT_MS): Promise<ChainClient> {
    const { provider, failures } = await connectEndpoints(typeof rpcUrls === 'string' ? [rpcUrls] : rpcUrls, timeoutMs);
    const client = new ChainClient(provider, null, failures);
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

  /**
   * Finds where batch `seq` was anchored, from its BatchAnchored log (seq is an indexed topic; the
   * contract takes each seq once, so there is at most one). `near`: a block to look at first (the
   * one the ledger recorded); then the scan goes newest first from the head down to the
   * deployment block, `logScan.range` blocks per request.
   */
  async findAnchoredLog(seq: bigint, near?: number | null): Promise<(AnchorLocation & { root: string; leafCount: number }) | null> {
    const anchor = this.anchor();
    const query = { address: this.contractAddress, topics: await anchor.filters.BatchAnchored(seq).getTopicFilter() };
    const first = (logs: Log[]): Log | undefined => logs[0];
    let log: Log | undefined;
    if (near !== undefined && near !== null && near >= this.logScan.fromBlock) log = await findLogNewestFirst(this.provider, query, near, near, 1, first);
    if (!log) log = await findLogNewestFirst(this.provider, query, this.logScan.fromBlock, await this.blockNumber(), this.logScan.range, first);
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
