import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { eventually } from '../support/test-ledger';
import { freePort } from '../support/service-process';

const ROOT = path.resolve(__dirname, '../..');

interface Step {
  step: number;
  code: string;
  /** the `text` blocks that follow the step's code, before the next step: what the reader should see */
  expected: string[];
}

/** The blocks of README.md's walk-through marked `<!-- walkthrough:step N -->`, in document order. */
export function walkthroughSteps(readme: string): Step[] {
  const walk = readme.slice(readme.indexOf('## Walk-through'), readme.indexOf('\n## ', readme.indexOf('## Walk-through') + 1));
  const steps: Step[] = [];
  const block = /(<!-- walkthrough:step (\d+) -->\n)?```(\w+)\n([\s\S]*?)\n```/g;
  for (let m = block.exec(walk); m; m = block.exec(walk)) {
    if (m[1] && m[3] === 'sh') steps.push({ step: Number(m[2]), code: m[4], expected: [] });
    else if (m[3] === 'text' && steps.length > 0) steps[steps.length - 1].expected.push(m[4]);
  }
  return steps;
}

/** A documented output line, as a check: the part before a `…` (a value that differs per run) must appear. */
function shown(line: string): string {
  const cut = line.indexOf('…');
  return (cut < 0 ? line : line.slice(0, cut)).trim();
}

describe('the README walk-through, run as written', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-readme-'));
  let service: ChildProcess | undefined;
  afterAll(() => {
    service?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds the marked steps 0 to 8 in order', () => {
    const steps = walkthroughSteps(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    expect([...new Set(steps.map((s) => s.step))]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });

  it('runs every step against a fresh service on embedded defaults with non-default ports and shows what the README says', async () => {
    const steps = walkthroughSteps(readFileSync(path.join(ROOT, 'README.md'), 'utf8'));
    const [port, chainPort] = [await freePort(), await freePort()];
    expect(port).not.toBe(4000);
    expect(chainPort).not.toBe(8545);
    const dataDir = path.join(dir, 'data');
    // `PORT=… EMBEDDED_CHAIN_PORT=… npm start` with nothing else configured
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, TS_NODE_PROJECT: path.join(ROOT, 'tsconfig.json'), NODE_PATH: path.join(ROOT, 'node_modules') };
    service = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', path.join(ROOT, 'src/main.ts')], {
      cwd: dir,
      env: { ...env, PORT: String(port), EMBEDDED_CHAIN_PORT: String(chainPort), DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    service.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    service.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    await eventually(async () => {
      if (service!.exitCode !== null) throw new Error(`service exited:\n${out}`);
      return /admin API key/.test(out) ? true : undefined;
    }, 90_000, 'the start-up banner');
    expect(out).toContain(`chain JSON-RPC    http://127.0.0.1:${chainPort}`);

    // one shell, from the repository, with the variables step 0 asks the reader to set (not exported)
    const marker = (n: number): string => `@@walkthrough-step-${n}@@`;
    const script = [
      'set -e',
      `PORT=${port} EMBEDDED_CHAIN_PORT=${chainPort} DATA_DIR=${dataDir}`,
      ...steps.flatMap((s, i) => [`echo '${marker(i)}'`, s.code]),
      `echo '${marker(steps.length)}'`,
      // what a later `npm start` in this shell would see
      'printenv CHAIN_RPC_URL ADMIN_API_KEY || echo "neither CHAIN_RPC_URL nor ADMIN_API_KEY is exported"',
    ].join('\n');
    const run = spawnSync('bash', ['-c', script], { cwd: ROOT, env, encoding: 'utf8', timeout: 300_000 });
    const all = run.stdout + run.stderr;
    expect({ status: run.status, tail: run.status === 0 ? '' : all.slice(-3000) }).toEqual({ status: 0, tail: '' });
    const outputs = steps.map((_, i) => run.stdout.slice(run.stdout.indexOf(marker(i)) + marker(i).length, run.stdout.indexOf(marker(i + 1))));
    const after = run.stdout.slice(run.stdout.indexOf(marker(steps.length)) + marker(steps.length).length);
    expect(after.trim()).toBe('neither CHAIN_RPC_URL nor ADMIN_API_KEY is exported');

    // every line the README shows after a step appears in that step's output
    for (const [i, s] of steps.entries()) {
      for (const text of s.expected) for (const line of text.split('\n').map(shown).filter(Boolean)) expect({ step: s.step, line, found: outputs[i].includes(line) }).toEqual({ step: s.step, line, found: true });
    }
    const byStep = (n: number): string => steps.map((s, i) => (s.step === n ? outputs[i] : '')).join('');
    // and what the text says in words
    expect(byStep(1)).toMatch(/"slug":"acme-express","kind":"CARRIER"/);
    expect(byStep(1)).toMatch(/"slug":"shop-one","kind":"MERCHANT"/);
    expect(byStep(2)).toMatch(/device address: 0x[0-9a-fA-F]{40}/);
    expect(byStep(2)).toMatch(/"active":true/);
    expect(byStep(3)).toMatch(/"trackingNumber":"CL-0001"/);
    const recorded = JSON.parse(byStep(5).trim().split('\n')[0]) as { data: { recordCustodyEvents: Array<{ outcome: string; receipt: { leaf: string; previousLeaf: string } }> } };
    const results = recorded.data.recordCustodyEvents;
    expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    expect(results[0].receipt.previousLeaf).toBe(`0x${'0'.repeat(64)}`);
    expect(results[1].receipt.previousLeaf).toBe(results[0].receipt.leaf);
    expect(results[2].receipt.previousLeaf).toBe(results[1].receipt.leaf);
    expect(byStep(5)).toMatch(/"status":"DELIVERED","eventCount":3/);
    expect(byStep(6)).toMatch(/"sealBatch":(null|\{"seq":"0","root":"0x[0-9a-f]{64}","leafCount":3)/);
    expect(byStep(7)).toMatch(/"custodyEvent":\{"eventType":"DELIVERED","status":"(BATCHED|ANCHORED|FINAL)","batchSeq":"0"/);
    expect(byStep(7)).toMatch(/"batch":\{"seq":"0","status":"FINAL","leafCount":3/);
    expect(byStep(8).match(/: true$/gm)).toHaveLength(3);
    service.kill('SIGTERM');
    await new Promise((r) => service!.once('exit', r));
    service = undefined;
  }, 400_000);
});
