import { Client } from 'pg';
import type { DatabaseConfig } from '../config/config';

/**
 * Advisory locks are per database, not per schema: the key names the schema too, so ledgers
 * that share a database (one schema each, as the tests do) never block each other.
 */
export function advisoryLockName(database: DatabaseConfig, role: 'sealer' | 'anchorer'): string {
  return `custody-ledger:${database.kind === 'postgres' ? database.schema : 'public'}:${role}`;
}

/**
 * One leader at a time across replicas: a session-level PostgreSQL advisory lock held on a
 * dedicated connection (losing the connection releases it, so a crashed leader is replaced).
 * PGlite lives inside one process, which is then trivially the only leader.
 */
export class LeaderLock {
  private client: Client | undefined;
  private held = false;

  constructor(
    private readonly database: DatabaseConfig,
    private readonly name: 'anchorer',
  ) {}

  async acquire(): Promise<boolean> {
    if (this.database.kind === 'pglite') return true;
    if (this.held && this.client) return true;
    if (!this.client) {
      const client = new Client({ connectionString: this.database.url, application_name: `custody-ledger-${this.name}` });
      client.on('error', () => {
        this.held = false;
        this.client = undefined;
      });
      await client.connect();
      this.client = client;
    }
    const result = await this.client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [advisoryLockName(this.database, this.name)]);
    this.held = result.rows[0].locked;
    return this.held;
  }

  async release(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.held = false;
    await client?.end().catch(() => undefined);
  }
}
