import type { Wallet } from 'ethers';
import { MIGRATIONS, sqlRows } from '../../src/database/data-source';
import { Partitions1764720000000 } from '../../src/database/migrations/1764720000000-partitions';
import { BatchTrees1764730000000 } from '../../src/database/migrations/1764730000000-batch-trees';
import { attachPartition, detachPartition, ensurePartitions, listPartitions, PARTITION_WIDTH } from '../../src/database/partitions';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import { trustFromFlags, type TrustFile } from '../../src/proofs/trust-root';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { HOUR, recordCorrectedDelivery, sealAndFinalize } from '../support/pod-fixtures';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

const W = PARTITION_WIDTH;
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));

/** Every column of every event, proof and event-side row, whatever table layout holds them. */
const FINGERPRINT = `SELECT
  (SELECT count(*)::text || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM custody_events t) AS events,
  (SELECT count(*)::text || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM (SELECT event_id, batch_seq, leaf_index, proof FROM merkle_proofs) t) AS proofs,
  (SELECT count(*)::text || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM event_evidence t) AS evidence,
  (SELECT count(*)::text || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM event_data t) AS data,
  (SELECT count(*)::text || ':' || md5(string_agg(t::text, '|' ORDER BY t::text)) FROM anchor_batches t) AS batches`;

/** The keys, checks and indexes of the two tables as migrations 1764000000000–1764600000000 made them. */
const PREVIOUS_CATALOG = [
  ...['accuracy_m_check', 'batch_seq_fkey', 'consent_check', 'corrects_event_id_fkey', 'counter_signature_check', 'counter_signer_fkey', 'custodian_id_fkey', 'data_hash_check', 'delegation',
    'delegation_id_fkey', 'digest_check', 'event_id_check', 'event_id_key', 'evidence_hash_check', 'leaf_key', 'occurred_at_ms_check', 'pkey', 'shipment_id_fkey', 'signature_check', 'signer_fkey', 'signer_organization_id_fkey']
    .map((c) => `constraint custody_events_${c}`),
  ...['batch_seq_fkey', 'batch_seq_leaf_index_key', 'event_id_fkey', 'leaf_index_check', 'pkey'].map((c) => `constraint merkle_proofs_${c}`),
  ...['batch', 'corrects', 'custodian', 'delegation', 'event_id_key', 'leaf_key', 'pending', 'pkey', 'shipment', 'signer', 'signer_org', 'type'].map((i) => `index custody_events_${i}`),
  ...['batch_seq_leaf_index_key', 'pkey'].map((i) => `index merkle_proofs_${i}`),
].sort();

/**
 * Issue 10, past one machine: custody_events and merkle_proofs are partitioned by ingestion id
 * (PARTITION BY RANGE), event ids and leaves stay unique across every partition through the
 * custody_event_keys table, and old, fully FINAL ranges can be detached for archive while the
 * ledger keeps ingesting, sealing and proving.
 */
describe('partitioned events and proofs (migration, global uniqueness, archive)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let trust: TrustFile;
  let acme: Wallet;
  let hub: Wallet;
  const q = <T>(sql: string, params: unknown[] = []): Promise<T[]> => sqlRows<T>(t.ledger.runtime.dataSource, sql, params);
  const journeys: Record<string, string[]> = {};
  const bundleOf = async (tracking: string): Promise<Record<string, unknown>> =>
    (await mustGql<{ proofOfDelivery: Record<string, unknown> }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: tracking })).proofOfDelivery;
  const content = (bundle: Record<string, unknown>): Record<string, unknown> => ({ ...bundle, generatedAt: undefined });
  const verdictOf = async (tracking: string): Promise<string> => (await verifyProofBundle(await bundleOf(tracking), { rpcUrl: t.ledger.rpcUrl, trust })).verdict;
  /** Moves the identity on, so the next events get ids in range `k` (a ledger that grew). */
  const jumpTo = (k: number): Promise<unknown> => q(`SELECT setval(pg_get_serial_sequence('custody_events', 'id'), $1)`, [k * W + 10]);
  const catalog = async (): Promise<string[]> =>
    (await q<{ d: string }>(
      `SELECT 'constraint ' || conname AS d FROM pg_constraint WHERE conrelid IN ('custody_events'::regclass, 'merkle_proofs'::regclass) AND contype IN ('p', 'u', 'f', 'c')
       UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename IN ('custody_events', 'merkle_proofs')`,
    )).map((r) => r.d).sort();
  const placement = (table: string): Promise<Array<{ part: string; n: number }>> =>
    q(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM ${table} GROUP BY 1 ORDER BY 1`);
  const pickUp = async (tracking: string, hours: number) =>
    (await record(t, [await signEvent(domain, acme, eventFields({ trackingNumber: tracking, carrier: 'acme-express', eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(hours) }))]))[0];

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    trust = trustFromFlags('31337', t.ledger.contractAddress);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, 'acme-express', 'CARRIER');
    await registerOrganization(t, 'berlin-hub', 'HUB');
    acme = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    hub = await registerKey(t, 'berlin-hub', undefined, new Date(T0 - HOUR));
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('the migration moves a ledger of several batches (FINAL and pending, ids over three ranges) down and up again without losing a row, proof or valid bundle', async () => {
    // range 0: a corrected delivery, sealed and FINAL
    journeys.A = await recordCorrectedDelivery(t, domain, 'PART-A', acme, hub, at);
    await sealAndFinalize(t);
    // range 1: another journey and a pickup, FINAL
    await jumpTo(1);
    journeys.B = await recordCorrectedDelivery(t, domain, 'PART-B', acme, hub, at);
    await createShipment(t, 'PART-C', 'acme-express', 'shop-one');
    expect((await pickUp('PART-C', 1)).outcome).toBe('ACCEPTED');
    await sealAndFinalize(t);
    // range 2: pending events, never sealed
    await jumpTo(2);
    await createShipment(t, 'PART-D', 'acme-express', 'shop-one');
    expect((await pickUp('PART-D', 2)).outcome).toBe('ACCEPTED');

    const ds = t.ledger.runtime.dataSource;
    // the newest migration stores batch trees compactly (batch_trees); its down writes their proofs as merkle_proofs rows,
    // the layout the partitions migration below is checked on; bundles are the same in either layout
    expect(MIGRATIONS.indexOf(BatchTrees1764730000000)).toBe(MIGRATIONS.indexOf(Partitions1764720000000) + 1);
    // migrations after the batch trees (issue 11's statement-level key claim, ...) go down first
    const undo = async (count: number): Promise<void> => {
      for (let k = 0; k < count; k++) await ds.undoLastMigration({ transaction: 'each' });
    };
    const toBatchTrees = MIGRATIONS.length - MIGRATIONS.indexOf(BatchTrees1764730000000);
    const bundlesBefore = { A: content(await bundleOf('PART-A')), B: content(await bundleOf('PART-B')) };
    expect([await verdictOf('PART-A'), await verdictOf('PART-B')]).toEqual(['VALID', 'VALID']);
    expect(await q(`SELECT count(*)::int AS n FROM merkle_proofs`)).toEqual([{ n: 0 }]);
    await undo(toBatchTrees);
    expect(await q(`SELECT count(*)::int AS n FROM merkle_proofs`)).toEqual([{ n: journeys.A.length + journeys.B.length + 1 }]);
    const before = await q(FINGERPRINT);

    const partitioned = (): Promise<Array<{ table: string }>> =>
      q(`SELECT c.relname AS table FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid WHERE c.relnamespace = current_schema()::regnamespace ORDER BY 1`);
    expect(await partitioned()).toEqual([{ table: 'custody_events' }, { table: 'merkle_proofs' }]);

    // down: the previous schema, plain tables, every row
    await ds.undoLastMigration({ transaction: 'each' });
    expect(await partitioned()).toEqual([]);
    expect(await q(`SELECT count(*)::int AS n FROM pg_class WHERE relname = 'custody_event_keys' AND relnamespace = current_schema()::regnamespace`)).toEqual([{ n: 0 }]);
    expect(await q(FINGERPRINT)).toEqual(before);
    // the previous schema's own constraints and indexes are back, by name (a repeated event id is refused by custody_events itself)
    expect(await catalog()).toEqual(PREVIOUS_CATALOG);

    // up (from the previous level, over that data), down and up again; then down to the partitions level
    await ds.runMigrations({ transaction: 'each' });
    await undo(toBatchTrees + 1);
    await ds.runMigrations({ transaction: 'each' });
    await undo(toBatchTrees);
    expect(await partitioned()).toEqual([{ table: 'custody_events' }, { table: 'merkle_proofs' }]);
    expect(await q(FINGERPRINT)).toEqual(before);

    // rows land in the range of their id; a proof lives in its event's range
    const nA = journeys.A.length;
    const nB = journeys.B.length + 1;
    expect(await placement('custody_events')).toEqual([
      { part: 'custody_events_p0', n: nA }, { part: 'custody_events_p1', n: nB }, { part: 'custody_events_p2', n: 1 },
    ]);
    expect(await placement('merkle_proofs')).toEqual([{ part: 'merkle_proofs_p0', n: nA }, { part: 'merkle_proofs_p1', n: nB }]);
    // the migration made the current range, the next one and the open tail beyond
    const { attached } = await listPartitions(ds);
    expect(attached.map((p) => [p.name, p.from, p.to])).toEqual([
      ['p0', '0', String(W)], ['p1', String(W), String(2 * W)], ['p2', String(2 * W), String(3 * W)], ['p3', String(3 * W), String(4 * W)], ['tail', String(4 * W), null],
    ]);

    // every bundle as before, and still VALID (batch trees up again: these batches are served from their merkle_proofs rows now)
    await ds.runMigrations({ transaction: 'each' });
    expect({ A: content(await bundleOf('PART-A')), B: content(await bundleOf('PART-B')) }).toEqual(bundlesBefore);
    expect([await verdictOf('PART-A'), await verdictOf('PART-B')]).toEqual(['VALID', 'VALID']);
    // the ledger goes on: the pending event seals and verifies
    await sealAndFinalize(t);
    expect(await verdictOf('PART-D')).toBe('VALID');
  });

  it('an event id or leaf is unique across partitions: a copy written into another range, even straight into a partition, is refused', async () => {
    const [original] = await q<{ event_id: string; part: string }>(`SELECT event_id, tableoid::regclass::text AS part FROM custody_events WHERE event_id = $1`, [journeys.A[0]]);
    expect(original.part).toBe('custody_events_p0');
    const columns = `shipment_id, tracking_number, carrier, event_type, custodian, custodian_id, occurred_at_ms, lat_e6, lon_e6, accuracy_m, location_code, scan_method,
      evidence_hash, data_hash, signature, counter_signature, signer, counter_signer, digest, signatures_hash, previous_leaf, received_at, signer_organization_id, flags, dual_attested`;
    const copy = (target: string, eventId: string, leaf: string): Promise<unknown> =>
      q(`INSERT INTO ${target} (event_id, leaf, ${columns}${target === 'custody_events' ? '' : ', id'}) OVERRIDING SYSTEM VALUE SELECT ${eventId}, ${leaf}, ${columns}${target === 'custody_events' ? '' : `, ${2 * W + 500}`} FROM custody_events WHERE event_id = $1`, [original.event_id]);
    const fresh = `'0x' || repeat('ab', 32)`;
    // the same event id in range 2 (through the parent, and into the partition itself)
    await expect(copy('custody_events', 'event_id', fresh)).rejects.toMatchObject({ driverError: { code: '23505' } });
    await expect(copy('custody_events_p2', 'event_id', fresh)).rejects.toMatchObject({ driverError: { code: '23505' } });
    // the same leaf under a new event id
    await expect(copy('custody_events', fresh, 'leaf')).rejects.toMatchObject({ driverError: { code: '23505' } });
    await expect(copy('custody_events_p2', fresh, 'leaf')).rejects.toMatchObject({ driverError: { code: '23505' } });
    // two rows of one statement under one new event id (keys are claimed per statement): both refused
    const twice = (target: string): Promise<unknown> =>
      q(`INSERT INTO ${target} (event_id, leaf, ${columns}) SELECT ${fresh}, '0x' || repeat(l, 32), ${columns} FROM custody_events, unnest(ARRAY['cd', 'ef']) AS l WHERE event_id = $1`, [original.event_id]);
    await expect(twice('custody_events')).rejects.toMatchObject({ driverError: { code: '23505' } });
    expect(await q(`SELECT count(*)::int AS n FROM custody_event_keys WHERE event_id = '0x' || repeat('ab', 32) OR leaf IN ('0x' || repeat('cd', 32), '0x' || repeat('ef', 32))`)).toEqual([{ n: 0 }]);
    expect(await q(`SELECT count(*)::int AS n FROM custody_events WHERE event_id = $1 OR event_id = '0x' || repeat('ab', 32)`, [original.event_id])).toEqual([{ n: 1 }]);

    // the API answers a resent event from range 0, while ids are in range 2, as DUPLICATE with its original receipt
    const [resent] = await q<{ leaf: string }>(`SELECT leaf FROM custody_events WHERE event_id = $1`, [journeys.A[0]]);
    const event = await eventOf(journeys.A[0]);
    const [again] = await record(t, [event]);
    expect(again).toMatchObject({ outcome: 'DUPLICATE', receipt: { leaf: resent.leaf } });
  });

  it('refuses to detach a range with pending or not yet FINAL events, or the range still being filled', async () => {
    const ds = t.ledger.runtime.dataSource;
    const concurrently = t.ledger.runtime.config.database.kind === 'postgres';
    // range 2 holds the newest ids and takes more
    await expect(detachPartition(ds, 'p2', { concurrently })).rejects.toMatchObject({ code: 'PARTITION_IN_USE' });
    await expect(detachPartition(ds, 'tail', { concurrently })).rejects.toMatchObject({ code: 'PARTITION_IN_USE' });
    await expect(detachPartition(ds, 'p9', { concurrently })).rejects.toMatchObject({ code: 'NO_SUCH_PARTITION' });
    // range 1 with a batch that is anchored but not yet final
    const [{ seq }] = await q<{ seq: string }>(`SELECT max(batch_seq)::text AS seq FROM custody_events_p1`);
    await q(`UPDATE anchor_batches SET status = 'ANCHORED' WHERE seq = $1`, [seq]);
    try {
      await expect(detachPartition(ds, 'p1', { concurrently })).rejects.toMatchObject({ code: 'PARTITION_NOT_FINAL', message: expect.stringMatching(new RegExp(`batch ${seq} is ANCHORED`)) });
    } finally {
      await q(`UPDATE anchor_batches SET status = 'FINAL' WHERE seq = $1`, [seq]);
    }
    // range 1 with a pending event (written there past ingestion, as an in-flight insert would land)
    await jumpTo(3);
    await createShipment(t, 'PART-E', 'acme-express', 'shop-one');
    expect((await pickUp('PART-E', 3)).outcome).toBe('ACCEPTED');
    await q(`UPDATE custody_events SET batch_seq = NULL WHERE event_id = $1`, [journeys.B[0]]);
    try {
      await expect(detachPartition(ds, 'p1', { concurrently })).rejects.toMatchObject({ code: 'PARTITION_NOT_SEALED' });
    } finally {
      await q(`UPDATE custody_events SET batch_seq = (SELECT batch_seq FROM merkle_proofs WHERE event_id = $1) WHERE event_id = $1`, [journeys.B[0]]);
    }
    expect((await listPartitions(ds)).attached.map((p) => p.name)).toEqual(['p0', 'p1', 'p2', 'p3', 'tail']);
  });

  it('detaches a FINAL range for archive; the ledger keeps ingesting, sealing and proving, refuses the archived event ids, and attaches the range back', async () => {
    const ds = t.ledger.runtime.dataSource;
    const concurrently = t.ledger.runtime.config.database.kind === 'postgres';
    const total = async (): Promise<number> => (await q<{ n: number }>(`SELECT count(*)::int AS n FROM custody_events`))[0].n;
    const all = await total();
    const archived = await detachPartition(ds, 'p0', { concurrently });
    expect(archived).toMatchObject({ name: 'p0', events: journeys.A.length, proofs: journeys.A.length, from: '0', to: String(W) });
    const listed = await listPartitions(ds);
    expect(listed.attached.map((p) => p.name)).toEqual(['p1', 'p2', 'p3', 'tail']);
    expect(listed.archived.map((p) => [p.name, p.eventsTable, p.proofsTable])).toEqual([['p0', 'custody_events_p0', 'merkle_proofs_p0']]);
    expect(await q(`SELECT count(*)::int AS n FROM pg_inherits WHERE inhrelid = 'custody_events_p0'::regclass OR inhrelid = 'merkle_proofs_p0'::regclass`)).toEqual([{ n: 0 }]);
    expect(await total()).toBe(all - journeys.A.length);
    // the archive table itself still holds the rows
    expect(await q(`SELECT count(*)::int AS n FROM custody_events_p0`)).toEqual([{ n: journeys.A.length }]);

    // still ingesting, sealing, serving recent proofs
    await createShipment(t, 'PART-F', 'acme-express', 'shop-one');
    expect((await pickUp('PART-F', 4)).outcome).toBe('ACCEPTED');
    await sealAndFinalize(t);
    expect(await verdictOf('PART-F')).toBe('VALID');
    expect(await verdictOf('PART-B')).toBe('VALID');
    const proof = await mustGql<{ inclusionProof: { status: string } }>(t, `query($e: String!) { inclusionProof(eventId: $e) { status } }`, { e: journeys.B[0] });
    expect(proof.inclusionProof.status).toBe('FINAL');
    // an archived event's proof is not served (the bundle handed out, or the attached archive, has it)
    const gone = await t.gql(`query($e: String!) { inclusionProof(eventId: $e) { status } }`, { e: journeys.A[0] });
    expect(gone.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // an archived event sent again is not stored a second time
    const [again] = await record(t, [await eventOf(journeys.A[0], 'custody_events_p0')]);
    expect(again).toMatchObject({ outcome: 'REJECTED', error: { code: 'EVENT_ID_CONFLICT', field: 'eventId' } });
    expect(again.error!.message).toMatch(/archived/);

    // back from the archive: every row, and the bundle verifies again
    await attachPartition(ds, 'p0');
    expect(await total()).toBe(all + 1);
    expect((await listPartitions(ds)).archived).toEqual([]);
    expect(await verdictOf('PART-A')).toBe('VALID');
  });

  it('keeps partitions ahead of the ids; an id past every range lands in the tail and is moved into its range when the range is made', async () => {
    const ds = t.ledger.runtime.dataSource;
    await jumpTo(6);
    await createShipment(t, 'PART-G', 'acme-express', 'shop-one');
    const accepted = await pickUp('PART-G', 5);
    expect(accepted.outcome).toBe('ACCEPTED');
    expect(await q(`SELECT tableoid::regclass::text AS part FROM custody_events WHERE event_id = $1`, [accepted.eventId])).toEqual([{ part: 'custody_events_tail' }]);
    // sealing makes the missing ranges (the sealer keeps one range ahead of the newest id) and moves the row into its own
    await sealAndFinalize(t);
    expect(await q(`SELECT tableoid::regclass::text AS part FROM custody_events WHERE event_id = $1`, [accepted.eventId])).toEqual([{ part: 'custody_events_p6' }]);
    // its proof is its batch's stored tree and its leaf index, on the moved row (no merkle_proofs row since batch_trees)
    expect(await q(`SELECT e.leaf_index, (SELECT count(*)::int FROM merkle_proofs p WHERE p.event_id = e.event_id) AS rows FROM custody_events e WHERE e.event_id = $1`, [accepted.eventId])).toEqual([{ leaf_index: expect.any(Number), rows: 0 }]);
    expect((await listPartitions(ds)).attached.map((p) => p.name)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'tail']);
    expect(await q(`SELECT count(*)::int AS n FROM custody_events_tail`)).toEqual([{ n: 0 }]);
    expect(await ensurePartitions(ds)).toEqual([]);
    // the moved row's key is the same (moving is not a second event), the row and its proof serve as before
    expect(await q(`SELECT count(*)::int AS n FROM custody_event_keys WHERE event_id = $1`, [accepted.eventId])).toEqual([{ n: 1 }]);
    expect(await verdictOf('PART-G')).toBe('VALID');
    expect((await record(t, [await eventOf(accepted.eventId!)]))[0]).toMatchObject({ outcome: 'DUPLICATE', receipt: { status: 'FINAL' } });
  });

  it('makes new ranges of the width PARTITION_RANGE_EVENTS asks for (bigger ranges for bigger ledgers), named by their first id', async () => {
    const ds = t.ledger.runtime.dataSource;
    const before = (await listPartitions(ds)).attached.find((p) => p.to === null)!;
    // ids run past the tail's start: the next ranges are made 5 × wider than the default
    await jumpTo(Number(BigInt(before.from) / BigInt(W)) + 1);
    await createShipment(t, 'PART-W', 'acme-express', 'shop-one');
    const accepted = await pickUp('PART-W', 5);
    expect(accepted.outcome).toBe('ACCEPTED');
    const made = await ensurePartitions(ds, 5 * W);
    expect(made.length).toBeGreaterThan(0);
    const parts = (await listPartitions(ds)).attached;
    const wide = parts.filter((p) => made.includes(p.name));
    for (const p of wide) {
      expect(BigInt(p.to!) - BigInt(p.from)).toBe(BigInt(5 * W));
      expect(p.name).toBe(`p_${p.from}`);
    }
    expect(BigInt(parts.find((p) => p.to === null)!.from)).toBe(BigInt(wide.at(-1)!.to!));
    expect(await ensurePartitions(ds, 5 * W)).toEqual([]);
    // the event that ran into the tail now sits in the first wide range
    expect(await q(`SELECT tableoid::regclass::text AS part FROM custody_events WHERE event_id = $1`, [accepted.eventId])).toEqual([{ part: `custody_events_${wide[0].name}` }]);
  });

  /** A stored event as its device sent it (signature and fields from the row), to send again. */
  async function eventOf(eventId: string, table = 'custody_events'): Promise<never> {
    const [e] = await q<Record<string, string | number>>(`SELECT * FROM ${table} WHERE event_id = $1`, [eventId]);
    return {
      eventId: e.event_id, trackingNumber: e.tracking_number, carrier: e.carrier, eventType: e.event_type, custodian: e.custodian, occurredAt: String(e.occurred_at_ms),
      latE6: e.lat_e6, lonE6: e.lon_e6, accuracyM: Number(e.accuracy_m), locationCode: e.location_code, scanMethod: e.scan_method, evidenceHash: e.evidence_hash, dataHash: e.data_hash,
      signature: e.signature, ...(e.counter_signature ? { counterSignature: e.counter_signature } : {}),
    } as never;
  }
});
