import { rmSync } from 'node:fs';
import { Client } from 'pg';

/**
 * The end of a benchmark's ledger: closed, its PostgreSQL schema dropped (kept with
 * BENCH_KEEP_SCHEMA, to look at it) and its data directory removed.
 */
export async function closeBenchLedger(ledger: { close(): Promise<void> }, schema: string, dataDir: string): Promise<void> {
  await ledger.close();
  if (process.env.BENCH_KEEP_SCHEMA) console.log(`kept schema ${schema}`);
  else if (process.env.DATABASE_URL) {
    const client = new Client({ connectionString: process.env.DATABASE_URL });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
  rmSync(dataDir, { recursive: true, force: true });
}
