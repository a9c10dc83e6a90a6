import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import path from 'node:path';

/**
 * PGlite's shared_buffers. PostgreSQL's default (128 MB) is touched in full inside the WASM
 * memory at start (about 140 MB of resident memory); the embedded database serves one process
 * and has the operating system's page cache behind it, so 16 MB is plenty.
 */
export const PGLITE_START_PARAMS = [
  // PGlite's own defaults (PGlite.defaultStartParams in @electric-sql/pglite 0.5), which startParams replaces
  '--single', '-F', '-O', '-j',
  '-c', 'search_path=public', '-c', 'exit_on_error=false', '-c', 'log_checkpoints=false',
  '-c', 'max_worker_processes=0', '-c', 'max_parallel_workers=0', '-c', 'max_parallel_workers_per_gather=0',
  '-c', 'io_method=sync', '-c', 'max_parallel_maintenance_workers=0',
  '-c', 'shared_buffers=16MB',
];

const initializing = new Map<string, Promise<void>>();

/**
 * A pristine, cleanly shut down initdb result for this PGlite version and these start
 * parameters, kept after the first creation: later new data directories are copies of it
 * (40 MB copied in well under a second instead of seconds of initdb). Undefined when it cannot be kept.
 */
function templateDir(): string | undefined {
  try {
    const pglite = path.dirname(require.resolve('@electric-sql/pglite'));
    const version = (JSON.parse(readFileSync(path.join(pglite, '..', 'package.json'), 'utf8')) as { version: string }).version;
    const key = createHash('sha256').update(`${version}\0${PGLITE_START_PARAMS.join(' ')}`).digest('hex').slice(0, 16);
    return path.join(__dirname, '..', '..', 'node_modules', '.cache', 'custody-ledger-pglite', `initdb-${key}`);
  } catch {
    return undefined;
  }
}

/** Copies the template into `target` when there is one; false when there is none (or it cannot be read). */
function fromTemplate(template: string | undefined, target: string): boolean {
  if (!template || !existsSync(path.join(template, 'PG_VERSION'))) return false;
  try {
    cpSync(template, target, { recursive: true });
    return true;
  } catch {
    rmSync(target, { recursive: true, force: true });
    return false;
  }
}

/** Keeps a copy of a new, closed data directory as the template (best effort: a read-only node_modules keeps none). */
function keepTemplate(template: string | undefined, source: string): void {
  if (!template || existsSync(template)) return;
  const tmp = `${template}.${process.pid}`;
  try {
    mkdirSync(path.dirname(template), { recursive: true });
    cpSync(source, tmp, { recursive: true });
    renameSync(tmp, template);
  } catch {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Creates a PGlite data directory, when it does not exist yet: a copy of the template kept by an
 * earlier creation (templateDir), else initdb in a child process. In
 * this process PGlite's initdb keeps a second WASM instance's memory (about 650 MB) for good;
 * in a child it is returned when the child exits. Started early (src/main.ts), it runs while
 * this process loads its modules. The child writes to a temporary directory renamed into place
 * when complete, so a start interrupted half-way leaves nothing PGlite would mistake for a database.
 * Idempotent per directory: the same promise for every caller.
 */
export function ensurePgliteDataDir(dataDir: string): Promise<void> {
  if (existsSync(path.join(dataDir, 'PG_VERSION'))) return Promise.resolve();
  let pending = initializing.get(dataDir);
  if (pending) return pending;
  pending = new Promise<void>((resolve, reject) => {
    mkdirSync(path.dirname(dataDir), { recursive: true });
    const tmp = `${dataDir}.init-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    const template = templateDir();
    /** Moves the complete directory into place. */
    const place = (): void => {
      try {
        if (existsSync(path.join(dataDir, 'PG_VERSION'))) rmSync(tmp, { recursive: true, force: true });
        else {
          // an empty directory (made by hand, or by an earlier start) is replaced; anything else is left alone
          if (existsSync(dataDir)) rmdirSync(dataDir);
          renameSync(tmp, dataDir);
        }
        resolve();
      } catch (err) {
        rmSync(tmp, { recursive: true, force: true });
        reject(new Error(`creating the PGlite database in ${dataDir} failed: ${(err as Error).message} (a directory without PG_VERSION that is not empty is not a PGlite database)`));
      }
    };
    if (fromTemplate(template, tmp)) {
      place();
      return;
    }
    const script = `require(${JSON.stringify(require.resolve('@electric-sql/pglite'))}).PGlite.create({ dataDir: ${JSON.stringify(tmp)}, startParams: ${JSON.stringify(PGLITE_START_PARAMS)} }).then((db) => db.close()).then(() => process.exit(0), (err) => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) {
        rmSync(tmp, { recursive: true, force: true });
        reject(new Error(`creating the PGlite database in ${dataDir} failed: ${stderr.trim() || `exit code ${code}`}`));
        return;
      }
      keepTemplate(template, tmp);
      place();
    });
  }).finally(() => initializing.delete(dataDir));
  initializing.set(dataDir, pending);
  return pending;
}
