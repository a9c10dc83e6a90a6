import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { AUDIT_USAGE, VERIFY_USAGE, auditCommand, verifyCommand } from './commands';

/**
 * `custody <command>`: tools for people who check the ledger from the outside, on commander.
 *   custody verify <bundle.json|dir>... --rpc <url> --trust <trust.json>   exit 0 only if every bundle is VALID
 *   custody audit --rpc <url> (--database-url <url> | --data-dir <dir>)    check every anchored batch against the chain
 * Exit codes: 0 success, 1 a verdict or audit finding, 2 usage or connection errors.
 */
export function buildProgram(setExitCode: (code: number) => void = () => undefined): Command {
  const program = new Command('custody')
    .description('Check a Custody Ledger from the outside: verify proof-of-delivery bundles, audit the anchors.')
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'print help and exit 0')
    .helpCommand('help [command]', 'print the help of a command')
    // settings inherited by the subcommands added below
    .exitOverride()
    .showHelpAfterError('(run with --help for the options)')
    .configureOutput({ outputError: (message, write) => write(message.replace(/^error: /, 'custody: ')) });
  for (const [command, usage] of [
    [verifyCommand(setExitCode), VERIFY_USAGE],
    [auditCommand(setExitCode), AUDIT_USAGE],
  ] as const) {
    program.addCommand(
      command
        .copyInheritedSettings(program)
        .showHelpAfterError(usage)
        .configureOutput({ outputError: (message, write) => write(message.replace(/^error: /, `custody ${command.name()}: `)) }),
    );
  }
  // `custody --help` lists every option of every command, not only the command names
  program.addHelpText('after', () => program.commands.map((c) => `\n${c.helpInformation()}`).join(''));
  return program;
}

/** Runs `custody` with these arguments (without node and the script) and returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    // --help and --version end with exit code 0; every parse error (unknown flag or command,
    // missing argument or option value) with commander's message naming it, and exit 2
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
}

function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (existsSync(file)) {
      const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'custody-ledger' && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
