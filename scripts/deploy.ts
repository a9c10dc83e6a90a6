/**
 * Deploys CustodyAnchor (from the committed artifact) to the chain at CHAIN_RPC_URL and prints
 * the environment lines the service needs. Private keys are read, never printed.
 *
 *   CHAIN_RPC_URL          JSON-RPC endpoint (required)
 *   ANCHOR_PRIVATE_KEY     key of the service's anchorer; its address gets ANCHORER_ROLE (required)
 *   DEPLOYER_PRIVATE_KEY   key that pays for the deployment (default: ANCHOR_PRIVATE_KEY)
 *   ANCHOR_ADMIN_ADDRESS   account that gets DEFAULT_ADMIN_ROLE (default: the deployer)
 */
import { FetchRequest, JsonRpcProvider, Wallet, formatEther, getAddress, isError } from 'ethers';
import { deployCustodyAnchor } from '../src/anchoring/custody-anchor';

/** A problem the operator fixes in the environment: printed without a stack trace. */
class DeployConfigError extends Error {}

const RPC_TIMEOUT_MS = 15_000;

function wallet(variable: string, key: string): Wallet {
  try {
    return new Wallet(key.startsWith('0x') ? key : `0x${key}`);
  } catch {
    // never echo the value: it is (meant to be) a secret
    throw new DeployConfigError(`${variable} is not a valid private key (expected 32 bytes as 64 hex digits, optionally 0x-prefixed)`);
  }
}

function readConfig(env: NodeJS.ProcessEnv) {
  const rpcUrl = env.CHAIN_RPC_URL?.trim();
  const anchorKey = env.ANCHOR_PRIVATE_KEY?.trim();
  const missing = [!rpcUrl && 'CHAIN_RPC_URL', !anchorKey && 'ANCHOR_PRIVATE_KEY'].filter((name) => name !== false);
  if (!rpcUrl || !anchorKey) {
    throw new DeployConfigError(
      `missing environment variable${missing.length > 1 ? 's' : ''}: ${missing.join(', ')}\n` +
        'usage: CHAIN_RPC_URL=http://127.0.0.1:8545 ANCHOR_PRIVATE_KEY=0x… ' +
        '[DEPLOYER_PRIVATE_KEY=0x…] [ANCHOR_ADMIN_ADDRESS=0x…] npm run deploy',
    );
  }
  try {
    const protocol = new URL(rpcUrl).protocol;
    if (protocol !== 'http:' && protocol !== 'https:') throw new Error(protocol);
  } catch {
    throw new DeployConfigError('CHAIN_RPC_URL must be an http:// or https:// URL');
  }
  const anchorer = wallet('ANCHOR_PRIVATE_KEY', anchorKey);
  const deployerKey = env.DEPLOYER_PRIVATE_KEY?.trim();
  const deployer = deployerKey ? wallet('DEPLOYER_PRIVATE_KEY', deployerKey) : anchorer;
  let admin = deployer.address;
  const adminAddress = env.ANCHOR_ADMIN_ADDRESS?.trim();
  if (adminAddress) {
    try {
      admin = getAddress(adminAddress);
    } catch {
      throw new DeployConfigError(`ANCHOR_ADMIN_ADDRESS is not a valid address: ${adminAddress}`);
    }
    if (BigInt(admin) === 0n) throw new DeployConfigError('ANCHOR_ADMIN_ADDRESS must not be the zero address');
  }
  return { rpcUrl, deployer, anchorerAddress: anchorer.address, admin };
}

async function connect(rpcUrl: string): Promise<JsonRpcProvider> {
  const request = new FetchRequest(rpcUrl);
  request.timeout = RPC_TIMEOUT_MS;
  // Probe once: a plain JsonRpcProvider retries an unreachable node forever.
  const probe = new JsonRpcProvider(request.clone());
  let chainId: bigint;
  try {
    chainId = (await probe._detectNetwork()).chainId;
  } catch (error) {
    const reason = error instanceof Error ? (isError(error, 'UNKNOWN_ERROR') ? error.shortMessage : error.message) : String(error);
    throw new DeployConfigError(`cannot reach the chain at CHAIN_RPC_URL (host ${new URL(rpcUrl).host}): ${reason}`);
  } finally {
    probe.destroy();
  }
  return new JsonRpcProvider(request, chainId, { staticNetwork: true });
}

async function main(): Promise<void> {
  const config = readConfig(process.env);
  const provider = await connect(config.rpcUrl);
  try {
    const deployer = config.deployer.connect(provider);
    const { chainId } = await provider.getNetwork();
    const balance = await provider.getBalance(deployer.address);
    if (balance === 0n) {
      throw new DeployConfigError(`the deployer ${deployer.address} has no funds on chain ${chainId}`);
    }
    if (process.env.ANCHOR_CONTRACT_ADDRESS) {
      console.log(`note: ANCHOR_CONTRACT_ADDRESS is set (${process.env.ANCHOR_CONTRACT_ADDRESS}); this deploys a new contract, starting at seq 0`);
    }
    console.log(`deploying CustodyAnchor on chain ${chainId} from ${deployer.address} (balance ${formatEther(balance)})…`);

    const deployment = await deployCustodyAnchor(deployer, { admin: config.admin, anchorer: config.anchorerAddress });

    console.log('');
    console.log('CustodyAnchor deployed');
    console.log(`  address   ${deployment.address}`);
    console.log(`  chain id  ${chainId}`);
    console.log(`  tx        ${deployment.txHash}`);
    console.log(`  block     ${deployment.blockNumber}   (ANCHOR_DEPLOYMENT_BLOCK=${deployment.blockNumber})`);
    console.log(`  admin     ${config.admin} (DEFAULT_ADMIN_ROLE: grants and revokes roles)`);
    console.log(`  anchorer  ${config.anchorerAddress} (ANCHORER_ROLE: the address of ANCHOR_PRIVATE_KEY)`);
    if (config.admin === config.anchorerAddress) {
      console.log('  warning   the anchorer is also the role admin: fine for development; in production set DEPLOYER_PRIVATE_KEY or');
      console.log('            ANCHOR_ADMIN_ADDRESS to a separate account (NODE_ENV=production refuses to start otherwise)');
    }
    console.log('');
    console.log('Set in the service environment (with the same CHAIN_RPC_URL and ANCHOR_PRIVATE_KEY):');
    console.log(`ANCHOR_CONTRACT_ADDRESS=${deployment.address}`);
  } finally {
    provider.destroy();
  }
}

main().catch((error: unknown) => {
  if (error instanceof DeployConfigError) {
    console.error(`deploy: ${error.message}`);
  } else if (isError(error, 'CALL_EXCEPTION') || isError(error, 'INSUFFICIENT_FUNDS') || isError(error, 'NONCE_EXPIRED')) {
    console.error(`deploy: the deployment failed: ${error.shortMessage}`);
  } else {
    console.error('deploy: the deployment failed:', error);
  }
  process.exitCode = 1;
});
