import { hexlify, randomBytes, type Wallet } from 'ethers';
import { canonicalJson, dataHashOf } from '../../src/custody/extra-data';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';
import { CUSTODY_DELEGATION_TYPES, type DelegationFields } from '../../src/signing/delegation-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent, type RecordResult, currentCustodian, delegationInput } from '../support/factories';

/**
 * Issue 9: custody moves only with the holder's consent. Every attack here was accepted before:
 * a stranger naming itself custodian, a forged, expired, revoked or misdirected delegation, a
 * transfer counter-signed by the wrong party. Each must be refused with its own code, leaving
 * every ledger table as it was; the consented transfers next to them must be accepted.
 */

const HOUR = 3_600_000;
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const CARRIER = 'acme-cs';
const RIVAL = 'rival-cs';
const HUB = 'hub-cs';
const HUB2 = 'hub2-cs';
const MERCHANT = 'shop-cs';

const REGISTER_DELEGATION = `mutation($i: RegisterDelegationInput!) { registerDelegation(input: $i) { delegationId delegator delegate carrier trackingNumber validFrom validUntil signer digest revokedAt } }`;
const REVOKE_DELEGATION = `mutation($i: RevokeDelegationInput!) { revokeDelegation(input: $i) { delegationId revokedAt revocationReason } }`;

describe('custody moves only with the holder consent (issue 9)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  const keys: Record<string, Wallet> = {};
  let rivalApiKey: string;
  let hubApiKey: string;
  let carrierApiKey: string;
  let n = 0;

  async function apiKey(organization: string, role: string): Promise<string> {
    const res = await mustGql<{ createApiKey: { key: string } }>(t, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization, role, label: `${organization} test` } });
    return res.createApiKey.key;
  }

  /** A shipment of the carrier, picked up by it at T0 + 1 h. */
  async function pickedUp(): Promise<string> {
    const tracking = `CS-${++n}-${hexlify(randomBytes(3)).slice(2)}`;
    await createShipment(t, tracking, CARRIER, MERCHANT);
    const res = await record(t, [
      await signEvent(domain, keys[CARRIER], eventFields({ trackingNumber: tracking, carrier: CARRIER, eventType: 'LABEL_CREATED', custodian: CARRIER, occurredAt: at(0.5) })),
      await signEvent(domain, keys[CARRIER], eventFields({ trackingNumber: tracking, carrier: CARRIER, eventType: 'PICKED_UP', custodian: CARRIER, occurredAt: at(1) })),
    ]);
    expect(res.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
    return tracking;
  }

  async function transfer(tracking: string, to: string, signer: Wallet, opts: { counter?: Wallet; hours?: number; type?: string; auth?: string | boolean } = {}): Promise<RecordResult> {
    const fields = eventFields({ trackingNumber: tracking, carrier: CARRIER, eventType: opts.type ?? 'HANDOFF', custodian: to, occurredAt: at(opts.hours ?? 3) });
    const [r] = await record(t, [await signEvent(domain, signer, fields, opts.counter)], opts.auth ?? true);
    return r;
  }

  const custodian = (tracking: string): Promise<string | null> => currentCustodian(t, tracking, CARRIER);

  function delegation(overrides: Partial<DelegationFields> = {}): DelegationFields {
    return { delegationId: hexlify(randomBytes(32)), delegator: CARRIER, delegate: HUB, carrier: CARRIER, trackingNumber: '', validFrom: at(0), validUntil: at(24), ...overrides };
  }

  async function registerDelegation(d: DelegationFields, signer: Wallet, auth: string | boolean = true) {
    return t.gql<{ registerDelegation: Record<string, unknown> }>(REGISTER_DELEGATION, { i: await delegationInput(domain, signer, d) }, auth);
  }

  /** A refused call changes nothing: every ledger table has the same rows before and after. */
  async function unchanged(act: () => Promise<unknown>): Promise<void> {
    const before = await t.fingerprint();
    await act();
    expect(await t.fingerprint()).toEqual(before);
  }

  beforeAll(async () => {
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, MERCHANT, 'MERCHANT');
    for (const [slug, kind] of [[CARRIER, 'CARRIER'], [RIVAL, 'CARRIER'], [HUB, 'HUB'], [HUB2, 'HUB']] as const) {
      await registerOrganization(t, slug, kind);
      keys[slug] = await registerKey(t, slug, newWallet(), new Date(T0 - HOUR));
    }
    keys[MERCHANT] = await registerKey(t, MERCHANT, newWallet(), new Date(T0 - HOUR));
    rivalApiKey = await apiKey(RIVAL, 'CARRIER');
    hubApiKey = await apiKey(HUB, 'CARRIER');
    carrierApiKey = await apiKey(CARRIER, 'CARRIER');
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  it('refuses the hijack: another carrier signs a HANDOFF to itself with its own key and API key', async () => {
    const tracking = await pickedUp();
    let hijack!: RecordResult;
    await unchanged(async () => {
      hijack = await transfer(tracking, RIVAL, keys[RIVAL], { auth: rivalApiKey });
    });
    expect(hijack.outcome).toBe('REJECTED');
    expect(hijack.error).toMatchObject({ code: 'TRANSFER_NOT_CONSENTED', field: 'signature' });
    expect(hijack.error!.message).toContain(`"${CARRIER}"`);
    // the follow-up delivery by the rival is refused too, and the rival still cannot read the shipment
    let delivery!: RecordResult;
    await unchanged(async () => {
      delivery = await transfer(tracking, RIVAL, keys[RIVAL], { type: 'DELIVERED', hours: 4, auth: rivalApiKey });
    });
    expect(delivery.outcome).toBe('REJECTED');
    expect(await custodian(tracking)).toBe(CARRIER);
    const peek = await t.gql(`query($n: String!, $c: String!) { shipment(trackingNumber: $n, carrier: $c) { status } }`, { n: tracking, c: CARRIER }, rivalApiKey);
    expect(peek.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // the carrier's own scans go on
    const own = await transfer(tracking, CARRIER, keys[CARRIER], { type: 'ARRIVED_AT_FACILITY', hours: 5, auth: carrierApiKey });
    expect(own.outcome).toBe('ACCEPTED');
  });

  it('refuses a receiver-only HANDOFF to a hub, and a receiver-only RETURNED_TO_SENDER and LOCKER_DEPOSITED', async () => {
    const tracking = await pickedUp();
    await unchanged(async () => {
      const r = await transfer(tracking, HUB, keys[HUB], { auth: hubApiKey });
      expect(r.error?.code).toBe('TRANSFER_NOT_CONSENTED');
      const back = await transfer(tracking, MERCHANT, keys[MERCHANT], { type: 'RETURNED_TO_SENDER' });
      expect(back.error?.code).toBe('TRANSFER_NOT_CONSENTED');
    });
  });

  it('accepts a transfer signed by the releasing custodian, or signed by the receiver and counter-signed by it', async () => {
    const pushed = await pickedUp();
    expect((await transfer(pushed, HUB, keys[CARRIER])).outcome).toBe('ACCEPTED');
    expect(await custodian(pushed)).toBe(HUB);
    const pulled = await pickedUp();
    expect((await transfer(pulled, HUB, keys[HUB], { counter: keys[CARRIER] })).outcome).toBe('ACCEPTED');
    expect(await custodian(pulled)).toBe(HUB);
    // the hub now holds it: the next transfer needs the hub's consent, not the carrier's key alone... the carrier's key is not the releasing custodian
    const onward = await transfer(pulled, HUB2, keys[HUB2], { counter: keys[CARRIER], hours: 4 });
    expect(onward.error?.code).toBe('INVALID_COUNTER_SIGNATURE');
    expect((await transfer(pulled, HUB2, keys[HUB2], { counter: keys[HUB], hours: 4 })).outcome).toBe('ACCEPTED');
  });

  it('refuses a transfer counter-signed by the wrong party', async () => {
    const tracking = await pickedUp();
    await unchanged(async () => {
      const r = await transfer(tracking, HUB, keys[HUB], { counter: keys[RIVAL] });
      expect(r.error?.code).toBe('INVALID_COUNTER_SIGNATURE');
    });
  });

  it('accepts a receiver-only transfer covered by a delegation of the carrier, and shows the delegation', async () => {
    const d = delegation({ validFrom: at(2), validUntil: at(30) });
    const res = await registerDelegation(d, keys[CARRIER], carrierApiKey);
    expect(res.errors).toBeUndefined();
    expect(res.data!.registerDelegation).toMatchObject({ delegationId: d.delegationId, delegator: CARRIER, delegate: HUB, signer: keys[CARRIER].address.toLowerCase(), revokedAt: null });
    const tracking = await pickedUp();
    const r = await transfer(tracking, HUB, keys[HUB], { auth: hubApiKey });
    expect(r.outcome).toBe('ACCEPTED');
    expect(await custodian(tracking)).toBe(HUB);
    const ev = await mustGql<{ custodyEvent: { consent: { kind: string; delegationId: string | null } } }>(t, `query($id: String!) { custodyEvent(eventId: $id) { consent { kind delegationId } } }`, { id: r.eventId });
    expect(ev.custodyEvent.consent).toEqual({ kind: 'DELEGATION', delegationId: d.delegationId });
    // before the delegation's validFrom it does not help
    const early = await pickedUp();
    expect((await transfer(early, HUB, keys[HUB], { hours: 1.5 })).error?.code).toBe('TRANSFER_NOT_CONSENTED');
    // shown in organization, to the delegator and the delegate
    for (const [slug, auth] of [[CARRIER, carrierApiKey], [HUB, hubApiKey]] as const) {
      const org = await t.gql<{ organization: { delegations: Array<{ delegationId: string }> } }>(`query($s: String!) { organization(slug: $s) { delegations { delegationId } } }`, { s: slug }, auth);
      expect(org.errors).toBeUndefined();
      expect(org.data!.organization.delegations.map((x) => x.delegationId)).toContain(d.delegationId);
    }
    // a delegation covers only its delegate: another hub gets nothing from it
    const other = await pickedUp();
    expect((await transfer(other, HUB2, keys[HUB2])).error?.code).toBe('TRANSFER_NOT_CONSENTED');
  });

  it('refuses a forged delegation: signed by a key of another organization than the delegator', async () => {
    const forged = delegation({ delegate: RIVAL });
    await unchanged(async () => {
      const res = await registerDelegation(forged, keys[RIVAL]);
      expect(res.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_DELEGATION', field: 'signature' });
      // a delegation whose signature is over other values (the delegate swapped after signing)
      const signature = await keys[CARRIER].signTypedData(domain, CUSTODY_DELEGATION_TYPES, { ...forged, delegate: HUB2 });
      const swapped = await t.gql(REGISTER_DELEGATION, { i: { ...forged, validFrom: forged.validFrom.toString(), validUntil: forged.validUntil.toString(), signature } });
      expect(swapped.errors?.[0]?.extensions).toMatchObject({ code: 'INVALID_DELEGATION', field: 'signature' });
    });
    const tracking = await pickedUp();
    expect((await transfer(tracking, RIVAL, keys[RIVAL], { auth: rivalApiKey })).error?.code).toBe('TRANSFER_NOT_CONSENTED');
  });

  it('refuses registering a delegation for another organization through a foreign API key', async () => {
    await unchanged(async () => {
      const res = await registerDelegation(delegation({ delegate: RIVAL }), keys[CARRIER], rivalApiKey);
      expect(res.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    });
  });

  it('refuses a transfer under an expired delegation', async () => {
    const d = delegation({ delegate: HUB2, validFrom: at(0), validUntil: at(2) });
    expect((await registerDelegation(d, keys[CARRIER])).errors).toBeUndefined();
    const tracking = await pickedUp();
    let r!: RecordResult;
    await unchanged(async () => {
      r = await transfer(tracking, HUB2, keys[HUB2], { hours: 3 });
    });
    expect(r.error?.code).toBe('TRANSFER_NOT_CONSENTED');
    expect(r.error!.message).toContain('expired');
  });

  it('refuses a transfer under a revoked delegation; a revocation cannot void a transfer made under it', async () => {
    const d = delegation({ delegate: HUB2, trackingNumber: '', validFrom: at(2.5), validUntil: at(40) });
    expect((await registerDelegation(d, keys[CARRIER])).errors).toBeUndefined();
    const used = await pickedUp();
    expect((await transfer(used, HUB2, keys[HUB2], { hours: 3 })).outcome).toBe('ACCEPTED');
    await unchanged(async () => {
      const res = await t.gql(REVOKE_DELEGATION, { i: { delegationId: d.delegationId, reason: 'contract ended', revokedAt: new Date(Number(at(2.8))).toISOString() } });
      expect(res.errors?.[0]?.extensions?.code).toBe('REVOCATION_BEFORE_USE');
    });
    const revoked = await t.gql<{ revokeDelegation: { revokedAt: string } }>(REVOKE_DELEGATION, { i: { delegationId: d.delegationId, reason: 'contract ended', revokedAt: new Date(Number(at(3.5))).toISOString() } });
    expect(revoked.errors).toBeUndefined();
    const tracking = await pickedUp();
    let r!: RecordResult;
    await unchanged(async () => {
      r = await transfer(tracking, HUB2, keys[HUB2], { hours: 4 });
    });
    expect(r.error?.code).toBe('TRANSFER_NOT_CONSENTED');
    expect(r.error!.message).toContain('revoked');
    // before the revocation it still covers a late-arriving scan
    expect((await transfer(tracking, HUB2, keys[HUB2], { hours: 3.2 })).outcome).toBe('ACCEPTED');
  });

  it('a delegation for one tracking number covers only that shipment', async () => {
    const one = await pickedUp();
    const two = await pickedUp();
    const d = delegation({ delegate: RIVAL, trackingNumber: one });
    expect((await registerDelegation(d, keys[CARRIER])).errors).toBeUndefined();
    expect((await transfer(two, RIVAL, keys[RIVAL], { auth: rivalApiKey })).error?.code).toBe('TRANSFER_NOT_CONSENTED');
    expect((await transfer(one, RIVAL, keys[RIVAL], { auth: rivalApiKey })).outcome).toBe('ACCEPTED');
  });

  it('the current custodian can delegate onward custody; its delegation stops helping once it no longer holds the parcel', async () => {
    const tracking = await pickedUp();
    expect((await transfer(tracking, HUB2, keys[CARRIER], { hours: 2 })).outcome).toBe('ACCEPTED');
    const d = delegation({ delegator: HUB2, delegate: RIVAL, trackingNumber: tracking });
    expect((await registerDelegation(d, keys[HUB2])).errors).toBeUndefined();
    const other = await pickedUp();
    expect((await transfer(other, HUB2, keys[CARRIER], { hours: 2 })).outcome).toBe('ACCEPTED');
    // HUB2 holds both; its delegation names one of them
    expect((await transfer(tracking, RIVAL, keys[RIVAL], { hours: 3, auth: rivalApiKey })).outcome).toBe('ACCEPTED');
    expect(await custodian(tracking)).toBe(RIVAL);
    // HUB2 hands the other on to HUB (HUB2 signs); the delegation of HUB2 is no help against HUB
    expect((await transfer(other, HUB, keys[HUB2], { hours: 3 })).outcome).toBe('ACCEPTED');
    const d2 = delegation({ delegator: HUB2, delegate: RIVAL, trackingNumber: other });
    expect((await registerDelegation(d2, keys[HUB2])).errors).toBeUndefined();
    let r!: RecordResult;
    await unchanged(async () => {
      r = await transfer(other, RIVAL, keys[RIVAL], { hours: 4, auth: rivalApiKey });
    });
    expect(r.error?.code).toBe('TRANSFER_NOT_CONSENTED');
    expect(r.error!.message).toContain(`"${HUB}"`);
  });

  /** A CORRECTION by the carrier of `eventId`, naming `custodian` (the custodian at its time). */
  async function correct(tracking: string, eventId: string, custodianSlug: string, hours: number): Promise<RecordResult> {
    const extraData = canonicalJson({ v: 1, corrects: eventId, reason: 'scanned on the wrong parcel' });
    const fields = eventFields({ trackingNumber: tracking, carrier: CARRIER, eventType: 'CORRECTION', custodian: custodianSlug, occurredAt: at(hours), dataHash: dataHashOf(extraData) });
    const [r] = await record(t, [{ ...(await signEvent(domain, keys[CARRIER], fields)), extraData } as never]);
    return r;
  }

  it('refuses correcting a transfer while later events rest on it; corrected newest first, custody goes back', async () => {
    const tracking = await pickedUp();
    const handoff = await transfer(tracking, HUB, keys[CARRIER], { hours: 2 });
    const arrived = await transfer(tracking, HUB, keys[HUB], { type: 'ARRIVED_AT_FACILITY', hours: 3 });
    expect([handoff.outcome, arrived.outcome]).toEqual(['ACCEPTED', 'ACCEPTED']);
    let refused!: RecordResult;
    await unchanged(async () => {
      refused = await correct(tracking, handoff.eventId!, HUB, 4);
    });
    expect(refused.error).toMatchObject({ code: 'INVALID_CORRECTION', field: 'extraData' });
    expect(refused.error!.message).toContain(arrived.eventId!);
    // the later scan first, then the transfer: custody is the carrier's again, and it scans on
    expect((await correct(tracking, arrived.eventId!, HUB, 4)).outcome).toBe('ACCEPTED');
    expect((await correct(tracking, handoff.eventId!, HUB, 5)).outcome).toBe('ACCEPTED');
    expect(await custodian(tracking)).toBe(CARRIER);
    expect((await transfer(tracking, CARRIER, keys[CARRIER], { type: 'ARRIVED_AT_FACILITY', hours: 6 })).outcome).toBe('ACCEPTED');
    expect((await transfer(tracking, HUB, keys[HUB], { type: 'DEPARTED_FACILITY', hours: 7 })).error?.code).toBe('CUSTODIAN_MISMATCH');
  });

  it('refuses a late HANDOFF inserted before scans already accepted, which would make them continuity breaks', async () => {
    const tracking = await pickedUp();
    const scan = await transfer(tracking, CARRIER, keys[CARRIER], { type: 'ARRIVED_AT_FACILITY', hours: 4 });
    expect(scan.outcome).toBe('ACCEPTED');
    const before = await mustGql<{ custodyEvent: { flags: string[] } }>(t, `query($id: String!) { custodyEvent(eventId: $id) { flags } }`, { id: scan.eventId });
    let late!: RecordResult;
    await unchanged(async () => {
      late = await transfer(tracking, HUB, keys[HUB], { counter: keys[CARRIER], hours: 3 });
    });
    expect(late.error).toMatchObject({ code: 'INVALID_TRANSITION', field: 'occurredAt' });
    expect(late.error!.message).toContain(scan.eventId!);
    const after = await mustGql<{ custodyEvent: { flags: string[] } }>(t, `query($id: String!) { custodyEvent(eventId: $id) { flags } }`, { id: scan.eventId });
    expect(after).toEqual(before);
    expect(await custodian(tracking)).toBe(CARRIER);
    // after the recorded scans it is accepted
    expect((await transfer(tracking, HUB, keys[HUB], { counter: keys[CARRIER], hours: 5 })).outcome).toBe('ACCEPTED');
  });

  it('a suspended organization: its device keys sign nothing new (signer, counter-signer, delegator), custody cannot pass to it, what it recorded stays', async () => {
    const SUSPECT = 'suspect-cs';
    await registerOrganization(t, SUSPECT, 'HUB');
    keys[SUSPECT] = await registerKey(t, SUSPECT, newWallet(), new Date(T0 - HOUR));
    const tracking = await pickedUp();
    const taken = await transfer(tracking, SUSPECT, keys[CARRIER], { hours: 2 });
    const scanned = await transfer(tracking, SUSPECT, keys[SUSPECT], { type: 'ARRIVED_AT_FACILITY', hours: 3 });
    expect([taken.outcome, scanned.outcome]).toEqual(['ACCEPTED', 'ACCEPTED']);
    const d = delegation({ delegator: SUSPECT, delegate: HUB2, trackingNumber: tracking });
    expect((await registerDelegation(d, keys[SUSPECT])).errors).toBeUndefined();
    const other = await pickedUp();

    const suspended = await t.gql(`mutation { suspendOrganization(slug: "${SUSPECT}", reason: "stolen scanners") { slug } }`);
    expect(suspended.errors).toBeUndefined();
    await unchanged(async () => {
      // its key as signer, as counter-signer; its delegation; custody passing to it
      expect((await transfer(tracking, SUSPECT, keys[SUSPECT], { type: 'DEPARTED_FACILITY', hours: 4 })).error).toMatchObject({ code: 'ORGANIZATION_SUSPENDED', field: 'signature' });
      expect((await transfer(tracking, HUB, keys[HUB], { counter: keys[SUSPECT], hours: 4 })).error).toMatchObject({ code: 'ORGANIZATION_SUSPENDED', field: 'counterSignature' });
      expect((await transfer(tracking, HUB2, keys[HUB2], { hours: 4 })).error?.code).toBe('TRANSFER_NOT_CONSENTED');
      expect((await transfer(other, SUSPECT, keys[CARRIER], { hours: 4 })).error).toMatchObject({ code: 'ORGANIZATION_SUSPENDED', field: 'custodian' });
      expect((await registerDelegation(delegation({ delegate: SUSPECT }), keys[CARRIER])).errors?.[0]?.extensions?.code).toBe('ORGANIZATION_SUSPENDED');
    });
    // what it recorded before stays, with its signatures
    const before = await mustGql<{ custodyEvent: { signerOrganization: string; status: string } }>(t, `query($id: String!) { custodyEvent(eventId: $id) { signerOrganization status } }`, { id: scanned.eventId });
    expect(before.custodyEvent.signerOrganization).toBe(SUSPECT);
    expect(await custodian(tracking)).toBe(SUSPECT);
    // reinstated, it works again
    expect((await t.gql(`mutation { reinstateOrganization(slug: "${SUSPECT}") { slug } }`)).errors).toBeUndefined();
    expect((await transfer(tracking, HUB2, keys[HUB2], { hours: 5 })).outcome).toBe('ACCEPTED');
  });
});
