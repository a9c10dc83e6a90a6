import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main';
import type { VerificationReport } from '../../src/proofs/bundle-verifier';
import { freshAnchorChain, type AnchorChain } from '../support/anchor-chain';
import { anchorVectorBatch, withAnchoring, type Anchoring } from '../support/pod-fixtures';
import { eventually } from '../support/test-ledger';

const ROOT = path.resolve(__dirname, '../..');
const CUSTODY = path.join(ROOT, 'bin/custody.js');
const VECTOR = path.join(ROOT, 'test/vectors/custody-pod-v3.json');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The real `custody` process, stdout and stderr pipes (not a terminal). */
function custody(args: string[], cwd = ROOT): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CUSTODY, ...args], { cwd, env: { PATH: process.env.PATH }, encoding: 'utf8', timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/** `custody` on a pseudo-terminal (util-linux `script`): stdout and stderr both go to the terminal. */
function custodyOnTerminal(args: string[]): Promise<Run> {
  const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CUSTODY, ...args].map(quote).join(' ');
  return new Promise((resolve) => {
    execFile('script', ['-qfec', command, '/dev/null'], { cwd: ROOT, env: { PATH: process.env.PATH, TERM: 'xterm' }, encoding: 'utf8', timeout: 90_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

/** Every command of the program, the root first, with the words that invoke it. */
function commands(): Array<{ words: string[]; command: Command }> {
  const out: Array<{ words: string[]; command: Command }> = [];
  const walk = (command: Command, words: string[]): void => {
    out.push({ words, command });
    for (const sub of command.commands) walk(sub, [...words, sub.name()]);
  };
  walk(buildProgram(), []);
  return out;
}

describe('the custody command line', () => {
  it('knows the commands it is tested with (verify and audit at least)', () => {
    expect(commands().map((c) => c.words.join(' '))).toEqual(expect.arrayContaining(['', 'verify', 'audit']));
  });

  it.each(commands().map((c) => [c.words.join(' ') || '(root)', c.words] as const))('custody %s --help prints its help and exits 0', async (_name, words) => {
    const run = await custody([...words, '--help']);
    expect(run.stderr).toBe('');
    expect(run.stdout).toContain(`Usage: custody${words.length ? ` ${words.join(' ')}` : ''}`);
    expect(run.code).toBe(0);
  });

  it('custody --help lists every option of every command, --data-dir included', async () => {
    const run = await custody(['--help']);
    expect(run.code).toBe(0);
    const flags = commands().flatMap((c) => c.command.options.map((o) => o.long!));
    expect(flags).toEqual(expect.arrayContaining(['--data-dir', '--database-url', '--rpc', '--trust', '--log-range']));
    for (const flag of flags) expect(run.stdout).toContain(flag);
  });

  it('custody --version prints the package version and exits 0', async () => {
    const run = await custody(['--version']);
    expect(run.stdout.trim()).toBe((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    expect(run.code).toBe(0);
  });

  it.each(commands().map((c) => [c.words.join(' ') || '(root)', c.words] as const))('custody %s with an unknown flag exits 2 naming it', async (_name, words) => {
    const run = await custody([...words, '--no-such-flag', 'x']);
    expect(run.stderr).toContain(`unknown option '--no-such-flag'`);
    expect(run.stdout).toBe('');
    expect(run.code).toBe(2);
  });

  it('names a missing option value, a missing argument, an invalid value and an unknown command, with exit 2', async () => {
    const [noValue, noBundle, badRange, unknown] = await Promise.all([
      custody(['audit', '--data-dir', '.', '--rpc']),
      custody(['verify', '--rpc', 'http://127.0.0.1:1']),
      custody(['audit', '--rpc', 'http://127.0.0.1:1', '--database-url', 'postgres://nobody@127.0.0.1:1/none', '--log-range', 'lots']),
      custody(['verfy']),
    ]);
    expect(noValue.stderr).toContain(`option '--rpc <url>' argument missing`);
    expect(noBundle.stderr).toContain(`missing required argument 'bundle'`);
    expect(badRange.stderr).toContain('--log-range must be a whole number of blocks from 1, got "lots"');
    expect(unknown.stderr).toContain(`unknown command 'verfy'`);
    for (const run of [noValue, noBundle, badRange, unknown]) expect(run.code).toBe(2);
  });
});

describe('custody verify over several bundles', () => {
  let env: AnchorChain;
  let anchoring: Anchoring;
  let dir: string;
  let pin: string[];

  beforeAll(async () => {
    env = await freshAnchorChain();
    anchoring = await anchorVectorBatch(env, (JSON.parse(readFileSync(VECTOR, 'utf8')) as { batches: Array<{ root: string; leafCount: number }> }).batches[0]);
    dir = mkdtempSync(path.join(os.tmpdir(), 'custody-bulk-'));
    const good = withAnchoring(JSON.parse(readFileSync(VECTOR, 'utf8')), anchoring);
    mkdirSync(path.join(dir, 'good'));
    writeFileSync(path.join(dir, 'good/a.json'), JSON.stringify(good));
    writeFileSync(path.join(dir, 'good/b.json'), JSON.stringify(good));
    writeFileSync(path.join(dir, 'good/notes.txt'), 'not a bundle');
    const tampered = withAnchoring(JSON.parse(readFileSync(VECTOR, 'utf8')), anchoring);
    tampered.events[1].fields.locationCode = 'SOMEWHERE-ELSE';
    writeFileSync(path.join(dir, 'tampered.json'), JSON.stringify(tampered));
    writeFileSync(path.join(dir, 'broken.json'), '{ not json');
    pin = ['--rpc', env.chain.rpcUrl, '--contract', env.deployment.address, '--chain-id', '31337', '--deployment-block', String(env.deployment.blockNumber)];
  });

  afterAll(async () => {
    await env?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('verifies every *.json of a directory: one line per bundle, a summary, exit 0 when all are VALID, no progress bar into a pipe', async () => {
    const run = await custody(['verify', path.join(dir, 'good'), ...pin]);
    expect(run.stdout).toMatch(/^VALID +\S+good\/a\.json\s*$/m);
    expect(run.stdout).toMatch(/^VALID +\S+good\/b\.json\s*$/m);
    expect(run.stdout).not.toContain('notes.txt');
    expect(run.stdout).toContain('2 bundle(s): 2 VALID');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
  });

  it('exits 1 when one bundle of several is not VALID, naming it and the check', async () => {
    const run = await custody(['verify', path.join(dir, 'good'), path.join(dir, 'tampered.json'), ...pin]);
    expect(run.stdout).toMatch(/^INVALID +\S+tampered\.json +DIGEST event #1/m);
    expect(run.stdout).toContain('3 bundle(s): 2 VALID, 1 INVALID');
    expect(run.code).toBe(1);
  });

  it('exits 2 when a file cannot be read, and still verifies the others', async () => {
    const run = await custody(['verify', path.join(dir, 'broken.json'), path.join(dir, 'good/a.json'), ...pin]);
    expect(run.stdout).toMatch(/^UNREADABLE +\S+broken\.json +cannot read it/m);
    expect(run.stdout).toMatch(/^VALID +\S+good\/a\.json/m);
    expect(run.code).toBe(2);
  });

  it('--json prints one array of { file, report } and nothing on stderr', async () => {
    const run = await custody(['verify', path.join(dir, 'good/a.json'), path.join(dir, 'tampered.json'), ...pin, '--json']);
    const results = JSON.parse(run.stdout) as Array<{ file: string; report: VerificationReport }>;
    expect(results.map((r) => [path.basename(r.file), r.report.verdict])).toEqual([
      ['a.json', 'VALID'],
      ['tampered.json', 'INVALID'],
    ]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
  });

  it('draws a progress bar on a terminal, and none there with --json', async () => {
    const [bar, json] = await Promise.all([
      custodyOnTerminal(['verify', path.join(dir, 'good'), ...pin]),
      custodyOnTerminal(['verify', path.join(dir, 'good'), ...pin, '--json']),
    ]);
    expect(bar.stdout).toMatch(/bundles \[#+\] 2\/2 \(100%\)/);
    expect(bar.stdout).toContain('2 bundle(s): 2 VALID');
    expect(bar.code).toBe(0);
    expect(json.stdout).not.toContain('bundles [');
    expect(json.code).toBe(0);
  });

  it('refuses --previous with several bundles (exit 2)', async () => {
    const run = await custody(['verify', path.join(dir, 'good'), ...pin, '--previous', path.join(dir, 'good/a.json')]);
    expect(run.stderr).toContain('--previous compares two states of one shipment');
    expect(run.code).toBe(2);
  });
});

/** sha256 of every file under dir, by relative path. */
function treeHash(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const file = path.join(d, name);
      if (statSync(file).isDirectory()) walk(file);
      else out[path.relative(dir, file)] = createHash('sha256').update(readFileSync(file)).digest('hex');
    }
  };
  walk(dir);
  return out;
}

describe('custody audit --data-dir on a stopped embedded ledger', () => {
  let cwd: string;
  let child: ChildProcess | undefined;

  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (cwd) rmSync(cwd, { recursive: true, force: true });
  });

  it('says what it needs (npm start, or --rpc of the chain) with exit 2, and leaves the data directory as it was', async () => {
    // the service as `npm start` runs it, in a directory of its own, ports 0
    cwd = mkdtempSync(path.join(os.tmpdir(), 'custody-stopped-'));
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, PORT: '0', EMBEDDED_CHAIN_PORT: '0', TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), NODE_PATH: path.join(ROOT, 'node_modules') };
    const started = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src/main.ts')], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = started;
    let out = '';
    started.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    started.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const banner = await eventually(async () => {
      if (started.exitCode !== null) throw new Error(`service exited with ${started.exitCode}:\n${out}`);
      const m = /chain JSON-RPC\s+(\S+)[\s\S]*CustodyAnchor\s+(0x[0-9a-fA-F]{40})/.exec(out);
      return m ? { rpcUrl: m[1], contract: m[2] } : undefined;
    }, 120_000, 'the start-up banner');
    const exited = new Promise((resolve) => started.once('exit', resolve));
    started.kill('SIGTERM');
    await exited;

    const dataDir = path.join(cwd, 'data');
    const before = treeHash(dataDir);
    const run = await custody(['audit', '--rpc', banner.rpcUrl, '--data-dir', dataDir]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`cannot reach the anchor chain at --rpc ${banner.rpcUrl}`);
    expect(run.stderr).toContain(`This ledger anchors to the embedded chain of its service (chain 31337, CustodyAnchor ${banner.contract})`);
    expect(run.stderr).toContain('start the service with `npm start` in its directory');
    expect(run.stderr).toContain('or pass --rpc <url> of the chain the ledger anchors to');
    expect(run.stdout).toBe('');
    // the audit opened a copy: not one byte of the ledger's directory changed
    expect(treeHash(dataDir)).toEqual(before);
  }, 240_000);
});
