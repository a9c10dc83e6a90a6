import PgBoss from 'pg-boss';
import type { DataSource, QueryRunner } from 'typeorm';
import type { DatabaseConfig } from '../config/config';
import { sqlRows } from '../database/data-source';

export const DELIVERY_QUEUE = 'webhook-delivery';

export interface DeliveryJob {
  deliveryId: string;
}

/** pg-boss's database adapter over a TypeORM data source or one query runner (its transaction). */
export function bossDb(on: DataSource | QueryRunner): { executeSql(text: string, values?: unknown[]): Promise<{ rows: unknown[] }> } {
  return { executeSql: async (text, values) => ({ rows: await sqlRows(on, text, values ?? []) }) };
}

/**
 * The schema of pg-boss's tables: derived from the ledger's (`<schema>_boss`) on PostgreSQL, so
 * ledgers that share a database in schemas of their own (the tests) never share a queue; `pgboss`
 * in an embedded PGlite database (one ledger per database).
 */
export function bossSchema(database: DatabaseConfig): string {
  return database.kind === 'postgres' ? `${database.schema}_boss` : 'pgboss';
}

/**
 * pg-boss on the ledger's own connections (PostgreSQL pool or the PGlite single connection, both
 * through TypeORM), so a job can be inserted in the transaction that records the event.
 */
export function createBoss(dataSource: DataSource, database: DatabaseConfig): PgBoss {
  return new PgBoss({ db: bossDb(dataSource), schema: bossSchema(database), schedule: false, supervise: true, migrate: true });
}

/** Inserts delivery jobs in the caller's transaction; `startAfter`: not before (a retry's back-off). */
export async function enqueueDeliveries(boss: PgBoss, runner: QueryRunner, deliveryIds: string[], timeoutMs: number, startAfter?: Date): Promise<void> {
  if (deliveryIds.length === 0) return;
  await boss.insert(
    deliveryIds.map((deliveryId) => ({ name: DELIVERY_QUEUE, data: { deliveryId } satisfies DeliveryJob, retryLimit: 20, retryDelay: 30, expireInSeconds: Math.ceil(timeoutMs / 1000) + 60, ...(startAfter ? { startAfter } : {}) })),
    { db: bossDb(runner) },
  );
}
