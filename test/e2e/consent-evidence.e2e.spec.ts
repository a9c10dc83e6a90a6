import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hexlify, id, randomBytes, type Wallet } from 'ethers';
import { canonicalJson, dataHashOf } from '../../src/custody/extra-data';
import { sqlRows } from '../../src/database/data-source';
import { verifyProofBundle, type VerificationCheck, type VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV2, ProofBundleV3 } from '../../src/proofs/pod-bundle';
import type { TrustFile } from '../../src/proofs/trust-root';
import { CUSTODY_EVENT_TYPES, custodyEventDigest, custodyLeaf, domainSeparator, signaturesHash, type CustodyEventFields, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { CUSTODY_DELEGATION_TYPES, type DelegationFields } from '../../src/signing/delegation-signing';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { DOOR, HOUR, asPodV1, sealAndFinalize, insertPastIngestion } from '../support/pod-fixtures';
import { eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * Issue 9: the evidence follows the custody chain. The attack is the ledger's own operator (or
 * data accepted before consent was required) writing a receiver-only transfer straight into the
 * database, with correct digests, leaves and hash chain, then sealed and anchored like any other
 * event: every signature verifies, the state proves the bundle complete. Only the custody chain,
 * replayed from the bundle alone, shows that the rival carrier never received custody with consent.
 */
const ROOT = path.resolve(__dirname, '../..');
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const checksOf = (r: { failures: Array<{ check: string }> }): string[] => [...new Set(r.failures.map((f) => f.check))].sort();
const HIJACKED = 'CONSENT-HIJACK';
const DELEGATED = 'CONSENT-DELEGATED';
const TAKEBACK = 'CONSENT-TAKEBACK';
const BUNDLE = `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`;
const BUNDLE_AS = `query($n: String!, $f: String) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express", format: $f) }`;

interface DisputeView {
  verdict: string;
  reasons: string[];
  verification: VerificationReport;
}

describe('the evidence follows the custody chain (issue 9)', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let trust: TrustFile;
  let dir: string;
  const keys: Record<string, Wallet> = {};
  let hijacked: ProofBundleV3;
  let delegated: ProofBundleV3;
  let delegation: DelegationFields;
  let handoffAt: bigint;
  let takeback: ProofBundleV3;

  const verify = (bundle: unknown): Promise<VerificationReport> => verifyProofBundle(clone(bundle), { rpcUrl: t.ledger.rpcUrl, trust });
  const bundleOf = async <T = ProofBundleV3>(tracking: string, format?: string): Promise<T> => (await mustGql<{ proofOfDelivery: T }>(t, format ? BUNDLE_AS : BUNDLE, { n: tracking, f: format })).proofOfDelivery;
  const openDispute = async (tracking: string): Promise<DisputeView> =>
    (await mustGql<{ openDispute: DisputeView }>(t, `mutation($n: String!) { openDispute(trackingNumber: $n, carrier: "acme-express", claim: NOT_RECEIVED, note: "never arrived") { verdict reasons verification } }`, { n: tracking })).openDispute;

  /** What the operator does: an event row written past ingestion, with a correct leaf on the shipment's hash chain. */
  const insertDirectly = (_tracking: string, signer: Wallet, signerOrg: string, fields: CustodyEventFields, status: string, correction?: { extraData: string; corrects: string; reason: string }): Promise<void> =>
    insertPastIngestion(t, domain, signer, signerOrg, fields, status, correction);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custody-consent-'));
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    for (const [slug, kind] of [['acme-express', 'CARRIER'], ['rival-post', 'CARRIER'], ['berlin-hub', 'HUB']] as const) {
      await registerOrganization(t, slug, kind);
      keys[slug] = await registerKey(t, slug, newWallet(), new Date(T0 - HOUR));
    }
    const base = { carrier: 'acme-express', latE6: 52_530_000, lonE6: 13_390_000, accuracyM: 10 };
    for (const tracking of [HIJACKED, DELEGATED, TAKEBACK]) {
      await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: tracking, carrier: 'acme-express', merchant: 'shop-one', destination: { ...DOOR, radiusM: 150 } } });
    }

    // the hijack: a normal pick-up and facility scan, then a receiver-only HANDOFF to the rival and its DELIVERED, written past ingestion
    const journey = await record(t, [
      await signEvent(domain, keys['acme-express'], eventFields({ ...base, trackingNumber: HIJACKED, eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
      await signEvent(domain, keys['acme-express'], eventFields({ ...base, trackingNumber: HIJACKED, eventType: 'ARRIVED_AT_FACILITY', custodian: 'acme-express', occurredAt: at(2) })),
    ]);
    expect(journey.map((r) => r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED']);
    handoffAt = at(3);
    const handoff = eventFields({ ...base, trackingNumber: HIJACKED, eventType: 'HANDOFF', custodian: 'rival-post', occurredAt: handoffAt });
    // through the API it is refused: consent is checked at ingestion
    expect((await record(t, [await signEvent(domain, keys['rival-post'], handoff)]))[0].error?.code).toBe('TRANSFER_NOT_CONSENTED');
    await insertDirectly(HIJACKED, keys['rival-post'], 'rival-post', handoff, 'IN_TRANSIT');
    await insertDirectly(HIJACKED, keys['rival-post'], 'rival-post', eventFields({ ...base, ...DOOR, trackingNumber: HIJACKED, eventType: 'DELIVERED', custodian: 'rival-post', occurredAt: at(4), accuracyM: 8, scanMethod: 'GPS' }), 'DELIVERED');

    // the genuine delegated chain: the carrier lets the hub take custody on the hub's signature alone
    delegation = { delegationId: hexlify(randomBytes(32)), delegator: 'acme-express', delegate: 'berlin-hub', carrier: 'acme-express', trackingNumber: '', validFrom: at(0), validUntil: at(40) };
    const signature = await keys['acme-express'].signTypedData(domain, CUSTODY_DELEGATION_TYPES, delegation);
    await mustGql(t, `mutation($i: RegisterDelegationInput!) { registerDelegation(input: $i) { delegationId } }`, { i: { ...delegation, validFrom: delegation.validFrom.toString(), validUntil: delegation.validUntil.toString(), signature } });
    const chain = await record(t, [
      await signEvent(domain, keys['acme-express'], eventFields({ ...base, trackingNumber: DELEGATED, eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
      await signEvent(domain, keys['berlin-hub'], eventFields({ ...base, trackingNumber: DELEGATED, eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: at(3), locationCode: 'DE-BER-HUB-1' })),
      await signEvent(domain, keys['berlin-hub'], eventFields({ ...base, trackingNumber: DELEGATED, eventType: 'OUT_FOR_DELIVERY', custodian: 'berlin-hub', occurredAt: at(5) })),
      await signEvent(domain, keys['berlin-hub'], eventFields({ ...base, ...DOOR, trackingNumber: DELEGATED, eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: at(6), accuracyM: 8, scanMethod: 'GPS', evidenceHash: id('door photo') })),
    ]);
    expect(chain.map((r) => r.error?.code ?? r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    // revoked after the transfer it carried: the anchored record shows the revocation, which does not reach back
    const revoked = await t.gql(`mutation($i: RevokeDelegationInput!) { revokeDelegation(input: $i) { revokedAt } }`, { i: { delegationId: delegation.delegationId, reason: 'contract ended', revokedAt: new Date(Number(at(10))).toISOString() } });
    expect(revoked.errors).toBeUndefined();

    // the take-back: the hub hands the parcel to the rival (the rival counter-signs), then voids that handoff on its own signature and delivers
    const handed = await record(t, [
      await signEvent(domain, keys['acme-express'], eventFields({ ...base, trackingNumber: TAKEBACK, eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(1) })),
      await signEvent(domain, keys['acme-express'], eventFields({ ...base, trackingNumber: TAKEBACK, eventType: 'HANDOFF', custodian: 'berlin-hub', occurredAt: at(2) })),
      await signEvent(domain, keys['berlin-hub'], eventFields({ ...base, trackingNumber: TAKEBACK, eventType: 'HANDOFF', custodian: 'rival-post', occurredAt: at(3) }), keys['rival-post']),
    ]);
    expect(handed.map((r) => r.error?.code ?? r.outcome)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED']);
    const extraData = canonicalJson({ v: 1, corrects: handed[2].eventId, reason: 'scanned by mistake' });
    const voiding = eventFields({ ...base, trackingNumber: TAKEBACK, eventType: 'CORRECTION', custodian: 'rival-post', occurredAt: at(3.5), dataHash: dataHashOf(extraData) });
    // through the API it is refused: the rival holds the parcel and did not sign
    expect((await record(t, [{ ...(await signEvent(domain, keys['berlin-hub'], voiding)), extraData } as never]))[0].error?.code).toBe('TRANSFER_NOT_CONSENTED');
    await insertDirectly(TAKEBACK, keys['berlin-hub'], 'berlin-hub', voiding, 'IN_TRANSIT', { extraData, corrects: handed[2].eventId!, reason: 'scanned by mistake' });
    expect((await record(t, [await signEvent(domain, keys['berlin-hub'], eventFields({ ...base, ...DOOR, trackingNumber: TAKEBACK, eventType: 'DELIVERED', custodian: 'berlin-hub', occurredAt: at(4), accuracyM: 8, scanMethod: 'GPS' }))]))[0].outcome).toBe('ACCEPTED');

    await sealAndFinalize(t);
    takeback = await bundleOf(TAKEBACK);
    hijacked = await bundleOf(HIJACKED);
    delegated = await bundleOf(DELEGATED);
    trust = (await (await fetch(t.url.replace('/graphql', '/trust.json'))).json()) as TrustFile;
    writeFileSync(path.join(dir, 'trust.json'), JSON.stringify(trust));
  }, 180_000);

  afterAll(async () => {
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the hijacked shipment looks sound otherwise: all events sealed FINAL, signatures and state proofs in order', () => {
    expect(hijacked.format).toBe('custody-pod/3');
    expect(hijacked.events.map((e) => [e.fields.eventType, e.signerOrganization, e.status])).toEqual([
      ['PICKED_UP', 'acme-express', 'FINAL'],
      ['ARRIVED_AT_FACILITY', 'acme-express', 'FINAL'],
      ['HANDOFF', 'rival-post', 'FINAL'],
      ['DELIVERED', 'rival-post', 'FINAL'],
    ]);
    expect(hijacked.events.map((e) => e.consent)).toEqual([{ kind: 'DESIGNATED', delegationId: null }, null, null, null]);
    expect(hijacked.delegations).toEqual([]);
    expect(hijacked.state).toMatchObject({ shipment: { eventCount: 4, headLeaf: hijacked.shipment.headLeaf } });
  });

  it('custody-pod/3: the verifier says INVALID with a CONSENT failure naming the receiver-only HANDOFF', async () => {
    const report = await verify(hijacked);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(['CONSENT']);
    expect(report.failures).toEqual([
      expect.objectContaining({ check: 'CONSENT', eventIndex: 2, eventId: hijacked.events[2].eventId, message: expect.stringMatching(/HANDOFF .* to "rival-post" was signed by "rival-post" alone.*"acme-express"/) }),
    ]);
    expect(report.custody).toMatchObject({
      consented: false,
      chain: [
        // the merchant releases to the carrier the shipment names: the root of the chain
        { eventIndex: 0, eventType: 'PICKED_UP', from: 'shop-one', to: 'acme-express', consent: 'DESIGNATED', delegationId: null, status: 'CONSENTED' },
        { eventIndex: 2, eventType: 'HANDOFF', from: 'acme-express', to: 'rival-post', signer: 'rival-post', counterSigner: null, consent: null, delegationId: null, status: 'NOT_CONSENTED' },
      ],
    });
    // GraphQL and the CLI say the same
    const viaGraphQL = (await mustGql<{ verifyProofBundle: { verdict: string; failures: Array<{ check: string; eventIndex: number }>; custody: { consented: boolean } } }>(t, `query($b: JSON!) { verifyProofBundle(bundle: $b) { verdict failures { check eventIndex } custody { consented chain { eventIndex from to consent delegationId } } } }`, { b: hijacked })).verifyProofBundle;
    expect(viaGraphQL).toMatchObject({ verdict: 'INVALID', failures: [{ check: 'CONSENT', eventIndex: 2 }], custody: { consented: false } });
    const file = path.join(dir, 'hijacked.json');
    writeFileSync(file, JSON.stringify(hijacked));
    const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin/custody.js'), 'verify', file, '--rpc', t.ledger.rpcUrl, '--trust', path.join(dir, 'trust.json')], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: stdout + stderr });
      });
    });
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/FAILED CONSENT\s+event #2/);
    expect(run.out).toMatch(/custody\s+acme-express → rival-post \(HANDOFF, NOT CONSENTED\)/);
  });

  it('the ledger claiming consent for it does not help: a stated SIGNED consent contradicts the signatures', async () => {
    const lying = clone(hijacked);
    lying.events[2].consent = { kind: 'SIGNED', delegationId: null };
    const report = await verify(lying);
    expect(report.verdict).toBe('INVALID');
    expect(report.failures).toEqual(expect.arrayContaining([expect.objectContaining({ check: 'CONSENT', eventIndex: 2 })]));
  });

  it('custody-pod/2 and /1 of the same shipment: accepted under the old rules, so not INVALID, but never VALID, with the limitation', async () => {
    const v2 = await bundleOf<ProofBundleV2>(HIJACKED, 'custody-pod/2');
    expect(v2.format).toBe('custody-pod/2');
    expect(v2).not.toHaveProperty('delegations');
    expect(v2.events[0]).not.toHaveProperty('consent');
    for (const bundle of [v2, asPodV1(v2)]) {
      const report = await verify(bundle);
      expect(report.failures).toEqual([]);
      expect(report.verdict).toBe('INCOMPLETE');
      expect(report.custody.consented).toBe(false);
      expect(report.limitations.join('\n')).toMatch(/event #2 .*HANDOFF.*"rival-post".*no consent of the releasing custodian "acme-express" can be shown/);
    }
  });

  it('a dispute over the hijacked delivery is DELIVERY_CONTRADICTED: the rival never received custody with consent', async () => {
    const dispute = await openDispute(HIJACKED);
    expect(dispute.verdict).toBe('DELIVERY_CONTRADICTED');
    expect(dispute.reasons[0]).toBe(
      `rival-post signed the DELIVERED but never received custody with consent: the HANDOFF of ${new Date(Number(handoffAt)).toISOString()} to rival-post was signed by rival-post alone, without the consent of acme-express, the custodian before it`,
    );
    expect(dispute.verification.verdict).toBe('INVALID');
  });

  it('a transfer voided by the releasing hub on its own signature (custody taken back from the rival that held it) fails CONSENT; the hub\'s delivery is DELIVERY_CONTRADICTED', async () => {
    const report = await verify(takeback);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(['CONSENT']);
    expect(report.failures).toEqual([expect.objectContaining({ check: 'CONSENT', eventIndex: 3, message: expect.stringMatching(/voids the HANDOFF .* to "rival-post" without its consent/) })]);
    const dispute = await openDispute(TAKEBACK);
    expect(dispute.verdict).toBe('DELIVERY_CONTRADICTED');
  });

  it('a genuine delegated chain is VALID, with the delegation proven and the chain reported; the dispute says DELIVERY_PROVEN', async () => {
    expect(delegated.format).toBe('custody-pod/3');
    expect(delegated.events.map((e) => e.consent)).toEqual([{ kind: 'DESIGNATED', delegationId: null }, { kind: 'DELEGATION', delegationId: delegation.delegationId }, null, null]);
    expect(delegated.delegations).toEqual([
      expect.objectContaining({
        fields: { ...delegation, validFrom: delegation.validFrom.toString(), validUntil: delegation.validUntil.toString() },
        signer: keys['acme-express'].address.toLowerCase(),
        signerOrganization: 'acme-express',
        state: expect.objectContaining({ revokedAtMs: at(10).toString() }),
      }),
    ]);
    const report = await verify(delegated);
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('VALID');
    expect(report.custody).toEqual({
      consented: true,
      chain: [
        expect.objectContaining({ eventIndex: 0, from: 'shop-one', to: 'acme-express', consent: 'DESIGNATED' }),
        expect.objectContaining({ eventIndex: 1, from: 'acme-express', to: 'berlin-hub', consent: 'DELEGATION', delegationId: delegation.delegationId }),
      ],
    });
    const dispute = await openDispute(DELEGATED);
    expect(dispute.verdict).toBe('DELIVERY_PROVEN');
    expect(dispute.reasons.join('\n')).toContain(`custody passed with consent from the pick-up to berlin-hub, which signed the delivery: shop-one → acme-express (DESIGNATED), acme-express → berlin-hub (DELEGATION ${delegation.delegationId})`);
  });

  const tampered: Array<[string, (b: ProofBundleV3) => void, VerificationCheck[]]> = [
    ['the delegate changed to the rival', (b) => void (b.delegations[0].fields.delegate = 'rival-post'), ['CONSENT']],
    ['the delegation re-signed by a key that is not the delegator’s (the hub’s own, whose record is in the state)', (b) => {
      const hub = keys['berlin-hub'];
      b.delegations[0].signature = hub.signingKey.sign(b.delegations[0].digest).serialized;
      b.delegations[0].signer = hub.address.toLowerCase();
    }, ['CONSENT']],
    ['the delegation signed by a stranger key named as the carrier’s', (b) => {
      const stranger = newWallet();
      b.delegations[0].signature = stranger.signingKey.sign(b.delegations[0].digest).serialized;
      b.delegations[0].signer = stranger.address.toLowerCase();
    }, ['CONSENT']],
    ['the revocation cleared from its state record', (b) => void (b.delegations[0].state!.revokedAtMs = null), ['CONSENT']],
    ['the revocation moved before the transfer', (b) => void (b.delegations[0].state!.revokedAtMs = (BigInt(b.events[1].fields.occurredAt) - 1n).toString()), ['CONSENT']],
    ['the delegation’s state record dropped', (b) => void (b.delegations[0].state = null), ['CONSENT']],
    ['the delegation dropped from the bundle', (b) => void b.delegations.pop(), ['CONSENT']],
    // the carrier's key also signed the pick-up: its ownership fails there too
    ['the delegator key’s record dropped from the state', (b) => void (b.state!.signingKeys = b.state!.signingKeys.filter((k) => k.address !== b.delegations[0].signer)), ['CONSENT', 'KEY_OWNERSHIP']],
    ['the validity extended', (b) => void (b.delegations[0].fields.validUntil = at(400).toString()), ['CONSENT']],
    ['the delegation’s state proof made against another root', (b) => void (b.delegations[0].state!.proof = [...b.delegations[0].state!.proof, b.state!.stateRoot]), ['CONSENT']],
    ['a consent that is not an object', (b) => void ((b.events[1] as unknown as Record<string, unknown>).consent = 'DELEGATION'), ['FORMAT']],
    ['a consent kind nobody knows', (b) => void (b.events[1].consent = { kind: 'TRUSTED' as never, delegationId: null }), ['FORMAT']],
    ['a DELEGATION consent without its id', (b) => void (b.events[1].consent = { kind: 'DELEGATION', delegationId: null }), ['FORMAT']],
    ['delegations that are not a list', (b) => void ((b as unknown as Record<string, unknown>).delegations = {}), ['FORMAT']],
    ['a delegation with an extra field', (b) => void ((b.delegations[0].fields as unknown as Record<string, unknown>).note = 'x'), ['FORMAT']],
    ['a delegation validUntil beyond uint64', (b) => void (b.delegations[0].fields.validUntil = '99999999999999999999'), ['FORMAT']],
    ['a delegation listed twice', (b) => void b.delegations.push(clone(b.delegations[0])), ['FORMAT']],
    ['a delegation state proof element wrapped in an array', (b) => void ((b.delegations[0].state!.proof as unknown[])[0] = [b.delegations[0].state!.proof[0]]), ['FORMAT']],
  ];

  it.each(tampered)('refuses a delegated bundle with %s', async (_what, mutate, checks) => {
    const bundle = clone(delegated);
    mutate(bundle);
    const report = await verify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(checks);
    if (checks[0] === 'CONSENT') expect(report.custody.consented).toBe(false);
  });
});
