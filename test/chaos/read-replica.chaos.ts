import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Wallet } from 'ethers';
import { Client } from 'pg';
import { sealAndAnchor } from '../../src/bootstrap';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import { trustFromFlags } from '../../src/proofs/trust-root';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';
import { treeProofSql } from '../../src/batching/batch-trees';

/**
 * Issue 10, "past one machine": proofs, timelines and bundles are read from a streaming hot
 * standby (DATABASE_READ_URL), a caller still reads its own writes, and the primary takes over
 * when the standby lags too far or is down. The standby is a real one, made by
 * scripts/local-standby.sh (pg_basebackup -R) on port 5433. It is left stopped at the end, its
 * files kept so the next run restarts it in seconds instead of copying the cluster again
 * (`scripts/local-standby.sh remove` deletes it).
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');
const STANDBY_PORT = '5433';
const readUrl = Object.assign(new URL(url), { port: STANDBY_PORT }).toString();
const SCRIPT = path.join(__dirname, '../../scripts/local-standby.sh');
const standbyScript = (command: string): Promise<unknown> => promisify(execFile)('bash', [SCRIPT, command], { env: { ...process.env, STANDBY_PORT } });

const TIMELINE = `query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { eventCount events { eventId } } }`;
const PROOF = `query($id: String!) { inclusionProof(eventId: $id) { eventId status leaf proof root batchSeq } }`;
const BUNDLE = `query($n: String!, $c: String!) { proofOfDelivery(trackingNumber: $n, carrier: $c) }`;

type Timeline = { shipment: { eventCount: number; events: Array<{ eventId: string }> } };
type Proof = { inclusionProof: { eventId: string; status: string; leaf: string; proof: string[] | null; root: string | null; batchSeq: string | null } };

describe('reads from a streaming read replica (chaos)', () => {
  let t: TestLedger;
  let primary: Client;
  let standby: Client;
  let domain: CustodySigningDomain;
  let device: Wallet;
  let carrierKey: string;
  let analystKey: string;
  const recorded: string[] = [];
  const CARRIER = 'acme-replica';
  const TN = 'RR-0001';

  const served = (ledger: TestLedger = t): { replica: number; primary: number } => ({ ...ledger.ledger.runtime.reads.served });
  const as = async <T>(key: string, query: string, variables: Record<string, unknown>, ledger: TestLedger = t): Promise<T> => {
    const res = await ledger.gql<T>(query, variables, key);
    if (res.errors) throw new Error(`GraphQL error: ${JSON.stringify(res.errors)}`);
    return res.data!;
  };
  const newKey = async (ledger: TestLedger, role: string, organization: string | null): Promise<string> =>
    (await mustGql<{ createApiKey: { key: string } }>(ledger, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization, role, label: `${role} (replica test)` } })).createApiKey.key;
  /** Waits until the standby has replayed everything the primary has written so far. */
  const caughtUp = async (): Promise<void> => {
    const [{ lsn }] = (await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows;
    await eventually(async () => ((await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn])).rows[0].ok ? true : undefined), 30_000, 'the standby to replay the primary');
  };
  const pauseReplay = async (): Promise<void> => {
    await standby.query('SELECT pg_wal_replay_pause()');
    await eventually(async () => ((await standby.query<{ s: string }>('SELECT pg_get_wal_replay_pause_state() AS s')).rows[0].s === 'paused' ? true : undefined), 10_000, 'replay to pause');
  };
  const event = async (eventType: string, minutesAgo: number) => signEvent(domain, device, eventFields({ trackingNumber: TN, carrier: CARRIER, eventType, custodian: CARRIER, occurredAt: BigInt(Date.now() - minutesAgo * 60_000) }));

  beforeAll(async () => {
    const started = Date.now();
    await standbyScript('start');
    console.log(`standby on port ${STANDBY_PORT} streaming after ${Date.now() - started} ms (scripts/local-standby.sh start)`);
    standby = new Client({ connectionString: readUrl });
    primary = new Client({ connectionString: url });
    // the last test stops the standby under this session
    standby.on('error', () => undefined);
    await Promise.all([standby.connect(), primary.connect()]);
    t = await startTestLedger({ DATABASE_READ_URL: readUrl, DATABASE_READ_MAX_LAG_MS: '60000' });
    domain = await fetchDomain(t);
    await registerOrganization(t, CARRIER, 'CARRIER');
    device = await registerKey(t, CARRIER);
    await createShipment(t, TN, CARRIER);
    carrierKey = await newKey(t, 'CARRIER', CARRIER);
    analystKey = await newKey(t, 'DISPUTE_ANALYST', null);
    for (const [type, ago] of [['PICKED_UP', 50], ['ARRIVED_AT_FACILITY', 40], ['DEPARTED_FACILITY', 30]] as const) {
      const [r] = await record(t, [await event(type, ago)], carrierKey);
      expect(r.outcome).toBe('ACCEPTED');
      recorded.push(r.eventId!);
    }
    await sealAndAnchor(t.ledger);
    console.log(`ledger with a read replica set up in ${Date.now() - started} ms`);
  }, 120_000);

  afterAll(async () => {
    await standby?.query('SELECT pg_wal_replay_resume()').catch(() => undefined);
    await standby?.end().catch(() => undefined);
    await primary?.end().catch(() => undefined);
    await t?.stop();
    await standbyScript('stop');
  });

  it('serves proofs, timelines and bundles from the standby (its sessions carry the service’s read pool name)', async () => {
    await caughtUp();
    const before = served();
    const timeline = await as<Timeline>(analystKey, TIMELINE, { n: TN, c: CARRIER });
    const proof = await as<Proof>(analystKey, PROOF, { id: recorded[0] });
    const bundle = (await as<{ proofOfDelivery: unknown }>(analystKey, BUNDLE, { n: TN, c: CARRIER })).proofOfDelivery;
    const download = await fetch(t.url.replace('/graphql', `/proofs/${CARRIER}/${TN}.json`), { headers: { authorization: `Bearer ${analystKey}` } });
    expect(download.status).toBe(200);
    // the shipment and its events field, the proof, the bundle, the download: five reads, all on the standby
    expect(served()).toEqual({ replica: before.replica + 5, primary: before.primary });
    expect(timeline.shipment.events.map((e) => e.eventId)).toEqual(recorded);
    expect(proof.inclusionProof).toMatchObject({ eventId: recorded[0], status: expect.stringMatching(/^(ANCHORED|FINAL)$/), batchSeq: '0' });
    expect(await download.json()).toMatchObject({ events: recorded.map((eventId) => expect.objectContaining({ eventId })) });
    const report = await verifyProofBundle(bundle, { rpcUrl: t.ledger.rpcUrl, trust: trustFromFlags('31337', t.ledger.contractAddress) });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('VALID');
    // the proof of the standby's copy is the primary's, byte for byte
    // (derived on the primary from its stored batch tree, as the reader derives it on the standby)
    await primary.query(`BEGIN`);
    await primary.query(`SET LOCAL search_path TO ${(t.ledger.runtime.config.database as { schema: string }).schema}`);
    const [onPrimary] = (await primary.query<{ proof: string[] }>(`SELECT ${treeProofSql('e.batch_seq', 'e.leaf_index')} AS proof FROM custody_events e WHERE e.event_id = $1`, [recorded[0]])).rows;
    await primary.query(`COMMIT`);
    expect(proof.inclusionProof.proof).toEqual(onPrimary.proof);
    const sessions = await standby.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'custody-ledger-read' AND datname = current_database()`);
    expect(Number(sessions.rows[0].n)).toBeGreaterThan(0);
  });

  it('a caller reads its own writes while the standby is behind; another caller is served, stale but valid, by the standby', async () => {
    await caughtUp();
    await pauseReplay();
    try {
      const [r] = await record(t, [await event('OUT_FOR_DELIVERY', 20)], carrierKey);
      expect(r.outcome).toBe('ACCEPTED');
      const before = served();
      // the writer: its reads go to the primary (the standby has not replayed its write) and see it
      const own = await as<Timeline>(carrierKey, TIMELINE, { n: TN, c: CARRIER });
      expect(own.shipment.events.map((e) => e.eventId)).toEqual([...recorded, r.eventId]);
      expect((await as<Proof>(carrierKey, PROOF, { id: r.eventId })).inclusionProof).toMatchObject({ eventId: r.eventId, status: 'PENDING', proof: null });
      expect(served()).toEqual({ replica: before.replica, primary: before.primary + 3 });
      // someone else: served by the paused standby, so without the new event, and its bundle still verifies
      const other = await as<Timeline>(analystKey, TIMELINE, { n: TN, c: CARRIER });
      expect(other.shipment).toEqual({ eventCount: 3, events: recorded.map((eventId) => ({ eventId })) });
      const bundle = (await as<{ proofOfDelivery: unknown }>(analystKey, BUNDLE, { n: TN, c: CARRIER })).proofOfDelivery;
      expect(served()).toEqual({ replica: before.replica + 3, primary: before.primary + 3 });
      const report = await verifyProofBundle(bundle, { rpcUrl: t.ledger.rpcUrl, trust: trustFromFlags('31337', t.ledger.contractAddress) });
      expect(report.failures).toEqual([]);
      expect(report.verdict).toBe('VALID');
      // an event the standby does not have yet is not "not found": that answer comes from the primary
      expect((await as<Proof>(analystKey, PROOF, { id: r.eventId })).inclusionProof.eventId).toBe(r.eventId);
      expect(served()).toEqual({ replica: before.replica + 3, primary: before.primary + 4 });
      recorded.push(r.eventId!);
    } finally {
      await standby.query('SELECT pg_wal_replay_resume()');
    }
    // once the standby has replayed the write, the writer is served by it again
    await caughtUp();
    await eventually(async () => {
      const before = served();
      const own = await as<Timeline>(carrierKey, TIMELINE, { n: TN, c: CARRIER });
      return served().replica === before.replica + 2 && own.shipment.eventCount === 4 ? true : undefined;
    }, 10_000, 'the writer to be served by the standby again');
  });

  it('falls back to the primary for everyone when the standby lags past DATABASE_READ_MAX_LAG_MS', async () => {
    const tight = await startTestLedger({ DATABASE_READ_URL: readUrl, DATABASE_READ_MAX_LAG_MS: '1000' });
    try {
      await registerOrganization(tight, CARRIER, 'CARRIER');
      const wallet = await registerKey(tight, CARRIER);
      await createShipment(tight, TN, CARRIER);
      const analyst = await newKey(tight, 'DISPUTE_ANALYST', null);
      const tightDomain = await fetchDomain(tight);
      await caughtUp();
      await eventually(async () => {
        const before = served(tight);
        await as<Timeline>(analyst, TIMELINE, { n: TN, c: CARRIER }, tight);
        return served(tight).replica === before.replica + 2 ? true : undefined;
      }, 10_000, 'the analyst to be served by the standby');
      await pauseReplay();
      try {
        // written by the admin key, not by the analyst: only the lag bound can send the analyst to the primary
        const [r] = await record(tight, [await signEvent(tightDomain, wallet, eventFields({ trackingNumber: TN, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER }))]);
        expect(r.outcome).toBe('ACCEPTED');
        const seen = await eventually(async () => {
          const before = served(tight);
          const timeline = await as<Timeline>(analyst, TIMELINE, { n: TN, c: CARRIER }, tight);
          return timeline.shipment.eventCount === 1 ? { timeline, before, after: served(tight) } : undefined;
        }, 15_000, 'the analyst to see the new event');
        expect(seen.timeline.shipment.events).toEqual([{ eventId: r.eventId }]);
        expect(seen.after).toEqual({ replica: seen.before.replica, primary: seen.before.primary + 2 });
        expect(tight.ledger.runtime.reads.status()).toMatchObject({ replica: 'LAGGING', stalenessMs: expect.any(Number) });
        expect(tight.ledger.runtime.reads.status().stalenessMs!).toBeGreaterThan(1000);
      } finally {
        await standby.query('SELECT pg_wal_replay_resume()');
      }
    } finally {
      await tight.stop();
    }
  });

  it('never reads from a DATABASE_READ_URL that is not a standby (the primary itself, or a promoted standby)', async () => {
    const wrong = await startTestLedger({ DATABASE_READ_URL: url, DATABASE_READ_MAX_LAG_MS: '60000' });
    try {
      expect(wrong.ledger.runtime.reads.status()).toEqual({ replica: 'NOT_A_STANDBY', stalenessMs: null });
      await registerOrganization(wrong, CARRIER, 'CARRIER');
      await createShipment(wrong, TN, CARRIER);
      const analyst = await newKey(wrong, 'DISPUTE_ANALYST', null);
      const before = served(wrong);
      expect((await as<Timeline>(analyst, TIMELINE, { n: TN, c: CARRIER }, wrong)).shipment).toEqual({ eventCount: 0, events: [] });
      expect(served(wrong)).toEqual({ replica: before.replica, primary: before.primary + 2 });
    } finally {
      await wrong.stop();
    }
  });

  it('reads go to the primary, without errors, when the standby is down', async () => {
    await standbyScript('stop');
    const before = served();
    const timeline = await as<Timeline>(analystKey, TIMELINE, { n: TN, c: CARRIER });
    expect(timeline.shipment.events.map((e) => e.eventId)).toEqual(recorded);
    expect((await as<Proof>(analystKey, PROOF, { id: recorded[0] })).inclusionProof).toMatchObject({ eventId: recorded[0], batchSeq: '0' });
    const bundle = (await as<{ proofOfDelivery: { events: unknown[] } }>(analystKey, BUNDLE, { n: TN, c: CARRIER })).proofOfDelivery;
    expect(bundle.events).toHaveLength(4);
    expect(served()).toEqual({ replica: before.replica, primary: before.primary + 4 });
    await eventually(async () => (t.ledger.runtime.reads.status().replica === 'DOWN' ? true : undefined), 10_000, 'the standby to be seen as down');
  });
});
