import { readFileSync } from 'node:fs';
import { verifyProofBundle } from '../proofs/bundle-verifier';
import { parseArgs } from './main';

/** `custody verify <bundle.json> --rpc <url> [--json]`: exit 0 VALID, 1 INVALID or INCOMPLETE, 2 usage. */
export async function runVerify(argv: string[]): Promise<number> {
  const { positional, options } = parseArgs(argv);
  const file = positional[0];
  const rpc = options.get('rpc');
  if (!file || typeof rpc !== 'string') {
    process.stderr.write('usage: custody verify <bundle.json> --rpc <json-rpc url of the anchor chain> [--json]\n');
    return 2;
  }
  let bundle: unknown;
  try {
    bundle = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`custody verify: cannot read ${file}: ${(err as Error).message}\n`);
    return 2;
  }
  const report = await verifyProofBundle(bundle, { rpcUrl: rpc });
  if (options.has('json')) {
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    const lines = [
      `bundle      ${file}`,
      `shipment    ${report.carrier ?? '?'} / ${report.trackingNumber ?? '?'}`,
      `chain       ${report.chainId ?? '?'}  contract ${report.contractAddress ?? '?'}`,
      `checked     ${report.eventsChecked} events, ${report.batchesChecked} batches on chain`,
      ...(report.pendingEventIds.length ? [`not anchored yet: ${report.pendingEventIds.join(', ')}`] : []),
      ...report.failures.map((f) => `FAILED ${f.check.padEnd(17)} ${f.eventIndex !== null ? `event #${f.eventIndex} ` : ''}${f.batchSeq !== null ? `batch ${f.batchSeq} ` : ''}${f.message}`),
      `verdict     ${report.verdict}`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  }
  return report.verdict === 'VALID' ? 0 : 1;
}
