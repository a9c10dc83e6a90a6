import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { ChainConfig } from '../config/config';
import { sqlRows } from '../database/data-source';
import { ChainClient, RPC_TIMEOUT_MS } from './chain-client';
import { ChainIdMismatchError, RpcEndpointsError } from './json-rpc';
import { startEmbeddedChain, type EmbeddedChain } from './embedded-chain';

export class ChainStartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChainStartupError';
  }
}

interface DeploymentRow {
  chain_id: string;
  contract_address: string;
}

export interface ChainOptions {
  logger?: Logger;
  /** CHAIN_LOG_RANGE */
  logRange?: number;
  /** ANCHOR_DEPLOYMENT_BLOCK: where the contract's logs start, when this ledger did not deploy it */
  deploymentBlock?: number | null;
}

/**
 * Connects to the anchor chain and makes sure the ledger and the chain agree before anything
 * is anchored. Embedded mode repairs a chain that forgot its state (redeploy, re-anchor every
 * sealed batch); against a real chain any mismatch is fatal, never silently repaired.
 */
export async function connectChain(config: ChainConfig, dataSource: DataSource, production = false, options: ChainOptions = {}): Promise<{ chain: ChainClient; embedded?: EmbeddedChain }> {
  const logger = options.logger ?? new Logger('Chain');
  if (config.kind === 'embedded') {
    const embedded = await startEmbeddedChain({ hostname: config.host, port: config.port });
    const chain = await ChainClient.connect(embedded.rpcUrl, embedded.deployerPrivateKey);
    await adoptEmbeddedChain(chain, dataSource, logger);
    chain.logScan = { fromBlock: await deploymentBlock(chain, dataSource, null), range: options.logRange ?? chain.logScan.range };
    return { chain, embedded };
  }
  // Ingestion never needs the chain: a replica restarted during an outage serves on the chain id
  // and contract it checked before, and runs the start-up checks before it anchors anything.
  const startOffline = async (reason: string): Promise<{ chain: ChainClient }> => {
    const checked = await checkedDeployment(dataSource, config.contractAddress);
    if (!checked) throw new ChainStartupError(`${reason} (a ledger that has never checked its chain and contract cannot start without them)`);
    logger.warn(`${reason}; starting on chain ${checked.chain_id} and contract ${config.contractAddress} as checked before; anchoring waits until the chain answers and passes the start-up checks`);
    const offline = ChainClient.offline(config.rpcUrls, BigInt(checked.chain_id), config.privateKey, config.rpcTimeoutMs ?? RPC_TIMEOUT_MS, () => checkConnectedChain(offline, dataSource, production, options, logger));
    offline.provider.onSwitch = (message) => logger.warn(message);
    offline.attach(config.contractAddress);
    offline.logScan = { fromBlock: options.deploymentBlock ?? 0, range: options.logRange ?? offline.logScan.range };
    return { chain: offline };
  };
  let chain: ChainClient;
  try {
    chain = await ChainClient.connect(config.rpcUrls, config.privateKey, config.rpcTimeoutMs);
  } catch (err) {
    if (err instanceof ChainIdMismatchError) {
      throw new ChainStartupError(`CHAIN_RPC_URL names endpoints of different chains: ${err.message.replace(/^.*?: /, '')}; every URL in it must be a node of the same chain`);
    }
    // ethers' own errors end in a parenthesised dump that can hold the URL: never shown
    return startOffline(`cannot reach CHAIN_RPC_URL: ${(err as Error).message.split(' (')[0]}`);
  }
  for (const failure of chain.startupFailures) {
    logger.warn(`JSON-RPC endpoint #${failure.endpoint} of ${chain.rpcUrls.length} ${failure.reason} at start-up; requests go to endpoint #${chain.provider.endpoint} and try it again when that one fails`);
  }
  chain.provider.onSwitch = (message) => logger.warn(message);
  chain.attach(config.contractAddress);
  try {
    await checkConnectedChain(chain, dataSource, production, options, logger);
  } catch (err) {
    // the node answered eth_chainId, then stopped answering during the checks (an outage that
    // began just then): the same as an outage before the start, not a reason to exit
    if (!(err instanceof RpcEndpointsError)) throw err;
    chain.close();
    return startOffline(`CHAIN_RPC_URL stopped answering during the start-up checks: ${err.message.split(' (')[0]}`);
  }
  return { chain };
}

/** The external chain and contract this ledger checked at an earlier start (null: never). */
async function checkedDeployment(dataSource: DataSource, contractAddress: string): Promise<DeploymentRow | null> {
  const [row] = await sqlRows<DeploymentRow>(
    dataSource,
    `SELECT chain_id, contract_address FROM chain_deployments WHERE NOT embedded AND lower(contract_address) = lower($1) ORDER BY id DESC LIMIT 1`,
    [contractAddress],
  );
  return row ?? null;
}

/** Start-up's checks of an external chain that answers: at start-up, or before the first anchoring after a start without it. */
async function checkConnectedChain(chain: ChainClient, dataSource: DataSource, production: boolean, options: ChainOptions, logger: Logger): Promise<void> {
  await checkExternalChain(chain, dataSource);
  chain.logScan = { fromBlock: await deploymentBlock(chain, dataSource, options.deploymentBlock ?? null), range: options.logRange ?? chain.logScan.range };
  if (await chain.isRoleAdmin()) {
    // a leaked anchoring key must not also be able to hand out roles
    const message = `the anchoring account ${chain.anchorerAddress} also holds DEFAULT_ADMIN_ROLE on ${chain.contractAddress}; keep role administration on a separate (cold) account`;
    if (production) throw new ChainStartupError(`NODE_ENV=production refuses to start: ${message}`);
    logger.warn(message);
  }
}

/**
 * The block the attached contract was deployed in, where log scans start: from its deployment
 * transaction when this ledger deployed it, else ANCHOR_DEPLOYMENT_BLOCK, else 0 (the whole chain).
 */
export async function deploymentBlock(chain: ChainClient, dataSource: DataSource, configured: number | null): Promise<number> {
  const [row] = await sqlRows<{ deploy_tx_hash: string | null }>(
    dataSource,
    `SELECT deploy_tx_hash FROM chain_deployments WHERE chain_id = $1 AND lower(contract_address) = lower($2) AND deploy_tx_hash IS NOT NULL ORDER BY id DESC LIMIT 1`,
    [chain.chainId.toString(), chain.contractAddress],
  );
  if (row?.deploy_tx_hash) {
    const receipt = await chain.provider.getTransactionReceipt(row.deploy_tx_hash);
    if (receipt) return receipt.blockNumber;
  }
  return configured ?? 0;
}

async function adoptEmbeddedChain(chain: ChainClient, dataSource: DataSource, logger: Logger): Promise<void> {
  const [previous] = await sqlRows<DeploymentRow>(dataSource, `SELECT chain_id, contract_address FROM chain_deployments WHERE embedded ORDER BY id DESC LIMIT 1`);
  if (previous && (await chain.hasCode(previous.contract_address))) {
    chain.attach(previous.contract_address);
    return;
  }
  const deployment = await chain.deploy();
  await dataSource.transaction(async (m) => {
    await m.query(`INSERT INTO chain_deployments (chain_id, contract_address, embedded, deploy_tx_hash) VALUES ($1, $2, true, $3)`, [chain.chainId.toString(), deployment.address, deployment.txHash]);
    if (!previous) return;
    const [{ n }] = (await m.query(`SELECT count(*)::int AS n FROM anchor_batches`)) as Array<{ n: number }>;
    await m.query(
      `UPDATE anchor_batches SET status = 'SEALED', submitted_at = NULL, anchored_at = NULL, finalized_at = NULL,
         chain_id = NULL, contract_address = NULL, tx_hash = NULL, block_number = NULL, block_hash = NULL, attempts = 0, last_error = NULL`,
    );
    logger.warn(
      `\n!!! The embedded chain started empty (it keeps no state across restarts).\n` +
        `!!! Redeployed CustodyAnchor at ${deployment.address}${deployment.address === previous.contract_address ? ' (the same address: same deployer, same nonce)' : ` (was ${previous.contract_address})`} and re-anchoring ${n} sealed batch(es) in order.\n` +
        `!!! Until a batch is FINAL again, its proofs show it as BATCHED; block numbers and transaction hashes may differ from before.`,
    );
  });
}

async function checkExternalChain(chain: ChainClient, dataSource: DataSource): Promise<void> {
  const address = chain.contractAddress;
  if (!(await chain.hasCode(address))) {
    throw new ChainStartupError(`no contract code at ANCHOR_CONTRACT_ADDRESS ${address} on chain ${chain.chainId}: deploy with \`npm run deploy\` or fix the address`);
  }
  if (!(await chain.hasAnchorerRole())) {
    throw new ChainStartupError(`the account of ANCHOR_PRIVATE_KEY (${chain.anchorerAddress}) lacks ANCHORER_ROLE on ${address}: grant it with the admin account`);
  }
  const others = await sqlRows<DeploymentRow>(
    dataSource,
    `SELECT DISTINCT chain_id, contract_address FROM anchor_batches WHERE contract_address IS NOT NULL AND (chain_id <> $1 OR lower(contract_address) <> lower($2))`,
    [chain.chainId.toString(), address],
  );
  if (others.length > 0) {
    throw new ChainStartupError(
      `this database anchored batches on chain ${others[0].chain_id} contract ${others[0].contract_address}, but the configuration names chain ${chain.chainId} contract ${address}; refusing to start (a ledger never moves chains silently)`,
    );
  }
  const [last] = await sqlRows<{ seq: string; root: string }>(dataSource, `SELECT seq, root FROM anchor_batches WHERE status IN ('ANCHORED','FINAL') ORDER BY seq DESC LIMIT 1`);
  const onChainNext = await chain.nextSeq();
  if (last) {
    const root = await chain.batchRoot(BigInt(last.seq));
    if (root !== last.root) {
      throw new ChainStartupError(`batch ${last.seq} is recorded as anchored with root ${last.root} but the contract holds ${root}; run the audit and investigate before starting`);
    }
  }
  const [{ n }] = await sqlRows<{ n: string }>(dataSource, `SELECT count(*) AS n FROM anchor_batches`);
  if (onChainNext > BigInt(n)) {
    throw new ChainStartupError(`the contract holds ${onChainNext} batches but this database knows only ${n}: is DATABASE_URL pointing at an older copy of the ledger?`);
  }
  const known = await sqlRows<DeploymentRow>(dataSource, `SELECT chain_id, contract_address FROM chain_deployments WHERE chain_id = $1 AND contract_address = $2`, [chain.chainId.toString(), address]);
  if (known.length === 0) {
    await dataSource.query(`INSERT INTO chain_deployments (chain_id, contract_address, embedded) VALUES ($1, $2, false)`, [chain.chainId.toString(), address]);
  }
}
