import { buildBatchTree } from '../../src/batching/merkle';
import { MIGRATIONS, sqlRows } from '../../src/database/data-source';
import { AnchoredState1764400000000 } from '../../src/database/migrations/1764400000000-anchored-state';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV2 } from '../../src/proofs/pod-bundle';
import { trustFromFlags, type TrustFile } from '../../src/proofs/trust-root';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { shipmentStateKey, shipmentStateValue, signingKeyStateKey, signingKeyStateValue, stateRoot } from '../../src/state/custody-state';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { asPodV1 } from '../support/pod-fixtures';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/** Every stored column of every event from before the migrations (later migrations add columns, which are null for them). */
const EVENTS_FINGERPRINT = `SELECT count(*)::text AS n, md5(string_agg(t::text, '|' ORDER BY t::text)) AS h
  FROM (SELECT id, event_id, shipment_id, event_type, custodian_id, occurred_at_ms, signature, counter_signature, signer, counter_signer, digest, signatures_hash, previous_leaf, leaf, batch_seq, flags, dual_attested FROM custody_events) t`;

const HOUR = 3_600_000;
const T0 = Date.now() - 24 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * A ledger that anchored batches before state maps existed: its events stay, its custody-tree/1
 * batches still verify, and the first custody-tree/2 state takes in every shipment and key that
 * came before, so bundles spanning both versions prove completeness too.
 */
describe('anchored state on a ledger with batches from before it (migration, mixed versions)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let trust: TrustFile;
  const q = <T>(sql: string, params: unknown[] = []): Promise<T[]> => sqlRows<T>(t.ledger.runtime.dataSource, sql, params);

  const waitFinal = (seq: string): Promise<true> =>
    eventually(async () => ((await mustGql<{ batch: { status: string } }>(t, `query($s: Uint64!) { batch(seq: $s) { status } }`, { s: seq })).batch.status === 'FINAL' ? true : undefined), 30_000, `batch ${seq} FINAL`);
  const bundleOf = async (tracking: string): Promise<ProofBundleV2> =>
    (await mustGql<{ proofOfDelivery: ProofBundleV2 }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: tracking })).proofOfDelivery;

  /** What the sealer did before custody-state/1: one tree over the pending leaves, its root anchored as is. */
  async function sealTheOldWay(): Promise<string> {
    const events = await q<{ id: string; event_id: string; leaf: string }>(`SELECT id, event_id, leaf FROM custody_events WHERE batch_seq IS NULL ORDER BY id`);
    const tree = await buildBatchTree(events.map((e) => e.leaf));
    const [{ seq }] = await q<{ seq: string }>(`INSERT INTO anchor_batches (seq, root, leaf_count, events_root) SELECT coalesce(max(seq) + 1, 0), $1, $2, $1 FROM anchor_batches RETURNING seq::text`, [tree.root, events.length]);
    await q(`UPDATE custody_events SET batch_seq = $1 WHERE id = ANY($2::bigint[])`, [seq, events.map((e) => e.id)]);
    await q(`INSERT INTO merkle_proofs (event_id, batch_seq, leaf_index, proof, event_row_id) SELECT u.event_id, $1, u.i, u.p::text[], u.r FROM unnest($2::text[], $3::int[], $4::text[], $5::bigint[]) AS u(event_id, i, p, r)`, [
      seq,
      events.map((e) => e.event_id),
      events.map((_, i) => i),
      tree.proofs.map((p) => `{${p.join(',')}}`),
      events.map((e) => e.id),
    ]);
    return seq;
  }

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    trust = trustFromFlags('31337', t.ledger.contractAddress);
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('keeps every event through the migration; a batch sealed before it stays custody-tree/1, its root unchanged', async () => {
    await registerOrganization(t, 'acme-express', 'CARRIER');
    await registerOrganization(t, 'berlin-hub', 'CARRIER');
    const acme = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    const hub = await registerKey(t, 'berlin-hub', undefined, new Date(T0 - HOUR));
    for (const n of ['OLD-0001', 'OLD-0002']) await createShipment(t, n, 'acme-express');
    const base = (n: string) => ({ trackingNumber: n, carrier: 'acme-express' });
    const results = await record(t, [
      await signEvent(domain, acme, eventFields({ ...base('OLD-0001'), eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
      await signEvent(domain, hub, eventFields({ ...base('OLD-0001'), eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: at(2) }), acme),
      await signEvent(domain, hub, eventFields({ ...base('OLD-0001'), eventType: 'ARRIVED_AT_FACILITY', custodian: 'berlin-hub', occurredAt: at(3) })),
      await signEvent(domain, acme, eventFields({ ...base('OLD-0002'), eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    const seq = await sealTheOldWay();
    expect(seq).toBe('0');
    const eventsBefore = await q<{ n: string; h: string }>(EVENTS_FINGERPRINT);
    const [batchBefore] = await q<{ root: string }>(`SELECT root FROM anchor_batches WHERE seq = 0`);

    // the migration, down and up again, over that data
    const ds = t.ledger.runtime.dataSource;
    // back to just before the anchored state: it and every migration after it undone
    for (let i = MIGRATIONS.indexOf(AnchoredState1764400000000); i < MIGRATIONS.length; i++) await ds.undoLastMigration({ transaction: 'each' });
    expect((await q<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'anchor_batches' AND column_name = 'tree_version'`))[0].n).toBe(0);
    await ds.runMigrations({ transaction: 'each' });
    expect(await q(EVENTS_FINGERPRINT)).toEqual(eventsBefore);
    expect(await q(`SELECT root, tree_version, events_root, state_root FROM anchor_batches WHERE seq = 0`)).toEqual([{ root: batchBefore.root, tree_version: 1, events_root: batchBefore.root, state_root: null }]);
    // every existing key waits for the first state
    expect(await q(`SELECT count(*)::int AS n FROM signing_keys WHERE NOT state_pending`)).toEqual([{ n: 0 }]);
    await waitFinal('0');
  });

  it('the first custody-tree/2 state takes in the shipments and keys from before; bundles across both versions prove completeness and key ownership', async () => {
    const acme = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    const hub = await registerKey(t, 'berlin-hub', undefined, new Date(T0 - HOUR));
    await createShipment(t, 'NEW-0001', 'acme-express');
    const results = await record(t, [
      await signEvent(domain, hub, eventFields({ trackingNumber: 'OLD-0001', carrier: 'acme-express', eventType: 'OUT_FOR_DELIVERY', custodian: 'berlin-hub', occurredAt: at(4) })),
      await signEvent(domain, hub, eventFields({ trackingNumber: 'OLD-0001', carrier: 'acme-express', eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: at(5) })),
      await signEvent(domain, acme, eventFields({ trackingNumber: 'NEW-0001', carrier: 'acme-express', eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
    ]);
    expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    const { sealBatch } = await mustGql<{ sealBatch: { seq: string } }>(t, `mutation { sealBatch { seq } }`);
    expect(sealBatch.seq).toBe('1');
    await waitFinal('1');

    // the state root is exactly the map of every shipment head and every key, recomputed here from the database
    const shipments = await q<{ carrier: string; tracking_number: string; n: number; head: string }>(
      `SELECT o.slug AS carrier, s.tracking_number, count(e.id)::int AS n, (array_agg(e.leaf ORDER BY e.id DESC))[1] AS head
         FROM shipments s JOIN organizations o ON o.id = s.carrier_id JOIN custody_events e ON e.shipment_id = s.id AND e.batch_seq IS NOT NULL GROUP BY 1, 2`,
    );
    const keys = await q<{ address: string; slug: string; from: string }>(`SELECT k.address, o.slug, (extract(epoch FROM k.valid_from) * 1000)::bigint::text AS from FROM signing_keys k JOIN organizations o ON o.id = k.organization_id`);
    expect(shipments.map((s) => [s.tracking_number, s.n]).sort()).toEqual([['NEW-0001', 1], ['OLD-0001', 5], ['OLD-0002', 1]]);
    expect(keys).toHaveLength(4);
    const expected = stateRoot([
      ...shipments.map((s) => ({ key: shipmentStateKey(s.carrier, s.tracking_number), valueHash: shipmentStateValue(s.head, s.n) })),
      ...keys.map((k) => ({ key: signingKeyStateKey(k.address), valueHash: signingKeyStateValue(k.slug, k.from, null) })),
    ]);
    expect(await q(`SELECT tree_version, state_root, state_changes FROM anchor_batches WHERE seq = 1`)).toEqual([{ tree_version: 2, state_root: expected, state_changes: 7 }]);

    const spanning = await bundleOf('OLD-0001');
    expect(spanning.batches.map((b) => [b.seq, b.treeVersion])).toEqual([['0', 1], ['1', 2]]);
    expect(spanning.state).toMatchObject({ seq: '1', shipment: { eventCount: 5, headLeaf: spanning.shipment.headLeaf } });
    const report = await verifyProofBundle(spanning, { rpcUrl: t.ledger.rpcUrl, trust });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ verdict: 'VALID', state: { provenAtSeq: '1', latestSeq: '1', completeness: 'PROVEN', keyOwnership: 'PROVEN' } });

    // a shipment sealed only before the change is in the state too
    const old = await bundleOf('OLD-0002');
    expect(old.batches.map((b) => b.treeVersion)).toEqual([1]);
    expect((await verifyProofBundle(old, { rpcUrl: t.ledger.rpcUrl, trust })).state).toMatchObject({ completeness: 'PROVEN', keyOwnership: 'PROVEN' });
    // cutting the two events sealed after the change is caught by the state, though the v1 part alone still chains
    const cut = clone(spanning);
    cut.events.splice(3);
    Object.assign(cut.shipment, { eventCount: 3, headLeaf: cut.events[2].leaf });
    const cutReport = await verifyProofBundle(cut, { rpcUrl: t.ledger.rpcUrl, trust });
    expect(cutReport.verdict).toBe('INVALID');
    expect(cutReport.failures.map((f) => f.check)).toContain('COMPLETENESS');
  });

  it('a custody-pod/1 bundle still passes every check of the old rules, and is INCOMPLETE: it cannot prove completeness or key ownership', async () => {
    const v2 = await bundleOf('OLD-0002');
    const v1 = asPodV1(v2);
    const report = await verifyProofBundle(v1, { rpcUrl: t.ledger.rpcUrl, trust });
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ verdict: 'INCOMPLETE', bundleFormat: 'custody-pod/1', state: { completeness: 'NOT_PROVEN', keyOwnership: 'NOT_PROVEN' } });
    expect(report.limitations[0]).toContain('nothing here proves that the bundle holds ALL');
  });

  it('the anchor audit checks both kinds of batch against the chain and finds nothing wrong', async () => {
    const { auditAnchors } = await mustGql<{ auditAnchors: { ok: boolean; batchesChecked: number; problems: unknown[] } }>(t, `{ auditAnchors { ok batchesChecked problems { code message } } }`);
    expect(auditAnchors).toEqual({ ok: true, batchesChecked: 2, problems: [] });
  });
});
