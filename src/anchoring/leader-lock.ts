import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { DataSource } from 'typeorm';
import type { DatabaseConfig } from '../config/config';
import { sqlRows } from '../database/data-source';

/**
 * Advisory locks are per database, not per schema: the key names the schema too, so ledgers
 * that share a database (one schema each, as the tests do) never block each other.
 */
export function advisoryLockName(database: DatabaseConfig, role: 'sealer' | 'anchorer' | `webhook-organization:${string}`): string {
  return `custody-ledger:${database.kind === 'postgres' ? database.schema : 'public'}:${role}`;
}

export type LeaseName = 'anchorer';

/**
 * A SQL condition that holds only while lease `name` still carries the token in parameter
 * `tokenParam` (e.g. `$1`) and has not expired by the database's clock. Every write of a leader
 * adds it to its WHERE clause: once another replica has taken the lease, the write changes nothing.
 */
export function leaseFence(name: LeaseName, tokenParam: string): string {
  return `EXISTS (SELECT 1 FROM leader_leases WHERE name = '${name}' AND token = ${tokenParam}::bigint AND expires_at > clock_timestamp())`;
}

/** The leader lost its lease (it expired, another replica holds it now): stop at once, write and send nothing more. */
export class LeaseLostError extends Error {
  constructor(name: LeaseName, token: bigint) {
    super(`the ${name} lease with token ${token} has expired or been taken over`);
    this.name = 'LeaseLostError';
  }
}

/**
 * One leader at a time across replicas: a lease row in leader_leases, taken and renewed with one
 * atomic statement on the database's clock (never the process's). A leader that stops renewing —
 * crashed, or paused (SIGSTOP, a GC pause, a frozen VM) with its connections still open — loses
 * the lease after `leaseMs`, and the next holder gets a higher token, which fences the old
 * leader's writes out (leaseFence). PGlite (one process) uses the same table.
 */
export class LeaderLease {
  private held: bigint | null = null;

  constructor(
    private readonly dataSource: DataSource,
    readonly name: LeaseName,
    readonly leaseMs: number,
    readonly holder: string = `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
  ) {}

  /** The token held after the last acquire() (null: not the leader). */
  get token(): bigint | null {
    return this.held;
  }

  /**
   * Takes the lease when it is free or expired, or renews it when this holder has it; returns the
   * token, or null while another holder's lease is live. Renewing a live lease keeps its token; a
   * lease that lapsed meanwhile gets a new one even for the same holder (someone may have led in
   * between), so a tick that started under the old token is fenced out.
   */
  async acquire(): Promise<bigint | null> {
    const rows = await sqlRows<{ token: string }>(
      this.dataSource,
      `INSERT INTO leader_leases AS l (name, holder, token, acquired_at, expires_at)
         VALUES ($1, $2, 1, clock_timestamp(), clock_timestamp() + $3::int * interval '1 millisecond')
       ON CONFLICT (name) DO UPDATE SET
         token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.token ELSE l.token + 1 END,
         acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > clock_timestamp() THEN l.acquired_at ELSE clock_timestamp() END,
         holder = EXCLUDED.holder,
         expires_at = EXCLUDED.expires_at
       WHERE l.expires_at <= clock_timestamp() OR l.holder = EXCLUDED.holder
       RETURNING token::text AS token`,
      [this.name, this.holder, this.leaseMs],
    );
    this.held = rows.length > 0 ? BigInt(rows[0].token) : null;
    return this.held;
  }

  /** Gives the lease up at once (at shutdown), so another replica need not wait for it to expire. */
  async release(): Promise<void> {
    const token = this.held;
    this.held = null;
    if (token === null) return;
    await sqlRows(this.dataSource, `UPDATE leader_leases SET expires_at = clock_timestamp() WHERE name = $1 AND holder = $2 AND token = $3::bigint`, [this.name, this.holder, token.toString()]);
  }
}
