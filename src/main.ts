import { ConfigError, loadConfig } from './config/config';
import { ensurePgliteDataDir } from './database/pglite-init';

async function main(): Promise<void> {
  const config = loadConfig();
  // A new embedded database is created (initdb) in a child process while this one loads the
  // service's modules below; openDatabase waits for it.
  if (config.database.kind === 'pglite' && config.database.dataDir) ensurePgliteDataDir(config.database.dataDir).catch(() => undefined);
  // the web pages, built by `npm ci`; again only when web/ changed since (a pull without npm ci)
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if ((require('../scripts/build-web.js') as { buildWeb(o: { ifStale: boolean; quiet: boolean }): number }).buildWeb({ ifStale: true, quiet: true }) !== 0) {
    process.stderr.write('the web pages could not be built (npm run build:web shows why); the API starts without them\n');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startLedger } = require('./bootstrap') as typeof import('./bootstrap');
  const ledger = await startLedger(config);
  const embeddedChain = config.chain.kind === 'embedded';
  const lines = [
    '',
    'Custody Ledger is running',
    `  GraphQL           ${ledger.graphqlUrl}`,
    `  web pages         ${ledger.graphqlUrl.replace(/graphql$/, 'app/')}   (sign in with an API key; tracking pages at /t/<share token>)`,
    // an external endpoint's URL may hold an API key: only how many there are is shown
    embeddedChain
      ? `  chain JSON-RPC    ${ledger.rpcUrl}   (embedded Hardhat chain; forgets its state on restart, the ledger re-anchors)`
      : `  chain JSON-RPC    ${ledger.runtime.chain.rpcUrls.length} endpoint(s) from CHAIN_RPC_URL, requests now on endpoint #${ledger.runtime.chain.provider.endpoint}`,
    `  CustodyAnchor     ${ledger.contractAddress} (chain id ${ledger.runtime.chain.chainId})`,
  ];
  // The generated development key is shown so a person trying the service can use it; a key
  // that came from the environment is never printed.
  if (ledger.adminKeyGenerated) lines.push(`  admin API key     ${ledger.runtime.adminApiKey}   (generated, kept in ${config.dataDir}/admin-api-key)`);
  else lines.push('  admin API key     from ADMIN_API_KEY');
  process.stdout.write(lines.join('\n') + '\n\n');
  // SIGTERM/SIGINT: drain (in-flight requests, a seal or anchoring tick in progress), close, exit 0;
  // a second signal while draining is only noted: the drain is bounded by SHUTDOWN_TIMEOUT_MS
  const say = (line: string): void => void process.stderr.write(`shutdown: ${line}\n`);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return say(`${signal} received again; still draining (bounded by SHUTDOWN_TIMEOUT_MS=${config.shutdownTimeoutMs} ms)`);
    stopping = true;
    say(`${signal} received`);
    ledger
      .shutdown(config.shutdownTimeoutMs, say)
      .then(() => {
        say('done, exiting');
        process.exit(0);
      })
      .catch((err: Error) => {
        say(`failed: ${err.stack ?? err.message}`);
        process.exit(1);
      });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((err: unknown) => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ChainStartupError } = require('./anchoring/chain-bootstrap') as typeof import('./anchoring/chain-bootstrap');
  if (err instanceof ConfigError || err instanceof ChainStartupError) {
    process.stderr.write(`Custody Ledger refused to start: ${err.message}\n`);
  } else {
    process.stderr.write(`Custody Ledger failed to start: ${(err as Error)?.stack ?? String(err)}\n`);
  }
  process.exit(1);
});
