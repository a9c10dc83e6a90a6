import { Command } from 'commander';

// The commands' definitions (options, help, usage lines) and nothing else: the work is in
// verify.command.ts and audit.command.ts, loaded only when a command runs, so `--help`, usage
// errors and `--version` answer without loading ethers, TypeORM or PGlite.

/** One line for usage errors (`custody verify --help` has the rest). */
export const VERIFY_USAGE =
  'usage: custody verify <bundle.json> --rpc <json-rpc url> (--trust <trust.json> | --contract <0x address> --chain-id <id>) [--json]\n' +
  '       (several bundle files, or directories of them, also work; custody verify --help lists every option)';

/** The options as commander hands them over (every value a string, --json a flag). */
export interface VerifyOptions {
  rpc?: string;
  trust?: string;
  contract?: string;
  chainId?: string;
  fromSeq?: string;
  deploymentBlock?: string;
  logRange?: string;
  previous?: string;
  json?: boolean;
}

export function verifyCommand(setExitCode: (code: number) => void): Command {
  return new Command('verify')
    .summary('verify proof-of-delivery bundles (exit 0 only if every one is VALID)')
    .description(
      'Verifies custody-pod/1, /2 or /3 proof-of-delivery bundles with nothing but the bundle, the anchor ' +
        'chain and a pinned trust root, and replays each custody chain: who held the parcel after each ' +
        'transfer, under which consent. Several files, or a directory (every *.json in it), are verified ' +
        'one after the other: one line per bundle and a summary.',
    )
    .argument('<bundle...>', 'bundle files (custody-pod/1, /2, /3), or directories of them')
    .option('--rpc <url>', 'JSON-RPC endpoint of the anchor chain (any node; the verifier trusts only the pinned contract on it); required')
    .option('--trust <file>', "the ledger's trust file (custody-trust/1), saved once from GET /trust.json")
    .option('--contract <address>', 'pin one CustodyAnchor instead of a trust file ...')
    .option('--chain-id <id>', '... on this chain id')
    .option('--from-seq <seq>', 'with --contract: the first batch anchored on it (default 0)')
    .option('--deployment-block <n>', 'with --contract: where to start looking for its logs (default 0)')
    .option('--log-range <n>', 'at most this many blocks per eth_getLogs (default 5000; lower it for endpoints that refuse wider ranges)')
    .option('--previous <file>', "an earlier bundle of the same shipment (one bundle only): if the ledger's states contradict each other, say so and print the transaction that proves it on chain")
    .option('--json', 'print the full report as JSON (several bundles: an array of { file, report }; no progress bar)')
    .addHelpText(
      'after',
      `
Verdicts: VALID (exit 0); INVALID, STALE (the chain holds a later state: fetch a fresh bundle),
UNPINNED (no trust root given: a forger's own contract would pass too), INCOMPLETE (not all anchored
yet, or a transfer whose consent a /1 or /2 bundle cannot show): exit 1.
Several bundles: exit 0 only if every one is VALID, else 1; a progress bar on stderr when it is a
terminal (never with --json or into a pipe).
Usage errors and unreadable files: exit 2.`,
    )
    .action(async (files: string[], options: VerifyOptions) => setExitCode(await (await import('./verify.command')).runVerify(files, options)));
}

/** One line for usage errors (`custody audit --help` has the rest). */
export const AUDIT_USAGE =
  'usage: custody audit --rpc <json-rpc url> (--database-url <postgres url> [--schema <name>] | --data-dir <dir>) [--from <seq>] [--to <seq>] [--json]\n' +
  '       (custody audit --help lists every option)';

/** The options as commander hands them over (every value a string, --json a flag). */
export interface AuditOptions {
  rpc?: string;
  databaseUrl?: string;
  schema?: string;
  dataDir?: string;
  contract?: string;
  from?: string;
  to?: string;
  sealedSlaMinutes?: string;
  pendingSlaMinutes?: string;
  deploymentBlock?: string;
  logRange?: string;
  json?: boolean;
}

/** `custody audit`: exit 0 no problems, 1 problems found, 2 usage or connection errors. */
export function auditCommand(setExitCode: (code: number) => void): Command {
  return new Command('audit')
    .summary('check every anchored batch of a ledger against the chain')
    .description(
      'Recomputes every leaf, chain link, tree, proof and state commitment from the ledger\'s stored rows and compares ' +
        'each batch root with the CustodyAnchor contract and its BatchAnchored log. Reads only; needs no key.',
    )
    .option('--rpc <url>', 'JSON-RPC endpoint of the anchor chain (read only, no key needed); required')
    .option('--database-url <url>', "the ledger's PostgreSQL (postgres:// or postgresql://)")
    .option('--schema <name>', 'its schema (DATABASE_SCHEMA of the service; default public)')
    .option('--data-dir <dir>', 'instead of --database-url: the DATA_DIR (or its pglite/ directory) of a STOPPED service on embedded PGlite; audited on a copy, the directory is never written')
    .option('--contract <address>', "CustodyAnchor address (default: the ledger's latest deployment on that chain)")
    .option('--from <seq>', 'audit only batches from this sequence number (inclusive)')
    .option('--to <seq>', 'audit only batches up to this sequence number (inclusive)')
    .option('--sealed-sla-minutes <n>', 'report batches sealed longer ago than this and not anchored (default 60)')
    .option('--pending-sla-minutes <n>', 'report events pending longer than this (default 60)')
    .option('--deployment-block <n>', "the contract's deployment block, where log scans start (default: from the ledger's deployment record if it deployed the contract, else 0)")
    .option('--log-range <n>', 'at most this many blocks per eth_getLogs (default 5000; lower it for endpoints that refuse wider ranges)')
    .option('--json', 'print the report as JSON (no progress bar)')
    .addHelpText(
      'after',
      `
A progress bar over the batches is drawn on stderr when it is a terminal (never with --json or into a pipe).
An embedded ledger's chain lives inside its service process and keeps nothing after it stops: to audit a
stopped embedded ledger, start it again (npm start in its directory) and pass --rpc of its chain.
Exit status: 0 no problems, 1 problems found, 2 usage or connection error.`,
    )
    .action(async (options: AuditOptions) => setExitCode(await (await import('./audit.command')).runAudit(options)));
}
