#!/usr/bin/env node
'use strict';
/**
 * Builds the web pages (web/ → web/dist) with Vite. Run by `npm ci`/`npm install` (the package's
 * `prepare` script), by `npm start` when web/src changed after the last build, and by the
 * browser tests. `--if-stale` builds only then.
 */
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');

function newestMtime(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Whether web/dist is missing or older than a file of web/ (pages changed after the last build). */
function webBuildStale() {
  const index = path.join(ROOT, 'web', 'dist', 'index.html');
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  const sources = [path.join(ROOT, 'web', 'index.html'), path.join(ROOT, 'web', 'vite.config.mts')].filter(existsSync);
  return newestMtime(path.join(ROOT, 'web', 'src')) > built || sources.some((f) => statSync(f).mtimeMs > built);
}

function buildWeb({ ifStale = false, quiet = false } = {}) {
  if (ifStale && !webBuildStale()) return 0;
  const root = ROOT;
  const vite = path.join(path.dirname(require.resolve('vite/package.json', { paths: [root] })), 'bin', 'vite.js');
  const run = spawnSync(process.execPath, [vite, 'build', '--config', path.join(root, 'web', 'vite.config.mts')], { cwd: root, stdio: quiet ? 'pipe' : 'inherit', env: { ...process.env, VITE_CJS_IGNORE_WARNING: 'true' } });
  if (run.status !== 0 && quiet) process.stderr.write(String(run.stdout) + String(run.stderr));
  return run.status ?? 1;
}

module.exports = { buildWeb, webBuildStale };

if (require.main === module) process.exit(buildWeb({ ifStale: process.argv.includes('--if-stale') }));
