import { readFileSync } from 'node:fs';
import path from 'node:path';
import { id, type Wallet } from 'ethers';
import { verifyProofBundle } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 as ProofBundle } from '../../src/proofs/pod-bundle';
import { trustFromFlags } from '../../src/proofs/trust-root';
import type { CustodyEventFields, CustodySigningDomain } from '../../src/signing/custody-signing';
import { TEST_ADMIN_KEY, eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

const HOUR = 3_600_000;
const T0 = Date.now() - 96 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
/** Door of the recipient in Berlin-Mitte; deliveries within 150 m count. */
const DOOR = { latE6: 52_520_008, lonE6: 13_404_954, radiusM: 150 };

interface DisputeView {
  id: string;
  verdict: string;
  reasons: string[];
  status: string;
  outcome: string | null;
}

/** Every key path of a JSON value, arrays collapsed to their first element: the shape of a format. */
function shape(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.length ? shape(value[0], `${prefix}[]`) : [`${prefix}[]`];
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => [`${prefix}.${k}`, ...(k === 'types' || k === 'fields' ? [] : shape(v, `${prefix}.${k}`))]);
  return [];
}

describe('proof of delivery, fraud checks and disputes', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let carrier: Wallet;
  let shop: Wallet;

  const sign = (tracking: string, f: Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>, signer = carrier, counter?: Wallet) =>
    signEvent(domain, signer, eventFields({ trackingNumber: tracking, carrier: 'acme-express', latE6: 52_530_000, lonE6: 13_390_000, accuracyM: 10, ...f }), counter);

  async function shipmentWith(tracking: string, steps: Array<Partial<CustodyEventFields> & Pick<CustodyEventFields, 'eventType' | 'custodian'>>, extra: Record<string, unknown> = {}): Promise<void> {
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: tracking, carrier: 'acme-express', merchant: 'shop-one', destination: DOOR, ...extra } });
    const results = await record(t, await Promise.all(steps.map((s) => sign(tracking, s))));
    expect(results.map((r) => r.error?.code ?? r.outcome)).toEqual(steps.map(() => 'ACCEPTED'));
  }

  async function sealAndFinalize(): Promise<void> {
    const sealed = await mustGql<{ sealBatch: { seq: string } | null }>(t, `mutation { sealBatch { seq } }`);
    const seq = sealed.sealBatch!.seq;
    await eventually(async () => ((await mustGql<{ batch: { status: string } }>(t, `query($s: Uint64!) { batch(seq: $s) { status } }`, { s: seq })).batch.status === 'FINAL' ? true : undefined), 30_000, `batch ${seq} FINAL`);
  }

  const bundleOf = async (tracking: string): Promise<ProofBundle> =>
    (await mustGql<{ proofOfDelivery: ProofBundle }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: tracking })).proofOfDelivery;

  const openDispute = async (tracking: string, claim: string): Promise<DisputeView> =>
    (await mustGql<{ openDispute: DisputeView }>(t, `mutation($n: String!, $c: DisputeClaim!) { openDispute(trackingNumber: $n, carrier: "acme-express", claim: $c, note: "customer says it never arrived") { id verdict reasons status outcome } }`, { n: tracking, c: claim })).openDispute;

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, 'acme-express', 'CARRIER');
    carrier = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    shop = await registerKey(t, 'shop-one', undefined, new Date(T0 - HOUR));
    const journey = [
      { eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) },
      { eventType: 'ARRIVED_AT_FACILITY', custodian: 'acme-express', occurredAt: at(5), locationCode: 'DE-BER-HUB-1' },
      { eventType: 'OUT_FOR_DELIVERY', custodian: 'acme-express', occurredAt: at(20) },
    ];
    // delivered at the door, with photo evidence
    await shipmentWith('POD-GOOD', [...journey, { eventType: 'DELIVERED', custodian: 'acme-express', occurredAt: at(21), ...DOOR, radiusM: undefined, accuracyM: 8, evidenceHash: id('door photo'), scanMethod: 'GPS' } as never]);
    // "delivered" three kilometres away
    await shipmentWith('POD-AWAY', [...journey, { eventType: 'DELIVERED', custodian: 'acme-express', occurredAt: at(21), latE6: 52_547_000, lonE6: 13_404_954, accuracyM: 8, scanMethod: 'GPS' }]);
    // lost in the hub
    await shipmentWith('POD-LOST', [journey[0], journey[1], { eventType: 'LOST', custodian: 'acme-express', occurredAt: at(40) }]);
    await sealAndFinalize();
    // still in transit three days later: stale and past its promised date
    await shipmentWith('POD-STALE', [journey[0]], { promisedDeliveryAt: new Date(T0 + 24 * HOUR).toISOString() });
  });

  afterAll(async () => {
    await t?.stop();
  });

  it('serves a custody-pod/3 bundle with every event, its proof, its anchor, its state proofs and its consent; the standalone verifier pinned to the service’s trust root finds it VALID', async () => {
    const bundle = await bundleOf('POD-GOOD');
    expect(bundle.format).toBe('custody-pod/3');
    expect(bundle.events.map((e) => e.consent)).toEqual([{ kind: 'DESIGNATED', delegationId: null }, null, null, null]);
    expect(bundle.delegations).toEqual([]);
    expect(bundle.shipment).toMatchObject({ trackingNumber: 'POD-GOOD', carrier: 'acme-express', merchant: 'shop-one', destination: DOOR, status: 'DELIVERED', eventCount: 4 });
    expect(bundle.events.map((e) => e.fields.eventType)).toEqual(['PICKED_UP', 'ARRIVED_AT_FACILITY', 'OUT_FOR_DELIVERY', 'DELIVERED']);
    expect(bundle.events.every((e) => e.status === 'FINAL' && e.proof !== null && e.batchSeq === '0')).toBe(true);
    expect(bundle.events[3].evidence).toBeNull();
    expect(bundle.events[3].fields.evidenceHash).toBe(id('door photo'));
    expect(bundle.batches).toEqual([expect.objectContaining({ seq: '0', treeVersion: 2, status: 'FINAL', chainId: '31337', contractAddress: t.ledger.contractAddress, txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), blockNumber: expect.any(Number) })]);
    expect(bundle.state).toMatchObject({ seq: '0', shipment: { headLeaf: bundle.shipment.headLeaf, eventCount: 4 } });
    const trust = trustFromFlags('31337', t.ledger.contractAddress);
    const report = await verifyProofBundle(JSON.parse(JSON.stringify(bundle)), { rpcUrl: t.ledger.rpcUrl, trust });
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('VALID');
    expect(report.state).toMatchObject({ completeness: 'PROVEN', keyOwnership: 'PROVEN' });
  });

  it('has exactly the shape pinned by the custody-pod/3 test vector; asked for custody-pod/2, the shape of the /2 vector', async () => {
    const vector = JSON.parse(readFileSync(path.join(__dirname, '../vectors/custody-pod-v3.json'), 'utf8'));
    const bundle = await bundleOf('POD-GOOD');
    // this shipment relies on no delegation: a delegation's shape is the vector's own
    expect(new Set(shape({ ...bundle, delegations: vector.delegations }))).toEqual(new Set(shape(vector)));
    const v2 = (await mustGql<{ proofOfDelivery: unknown }>(t, `{ proofOfDelivery(trackingNumber: "POD-GOOD", carrier: "acme-express", format: "custody-pod/2") }`)).proofOfDelivery;
    expect(new Set(shape(v2))).toEqual(new Set(shape(JSON.parse(readFileSync(path.join(__dirname, '../vectors/custody-pod-v2.json'), 'utf8')))));
    const unknown = await t.gql(`{ proofOfDelivery(trackingNumber: "POD-GOOD", carrier: "acme-express", format: "custody-pod/9") }`);
    expect(unknown.errors?.[0].extensions).toMatchObject({ code: 'VALIDATION_FAILED', field: 'format' });
  });

  it('is downloadable as a file over HTTP, the same bundle', async () => {
    const url = t.url.replace('/graphql', '/proofs/acme-express/POD-GOOD.json');
    const auth = { authorization: `Bearer ${TEST_ADMIN_KEY}` };
    const anonymous = await fetch(url);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ errors: [{ extensions: { code: 'UNAUTHENTICATED' } }] });
    const res = await fetch(url, { headers: auth });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    const file = (await res.json()) as ProofBundle;
    const fromGraphQL = await bundleOf('POD-GOOD');
    expect({ ...file, generatedAt: null }).toEqual({ ...fromGraphQL, generatedAt: null });
    const v2 = await fetch(`${url}?format=custody-pod/2`, { headers: auth });
    expect(v2.status).toBe(200);
    expect(((await v2.json()) as { format: string }).format).toBe('custody-pod/2');
    const missing = await fetch(t.url.replace('/graphql', '/proofs/acme-express/NOPE-0001.json'), { headers: auth });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ errors: [{ extensions: { code: 'NOT_FOUND' } }] });
  });

  it('verifies bundles through GraphQL for dispute teams, naming the event and check that fail', async () => {
    const Q = `query($b: JSON!) { verifyProofBundle(bundle: $b) { verdict eventsChecked batchesChecked failures { check eventId eventIndex batchSeq message } } }`;
    const bundle = await bundleOf('POD-GOOD');
    expect((await mustGql<{ verifyProofBundle: { verdict: string; eventsChecked: number } }>(t, Q, { b: bundle })).verifyProofBundle).toMatchObject({ verdict: 'VALID', eventsChecked: 4, batchesChecked: 1 });
    bundle.events[3].fields.latE6 += 1; // move the delivery one micro-degree
    const tampered = (await mustGql<{ verifyProofBundle: { verdict: string; failures: Array<{ check: string; eventIndex: number }> } }>(t, Q, { b: bundle })).verifyProofBundle;
    expect(tampered.verdict).toBe('INVALID');
    expect(tampered.failures).toEqual(expect.arrayContaining([expect.objectContaining({ check: 'DIGEST', eventIndex: 3 }), expect.objectContaining({ check: 'SIGNATURE', eventIndex: 3 })]));
  });

  it('reports fraud findings per shipment and puts them in the bundle', async () => {
    type Report = { fraudReport: { highestSeverity: string | null; findings: Array<{ code: string; severity: string; eventIds: string[]; message: string }> } };
    const Q = `query($n: String!) { fraudReport(trackingNumber: $n, carrier: "acme-express") { highestSeverity findings { code severity eventIds message } } }`;
    const good = (await mustGql<Report>(t, Q, { n: 'POD-GOOD' })).fraudReport;
    expect(good.findings.filter((f) => f.severity === 'HIGH')).toEqual([]);
    const away = (await mustGql<Report>(t, Q, { n: 'POD-AWAY' })).fraudReport;
    expect(away.highestSeverity).toBe('HIGH');
    const bundle = await bundleOf('POD-AWAY');
    const delivered = bundle.events[3].eventId;
    expect(away.findings).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'DELIVERY_OUTSIDE_GEOFENCE', severity: 'HIGH', eventIds: [delivered] })]));
    expect(bundle.findings).toEqual(expect.arrayContaining([expect.objectContaining({ code: 'DELIVERY_OUTSIDE_GEOFENCE', eventIds: [delivered] })]));
  });

  it('lists incidents across shipments, stale and late ones included, filterable', async () => {
    type Incidents = { incidents: Array<{ trackingNumber: string; finding: { code: string; severity: string } }> };
    const all = (await mustGql<Incidents>(t, `{ incidents { trackingNumber finding { code severity } } }`)).incidents;
    const codes = (n: string) => all.filter((i) => i.trackingNumber === n).map((i) => i.finding.code);
    expect(codes('POD-STALE')).toEqual(expect.arrayContaining(['STALE_SHIPMENT', 'LATE_SHIPMENT']));
    expect(codes('POD-AWAY')).toContain('DELIVERY_OUTSIDE_GEOFENCE');
    const high = (await mustGql<Incidents>(t, `{ incidents(filter: { minSeverity: HIGH }) { trackingNumber finding { code severity } } }`)).incidents;
    expect(high.length).toBeGreaterThan(0);
    expect(high.every((i) => i.finding.severity === 'HIGH')).toBe(true);
    const stale = (await mustGql<Incidents>(t, `{ incidents(filter: { codes: ["STALE_SHIPMENT"], staleAfterHours: 24 }) { trackingNumber finding { code } } }`)).incidents;
    expect(stale.map((i) => i.trackingNumber)).toEqual(['POD-STALE']);
  });

  it('gives each dispute a verdict a person can read, and records how it ended', async () => {
    const proven = await openDispute('POD-GOOD', 'NOT_RECEIVED');
    expect(proven.verdict).toBe('DELIVERY_PROVEN');
    expect(proven.reasons.join('\n')).toMatch(/delivered \d+ m from the destination \(geofence 150 m, GPS accuracy 8 m\): inside/);
    const contradicted = await openDispute('POD-AWAY', 'WRONG_LOCATION');
    expect(contradicted.verdict).toBe('DELIVERY_CONTRADICTED');
    expect(contradicted.reasons[0]).toContain('DELIVERY_OUTSIDE_GEOFENCE');
    const lost = await openDispute('POD-LOST', 'NOT_RECEIVED');
    expect(lost.verdict).toBe('DELIVERY_CONTRADICTED');
    expect(lost.reasons[0]).toBe('no delivery is recorded and the shipment is LOST');
    // the delivery exists but is not anchored yet: not provable yet
    await record(t, [await sign('POD-STALE', { eventType: 'OUT_FOR_DELIVERY', custodian: 'acme-express', occurredAt: at(90) }), await sign('POD-STALE', { eventType: 'DELIVERED', custodian: 'acme-express', occurredAt: at(91), ...DOOR, radiusM: undefined, accuracyM: 5 } as never)]);
    const pending = await openDispute('POD-STALE', 'LATE');
    expect(pending.verdict).toBe('INCONCLUSIVE');
    expect(pending.reasons).toEqual(expect.arrayContaining(['the delivery event is PENDING, not yet FINAL on chain', expect.stringMatching(/^promised for .*, delivered \d+ h late$/)]));

    const resolved = (await mustGql<{ resolveDispute: DisputeView }>(t, `mutation($id: ID!) { resolveDispute(id: $id, outcome: CLAIM_REJECTED, note: "photo and GPS at the door") { status outcome } }`, { id: proven.id })).resolveDispute;
    expect(resolved).toEqual({ status: 'RESOLVED', outcome: 'CLAIM_REJECTED' });
    const again = await t.gql(`mutation($id: ID!) { resolveDispute(id: $id, outcome: CLAIM_ACCEPTED, note: "changed my mind") { status } }`, { id: proven.id });
    expect(again.errors?.[0].extensions?.code).toBe('ALREADY_EXISTS');
    const open = (await mustGql<{ disputes: { edges: Array<{ node: { trackingNumber: string; verdict: string } }> } }>(t, `{ disputes(filter: { status: OPEN }) { edges { node { trackingNumber verdict } } } }`)).disputes.edges.map((e) => e.node);
    expect(open).toEqual([
      { trackingNumber: 'POD-AWAY', verdict: 'DELIVERY_CONTRADICTED' },
      { trackingNumber: 'POD-LOST', verdict: 'DELIVERY_CONTRADICTED' },
      { trackingNumber: 'POD-STALE', verdict: 'INCONCLUSIVE' },
    ]);
    const snapshot = (await mustGql<{ dispute: { bundle: ProofBundle; verification: { verdict: string } } }>(t, `query($id: ID!) { dispute(id: $id) { bundle verification } }`, { id: proven.id })).dispute;
    expect(snapshot.bundle.format).toBe('custody-pod/3');
    expect(snapshot.verification.verdict).toBe('VALID');
  });

  it('needs the API key to open a dispute, and stores nothing without it', async () => {
    const before = await t.fingerprint();
    const res = await t.gql(`mutation { openDispute(trackingNumber: "POD-GOOD", carrier: "acme-express", claim: OTHER) { id } }`, {}, false);
    expect(res.errors?.[0].extensions?.code).toBe('UNAUTHENTICATED');
    expect(await t.fingerprint()).toEqual(before);
    expect(shop.address).toMatch(/^0x/);
  });
});
