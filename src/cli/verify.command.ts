import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { verifyProofBundle, type LedgerStatement, type VerificationReport } from '../proofs/bundle-verifier';
import { parseTrustFile, trustFromFlags, type TrustFile } from '../proofs/trust-root';
import { VERIFY_USAGE, type VerifyOptions } from './commands';
import { progressBar } from './progress';

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
