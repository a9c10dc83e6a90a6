/**
 * `custody <command>`: tools for people who check the ledger from the outside.
 *   custody verify <bundle.json> --rpc <url> --trust <trust.json>   verify a proof-of-delivery bundle (exit 0 only for VALID)
 *   custody audit --rpc <url> --database-url <url>      check every anchored batch against the chain
 */
export const USAGE = `usage:
  custody verify <bundle.json> --rpc <json-rpc url> (--trust <trust.json> | --contract <address> --chain-id <id>) [--json]   (custody verify --help)
  custody audit --rpc <json-rpc url> --database-url <postgres url> [--from <seq>] [--to <seq>] [--json]`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'verify':
      return (await import('./verify.command')).runVerify(rest);
    case 'audit':
      return (await import('./audit.command')).runAudit(rest);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE + '\n');
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`custody: unknown command "${command}"\n${USAGE}\n`);
      return 2;
  }
}

/** `--name value` options and positional arguments. */
export function parseArgs(argv: string[]): { positional: string[]; options: Map<string, string | true> } {
  const positional: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg.startsWith('--')) {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        options.set(arg.slice(2), next);
        i++;
      } else options.set(arg.slice(2), true);
    } else positional.push(arg);
  }
  return { positional, options };
}
