import { DataSource, type QueryRunner } from 'typeorm';
import type { DatabaseConfig, DatabaseTimeouts } from '../config/config';
import { pgliteDriver } from './pglite-pool';
import { PGLITE_START_PARAMS, ensurePgliteDataDir } from './pglite-init';
import { OrganizationEntity } from '../organizations/organization.entity';
import { SigningKeyEntity } from '../organizations/signing-key.entity';
import { ShipmentEntity } from '../shipments/shipment.entity';
import { InitialLedger1764000000000 } from './migrations/1764000000000-initial-ledger';
import { CustodyModel1764100000000 } from './migrations/1764100000000-custody-model';
import { Disputes1764200000000 } from './migrations/1764200000000-disputes';
import { ApiKeys1764300000000 } from './migrations/1764300000000-api-keys';
import { AnchoredState1764400000000 } from './migrations/1764400000000-anchored-state';
import { CustodyConsent1764500000000 } from './migrations/1764500000000-custody-consent';
import { Tenancy1764600000000 } from './migrations/1764600000000-tenancy';
import { AnchoringLease1764700000000 } from './migrations/1764700000000-anchoring-lease';
import { RateLimits1764710000000 } from './migrations/1764710000000-rate-limits';
import { Partitions1764720000000 } from './migrations/1764720000000-partitions';
import { BatchTrees1764730000000 } from './migrations/1764730000000-batch-trees';
import { StatementKeyTrigger1764740000000 } from './migrations/1764740000000-statement-key-trigger';
import { ShareLinks1764750000000 } from './migrations/1764750000000-share-links';
import { Analytics1764760000000 } from './migrations/1764760000000-analytics';
import { AuditRuns1764770000000 } from './migrations/1764770000000-audit-runs';
import { Webhooks1764780000000 } from './migrations/1764780000000-webhooks';
import { WebhookFairness1764790000000 } from './migrations/1764790000000-webhook-fairness';

export const ENTITIES = [OrganizationEntity, SigningKeyEntity, ShipmentEntity];
export const MIGRATIONS = [InitialLedger1764000000000, CustodyModel1764100000000, Disputes1764200000000, ApiKeys1764300000000, AnchoredState1764400000000, CustodyConsent1764500000000, Tenancy1764600000000, AnchoringLease1764700000000, RateLimits1764710000000, Partitions1764720000000, BatchTrees1764730000000, StatementKeyTrigger1764740000000, ShareLinks1764750000000, Analytics1764760000000, AuditRuns1764770000000, Webhooks1764780000000, WebhookFairness1764790000000];

/** One data source for both PostgreSQL and PGlite; the schema comes only from migrations. */
export function createDataSource(config: DatabaseConfig): DataSource {
  const common = { entities: ENTITIES, migrations: MIGRATIONS, synchronize: false, migrationsRun: false, logging: false } as const;
  if (config.kind === 'postgres') {
    return new DataSource({
      ...common,
      type: 'postgres',
      url: config.url,
      schema: config.schema,
      applicationName: 'custody-ledger',
      poolSize: 10,
      extra: { options: [`-c search_path=${config.schema}`, ...timeoutOptions(config.timeouts)].join(' ') },
    });
  }
  const driver = pgliteDriver(async () => {
    if (config.dataDir) await ensurePgliteDataDir(config.dataDir);
    const { PGlite, types } = await import('@electric-sql/pglite');
    // int8 as decimal strings, exactly like node-postgres, so both back ends return the same values.
    return PGlite.create({ dataDir: config.dataDir, startParams: PGLITE_START_PARAMS, parsers: { [types.INT8]: (value: string) => value } });
  });
  return new DataSource({ ...common, type: 'postgres', driver });
}

/**
 * The pool of the read replica (DATABASE_READ_URL): the primary's schema and server-side timeouts,
 * read-only sessions, no migrations and no extension set-up (a standby refuses writes), a short
 * connect timeout and a client-side bound on each query, so a standby that vanished or froze costs
 * a read seconds, not minutes (the read is then retried on the primary).
 */
export function createReadDataSource(config: DatabaseConfig): DataSource {
  if (config.kind !== 'postgres' || !config.replica) throw new Error('createReadDataSource needs DATABASE_URL and DATABASE_READ_URL');
  return new DataSource({
    type: 'postgres',
    entities: ENTITIES,
    synchronize: false,
    migrationsRun: false,
    logging: false,
    installExtensions: false,
    url: config.replica.url,
    schema: config.schema,
    applicationName: 'custody-ledger-read',
    poolSize: 10,
    connectTimeoutMS: 2_000,
    extra: {
      options: [`-c search_path=${config.schema}`, '-c default_transaction_read_only=on', ...timeoutOptions(config.timeouts)].join(' '),
      ...(config.timeouts ? { query_timeout: config.timeouts.statementMs + 2_000 } : {}),
    },
  });
}

/** The connection options that set the server-side timeouts (session defaults, so every statement is bounded). */
function timeoutOptions(t: DatabaseTimeouts | undefined): string[] {
  if (!t) return [];
  return [`-c lock_timeout=${t.lockMs}`, `-c statement_timeout=${t.statementMs}`, `-c idle_in_transaction_session_timeout=${t.idleInTransactionMs}`];
}

/**
 * Creates the schema if needed and applies pending migrations, each in its own transaction. On
 * PostgreSQL the migrations run on a connection of their own without the timeouts (a migration of
 * a large ledger may rightly take long); the service's connections then all carry them.
 */
export async function openDatabase(config: DatabaseConfig): Promise<DataSource> {
  const migrate = async (dataSource: DataSource): Promise<void> => {
    if (config.kind === 'postgres' && config.schema !== 'public') await dataSource.query(`CREATE SCHEMA IF NOT EXISTS ${config.schema}`);
    await dataSource.runMigrations({ transaction: 'each' });
  };
  if (config.kind === 'postgres' && config.timeouts) {
    const migrator = createDataSource({ ...config, timeouts: undefined });
    await migrator.initialize();
    try {
      await migrate(migrator);
    } finally {
      await migrator.destroy();
    }
    const dataSource = createDataSource(config);
    await dataSource.initialize();
    return dataSource;
  }
  const dataSource = createDataSource(config);
  await dataSource.initialize();
  await migrate(dataSource);
  return dataSource;
}

/** PostgreSQL gave up waiting (lock_timeout 55P03, statement_timeout 57014): nothing was written, retrying is safe. */
export function isDatabaseTimeout(err: unknown): boolean {
  const code = (err as { driverError?: { code?: string }; code?: string }).driverError?.code ?? (err as { code?: string }).code;
  return code === '55P03' || code === '57014';
}

/** Rows of a statement, for UPDATE/DELETE as well (TypeORM returns [rows, count] for those). */
export async function sqlRows<T>(runner: QueryRunner | DataSource, text: string, params: unknown[] = []): Promise<T[]> {
  if (runner instanceof DataSource) {
    const qr = runner.createQueryRunner();
    try {
      return (await qr.query(text, params, true)).records as T[];
    } finally {
      await qr.release();
    }
  }
  return (await runner.query(text, params, true)).records as T[];
}

/** PostgreSQL's unique_violation (23505), as TypeORM wraps it: a concurrent or repeated insert. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { driverError?: { code?: string } }).driverError?.code === '23505';
}

/** PostgreSQL aborted the transaction to break a lock cycle (40P01); running it again is safe. */
export function isDeadlock(err: unknown): boolean {
  return (err as { driverError?: { code?: string } }).driverError?.code === '40P01';
}

/** Runs work in one transaction on one connection; rolls back on any error. */
export async function inTransaction<T>(dataSource: DataSource, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  await runner.connect();
  await runner.startTransaction();
  try {
    const result = await work(runner);
    await runner.commitTransaction();
    return result;
  } catch (err) {
    if (runner.isTransactionActive) await runner.rollbackTransaction();
    throw err;
  } finally {
    await runner.release();
  }
}
