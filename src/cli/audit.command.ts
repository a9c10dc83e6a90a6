import { cpSync, existsSync, lstatSync, mkdtempSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getAddress, isAddress } from 'ethers';
import type { DataSource } from 'typeorm';
import { deploymentBlock } from '../anchoring/chain-bootstrap';
import { ChainClient } from '../anchoring/chain-client';
import { LOG_RANGE } from '../anchoring/json-rpc';
import { auditAnchors, type AuditReport } from '../audit/anchor-audit';
import type { DatabaseConfig } from '../config/config';
import { MIGRATIONS, createDataSource, sqlRows } from '../database/data-source';
import { AUDIT_USAGE, type AuditOptions } from './commands';
import { progressBar } from './progress';


class UsageError extends Error {}
class ConnectionError extends Error {}

/** A URL for messages: the password (and an RPC URL's query, often an API key) replaced. */
export function redactUrl(raw: string): string {
  try {
    const url = new URL(raw);
    if (url.password) url.password = '***';
    if (url.search) url.search = '?***';
    return url.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Removes any secret part of the given URLs from a message (drivers sometimes echo their input). */
function scrub(message: string, urls: Array<string | undefined>): string {
  let out = message;
  for (const raw of urls) {
    if (!raw) continue;
    try {
      const url = new URL(raw);
      for (const secret of [url.password, decodeURIComponent(url.password), url.search.slice(1)]) {
        if (secret && secret.length >= 3) out = out.split(secret).join('***');
      }
    } catch {
      /* nothing to scrub */
    }
  }
  return out;
}

function causeOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string }; code?: string };
  const base = (e?.message ?? String(err)).split(' (')[0];
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause && !base.includes(cause) ? `${base}: ${cause}` : base;
}

interface AuditArgs {
  rpc: string;
  database: DatabaseConfig;
  databaseLabel: string;
  contract: string | undefined;
  fromSeq: bigint | undefined;
  toSeq: bigint | undefined;
  sealedSlaMinutes: number;
  pendingSlaMinutes: number;
  deploymentBlock: number | null;
  logRange: number;
  json: boolean;
}

/** commander's option key as the flag, e.g. logRange -> log-range */
const flag = (key: string): string => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

function readArgs(options: AuditOptions): AuditArgs {
  const text = (name: keyof AuditOptions): string | undefined => {
    const value = options[name];
    return typeof value === 'string' ? value : undefined;
  };
  const seqOf = (name: 'from' | 'to'): bigint | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    if (!/^(0|[1-9][0-9]{0,19})$/.test(value) || BigInt(value) >= 1n << 64n) throw new UsageError(`--${flag(name)} must be a batch sequence number (a whole number ≥ 0), got "${value}"`);
    return BigInt(value);
  };
  const blocksOf = (name: 'deploymentBlock' | 'logRange', min: number): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < min) throw new UsageError(`--${flag(name)} must be a whole number of blocks${min > 0 ? ` from ${min}` : ''}, got "${value}"`);
    return n;
  };
  const minutesOf = (name: 'sealedSlaMinutes' | 'pendingSlaMinutes'): number => {
    const value = text(name);
    if (value === undefined) return 60;
    const n = Number(value);
    if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new UsageError(`--${flag(name)} must be a whole number of minutes, got "${value}"`);
    return n;
  };

  const rpc = text('rpc');
  if (!rpc) throw new UsageError('--rpc <json-rpc url> is required: the anchor chain to compare the ledger with');
  if (!/^https?:\/\//.test(rpc)) throw new UsageError(`--rpc must be an http(s):// JSON-RPC URL, got ${redactUrl(rpc)}`);

  const databaseUrl = text('databaseUrl');
  const dataDir = text('dataDir');
  if (databaseUrl && dataDir) throw new UsageError('give either --database-url or --data-dir, not both');
  let database: DatabaseConfig;
  let databaseLabel: string;
  if (databaseUrl) {
    if (!/^postgres(ql)?:\/\//.test(databaseUrl)) throw new UsageError(`--database-url must be a postgres:// or postgresql:// URL, got ${redactUrl(databaseUrl)}`);
    const schema = text('schema') ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) throw new UsageError(`--schema must be a lower-case SQL identifier, got "${schema}"`);
    database = { kind: 'postgres', url: databaseUrl, schema };
    databaseLabel = `${redactUrl(databaseUrl)} (schema ${schema})`;
  } else if (dataDir) {
    if (options.schema !== undefined) throw new UsageError('--schema applies to --database-url only');
    database = { kind: 'pglite', dataDir: pgliteDir(dataDir) };
    databaseLabel = `PGlite at ${database.dataDir}`;
  } else {
    throw new UsageError('--database-url <postgres url> or --data-dir <dir> is required: the ledger to audit');
  }

  const contract = text('contract');
  if (contract !== undefined && !isAddress(contract)) throw new UsageError(`--contract must be an address (0x and 40 hex digits), got "${contract}"`);
  const fromSeq = seqOf('from');
  const toSeq = seqOf('to');
  if (fromSeq !== undefined && toSeq !== undefined && toSeq < fromSeq) throw new UsageError('--to must not be below --from');
  return {
    rpc,
    database,
    databaseLabel,
    contract: contract === undefined ? undefined : getAddress(contract),
    fromSeq,
    toSeq,
    sealedSlaMinutes: minutesOf('sealedSlaMinutes'),
    pendingSlaMinutes: minutesOf('pendingSlaMinutes'),
    deploymentBlock: blocksOf('deploymentBlock', 0) ?? null,
    logRange: blocksOf('logRange', 1) ?? LOG_RANGE,
    json: options.json === true,
  };
}

/** The service keeps PGlite under DATA_DIR/pglite; either directory is accepted. */
function pgliteDir(dir: string): string {
  const resolved = path.resolve(dir);
  for (const candidate of [path.join(resolved, 'pglite'), resolved]) {
    if (existsSync(path.join(candidate, 'PG_VERSION'))) return candidate;
  }
  if (!existsSync(resolved) || !statSync(resolved).isDirectory()) throw new ConnectionError(`--data-dir ${resolved} does not exist`);
  throw new ConnectionError(`--data-dir ${resolved} holds no PGlite database (neither it nor ${path.join(resolved, 'pglite')} has a PG_VERSION file)`);
}

/**
 * Opens the ledger without changing it: no migrations are run. A database migrated by a newer
 * service (migrations this tool does not know) is refused, since its meaning may have changed.
 */
async function openLedger(args: AuditArgs): Promise<DataSource> {
  const dataSource = createDataSource(args.database);
  try {
    await dataSource.initialize();
  } catch (err) {
    throw new ConnectionError(`cannot open the ledger database ${args.databaseLabel}: ${scrub(causeOf(err), [args.database.kind === 'postgres' ? args.database.url : undefined])}`);
  }
  try {
    const [{ ok }] = await sqlRows<{ ok: boolean }>(dataSource, `SELECT to_regclass('migrations') IS NOT NULL AND to_regclass('anchor_batches') IS NOT NULL AS ok`);
    if (!ok) throw new ConnectionError(`${args.databaseLabel} holds no Custody Ledger (no migrations or anchor_batches table${args.database.kind === 'postgres' ? '; is --schema right?' : ''})`);
    const applied = await sqlRows<{ name: string }>(dataSource, `SELECT name FROM migrations ORDER BY id`);
    const known = new Set(MIGRATIONS.map((m) => m.name));
    const unknown = applied.map((m) => m.name).filter((name) => !known.has(name));
    if (unknown.length > 0) {
      throw new ConnectionError(`the ledger's schema is newer than this tool (unknown migration(s): ${unknown.join(', ')}); use the custody tool of the service version that migrated it`);
    }
    const pending = MIGRATIONS.map((m) => m.name).filter((name) => !applied.some((a) => a.name === name));
    if (pending.length > 0) process.stderr.write(`note: the ledger's schema predates migration(s) ${pending.join(', ')}; auditing it as it is, without migrating\n`);
    return dataSource;
  } catch (err) {
    await dataSource.destroy();
    throw err;
  }
}

async function connectChain(args: AuditArgs, dataSource: DataSource): Promise<ChainClient> {
  // the latest deployment; failing that, the contract of the latest anchored batch
  const [latest] = await sqlRows<{ chain_id: string; contract_address: string; embedded: boolean }>(
    dataSource,
    `(SELECT chain_id, contract_address, embedded, 1 AS pref, id::bigint AS ord FROM chain_deployments
      UNION ALL SELECT chain_id, contract_address, false, 2, seq FROM anchor_batches WHERE chain_id IS NOT NULL AND contract_address IS NOT NULL)
     ORDER BY pref, ord DESC LIMIT 1`,
  );
  // an embedded ledger's chain ran inside its service process and ended with it: say what to do
  const embeddedHint = (what: string): ConnectionError =>
    new ConnectionError(
      `${what}. This ledger anchors to the embedded chain of its service (chain ${latest.chain_id}, CustodyAnchor ${latest.contract_address}), ` +
        `which lives inside the service process and keeps no state once it stops, so a stopped embedded ledger cannot be audited against it. ` +
        `Either start the service with \`npm start\` in its directory (it starts its chain again and re-anchors every sealed batch; ` +
        `its start-up banner prints the chain JSON-RPC URL) and pass that URL as --rpc, ` +
        `or pass --rpc <url> of the chain the ledger anchors to`,
    );
  const embedded = !args.contract && latest?.embedded === true;
  const first = args.contract ?? latest?.contract_address;
  if (!first) throw new ConnectionError('the ledger records no CustodyAnchor deployment; pass --contract <address>');
  let chain: ChainClient;
  try {
    chain = await ChainClient.readOnly(args.rpc, first);
  } catch (err) {
    const message = `cannot reach the anchor chain at --rpc ${redactUrl(args.rpc)}: ${scrub(causeOf(err), [args.rpc])}`;
    throw embedded ? embeddedHint(message) : new ConnectionError(message);
  }
  try {
    if (!args.contract && latest.chain_id !== chain.chainId.toString()) {
      // the latest deployment is on another chain: take the latest one on this chain, if any
      const [onThis] = await sqlRows<{ contract_address: string }>(
        dataSource,
        `SELECT contract_address FROM (SELECT contract_address, id FROM chain_deployments WHERE chain_id = $1
            UNION ALL SELECT contract_address, 0 FROM anchor_batches WHERE chain_id = $1 AND contract_address IS NOT NULL) d ORDER BY id DESC LIMIT 1`,
        [chain.chainId.toString()],
      );
      if (!onThis) throw new ConnectionError(`the ledger anchors on chain ${latest.chain_id}, but --rpc ${redactUrl(args.rpc)} is chain ${chain.chainId}; point --rpc at chain ${latest.chain_id} (or pass --contract)`);
      chain.attach(onThis.contract_address);
    }
    let code: boolean;
    try {
      code = await chain.hasCode(chain.contractAddress);
    } catch (err) {
      throw new ConnectionError(`cannot read from the anchor chain at --rpc ${redactUrl(args.rpc)}: ${scrub(causeOf(err), [args.rpc])}`);
    }
    if (!code && embedded) throw embeddedHint(`there is no contract at ${chain.contractAddress} on chain ${chain.chainId} (--rpc ${redactUrl(args.rpc)})`);
    if (!code) throw new ConnectionError(`there is no contract at ${chain.contractAddress} on chain ${chain.chainId} (--rpc ${redactUrl(args.rpc)}): wrong chain, wrong --contract, or a restarted embedded chain that forgot its state`);
    chain.logScan = { fromBlock: await deploymentBlock(chain, dataSource, args.deploymentBlock), range: args.logRange };
    return chain;
  } catch (err) {
    chain.close();
    throw err;
  }
}

export function formatReport(report: AuditReport, databaseLabel?: string): string {
  const lines: string[] = [];
  lines.push('Custody Ledger anchor audit');
  if (databaseLabel) lines.push(`  ledger:   ${databaseLabel}`);
  lines.push(`  chain:    ${report.chainId}, CustodyAnchor ${report.contractAddress}`);
  lines.push(`  range:    ${report.toSeq === null ? `from batch ${report.fromSeq} (no batches)` : `batches ${report.fromSeq}…${report.toSeq}`}`);
  lines.push(`  checked:  ${report.batchesChecked} batch(es), ${report.eventsChecked} event(s)`);
  if (report.ok) {
    lines.push('', 'OK: every leaf, chain link, root, proof and anchor matches; nothing is late.');
    return lines.join('\n');
  }
  const errors = report.problems.filter((p) => p.severity === 'ERROR').length;
  lines.push('', `PROBLEMS: ${report.problems.length} (${errors} error(s), ${report.problems.length - errors} warning(s))`);
  for (const p of report.problems) {
    const where = [p.seq !== null ? `batch ${p.seq}` : null, p.eventId ? `event ${p.eventId}` : null].filter(Boolean).join(', ');
    lines.push(`  ${p.severity.padEnd(7)} ${p.code}${where ? ` [${where}]` : ''}`);
    lines.push(`          ${p.message}`);
  }
  return lines.join('\n');
}

/**
 * `custody audit`: the anchor audit from outside the service, against the ledger's database and
 * any JSON-RPC node of the anchor chain (no key needed: views and logs only).
 * Exit codes: 0 no problems, 1 problems found, 2 usage or connection errors.
 */
export async function runAudit(options: AuditOptions): Promise<number> {
  let args: AuditArgs;
  try {
    args = readArgs(options);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConnectionError) {
      process.stderr.write(`custody audit: ${err.message}\n${err instanceof UsageError ? `${AUDIT_USAGE}\n` : ''}`);
      return 2;
    }
    throw err;
  }
  let dataSource: DataSource | undefined;
  let chain: ChainClient | undefined;
  let snapshot: string | undefined;
  const progress = progressBar('batches', { json: args.json });
  try {
    if (args.database.kind === 'pglite' && args.database.dataDir) {
      snapshot = snapshotOf(args.database.dataDir);
      dataSource = await openLedger({ ...args, database: { kind: 'pglite', dataDir: snapshot } });
    } else dataSource = await openLedger(args);
    chain = await connectChain(args, dataSource);
    let report: AuditReport;
    try {
      report = await auditAnchors(dataSource, chain, {
        fromSeq: args.fromSeq,
        toSeq: args.toSeq,
        sealedSlaMs: args.sealedSlaMinutes * 60_000,
        pendingSlaMs: args.pendingSlaMinutes * 60_000,
        onProgress: (done, total) => progress.update(done, total),
      });
    } catch (err) {
      throw new ConnectionError(`the audit stopped: ${scrub(causeOf(err), [args.rpc, args.database.kind === 'postgres' ? args.database.url : undefined])}`);
    } finally {
      progress.stop();
    }
    process.stdout.write((args.json ? JSON.stringify(report, null, 2) : formatReport(report, args.databaseLabel)) + '\n');
    return report.ok ? 0 : 1;
  } catch (err) {
    if (err instanceof ConnectionError) {
      process.stderr.write(`custody audit: ${err.message}\n`);
      return 2;
    }
    throw err;
  } finally {
    chain?.close();
    if (dataSource?.isInitialized) await dataSource.destroy();
    if (snapshot) rmSync(path.dirname(snapshot), { recursive: true, force: true });
  }
}

/**
 * A copy of a PGlite directory in a temporary directory, which the audit opens instead: opening
 * PGlite writes to its directory (recovery, checkpoints) and takes no lock that another process
 * would see, so the ledger's own directory is only ever read, never opened, whether or not a
 * service still runs on it.
 */
export function snapshotOf(dataDir: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-audit-'));
  const copy = path.join(dir, 'pglite');
  try {
    // the directory itself and every link in it are followed: the copy holds real files only, so
    // nothing PGlite writes in it can reach the ledger's directory through a symlink
    cpSync(realpathSync(dataDir), copy, { recursive: true, dereference: true });
    if (!lstatSync(copy).isDirectory()) throw new Error('the copy is not a directory');
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new ConnectionError(`cannot copy the PGlite database at ${dataDir} to ${dir}: ${(err as Error).message}`);
  }
  return copy;
}
