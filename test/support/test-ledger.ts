import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { loadConfig, type AppConfig } from '../../src/config/config';
import { startLedger, type RunningLedger } from '../../src/bootstrap';
import { sqlRows } from '../../src/database/data-source';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdef0123456789';

export interface GraphQLResponse<T = Record<string, unknown>> {
  status: number;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string; field?: string; [k: string]: unknown } }>;
}

export interface TestLedger {
  ledger: RunningLedger;
  url: string;
  /** POST a GraphQL operation; `auth: false` sends no key, a string sends that key. */
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, auth?: boolean | string): Promise<GraphQLResponse<T>>;
  /** Row count and a content hash of every ledger table: equal fingerprints mean nothing changed. */
  fingerprint(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

export const LEDGER_TABLES = ['organizations', 'signing_keys', 'shipments', 'custody_events', 'anchor_batches', 'anchor_transactions', 'merkle_proofs', 'batch_trees', 'chain_deployments', 'state_records', 'state_buckets', 'state_tops', 'carrier_contracts', 'custody_delegations', 'webhook_endpoints', 'webhook_deliveries'];

/**
 * A ledger on real parts: the PostgreSQL at DATABASE_URL (in a schema of its own, dropped at
 * the end) or, without DATABASE_URL, an in-memory PGlite; and Hardhat's EVM on a free port.
 */
export async function startTestLedger(env: Record<string, string> = {}, adjust: (config: AppConfig) => AppConfig = (c) => c): Promise<TestLedger> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'custody-test-'));
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const databaseUrl = process.env.DATABASE_URL;
  const config = adjust(loadConfig({
    NODE_ENV: 'test',
    PORT: '0',
    EMBEDDED_CHAIN_PORT: '0',
    DATA_DIR: dataDir,
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    LOG_LEVEL: 'error',
    BATCH_MAX_AGE_MS: '3600000',
    ANCHORER_INTERVAL_MS: '100',
    RATE_LIMIT_PER_MINUTE: '1000000',
    RATE_LIMIT_EVENTS_PER_MINUTE: '10000000',
    // tests read a view right after changing what it shows; the cache has its own test (tracking-view-cache)
    TRACK_VIEW_CACHE_MS: '0',
    ...(databaseUrl ? { DATABASE_URL: databaseUrl, DATABASE_SCHEMA: schema } : { PGLITE_IN_MEMORY: '1' }),
    ...env,
  }));
  let ledger: RunningLedger;
  try {
    ledger = await startLedger(config);
  } catch (err) {
    if (databaseUrl && config.database.kind === 'postgres') await dropSchema(databaseUrl, config.database.schema);
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = ledger.graphqlUrl;
  return {
    ledger,
    url,
    async gql(query, variables, auth = true) {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (auth !== false) headers.authorization = `Bearer ${auth === true ? TEST_ADMIN_KEY : auth}`;
      const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as GraphQLResponse;
      return { ...body, status: res.status } as GraphQLResponse<never>;
    },
    async fingerprint() {
      const out: Record<string, string> = {};
      for (const table of LEDGER_TABLES) {
        const [row] = await sqlRows<{ n: string; h: string | null }>(ledger.runtime.dataSource, `SELECT count(*) AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h FROM ${table} t`);
        out[table] = `${row.n}:${row.h ?? '-'}`;
      }
      return out;
    },
    async stop() {
      await ledger.close();
      if (databaseUrl && config.database.kind === 'postgres') {
        await dropSchema(databaseUrl, config.database.schema);
        // the webhook queue's pg-boss schema, beside the ledger's
        await dropSchema(databaseUrl, `${config.database.schema}_pgboss`);
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function dropSchema(databaseUrl: string, schema: string): Promise<void> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    // pg-boss's queue of that ledger (src/webhooks/webhook-queue.ts)
    await client.query(`DROP SCHEMA IF EXISTS ${schema}_boss CASCADE`);
  } finally {
    await client.end();
  }
}

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function eventually<T>(check: () => Promise<T | undefined>, timeoutMs = 30_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
