import { lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { snapshotOf } from '../../src/cli/audit.command';

/**
 * `custody audit --data-dir` opens a copy of the PGlite directory, never the ledger's own (PGlite
 * writes to what it opens). The attacker's review: a data directory whose pglite/ is a symlink
 * (a mounted volume) was "copied" as a symlink to the live directory, and links inside it as links.
 */
describe('the audit copy of a PGlite directory', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'audit-snapshot-'));
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('is a real directory of real files even when the ledger\'s directory and its files are symlinks', () => {
    const live = path.join(root, 'volume', 'pglite');
    mkdirSync(path.join(live, 'base'), { recursive: true });
    writeFileSync(path.join(live, 'PG_VERSION'), '17\n');
    writeFileSync(path.join(root, 'volume', 'outside.conf'), 'live setting\n');
    symlinkSync(path.join(root, 'volume', 'outside.conf'), path.join(live, 'postgresql.conf'));
    mkdirSync(path.join(root, 'data'));
    symlinkSync(live, path.join(root, 'data', 'pglite'));

    const copy = snapshotOf(path.join(root, 'data', 'pglite'));
    try {
      expect(lstatSync(copy).isDirectory()).toBe(true);
      expect(lstatSync(path.join(copy, 'postgresql.conf')).isSymbolicLink()).toBe(false);
      // what PGlite would write in the copy stays in the copy
      writeFileSync(path.join(copy, 'PG_VERSION'), 'written by the audit\n');
      writeFileSync(path.join(copy, 'postgresql.conf'), 'written by the audit\n');
      expect(readFileSync(path.join(live, 'PG_VERSION'), 'utf8')).toBe('17\n');
      expect(readFileSync(path.join(root, 'volume', 'outside.conf'), 'utf8')).toBe('live setting\n');
    } finally {
      rmSync(path.dirname(copy), { recursive: true, force: true });
    }
  });
});
