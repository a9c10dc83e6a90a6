import { AbiCoder, Signature, TypedDataEncoder, concat, keccak256, type Wallet } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import { sqlRows } from '../../src/database/data-source';
import { CUSTODY_EVENT_TYPES, ZERO_HASH, type CustodyEventFields, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { startTestLedger, type GraphQLResponse, type TestLedger } from '../support/test-ledger';
import {
  RECORD,
  createShipment,
  eventFields,
  fetchDomain,
  mustGql,
  newEventId,
  newWallet,
  record,
  registerKey,
  registerOrganization,
  signEvent,
  type RecordResult,
  type SignedEventInput,
} from '../support/factories';

/**
 * Every ingestion rule of recordCustodyEvents, over HTTP, with the exact error code (and field),
 * and proof that a rejection stores nothing: the fingerprint of every ledger table is taken
 * before and compared after each one.
 *
 * The fixtures follow the custody continuity rules (src/custody/custody-rules.ts): the shipment
 * RULES-0001 is picked up by the carrier and handed to the hub in beforeAll, so the hub holds it
 * and may sign the ARRIVED_AT_FACILITY scans the tests send; handoffs go to shipments the carrier
 * holds (carrierHeld()), so that each event would be accepted but for the one thing under test.
 * The custody rules themselves are tested in custody-rules.e2e.spec.ts.
 */

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const LEAF_TYPES = ['bytes32', 'bytes32', 'bytes32'];
const HOUR = 3_600_000;
const CARRIER = 'acme-rules';
const HUB = 'hub-rules';
const MERCHANT = 'shop-rules';
const OUTSIDER = 'outsider-hub';
const TRACKING = 'RULES-0001';

describe('recordCustodyEvents ingestion rules, request errors, idempotency and admin mutations', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let carrierKey: Wallet;
  let hubKey: Wallet;
  let outsiderKey: Wallet;
  let revokedKey: Wallet;
  let futureKey: Wallet;
  let revokedAt: number;

  const base = (overrides: Partial<CustodyEventFields> = {}): CustodyEventFields =>
    eventFields({ trackingNumber: TRACKING, carrier: CARRIER, eventType: 'ARRIVED_AT_FACILITY', custodian: HUB, ...overrides });

  /** A valid event: an ARRIVED_AT_FACILITY naming the hub, which holds the parcel, signed by the hub. */
  const goodEvent = (overrides: Partial<CustodyEventFields> = {}, signer: Wallet = hubKey, counterSigner?: Wallet): Promise<SignedEventInput> =>
    signEvent(domain, signer, base(overrides), counterSigner);

  let heldCount = 0;
  /** A new shipment of the merchant that the carrier picked up two hours ago: the carrier holds it. */
  const carrierHeld = async (): Promise<string> => {
    const trackingNumber = `RULES-H-${String(++heldCount).padStart(3, '0')}`;
    await createShipment(t, trackingNumber, CARRIER, MERCHANT);
    const [r] = await record(t, [await signEvent(domain, carrierKey, eventFields({ trackingNumber, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: BigInt(Date.now() - 2 * HOUR) }))]);
    expect(r.outcome).toBe('ACCEPTED');
    return trackingNumber;
  };

  /** A HANDOFF from the carrier to the hub, signed by the hub (receiving), on a shipment the carrier holds. */
  const handoff = async (signer: Wallet = hubKey, counterSigner?: Wallet): Promise<SignedEventInput> =>
    goodEvent({ eventType: 'HANDOFF', trackingNumber: await carrierHeld() }, signer, counterSigner);

  const count = async (table: string): Promise<number> => {
    const [row] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM ${table}`);
    return row.n;
  };

  /** Records one event, expects exactly this rejection, and that not one row changed. */
  async function expectRejected(event: SignedEventInput, code: string, field: string | null): Promise<RecordResult> {
    const before = await t.fingerprint();
    const results = await record(t, [event]);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({ index: 0, outcome: 'REJECTED', receipt: null, error: { code, field } });
    expect(results[0].error!.message.length).toBeGreaterThan(0);
    expect(await t.fingerprint()).toEqual(before);
    return results[0];
  }

  /** Runs an operation that must fail as a whole with this GraphQL error code, storing nothing. */
  async function expectGqlError(query: string, variables: Record<string, unknown> | undefined, codes: string[], field?: string, auth: boolean | string = true): Promise<GraphQLResponse> {
    const before = await t.fingerprint();
    const res = await t.gql(query, variables, auth);
    expect(res.errors?.length).toBeGreaterThan(0);
    expect(codes).toContain(res.errors![0].extensions?.code);
    if (field !== undefined) expect(res.errors![0].extensions?.field).toBe(field);
    expect(res.data ?? null).toBeNull();
    expect(await t.fingerprint()).toEqual(before);
    return res;
  }

  beforeAll(async () => {
    t = await startTestLedger({ MAX_EVENTS_PER_CALL: '600' });
    domain = await fetchDomain(t);
    await registerOrganization(t, CARRIER, 'CARRIER', 'ACME Rules Express');
    await registerOrganization(t, HUB, 'HUB', 'Rules Hub');
    await registerOrganization(t, MERCHANT, 'MERCHANT', 'Rules Shop');
    await registerOrganization(t, OUTSIDER, 'HUB', 'Somebody Else');
    carrierKey = await registerKey(t, CARRIER);
    hubKey = await registerKey(t, HUB);
    outsiderKey = await registerKey(t, OUTSIDER);
    revokedKey = await registerKey(t, HUB);
    futureKey = await registerKey(t, HUB, newWallet(), new Date(Date.now() + HOUR));
    revokedAt = Date.now() - HOUR;
    await mustGql(t, `mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address } }`, {
      i: { address: revokedKey.address, reason: 'device stolen', revokedAt: new Date(revokedAt).toISOString() },
    });
    await createShipment(t, TRACKING, CARRIER, MERCHANT);
    // custody: the carrier picks the parcel up from the merchant, then hands it to the hub, which
    // holds it from then on (before the revocation above, so the revoked key's earlier events fit)
    const established = await record(t, [
      await signEvent(domain, carrierKey, eventFields({ trackingNumber: TRACKING, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: BigInt(Date.now() - 3 * HOUR) })),
      await signEvent(domain, hubKey, eventFields({ trackingNumber: TRACKING, carrier: CARRIER, eventType: 'HANDOFF', custodian: HUB, occurredAt: BigInt(Date.now() - 2 * HOUR) }), carrierKey),
    ]);
    expect(established.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
  });

  afterAll(async () => {
    await t?.stop();
  });

  describe('rejects a single event and stores nothing', () => {
    it('rejects a signature of the wrong length as INVALID_SIGNATURE', async () => {
      const event = await goodEvent();
      await expectRejected({ ...event, signature: event.signature.slice(0, -2) }, 'INVALID_SIGNATURE', 'signature');
      await expectRejected({ ...event, signature: event.signature + '00' }, 'INVALID_SIGNATURE', 'signature');
    });

    it('rejects the high-s twin of a valid signature as INVALID_SIGNATURE', async () => {
      const event = await goodEvent();
      const sig = Signature.from(event.signature);
      const highS = SECP256K1_N - BigInt(sig.s);
      const twin = sig.r + highS.toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
      expect(twin).toHaveLength(132);
      expect(highS > SECP256K1_N / 2n).toBe(true);
      await expectRejected({ ...event, signature: twin }, 'INVALID_SIGNATURE', 'signature');
      // the canonical original is accepted
      const [ok] = await record(t, [event]);
      expect(ok.outcome).toBe('ACCEPTED');
    });

    const otherSigners: Array<{ what: string; make: () => Promise<SignedEventInput> }> = [
      {
        what: 'an event whose signed field was changed after signing',
        make: async () => ({ ...(await goodEvent()), locationCode: 'DE-BER-TAMPERED' }),
      },
      { what: 'an event signed by an unregistered key', make: () => goodEvent({}, newWallet()) },
      {
        what: "an event signed for another deployment's domain (another chainId)",
        make: () => signEvent({ ...domain, chainId: domain.chainId + 1n }, hubKey, base()),
      },
      {
        what: "an event signed for another deployment's domain (another verifyingContract)",
        make: () => signEvent({ ...domain, verifyingContract: newWallet().address }, hubKey, base()),
      },
    ];
    it.each(otherSigners)('rejects $what as UNKNOWN_SIGNER', async ({ make }) => {
      await expectRejected(await make(), 'UNKNOWN_SIGNER', 'signature');
    });

    it('rejects an event signed by a revoked key, but accepts one of the same key that occurred before the revocation', async () => {
      await expectRejected(await goodEvent({ occurredAt: BigInt(Date.now() - 60_000) }, revokedKey), 'SIGNER_REVOKED', 'signature');
      await expectRejected(await goodEvent({ occurredAt: BigInt(revokedAt) }, revokedKey), 'SIGNER_REVOKED', 'signature');
      const before = await count('custody_events');
      const earlier = await goodEvent({ occurredAt: BigInt(revokedAt - 60_000) }, revokedKey);
      const [r] = await record(t, [earlier]);
      expect(r.outcome).toBe('ACCEPTED');
      expect(r.receipt!.eventId).toBe(earlier.eventId);
      expect(await count('custody_events')).toBe(before + 1);
    });

    it('rejects an event that occurred before its key became valid as SIGNER_NOT_YET_VALID', async () => {
      await expectRejected(await goodEvent({}, futureKey), 'SIGNER_NOT_YET_VALID', 'signature');
    });

    it('rejects an event signed by an organization that does not hold the parcel (a custody continuity break) as SIGNER_NOT_AUTHORIZED', async () => {
      await expectRejected(await goodEvent({}, outsiderKey), 'SIGNER_NOT_AUTHORIZED', 'signature');
    });

    it('rejects an event for an unknown shipment as UNKNOWN_SHIPMENT', async () => {
      await expectRejected(await goodEvent({ trackingNumber: 'NO-SUCH-PARCEL' }), 'UNKNOWN_SHIPMENT', 'trackingNumber');
    });

    it.each([
      { what: 'an unknown carrier slug', carrier: 'no-such-carrier' },
      { what: 'a carrier slug of an organization that is not a CARRIER', carrier: HUB },
    ])('rejects $what as UNKNOWN_CARRIER', async ({ carrier }) => {
      await expectRejected(await goodEvent({ carrier }), 'UNKNOWN_CARRIER', 'carrier');
    });

    it('rejects an unknown custodian as UNKNOWN_CUSTODIAN', async () => {
      await expectRejected(await goodEvent({ custodian: 'no-such-hub' }, carrierKey), 'UNKNOWN_CUSTODIAN', 'custodian');
    });

    const malformed: Array<{ what: string; field: string; patch: Record<string, unknown> }> = [
      { what: 'an eventId shorter than 32 bytes', field: 'eventId', patch: { eventId: '0x' + 'ab'.repeat(31) } },
      { what: 'an eventType not in the event table', field: 'eventType', patch: { eventType: 'TELEPORTED' } },
      { what: 'an unknown scanMethod', field: 'scanMethod', patch: { scanMethod: 'LASER' } },
      { what: 'a latE6 above 90°', field: 'latE6', patch: { latE6: 90_000_001 } },
      { what: 'a latE6 below -90°', field: 'latE6', patch: { latE6: -90_000_001 } },
      { what: 'a lonE6 above 180°', field: 'lonE6', patch: { lonE6: 180_000_001 } },
      { what: 'a lonE6 below -180°', field: 'lonE6', patch: { lonE6: -180_000_001 } },
      { what: 'a negative accuracyM', field: 'accuracyM', patch: { accuracyM: -1 } },
      { what: 'a fractional accuracyM', field: 'accuracyM', patch: { accuracyM: 1.5 } },
      { what: 'an evidenceHash of 31 bytes', field: 'evidenceHash', patch: { evidenceHash: '0x' + '11'.repeat(31) } },
      { what: 'an evidenceHash of 33 bytes', field: 'evidenceHash', patch: { evidenceHash: '0x' + '11'.repeat(33) } },
      { what: 'a dataHash that is not hex', field: 'dataHash', patch: { dataHash: '0x' + 'zz'.repeat(32) } },
      { what: 'a trackingNumber with spaces', field: 'trackingNumber', patch: { trackingNumber: 'RULES 0001' } },
      { what: 'a custodian slug with upper case', field: 'custodian', patch: { custodian: 'Hub-Rules' } },
      { what: 'a locationCode longer than 128 characters', field: 'locationCode', patch: { locationCode: 'L'.repeat(129) } },
    ];
    it.each(malformed)('rejects $what as INVALID_FIELD on $field', async ({ field, patch }) => {
      // signed over the malformed value where EIP-712 can encode it, so the signature itself is sound
      let event: SignedEventInput;
      try {
        event = await signEvent(domain, hubKey, { ...base(), ...patch } as CustodyEventFields);
      } catch {
        event = { ...(await goodEvent()), ...patch } as SignedEventInput;
      }
      await expectRejected(event, 'INVALID_FIELD', field);
    });

    it('rejects an event that occurred further in the future than the allowed clock skew as OCCURRED_IN_FUTURE', async () => {
      const skew = t.ledger.runtime.config.maxClockSkewMs;
      await expectRejected(await goodEvent({ occurredAt: BigInt(Date.now() + skew + 60_000) }), 'OCCURRED_IN_FUTURE', 'occurredAt');
    });

    const badCounters: Array<{ what: string; make: () => Promise<SignedEventInput> }> = [
      { what: 'a counterSignature from an unregistered key', make: () => handoff(hubKey, newWallet()) },
      { what: 'a counterSignature by the signer itself', make: () => handoff(hubKey, hubKey) },
      {
        what: 'a malformed counterSignature',
        make: async () => ({ ...(await handoff(hubKey, carrierKey)), counterSignature: '0x1234' }),
      },
      {
        what: 'a high-s counterSignature',
        make: async () => {
          const event = await handoff(hubKey, carrierKey);
          const sig = Signature.from(event.counterSignature!);
          return { ...event, counterSignature: sig.r + (SECP256K1_N - BigInt(sig.s)).toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b') };
        },
      },
      { what: 'a counterSignature by a revoked key', make: () => handoff(hubKey, revokedKey) },
    ];
    it.each(badCounters)('rejects $what as INVALID_COUNTER_SIGNATURE', async ({ make }) => {
      await expectRejected(await make(), 'INVALID_COUNTER_SIGNATURE', 'counterSignature');
    });

    it('accepts a handoff counter-signed by the releasing carrier', async () => {
      const event = await handoff(hubKey, carrierKey);
      const [r] = await record(t, [event]);
      expect(r.outcome).toBe('ACCEPTED');
    });
  });

  describe('request-level errors store nothing', () => {
    it('refuses a mutation without an Authorization header as UNAUTHENTICATED', async () => {
      await expectGqlError(RECORD, { events: [await goodEvent()] }, ['UNAUTHENTICATED'], undefined, false);
    });

    it('refuses a mutation with a wrong API key as UNAUTHENTICATED', async () => {
      await expectGqlError(RECORD, { events: [await goodEvent()] }, ['UNAUTHENTICATED'], undefined, 'wrong-key-0123456789abcdef0123456789abcdef');
    });

    it('refuses more than MAX_EVENTS_PER_CALL events in one call as TOO_MANY_EVENTS', async () => {
      const first = await goodEvent();
      const events = [first, ...Array.from({ length: 600 }, () => ({ ...first, eventId: newEventId() }))];
      expect(events).toHaveLength(601);
      await expectGqlError(RECORD, { events }, ['TOO_MANY_EVENTS']);
    });

    const typeErrors: Array<{ what: string; patch: Record<string, unknown> }> = [
      { what: 'latE6 as a string', patch: { latE6: '52520008' } },
      { what: 'occurredAt "abc"', patch: { occurredAt: 'abc' } },
      { what: 'occurredAt beyond uint64', patch: { occurredAt: '18446744073709551616' } },
      { what: 'occurredAt negative', patch: { occurredAt: '-1' } },
    ];
    it.each(typeErrors)('refuses $what as a GraphQL input error', async ({ patch }) => {
      const event = { ...(await goodEvent()), ...patch };
      await expectGqlError(RECORD, { events: [event] }, ['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED']);
    });

    it('refuses latE6 as a string literal in the query document', async () => {
      const e = await goodEvent();
      const literal = `mutation { recordCustodyEvents(events: [{ eventId: "${e.eventId}", trackingNumber: "${e.trackingNumber}", carrier: "${e.carrier}",
        eventType: "${e.eventType}", custodian: "${e.custodian}", occurredAt: "${e.occurredAt}", latE6: "${e.latE6}", lonE6: ${e.lonE6},
        accuracyM: ${e.accuracyM}, locationCode: "", scanMethod: "${e.scanMethod}", evidenceHash: "${e.evidenceHash}", dataHash: "${e.dataHash}",
        signature: "${e.signature}" }]) { outcome } }`;
      await expectGqlError(literal, undefined, ['BAD_USER_INPUT', 'GRAPHQL_VALIDATION_FAILED']);
    });
  });

  describe('a mixed call', () => {
    it('stores the good event and rejects the bad one, each on its own', async () => {
      const eventsBefore = await count('custody_events');
      const good = await goodEvent();
      const bad = await goodEvent({}, newWallet());
      const results = await record(t, [good, bad]);
      expect(results.map((r) => [r.index, r.outcome])).toEqual([
        [0, 'ACCEPTED'],
        [1, 'REJECTED'],
      ]);
      expect(results[0].receipt!.eventId).toBe(good.eventId);
      expect(results[0].error).toBeNull();
      expect(results[1].eventId).toBe(bad.eventId);
      expect(results[1].error).toMatchObject({ code: 'UNKNOWN_SIGNER', field: 'signature' });
      expect(await count('custody_events')).toBe(eventsBefore + 1);
      const stored = await mustGql<{ custodyEvent: { eventId: string; digest: string; leaf: string } }>(t, `query($id: String!) { custodyEvent(eventId: $id) { eventId digest leaf } }`, { id: good.eventId });
      expect(stored.custodyEvent).toEqual({ eventId: good.eventId, digest: results[0].receipt!.digest, leaf: results[0].receipt!.leaf });
      await expectGqlError(`query($id: String!) { custodyEvent(eventId: $id) { eventId } }`, { id: bad.eventId }, ['NOT_FOUND'], 'eventId');
    });
  });

  describe('idempotency', () => {
    it('answers a resubmitted accepted event with DUPLICATE and the identical receipt, changing nothing', async () => {
      const event = await goodEvent();
      const [first] = await record(t, [event]);
      expect(first.outcome).toBe('ACCEPTED');
      const before = await t.fingerprint();
      const [again] = await record(t, [event]);
      expect(again.outcome).toBe('DUPLICATE');
      expect(again.error).toBeNull();
      expect(again.receipt).toEqual(first.receipt);
      // the eventId is case-insensitive hex: the upper-case spelling is the same event
      const [upper] = await record(t, [{ ...event, eventId: '0x' + event.eventId.slice(2).toUpperCase() }]);
      expect(upper.outcome).toBe('DUPLICATE');
      expect(upper.receipt).toEqual(first.receipt);
      expect(await t.fingerprint()).toEqual(before);
    });

    it('accepts the same event twice in one call once, then answers DUPLICATE, storing one row', async () => {
      const eventsBefore = await count('custody_events');
      const event = await goodEvent();
      const results = await record(t, [event, event]);
      expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'DUPLICATE']);
      expect(results[1].receipt).toEqual(results[0].receipt);
      expect(await count('custody_events')).toBe(eventsBefore + 1);
    });

    it('rejects the same eventId with different content as EVENT_ID_CONFLICT', async () => {
      const fields = base();
      const [first] = await record(t, [await signEvent(domain, hubKey, fields)]);
      expect(first.outcome).toBe('ACCEPTED');
      const resigned = await signEvent(domain, hubKey, { ...fields, occurredAt: fields.occurredAt + 1000n });
      await expectRejected(resigned, 'EVENT_ID_CONFLICT', 'eventId');
    });

    it('rejects the same eventId twice in one call with different content: the first is accepted, the second conflicts', async () => {
      const eventsBefore = await count('custody_events');
      const fields = base();
      const results = await record(t, [await signEvent(domain, hubKey, fields), await signEvent(domain, hubKey, { ...fields, accuracyM: 99 })]);
      expect(results.map((r) => r.outcome)).toEqual(['ACCEPTED', 'REJECTED']);
      expect(results[1].error).toMatchObject({ code: 'EVENT_ID_CONFLICT', field: 'eventId' });
      expect(await count('custody_events')).toBe(eventsBefore + 1);
    });

    it('rejects the same event with an added counter-signature as EVENT_ID_CONFLICT', async () => {
      const fields = base({ eventType: 'HANDOFF', trackingNumber: await carrierHeld() });
      const [first] = await record(t, [await signEvent(domain, carrierKey, fields)]);
      expect(first.outcome).toBe('ACCEPTED');
      await expectRejected(await signEvent(domain, carrierKey, fields, hubKey), 'EVENT_ID_CONFLICT', 'eventId');
    });
  });

  describe('admin mutations and lookups', () => {
    const REGISTER_ORG = `mutation($i: RegisterOrganizationInput!) { registerOrganization(input: $i) { id } }`;
    const CREATE_SHIPMENT = `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`;
    const REGISTER_KEY = `mutation($i: RegisterSigningKeyInput!) { registerSigningKey(input: $i) { address } }`;
    const REVOKE_KEY = `mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address } }`;

    it('refuses registerOrganization with a slug in use as ALREADY_EXISTS', async () => {
      await expectGqlError(REGISTER_ORG, { i: { slug: HUB, name: 'Another Hub', kind: 'HUB' } }, ['ALREADY_EXISTS'], 'slug');
    });

    it.each(['Upper-Case', 'a', '-leading', 'trailing-', 'with space', 'x'.repeat(65)])('refuses registerOrganization with the invalid slug %p as VALIDATION_FAILED', async (slug) => {
      await expectGqlError(REGISTER_ORG, { i: { slug, name: 'Whoever', kind: 'HUB' } }, ['VALIDATION_FAILED'], 'slug');
    });

    it('refuses a duplicate createShipment as ALREADY_EXISTS', async () => {
      await expectGqlError(CREATE_SHIPMENT, { i: { trackingNumber: TRACKING, carrier: CARRIER } }, ['ALREADY_EXISTS'], 'trackingNumber');
    });

    it('refuses createShipment with an unknown carrier as NOT_FOUND', async () => {
      await expectGqlError(CREATE_SHIPMENT, { i: { trackingNumber: 'RULES-0002', carrier: 'no-such-carrier' } }, ['NOT_FOUND'], 'carrier');
    });

    it('refuses registering the same signing key twice as ALREADY_EXISTS, also for another organization', async () => {
      const wallet = await registerKey(t, HUB);
      await expectGqlError(REGISTER_KEY, { i: { organization: HUB, address: wallet.address, label: 'again' } }, ['ALREADY_EXISTS'], 'address');
      await expectGqlError(REGISTER_KEY, { i: { organization: CARRIER, address: wallet.address.toLowerCase(), label: 'stolen' } }, ['ALREADY_EXISTS'], 'address');
    });

    it('refuses registering a revoked key again as ALREADY_EXISTS: the revocation stays', async () => {
      await expectGqlError(REGISTER_KEY, { i: { organization: HUB, address: revokedKey.address, label: 'found again' } }, ['ALREADY_EXISTS'], 'address');
      await expectRejected(await goodEvent({}, revokedKey), 'SIGNER_REVOKED', 'signature');
    });

    it('refuses revoking a revoked key as KEY_ALREADY_REVOKED', async () => {
      const wallet = await registerKey(t, HUB);
      await mustGql(t, REVOKE_KEY, { i: { address: wallet.address, reason: 'retired' } });
      await expectGqlError(REVOKE_KEY, { i: { address: wallet.address, reason: 'retired again' } }, ['KEY_ALREADY_REVOKED'], 'address');
    });

    it.each([
      { what: 'custodyEvent of an unknown id', query: `query($id: String!) { custodyEvent(eventId: $id) { eventId } }` },
      { what: 'inclusionProof of an unknown id', query: `query($id: String!) { inclusionProof(eventId: $id) { eventId } }` },
    ])('answers $what with NOT_FOUND', async ({ query }) => {
      await expectGqlError(query, { id: newEventId() }, ['NOT_FOUND'], 'eventId');
      await expectGqlError(query, { id: 'not-an-event-id' }, ['NOT_FOUND'], 'eventId');
    });
  });

  // last: it seals, and the anchorer then works on the batch in the background
  describe('a batch of 500 events for 10 shipments in one call', () => {
    it('accepts all 500, chains each shipment in input order, and seals them into one batch whose proofs verify', async () => {
      const shipments = Array.from({ length: 10 }, (_, i) => `BATCH-${String(i).padStart(4, '0')}`);
      for (const n of shipments) await createShipment(t, n, CARRIER, MERCHANT);
      // whatever earlier tests left pending goes into a batch of its own first
      await mustGql(t, `mutation { sealBatch { seq } }`);
      expect((await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(*)::int AS n FROM custody_events WHERE batch_seq IS NULL`))[0].n).toBe(0);

      const t0 = Date.now() - 10 * HOUR;
      const events: SignedEventInput[] = [];
      // per shipment: PICKED_UP by the carrier, then custody passes carrier → hub → carrier … every
      // fifth event (a HANDOFF signed by the receiving party, counter-signed by the releasing one); the scans in between are signed by the holder
      const holdsHub = new Map<string, boolean>();
      for (let i = 0; i < 500; i++) {
        const trackingNumber = shipments[i % 10];
        const j = Math.floor(i / 10);
        let eventType: string;
        if (j === 0) {
          eventType = 'PICKED_UP';
          holdsHub.set(trackingNumber, false);
        } else if (j % 5 === 0) {
          eventType = 'HANDOFF';
          holdsHub.set(trackingNumber, !holdsHub.get(trackingNumber));
        } else {
          eventType = j % 2 ? 'ARRIVED_AT_FACILITY' : 'DEPARTED_FACILITY';
        }
        const hub = holdsHub.get(trackingNumber)!;
        events.push(
          await signEvent(
            domain,
            hub ? hubKey : carrierKey,
            eventFields({ trackingNumber, carrier: CARRIER, eventType, custodian: hub ? HUB : CARRIER, occurredAt: BigInt(t0 + i * 1000), locationCode: `HUB-${i}` }),
            // the releasing party counter-signs: its consent to the transfer
            eventType === 'HANDOFF' ? (hub ? carrierKey : hubKey) : undefined,
          ),
        );
      }
      const eventsBefore = await count('custody_events');
      const started = Date.now();
      const results = await record(t, events);
      const took = Date.now() - started;
      expect(results).toHaveLength(500);
      expect(results.filter((r) => r.outcome !== 'ACCEPTED')).toEqual([]);
      expect(results.map((r) => r.index)).toEqual(events.map((_, i) => i));
      expect(await count('custody_events')).toBe(eventsBefore + 500);

      const abi = AbiCoder.defaultAbiCoder();
      const head = new Map<string, string>();
      for (const [i, r] of results.entries()) {
        const e = events[i];
        const digest = TypedDataEncoder.hash(domain, CUSTODY_EVENT_TYPES, { ...e, occurredAt: BigInt(e.occurredAt) });
        const sigHash = keccak256(concat([e.signature, e.counterSignature ?? '0x']));
        const previousLeaf = head.get(e.trackingNumber) ?? ZERO_HASH;
        expect(r.receipt).toMatchObject({ eventId: e.eventId, digest, previousLeaf, status: 'PENDING' });
        expect(r.receipt!.leaf).toBe(keccak256(keccak256(abi.encode(LEAF_TYPES, [digest, sigHash, previousLeaf]))));
        head.set(e.trackingNumber, r.receipt!.leaf);
      }
      const heads = await sqlRows<{ tracking_number: string; head_leaf: string; event_count: number }>(
        t.ledger.runtime.dataSource,
        `SELECT tracking_number, head_leaf, event_count FROM shipments WHERE tracking_number = ANY($1::text[])`,
        [shipments],
      );
      expect(heads).toHaveLength(10);
      for (const s of heads) {
        expect(s.event_count).toBe(50);
        expect(s.head_leaf).toBe(head.get(s.tracking_number));
      }

      const { sealBatch } = await mustGql<{ sealBatch: { seq: string; root: string; leafCount: number } }>(t, `mutation { sealBatch { seq root leafCount } }`);
      expect(sealBatch.leafCount).toBe(500);
      const [{ n: proofs }] = await sqlRows<{ n: number }>(t.ledger.runtime.dataSource, `SELECT count(DISTINCT leaf_index)::int AS n FROM custody_events WHERE batch_seq = $1`, [sealBatch.seq]); // one leaf index each (proofs derive from the batch's stored tree)
      expect(proofs).toBe(500);

      const sample = Array.from({ length: 20 }, (_, k) => Math.floor((k * 499) / 19));
      const leafIndexes = new Set<number>();
      for (const i of sample) {
        const { inclusionProof: p } = await mustGql<{
          inclusionProof: { eventId: string; digest: string; signaturesHash: string; previousLeaf: string; leaf: string; proof: string[]; leafIndex: number; batchSeq: string; root: string };
        }>(t, `query($id: String!) { inclusionProof(eventId: $id) { eventId digest signaturesHash previousLeaf leaf proof leafIndex batchSeq root } }`, { id: events[i].eventId });
        expect(p.batchSeq).toBe(sealBatch.seq);
        expect(p.root).toBe(sealBatch.root);
        expect(p.leaf).toBe(results[i].receipt!.leaf);
        expect(p.previousLeaf).toBe(results[i].receipt!.previousLeaf);
        expect(StandardMerkleTree.verify(p.root, LEAF_TYPES, [p.digest, p.signaturesHash, p.previousLeaf], p.proof)).toBe(true);
        // and not for another event's values
        const j = (i + 1) % 500;
        expect(StandardMerkleTree.verify(p.root, LEAF_TYPES, [results[j].receipt!.digest, p.signaturesHash, p.previousLeaf], p.proof)).toBe(false);
        leafIndexes.add(p.leafIndex);
      }
      expect(leafIndexes.size).toBe(sample.length);
      // one call of 500 events is a bulk operation, not 500 round trips
      expect(took).toBeLessThan(30_000);
    });
  });
});
