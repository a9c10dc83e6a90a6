import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { verifyProofBundle, type LedgerStatement, type VerificationReport } from '../proofs/bundle-verifier';
import { parseTrustFile, trustFromFlags, type TrustFile } from '../proofs/trust-root';

export const VERIFY_USAGE = `usage: custody verify <bundle.json> --rpc <json-rpc url> (--trust <trust.json> | --contract <0x address> --chain-id <id>) [--json]

Verifies a custody-pod/1, /2 or /3 proof-of-delivery bundle with nothing but the bundle, the anchor
chain and a pinned trust root, and replays its custody chain: who held the parcel after each
transfer, under which consent. Only VALID exits 0.

  --rpc <url>              JSON-RPC endpoint of the anchor chain (any node; the verifier trusts only the pinned contract on it)
  --trust <file>           the ledger's trust file (custody-trust/1), saved once from GET /trust.json
  --contract <address>     pin one CustodyAnchor instead of a trust file ...
  --chain-id <id>          ... on this chain id
  --from-seq <seq>         with --contract: the first batch anchored on it (default 0)
  --deployment-block <n>   with --contract: where to start looking for its logs (default 0)
  --log-range <n>          at most this many blocks per eth_getLogs (default 5000; lower it for
                           endpoints that refuse wider ranges)
  --previous <file>        an earlier bundle of the same shipment: if the ledger's states contradict
                           each other, say so and print the transaction that proves it on chain
  --json                   print the full report as JSON
  -h, --help               this text

Verdicts: VALID (exit 0); INVALID, STALE (the chain holds a later state: fetch a fresh bundle),
UNPINNED (no trust root given: a forger's own contract would pass too), INCOMPLETE (not all anchored
yet, or a transfer whose consent a /1 or /2 bundle cannot show): exit 1.
Usage errors: exit 2.`;

/** `custody verify`: exit 0 VALID, 1 any other verdict, 2 usage. */
export async function runVerify(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`custody verify: ${(err as Error).message}\n${VERIFY_USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(VERIFY_USAGE + '\n');
    return 0;
  }
  const file = positionals[0];
  if (!file || !values.rpc) {
    process.stderr.write(`custody verify: ${!file ? 'name the bundle file' : '--rpc is required'}\n${VERIFY_USAGE}\n`);
    return 2;
  }
  let trust: TrustFile | null = null;
  try {
    if (values.trust) trust = parseTrustFile(JSON.parse(readFileSync(values.trust, 'utf8')));
    else if (values.contract || values['chain-id']) {
      if (!values.contract || !values['chain-id']) throw new Error('--contract and --chain-id go together');
      trust = trustFromFlags(values['chain-id'], values.contract, values['from-seq'] ?? '0', values['deployment-block'] ? Number(values['deployment-block']) : null);
    }
  } catch (err) {
    process.stderr.write(`custody verify: the trust root is unusable: ${(err as Error).message}\n`);
    return 2;
  }
  let bundle: unknown;
  try {
    bundle = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`custody verify: cannot read ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  let previous: unknown;
  if (values.previous) {
    try {
      previous = JSON.parse(readFileSync(values.previous, 'utf8'));
    } catch (err) {
      process.stderr.write(`custody verify: cannot read ${values.previous}: ${(err as Error).message}\n`);
      return 2;
    }
  }
  const logRange = values['log-range'] === undefined ? undefined : Number(values['log-range']);
  if (logRange !== undefined && (!/^\d+$/.test(values['log-range']!) || !Number.isSafeInteger(logRange) || logRange < 1)) {
    process.stderr.write(`custody verify: --log-range must be a whole number of blocks from 1, got "${values['log-range']}"\n`);
    return 2;
  }
  const report = await verifyProofBundle(bundle, { rpcUrl: values.rpc, trust, previous, logRange });
  process.stdout.write(values.json ? JSON.stringify(report, null, 2) + '\n' : formatReport(file, report));
  return report.verdict === 'VALID' ? 0 : 1;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      rpc: { type: 'string' },
      trust: { type: 'string' },
      contract: { type: 'string' },
      'chain-id': { type: 'string' },
      'from-seq': { type: 'string' },
      'deployment-block': { type: 'string' },
      'log-range': { type: 'string' },
      previous: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
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
