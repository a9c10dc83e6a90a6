import { Client } from 'pg';
import { MIGRATIONS, sqlRows } from '../../src/database/data-source';
import { StatementKeyTrigger1764740000000 } from '../../src/database/migrations/1764740000000-statement-key-trigger';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * Lock order of the migrations that change custody_events' key triggers, as met in a rolling
 * upgrade: one replica migrates while the others' sealers keep reading (a CI run on PostgreSQL
 * found it, test/e2e/partitions: "deadlock detected" in the migration; and test/e2e/state-migration
 * on this machine). Every reader of custody_events locks the parent, then its partitions. DROP
 * TRIGGER on the parent took the parent only in ACCESS SHARE mode, then each partition in ACCESS
 * EXCLUSIVE mode, and then came back for the parent; DROP FUNCTION … CASCADE locked the
 * partitions' triggers before the parent's. A reader between the two holds the parent and waits
 * for a partition the migration holds: a cycle PostgreSQL breaks by aborting one side (the
 * migration: the replica refuses to start). Shown here with a session that holds the parent as a
 * reader's statement does, then reads every partition: the migration must wait for it, not
 * deadlock with it. PostgreSQL only (two sessions).
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

describe('migrations of custody_events lock the parent table before its partitions (chaos)', () => {
  let t: TestLedger;

  beforeAll(async () => {
    t = await startTestLedger({});
    // down to the statement-key-trigger level: the migrations after it go first
    const after = MIGRATIONS.length - MIGRATIONS.indexOf(StatementKeyTrigger1764740000000) - 1;
    for (let k = 0; k < after; k++) await t.ledger.runtime.dataSource.undoLastMigration({ transaction: 'each' });
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  const claimTriggers = async (): Promise<number> =>
    (await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM pg_trigger WHERE tgname = 'custody_event_keys_claim' AND tgrelid = 'custody_events'::regclass`))[0].n;

  /** Runs `step` while another session holds custody_events as a reader does, then reads every partition; both must succeed. */
  async function besideAReader(step: () => Promise<void>): Promise<void> {
    const schema = t.ledger.runtime.config.database.kind === 'postgres' ? t.ledger.runtime.config.database.schema : '';
    const reader = new Client({ connectionString: url, options: `-c search_path=${schema} -c statement_timeout=20000` });
    await reader.connect();
    try {
      await reader.query('BEGIN');
      await reader.query('LOCK TABLE ONLY custody_events IN ACCESS SHARE MODE');
      let failure: Error | undefined;
      const migration = step().catch((err: Error) => {
        failure = err;
      });
      // the migration is waiting on the parent now (or, before the fix, holds partitions and waits on it)
      let waited = false;
      for (let i = 0; i < 50 && !waited; i++) {
        const [{ waiting }] = await sqlRows<{ waiting: number }>(
          t.ledger.runtime.dataSource,
          `SELECT count(*)::int AS waiting FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
            WHERE NOT l.granted AND c.relname LIKE 'custody_events%' AND c.relnamespace = $1::regnamespace`,
          [schema],
        );
        waited = waiting > 0;
        if (!waited) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const read = await reader.query('SELECT count(*)::int AS n FROM custody_events').then(
        (r) => ({ ok: true as const, n: r.rows[0].n as number }),
        (err: Error) => ({ ok: false as const, error: err.message }),
      );
      await reader.query(read.ok ? 'COMMIT' : 'ROLLBACK');
      await migration;
      expect({ waited, read: read.ok ? 'answered' : read.error, migration: failure?.message ?? 'done' }).toEqual({ waited: true, read: 'answered', migration: 'done' });
    } finally {
      await reader.end();
    }
  }

  it('the key-claim migration goes down beside a reader of custody_events without a deadlock', async () => {
    await besideAReader(() => t.ledger.runtime.dataSource.undoLastMigration({ transaction: 'each' }));
    expect(await claimTriggers()).toBe(0);
  }, 120_000);

  it('and up again beside a reader without a deadlock', async () => {
    // from the level below it, whatever the test before left
    if (await claimTriggers() === 1) await t.ledger.runtime.dataSource.undoLastMigration({ transaction: 'each' });
    expect(await claimTriggers()).toBe(0);
    await besideAReader(async () => {
      await t.ledger.runtime.dataSource.runMigrations({ transaction: 'each' });
    });
    expect(await claimTriggers()).toBe(1);
  }, 120_000);
});
