import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { verifyProofBundle, type LedgerStatement, type VerificationReport } from '../proofs/bundle-verifier';
import { parseTrustFile, trustFromFlags, type TrustFile } from '../proofs/trust-root';
import { progressBar } from './progress';

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
      'Verifies custody-pod/1, /2 or /3 proof-of-delivery bundles with nothing but the bundle, the anchor\n' +
        'chain and a pinned trust root, and replays each custody chain: who held the parcel after each\n' +
        'transfer, under which consent. Several files, or a directory (every *.json in it), are verified\n' +
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
    .action(async (files: string[], options: VerifyOptions) => setExitCode(await runVerify(files, options)));
}

/** `custody verify`: exit 0 VALID (every bundle), 1 any other verdict, 2 usage. */
export async function runVerify(args: string[], values: VerifyOptions): Promise<number> {
  const usage = (message: string): number => {
    process.stderr.write(`custody verify: ${message}\n${VERIFY_USAGE}\n`);
    return 2;
  };
  if (!values.rpc) return usage('--rpc <json-rpc url> is required: the anchor chain the bundle claims');
  const rpcUrl = values.rpc;
  let trust: TrustFile | null = null;
  try {
    if (values.trust) trust = parseTrustFile(JSON.parse(readFileSync(values.trust, 'utf8')));
    else if (values.contract || values.chainId) {
      if (!values.contract || !values.chainId) throw new Error('--contract and --chain-id go together');
      trust = trustFromFlags(values.chainId, values.contract, values.fromSeq ?? '0', values.deploymentBlock ? Number(values.deploymentBlock) : null);
    }
  } catch (err) {
    return usage(`the trust root is unusable: ${(err as Error).message}`);
  }
  const logRange = values.logRange === undefined ? undefined : Number(values.logRange);
  if (logRange !== undefined && (!/^\d+$/.test(values.logRange!) || !Number.isSafeInteger(logRange) || logRange < 1)) {
    return usage(`--log-range must be a whole number of blocks from 1, got "${values.logRange}"`);
  }
  let files: string[];
  try {
    files = bundleFiles(args, [values.trust, values.previous]);
  } catch (err) {
    return usage((err as Error).message);
  }
  const options = { rpcUrl, trust, logRange };
  if (files.length === 1 && !(args.length === 1 && isDirectory(args[0]))) {
    const [file] = files;
    let bundle: unknown;
    try {
      bundle = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      return usage(`cannot read ${file}: ${(err as Error).message}`);
    }
    let previous: unknown;
    if (values.previous) {
      try {
        previous = JSON.parse(readFileSync(values.previous, 'utf8'));
      } catch (err) {
        return usage(`cannot read ${values.previous}: ${(err as Error).message}`);
      }
    }
    const report = await verifyProofBundle(bundle, { ...options, previous });
    process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(file, report));
    return report.verdict === 'VALID' ? 0 : 1;
  }
  if (values.previous) return usage('--previous compares two states of one shipment: give it with one bundle, not several');
  return verifyMany(files, options, values.json === true);
}

/**
 * Several bundles, one after the other: a line per bundle (its verdict, or why it could not be
 * read) and a summary; with --json one array. Exit 0 only if every bundle is VALID, 1 if any
 * verdict is not, 2 if any file could not be read.
 */
async function verifyMany(files: string[], options: { rpcUrl: string; trust: TrustFile | null; logRange?: number }, json: boolean): Promise<number> {
  const progress = progressBar('bundles', { json });
  const results: Array<{ file: string; report?: VerificationReport; error?: string }> = [];
  const counts = new Map<string, number>();
  const lines: string[] = [];
  const width = Math.max(...files.map((f) => f.length));
  try {
    progress.update(0, files.length);
    for (const file of files) {
      let bundle: unknown;
      let result: (typeof results)[number];
      try {
        bundle = JSON.parse(readFileSync(file, 'utf8'));
        result = { file, report: await verifyProofBundle(bundle, options) };
      } catch (err) {
        result = { file, error: `cannot read it: ${(err as Error).message}` };
      }
      results.push(result);
      const verdict = result.report?.verdict ?? 'UNREADABLE';
      counts.set(verdict, (counts.get(verdict) ?? 0) + 1);
      const why = result.error ?? firstReason(result.report!);
      lines.push(`${verdict.padEnd(10)} ${file.padEnd(width)}${why ? `  ${why}` : ''}`);
      progress.update(results.length, files.length);
    }
  } finally {
    progress.stop();
  }
  if (json) process.stdout.write(JSON.stringify(results, null, 2) + '\n');
  else {
    const summary = [...counts.entries()].map(([v, n]) => `${n} ${v}`).join(', ');
    process.stdout.write(`${lines.join('\n')}\n\n${files.length} bundle(s): ${summary}\n`);
  }
  if (counts.has('UNREADABLE')) return 2;
  return counts.get('VALID') === files.length ? 0 : 1;
}

/** Why a bundle is not VALID, in one short phrase. */
function firstReason(report: VerificationReport): string {
  if (report.verdict === 'VALID') return '';
  const f = report.failures[0];
  if (f) return `${f.check}${f.eventIndex !== null ? ` event #${f.eventIndex}` : ''}: ${short(f.message)}`;
  if (!report.pinned) return 'no trust root: pass --trust <file> or --contract/--chain-id';
  if (report.pendingEventIds.length) return `not anchored yet: ${report.pendingEventIds.length} event(s)`;
  return short(report.limitations[0] ?? '');
}

/** The bundle files named: files as given, directories as every *.json in them (sorted), minus the trust and previous files. */
function bundleFiles(args: string[], exclude: Array<string | undefined>): string[] {
  const skip = new Set(exclude.filter((f): f is string => Boolean(f)).map((f) => path.resolve(f)));
  const files: string[] = [];
  for (const arg of args) {
    if (isDirectory(arg)) {
      const inside = readdirSync(arg)
        .filter((name) => name.endsWith('.json'))
        .sort()
        .map((name) => path.join(arg, name))
        .filter((file) => !skip.has(path.resolve(file)) && statSync(file).isFile());
      if (inside.length === 0) throw new Error(`the directory ${arg} holds no .json bundle files`);
      files.push(...inside);
    } else files.push(arg);
  }
  return files;
}

function isDirectory(file: string): boolean {
  try {
    return statSync(file).isDirectory();
  } catch {
    return false;
  }
}

/** The report for people: what was proven, what failed, and what is only the ledger's word. */
export function formatReport(file: string, report: VerificationReport): string {
  const s = report.state;
  const lines = [
    `bundle      ${file} (${report.bundleFormat ?? '?'})`,
    `shipment    ${report.carrier ?? '?'} / ${report.trackingNumber ?? '?'}`,
    `claims      chain ${report.chainId ?? '?'}  contract ${report.contractAddress ?? '?'}`,
    `pinned      ${report.pinned ? report.trustedContracts.join(', ') || '(nothing on this chain)' : 'NO TRUST ROOT: pass --trust <file> or --contract/--chain-id'}`,
    `checked     ${report.eventsChecked} events, ${report.batchesChecked} batches on chain`,
    ...report.batches.map((b) => `  batch ${b.seq}  block ${b.blockNumber ?? '-'}  tx ${b.txHash ?? '-'}  at ${b.anchoredAt ?? '-'}  confirmations ${b.confirmations ?? '-'}`),
    `state       proven at batch ${s.provenAtSeq ?? '-'}, latest on chain ${s.latestSeq ?? '-'}; completeness ${s.completeness}; key ownership ${s.keyOwnership}`,
    ...(report.pendingEventIds.length ? [`not anchored yet: ${report.pendingEventIds.join(', ')}`] : []),
    ...(report.custody?.chain ?? []).map((l) => `custody     ${l.from ?? '(root)'} → ${l.to} (${l.eventType}, ${l.status === 'CONSENTED' ? `${l.consent}${l.delegationId ? ` ${l.delegationId}` : ''}` : l.status.replace('_', ' ')}) event #${l.eventIndex}`),
    ...report.failures.map((f) => `FAILED ${f.check.padEnd(17)} ${f.eventIndex !== null ? `event #${f.eventIndex} ` : ''}${f.batchSeq !== null ? `batch ${f.batchSeq} ` : ''}${f.message}`),
    ...(report.contradiction ? [`prove it   send to ${report.contradiction.contract} (${report.contradiction.method}) the data ${report.contradiction.calldata}`] : []),
    '',
    'ledger statements (not proven):',
    ...groupStatements(report.ledgerStatements).map((l) => `  ${l}`),
    '',
    'limitations:',
    ...report.limitations.map((l) => `  - ${l}`),
    '',
    `verdict     ${report.verdict}`,
  ];
  return lines.join('\n') + '\n';
}

/** Per-event statements folded into one line per field, e.g. `events[*].status: FINAL ×6`. */
function groupStatements(statements: LedgerStatement[]): string[] {
  const groups = new Map<string, Map<string, number>>();
  for (const st of statements) {
    const field = st.field.replace(/\[\d+\]/g, '[*]');
    const value = JSON.stringify(st.value);
    const values = groups.get(field) ?? groups.set(field, new Map()).get(field)!;
    values.set(value, (values.get(value) ?? 0) + 1);
  }
  return [...groups.entries()].map(([field, values]) => {
    const shown = [...values.entries()].slice(0, 4).map(([v, n]) => (field.includes('[*]') ? `${short(v)} ×${n}` : short(v)));
    return `${field}: ${shown.join(', ')}${values.size > 4 ? `, … (${values.size} values)` : ''}`;
  });
}

const short = (v: string): string => (v.length > 100 ? v.slice(0, 97) + '…' : v);
