import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Wallet } from 'ethers';
import { podVectorV3Text } from '../../scripts/generate-pod-vector-v3';
import { verifyProofBundle, type VerificationCheck, type VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 } from '../../src/proofs/pod-bundle';
import { trustFromFlags, type TrustFile } from '../../src/proofs/trust-root';
import { freshAnchorChain, type AnchorChain } from '../support/anchor-chain';
import { anchorVectorBatch, asPodV1, asPodV2, withAnchoring, type Anchoring } from '../support/pod-fixtures';

const VECTOR = path.resolve(__dirname, '../vectors/custody-pod-v3.json');
const pinned = (): ProofBundleV3 => JSON.parse(readFileSync(VECTOR, 'utf8')) as ProofBundleV3;
let anchoring: Anchoring | undefined;
const vector = (): ProofBundleV3 => withAnchoring(pinned(), anchoring);
const checksOf = (r: VerificationReport): VerificationCheck[] => [...new Set(r.failures.map((f) => f.check))].sort();
const flip = (hex: string): string => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');

describe('the custody-pod/3 test vector', () => {
  it('regenerates byte for byte from scripts/generate-pod-vector-v3.ts (the /1 and /2 vectors are untouched by it)', async () => {
    expect(await podVectorV3Text()).toBe(readFileSync(VECTOR, 'utf8'));
  });

  it('is a delegated custody chain: the carrier’s pick-up, a HANDOFF signed by the hub alone under the carrier’s delegation, delivered by the hub', () => {
    const b = pinned();
    const delegation = JSON.parse(readFileSync(path.resolve(__dirname, '../vectors/custody-delegation-v1.json'), 'utf8')).cases[0];
    expect(b.format).toBe('custody-pod/3');
    expect(b.events.map((e) => [e.fields.eventType, e.signerOrganization, e.counterSignature, e.consent])).toEqual([
      ['PICKED_UP', 'acme-express', null, { kind: 'DESIGNATED', delegationId: null }],
      ['HANDOFF', 'berlin-hub', null, { kind: 'DELEGATION', delegationId: delegation.delegation.delegationId }],
      ['OUT_FOR_DELIVERY', 'berlin-hub', null, null],
      ['DELIVERED', 'berlin-hub', null, null],
    ]);
    expect(b.delegations).toEqual([{ fields: delegation.delegation, signature: delegation.signature, signer: delegation.signer, signerOrganization: 'acme-express', digest: delegation.digest, state: { revokedAtMs: null, key: delegation.state.key, proof: expect.any(Array) } }]);
    expect(b.delegations[0].state!.proof.length).toBeGreaterThan(0);
    expect(b.state!.signingKeys.map((k) => k.organization)).toEqual(expect.arrayContaining(['acme-express', 'berlin-hub']));
  });
});

describe('custody-pod/3 vector anchored on a fresh chain', () => {
  let env: AnchorChain;
  let trust: TrustFile;

  beforeAll(async () => {
    env = await freshAnchorChain();
    expect(env.deployment.address).toBe(pinned().signing.domain.verifyingContract);
    anchoring = await anchorVectorBatch(env, pinned().batches[0]);
    trust = trustFromFlags('31337', env.deployment.address, '0', env.deployment.blockNumber);
  });

  afterAll(async () => {
    await env?.close();
  });

  const verify = (bundle: unknown): Promise<VerificationReport> => verifyProofBundle(bundle, { rpcUrl: env.chain.rpcUrl, trust });

  it('verifies VALID, the custody chain consented link by link', async () => {
    const b = vector();
    const report = await verify(b);
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ verdict: 'VALID', bundleFormat: 'custody-pod/3', eventsChecked: 4 });
    expect(report.state).toEqual({ provenAtSeq: '0', latestSeq: '0', completeness: 'PROVEN', keyOwnership: 'PROVEN' });
    expect(report.custody).toEqual({
      consented: true,
      chain: [
        expect.objectContaining({ eventIndex: 0, from: 'shop-one', to: 'acme-express', consent: 'DESIGNATED', status: 'CONSENTED' }),
        expect.objectContaining({ eventIndex: 1, from: 'acme-express', to: 'berlin-hub', signer: 'berlin-hub', consent: 'DELEGATION', delegationId: b.delegations[0].fields.delegationId, status: 'CONSENTED' }),
      ],
    });
  });

  it('the same events as custody-pod/2 (no delegations to carry) and /1: no failure, never VALID, the hub’s receiver-only HANDOFF named in the limitations', async () => {
    for (const bundle of [asPodV2(vector()), asPodV1(vector())]) {
      const report = await verify(bundle);
      expect(report.failures).toEqual([]);
      expect(report.verdict).toBe('INCOMPLETE');
      expect(report.custody).toMatchObject({ consented: false, chain: [expect.objectContaining({ status: 'CONSENTED' }), expect.objectContaining({ eventIndex: 1, status: 'UNPROVEN', consent: null })] });
      expect(report.limitations.join('\n')).toContain('no consent of the releasing custodian "acme-express" can be shown');
    }
  });

  const tampered: Array<[string, (b: ProofBundleV3) => void, VerificationCheck[]]> = [
    ['the delegation dropped', (b) => void (b.delegations = []), ['CONSENT']],
    ['the delegate renamed', (b) => void (b.delegations[0].fields.delegate = 'rival-post'), ['CONSENT']],
    ['the delegation narrowed to another shipment', (b) => void (b.delegations[0].fields.trackingNumber = '1Z999AA10123456785'), ['CONSENT']],
    ['the delegation signed by the hub itself', (b) => {
      const hub = new Wallet(JSON.parse(readFileSync(path.resolve(__dirname, '../vectors/signing-v1.json'), 'utf8')).privateKeys.hub);
      b.delegations[0].signature = hub.signingKey.sign(b.delegations[0].digest).serialized;
      b.delegations[0].signer = hub.address.toLowerCase();
    }, ['CONSENT']],
    ['the delegation said revoked before the transfer', (b) => void (b.delegations[0].state!.revokedAtMs = '1764000000000'), ['CONSENT']],
    ['a delegation state sibling changed', (b) => void (b.delegations[0].state!.proof[0] = flip(b.delegations[0].state!.proof[0])), ['CONSENT']],
    ['the consent stated as the hub’s own signature', (b) => void (b.events[1].consent = { kind: 'SIGNED', delegationId: null }), ['CONSENT']],
    ['a consent stated for a keep event', (b) => void (b.events[2].consent = { kind: 'SIGNED', delegationId: null }), ['CONSENT']],
    ['the handoff’s consent statement removed', (b) => void delete (b.events[1] as Partial<(typeof b.events)[number]>).consent, ['FORMAT']],
    ['a delegation whose signer is not an address', (b) => void (b.delegations[0].signer = 'acme-express'), ['FORMAT']],
    ['a delegation state with an extra field', (b) => void ((b.delegations[0].state as unknown as Record<string, unknown>).revoked = false), ['FORMAT']],
    ['a delegation organization that is not text', (b) => void ((b.delegations[0] as unknown as Record<string, unknown>).signerOrganization = ['acme-express']), ['FORMAT']],
    ['a delegator with a lone surrogate', (b) => void (b.delegations[0].fields.delegator = '\ud800'), ['FORMAT']],
  ];

  it.each(tampered)('detects %s', async (_what, mutate, checks) => {
    const b = vector();
    mutate(b);
    const report = await verify(b);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(checks);
  });
});
