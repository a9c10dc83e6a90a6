/**
 * Ranges of custody_events and merkle_proofs (see README "Partitions"):
 *   npm run partitions -- list              attached ranges (ids, rows) and archived ones
 *   npm run partitions -- detach <name>     detach a FINAL range for archive (CONCURRENTLY on PostgreSQL)
 *   npm run partitions -- attach <name>     attach an archived range again
 *   npm run partitions -- ensure            make the ranges the sealer would make after its next batch
 * Uses the service's configuration (DATABASE_URL, DATABASE_SCHEMA; or the PGlite DATA_DIR, which
 * only one process may open: stop the service first). Exit 0 done, 1 refused (the reason printed), 2 usage.
 */
import { loadConfig } from '../src/config/config';
import { createDataSource, sqlRows } from '../src/database/data-source';
import { attachPartition, detachPartition, ensurePartitions, listPartitions, PartitionError } from '../src/database/partitions';

const USAGE = 'usage: npm run partitions -- list | detach <name> | attach <name> | ensure';

async function main(argv: string[]): Promise<number> {
  const [command, name] = argv;
  if (!['list', 'detach', 'attach', 'ensure'].includes(command) || ((command === 'detach' || command === 'attach') && !/^p\d+$/.test(name ?? ''))) {
    process.stderr.write(`${USAGE}\n(a range is named p<k>, as \`list\` shows)\n`);
    return 2;
  }
  const { database } = loadConfig();
  // no statement timeout: a concurrent detach waits for the transactions that use the table, as it must
  const ds = createDataSource(database.kind === 'postgres' ? { ...database, timeouts: undefined } : database);
  await ds.initialize();
  try {
    const [{ ready }] = await sqlRows<{ ready: boolean }>(ds, `SELECT to_regclass('archived_partitions') IS NOT NULL AS ready`);
    if (!ready) throw new PartitionError('NO_SUCH_PARTITION', 'this database is not partitioned yet: start the service once (it applies the migrations)');
    if (command === 'list') {
      const { attached, archived } = await listPartitions(ds);
      for (const p of attached) {
        const [{ n }] = await sqlRows<{ n: number }>(ds, `SELECT count(*)::int AS n FROM custody_events_${p.name}`);
        process.stdout.write(`attached  ${p.name.padEnd(6)} ids ${p.from} .. ${p.to ?? 'MAXVALUE'}  ${n} events\n`);
      }
      for (const a of archived) process.stdout.write(`archived  ${a.name.padEnd(6)} ids ${a.from} .. ${a.to}  ${a.events} events, ${a.proofs} proofs, detached ${a.detachedAt.toISOString()} (tables ${a.eventsTable}, ${a.proofsTable})\n`);
    } else if (command === 'detach') {
      const a = await detachPartition(ds, name, { concurrently: database.kind === 'postgres' });
      process.stdout.write(
        `detached ${a.name} (ids ${a.from} .. ${a.to}): ${a.events} events and ${a.proofs} proofs are now in ${a.eventsTable} and ${a.proofsTable}; dump them (pg_dump -t) before dropping them ` +
          `(proofs of batches sealed with stored trees are the events' leaf_index with the batch_trees rows of their batch_seq, which stay in the ledger)\n`,
      );
    } else if (command === 'attach') {
      await attachPartition(ds, name);
      process.stdout.write(`attached ${name} again\n`);
    } else {
      const made = await ensurePartitions(ds);
      process.stdout.write(made.length > 0 ? `made ${made.join(', ')}\n` : 'the ranges are ahead of the ids already\n');
    }
    return 0;
  } catch (err) {
    if (!(err instanceof PartitionError)) throw err;
    process.stderr.write(`refused (${err.code}): ${err.message}\n`);
    return 1;
  } finally {
    await ds.destroy();
  }
}

main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err: Error) => {
    process.stderr.write(`partitions: ${err.message}\n`);
    process.exit(2);
  });
