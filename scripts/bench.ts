/**
 * `npm run bench`: every row of the performance table in one run, on PGlite and, when
 * DATABASE_URL is set, on that PostgreSQL too. Each benchmark runs as its own process (a crash or
 * a failed step in one never hides the others' figures) and prints its figures as it goes; the
 * run ends with one table of every figure, the limit measured beside it, and the goal.
 * Usage: [DATABASE_URL=postgres://…] npm run bench [-- --quick]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, type Figure } from './bench/report';

const quick = process.argv.includes('--quick');
const root = path.join(__dirname, '..');
const databases: Array<{ name: string; env: Record<string, string | undefined> }> = [{ name: 'PGlite', env: { DATABASE_URL: undefined } }];
if (process.env.DATABASE_URL) databases.push({ name: 'PostgreSQL', env: { DATABASE_URL: process.env.DATABASE_URL } });

interface Bench {
  script: string;
  args: string[];
  /** runs once per database, or once in all */
  perDatabase: boolean;
}
const benches: Bench[] = [
  { script: 'scripts/bench-ingest.ts', args: quick ? ['--events', '4000'] : ['--events', '20000'], perDatabase: true },
  // bench-seal runs PGlite and DATABASE_URL's PostgreSQL itself; 1,000,000 events on PostgreSQL only (PGlite's per-row UPDATE in WebAssembly takes minutes)
  { script: 'scripts/bench-seal.ts', args: ['--events', '100000', '--backends', 'pglite', '--legacy-up-to', '0'], perDatabase: false },
  ...(process.env.DATABASE_URL ? [{ script: 'scripts/bench-seal.ts', args: ['--events', quick ? '100000' : '100000,1000000', '--backends', 'postgres'], perDatabase: false }] : []),
  { script: 'scripts/bench-reads.ts', args: ['--skip-startup', ...(quick ? ['--seconds', '5'] : [])], perDatabase: true },
  { script: 'scripts/bench-reads.ts', args: ['--skip-reads'], perDatabase: false },
  { script: 'scripts/gas-report.ts', args: [], perDatabase: false },
];

const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-bench-report-'));
const file = path.join(dir, 'figures.jsonl');
const failures: string[] = [];
try {
  for (const bench of benches) {
    if (!existsSync(path.join(root, bench.script))) {
      failures.push(`${bench.script}: missing`);
      continue;
    }
    for (const db of bench.perDatabase ? databases : [{ name: '', env: {} }]) {
      console.log(`\n## ${bench.script}${db.name ? ` on ${db.name}` : ''}`);
      const env: NodeJS.ProcessEnv = { ...process.env, ...db.env, BENCH_REPORT_FILE: file };
      for (const [k, v] of Object.entries(db.env)) if (v === undefined) delete env[k];
      const run = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', bench.script, ...bench.args], { cwd: root, env, stdio: 'inherit', timeout: 30 * 60_000 });
      if (run.status !== 0) failures.push(`${bench.script}${db.name ? ` on ${db.name}` : ''}: ${run.error ? run.error.message : `exit code ${run.status ?? run.signal}`}`);
    }
  }
  const figures = existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Figure & { failed?: string })
    : [];
  console.log('\n## Every figure of this run (limits measured in the same run)\n');
  for (const f of figures) console.log(`${f.row.padEnd(46)} ${(f.database || 'any').padEnd(20)} ${f.failed ? `FAILED: ${f.failed}` : describe(f)}`);
  console.log(`\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  if (failures.length > 0) {
    console.log(`\n${failures.length} benchmark(s) did not finish: ${failures.join('; ')} (their figures up to the failure are above)`);
    process.exitCode = 1;
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
