import type { Wallet } from 'ethers';
import { sqlRows } from '../../src/database/data-source';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, eventually, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent, type SignedEventInput } from '../support/factories';

describe('sealing triggers and concurrent ingestion', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let device: Wallet;
  let sealedBefore = 0;
  const base = { carrier: 'acme-express', custodian: 'acme-express', eventType: 'ARRIVED_AT_FACILITY' };

  beforeAll(async () => {
    // size trigger at 4 events; age trigger at 1.5 s, checked every 100 ms
    t = await startTestLedger({ BATCH_MAX_EVENTS: '4', BATCH_MAX_AGE_MS: '1500', SEALER_INTERVAL_MS: '100' });
    domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-express', 'CARRIER');
    device = await registerKey(t, 'acme-express');
    const shipments = ['SEAL0001', 'SEAL0002', 'RACE0001', 'RACE0002'];
    for (const n of shipments) await createShipment(t, n, 'acme-express');
    // custody starts with a pick-up; seal those so the tests below start with nothing pending
    await record(t, await Promise.all(shipments.map((n) => signEvent(domain, device, eventFields({ ...base, eventType: 'PICKED_UP', trackingNumber: n, occurredAt: BigInt(Date.now() - 120_000) })))));
    await mustGql(t, `mutation { sealBatch { seq } }`);
    [{ n: sealedBefore }] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM anchor_batches`);
  });

  afterAll(async () => {
    await t?.stop();
  });

  const sign = (trackingNumber: string, offsetMs = 0): Promise<SignedEventInput> =>
    signEvent(domain, device, eventFields({ ...base, trackingNumber, occurredAt: BigInt(Date.now() - 60_000 + offsetMs) }));

  it('seals a full batch as soon as BATCH_MAX_EVENTS are pending, and the rest when the oldest is BATCH_MAX_AGE_MS old', async () => {
    const events = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => sign('SEAL0001', i)));
    const started = Date.now();
    await record(t, events);
    const first = await eventually(async () => {
      const rows = await sqlRows<{ seq: string; leaf_count: number }>(t.ledger.runtime.dataSource, `SELECT seq, leaf_count FROM anchor_batches WHERE seq >= $1 ORDER BY seq`, [sealedBefore]);
      return rows.length >= 1 ? rows : undefined;
    }, 10_000, 'the size trigger');
    expect(first[0].leaf_count).toBe(4);
    const second = await eventually(async () => {
      const rows = await sqlRows<{ seq: string; leaf_count: number }>(t.ledger.runtime.dataSource, `SELECT seq, leaf_count FROM anchor_batches WHERE seq >= $1 ORDER BY seq`, [sealedBefore]);
      return rows.length >= 2 ? rows : undefined;
    }, 10_000, 'the age trigger');
    expect(second.map((r) => r.leaf_count)).toEqual([4, 2]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_500);
    // the batches hold the events in arrival order
    const order = await sqlRows<{ event_id: string; batch_seq: string; leaf_index: number }>(
      t.ledger.runtime.dataSource,
      `SELECT e.event_id, e.batch_seq, e.leaf_index FROM custody_events e WHERE e.tracking_number = 'SEAL0001' AND e.event_type <> 'PICKED_UP' ORDER BY e.batch_seq, e.leaf_index`,
    );
    expect(order.map((r) => r.event_id)).toEqual(events.map((e) => e.eventId.toLowerCase()));
    expect(order.map((r) => r.leaf_index)).toEqual([0, 1, 2, 3, 0, 1]);
  });

  it('sealBatch returns null when nothing is pending', async () => {
    await eventually(async () => {
      const [{ n }] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM custody_events WHERE batch_seq IS NULL`);
      return n === 0 ? true : undefined;
    });
    expect(await mustGql(t, `mutation { sealBatch { seq } }`)).toEqual({ sealBatch: null });
  });

  it('keeps one unbroken hash chain per shipment when calls for it race', async () => {
    const calls = await Promise.all([0, 1, 2, 3, 4, 5].map((c) => Promise.all([0, 1, 2, 3, 4].map((i) => sign(i % 2 ? 'RACE0001' : 'RACE0002', c * 10 + i)))));
    const results = await Promise.all(calls.map((events) => record(t, events)));
    expect(results.flat().every((r) => r.outcome === 'ACCEPTED')).toBe(true);
    for (const trackingNumber of ['RACE0001', 'RACE0002']) {
      const rows = await sqlRows<{ leaf: string; previous_leaf: string }>(t.ledger.runtime.dataSource, `SELECT leaf, previous_leaf FROM custody_events WHERE tracking_number = $1 ORDER BY id`, [trackingNumber]);
      // arrival order is the chain order: each event points at the one stored just before it
      expect(rows).toHaveLength(trackingNumber === 'RACE0001' ? 13 : 19); // the pick-up and 2 or 3 scans from each of 6 calls
      expect(rows[0].previous_leaf).toBe('0x' + '00'.repeat(32));
      for (let i = 1; i < rows.length; i++) expect(rows[i].previous_leaf).toBe(rows[i - 1].leaf);
      const [head] = await sqlRows<{ head_leaf: string; event_count: number }>(t.ledger.runtime.dataSource, `SELECT head_leaf, event_count FROM shipments WHERE tracking_number = $1`, [trackingNumber]);
      expect(head).toEqual({ head_leaf: rows[rows.length - 1].leaf, event_count: rows.length });
    }
  });

  it('stores an event submitted by two racing calls once: one ACCEPTED, one DUPLICATE with the same receipt', async () => {
    const event = await sign('RACE0001', 999);
    const [a, b] = await Promise.all([record(t, [event]), record(t, [event])]);
    expect([a[0].outcome, b[0].outcome].sort()).toEqual(['ACCEPTED', 'DUPLICATE']);
    // status may have moved on if the age trigger sealed in between; everything else is identical
    const { status: _a, ...first } = a[0].receipt!;
    const { status: _b, ...second } = b[0].receipt!;
    expect(first).toEqual(second);
    const [{ n }] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM custody_events WHERE event_id = $1`, [event.eventId.toLowerCase()]);
    expect(n).toBe(1);
  });
});
