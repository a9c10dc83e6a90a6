import { Client } from 'pg';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * Issue 10, "a frozen replica stops everyone": a process paused (kill -STOP) in the middle of a
 * transaction keeps its row locks, and without server-side timeouts every other writer of those
 * shipments waits for it. Here the frozen replica is a real PostgreSQL session that locks a
 * shipment row the way ingestion does (FOR UPDATE) and then does nothing. Another writer must get
 * through within the idle-in-transaction timeout (set to 2 s here), the frozen session must be
 * ended by the server, and a writer waiting past lock_timeout gets DATABASE_BUSY, not a hang.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

describe('a frozen transaction does not stall the other writers (chaos)', () => {
  let t: TestLedger;
  let frozen: Client;

  beforeAll(async () => {
    t = await startTestLedger({ DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '2000', DB_LOCK_TIMEOUT_MS: '5000' });
  }, 120_000);

  /** The connection options of the service's own pool: what another replica's sessions carry too. */
  const replicaOptions = (): string => (t.ledger.runtime.dataSource.options as { extra: { options: string } }).extra.options;

  afterAll(async () => {
    await frozen?.end().catch(() => undefined);
    await t?.stop();
  });

  it('a writer of the locked shipment is accepted within the idle timeout, and the frozen session is ended by the server', async () => {
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-chaos', 'CARRIER');
    const key = await registerKey(t, 'acme-chaos', newWallet());
    await createShipment(t, 'CHAOS-0001', 'acme-chaos');
    const database = t.ledger.runtime.config.database;
    if (database.kind !== 'postgres') throw new Error('the chaos suite runs on PostgreSQL');

    // the "frozen replica": another service process's session (the same connection settings as this
    // one's, so the same server-side timeouts), a shipment row locked and then silence
    frozen = new Client({ connectionString: url, options: replicaOptions() });
    frozen.on('error', () => undefined);
    await frozen.connect();
    await frozen.query('BEGIN');
    await frozen.query(`SELECT id FROM shipments WHERE tracking_number = 'CHAOS-0001' FOR UPDATE`);

    const started = Date.now();
    const [r] = await record(t, [await signEvent(domain, key, eventFields({ trackingNumber: 'CHAOS-0001', carrier: 'acme-chaos', eventType: 'PICKED_UP', custodian: 'acme-chaos', occurredAt: BigInt(Date.now() - 60_000) }))]);
    const waited = Date.now() - started;
    console.log(`writer behind a frozen transaction: ${r.outcome} after ${waited} ms (idle-in-transaction timeout 2000 ms)`);
    expect(r.outcome).toBe('ACCEPTED');
    expect(waited).toBeLessThan(5_000);
    // the frozen session was terminated by the server: its next statement fails
    await expect(frozen.query('SELECT 1')).rejects.toThrow();
  });

  it('a writer that waits on a lock longer than lock_timeout gets DATABASE_BUSY and nothing is written', async () => {
    const database = t.ledger.runtime.config.database;
    if (database.kind !== 'postgres') throw new Error('the chaos suite runs on PostgreSQL');
    // a lock holder that is not idle (it keeps running a statement), so only lock_timeout can end the wait
    const busy = new Client({ connectionString: url, options: replicaOptions() });
    busy.on('error', () => undefined);
    await busy.connect();
    await busy.query('BEGIN');
    await busy.query(`SELECT id FROM shipments WHERE tracking_number = 'CHAOS-0001' FOR UPDATE`);
    const domain = await fetchDomain(t);
    const key = await registerKey(t, 'acme-chaos', newWallet());
    const before = await t.fingerprint();
    const holding = busy.query('SELECT pg_sleep(8)').catch(() => undefined);
    const started = Date.now();
    const res = await t.gql<{ recordCustodyEvents: unknown }>(
      `mutation($e: [SignedCustodyEventInput!]!) { recordCustodyEvents(events: $e) { outcome } }`,
      { e: [await signEvent(domain, key, eventFields({ trackingNumber: 'CHAOS-0001', carrier: 'acme-chaos', eventType: 'ARRIVED_AT_FACILITY', custodian: 'acme-chaos', occurredAt: BigInt(Date.now() - 30_000) }))] },
    );
    const waited = Date.now() - started;
    console.log(`writer behind a busy lock holder: ${res.errors?.[0]?.extensions?.code ?? 'answered'} after ${waited} ms (lock_timeout 5000 ms)`);
    expect(res.errors?.[0]?.extensions?.code).toBe('DATABASE_BUSY');
    expect(waited).toBeLessThan(7_500);
    await holding;
    await busy.query('ROLLBACK').catch(() => undefined);
    await busy.end().catch(() => undefined);
    const after = await t.fingerprint();
    expect(after).toEqual(before);
  }, 60_000);
});
