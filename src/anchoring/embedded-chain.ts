import path from 'node:path';
import type { AddressInfo } from 'node:net';

/**
 * Hardhat's in-process EVM, served over JSON-RPC so outside tools (and our own chain client)
 * talk to it exactly as they would to any other node. State lives in memory and is gone when
 * the process ends: the anchorer detects that and re-anchors (embedded mode only).
 */
export interface EmbeddedChain {
  rpcUrl: string;
  chainId: bigint;
  /** Hardhat's well-known first development account: funded, public, never for real money. */
  deployerPrivateKey: string;
  close(): Promise<void>;
}

/** Hardhat's default account #0 for its built-in mnemonic ("test test ... junk"). Public knowledge. */
export const HARDHAT_DEV_PRIVATE_KEY = '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80';

interface HardhatJsonRpcServer {
  listen(): Promise<AddressInfo>;
  close(): Promise<void>;
}

function projectRoot(): string {
  // src/anchoring (or dist/src/anchoring) -> repository root, where hardhat.config.ts lives.
  let dir = __dirname;
  while (!require('node:fs').existsSync(path.join(dir, 'hardhat.config.ts'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('hardhat.config.ts not found above ' + __dirname);
    dir = parent;
  }
  return dir;
}

export async function startEmbeddedChain(options: { hostname?: string; port?: number } = {}): Promise<EmbeddedChain> {
  process.env.HARDHAT_CONFIG ??= path.join(projectRoot(), 'hardhat.config.ts');
  // Hardhat is loaded lazily: production against an external chain never pays for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const hre = require('hardhat') as typeof import('hardhat');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { TASK_NODE_CREATE_SERVER } = require('hardhat/builtin-tasks/task-names') as { TASK_NODE_CREATE_SERVER: string };
  const hostname = options.hostname ?? '127.0.0.1';
  const server = (await hre.run(TASK_NODE_CREATE_SERVER, {
    hostname,
    port: options.port ?? 8545,
    provider: hre.network.provider,
  })) as HardhatJsonRpcServer;
  const address = await server.listen();
  // A fresh process gets a fresh chain; inside one process (tests) reset it so every start is clean.
  await hre.network.provider.request({ method: 'hardhat_reset', params: [] });
  const chainIdHex = (await hre.network.provider.request({ method: 'eth_chainId', params: [] })) as string;
  return {
    rpcUrl: `http://${hostname}:${address.port}`,
    chainId: BigInt(chainIdHex),
    deployerPrivateKey: HARDHAT_DEV_PRIVATE_KEY,
    close: () => server.close(),
  };
}
