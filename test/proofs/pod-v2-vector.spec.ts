import { readFileSync } from 'node:fs';
import path from 'node:path';
import { id, type Contract } from 'ethers';
import { podVectorV2Text } from '../../scripts/generate-pod-vector-v2';
import type { EmbeddedChain } from '../../src/anchoring/embedded-chain';
import { freshAnchorChain, type AnchorChain } from '../support/anchor-chain';
import { anchorVectorBatch, withAnchoring, type Anchoring } from '../support/pod-fixtures';
import { verifyProofBundle, type VerificationCheck, type VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV2 } from '../../src/proofs/pod-bundle';
import { trustFromFlags, type TrustFile } from '../../src/proofs/trust-root';
import { custodyEventDigest, custodyLeaf, custodySigningDomain, domainSeparator, signaturesHash } from '../../src/signing/custody-signing';
import { batchRootV2 } from '../../src/state/custody-state';

const VECTOR = path.resolve(__dirname, '../vectors/custody-pod-v2.json');
const pinned = (): ProofBundleV2 => JSON.parse(readFileSync(VECTOR, 'utf8')) as ProofBundleV2;
/** Where and when this test's chain anchored the vector's root: facts of the chain, not of the format. */
let anchoring: Anchoring | undefined;
const vector = (): ProofBundleV2 => withAnchoring(pinned(), anchoring);
const checksOf = (r: VerificationReport): VerificationCheck[] => [...new Set(r.failures.map((f) => f.check))].sort();
/** Flips the last hex digit of a 0x string. */
const flip = (hex: string): string => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');

describe('the custody-pod/2 test vector', () => {
  it('regenerates byte for byte from scripts/generate-pod-vector-v2.ts', async () => {
    expect(await podVectorV2Text()).toBe(readFileSync(VECTOR, 'utf8'));
  });

  it('is a delivered, corrected, counter-signed shipment in one custody-tree/2 batch, its state proven at seq 0', () => {
    const b = pinned();
    expect(b.format).toBe('custody-pod/2');
    expect(b.signing.domain).toEqual({ name: 'CustodyLedger', version: '1', chainId: '31337', verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' });
    expect(b.events.map((e) => e.fields.eventType)).toEqual(['PICKED_UP', 'HANDOFF', 'OUT_FOR_DELIVERY', 'DELIVERED', 'CORRECTION', 'DELIVERED']);
    expect(b.events[1]).toMatchObject({ dualAttested: true, signerOrganization: 'acme-express', counterSignerOrganization: 'berlin-hub' });
    expect(b.events[3]).toMatchObject({ correctedBy: b.events[4].eventId, evidence: { contentType: 'image/jpeg', sizeBytes: 204_800, hash: b.events[3].fields.evidenceHash } });
    expect(b.events[4]).toMatchObject({ correctsEventId: b.events[3].eventId, extraData: `{"corrects":"${b.events[3].eventId}","reason":"scanned at the neighbour’s door","v":1}` });
    expect(b.events.every((e) => e.batchSeq === '0' && e.proof!.length > 0)).toBe(true);
    expect(b.batches).toEqual([expect.objectContaining({ seq: '0', treeVersion: 2, leafCount: 6, status: 'SEALED', txHash: null, blockNumber: null, anchoredAt: null })]);
    expect(b.batches[0].root).toBe(batchRootV2(b.batches[0].eventsRoot, b.batches[0].stateRoot!));
    expect(b.state).toMatchObject({ seq: '0', root: b.batches[0].root, eventsRoot: b.batches[0].eventsRoot, stateRoot: b.batches[0].stateRoot, shipment: { headLeaf: b.shipment.headLeaf, eventCount: 6 } });
    // unrelated records in the map: every state proof has siblings
    expect(b.state!.shipment.proof.length).toBeGreaterThan(0);
    expect(b.state!.signingKeys.map((k) => [k.organization, k.proof.length > 0])).toEqual([['acme-express', true], ['berlin-hub', true]]);
  });
});

describe('custody-pod/2 vector anchored on a fresh chain', () => {
  let env: AnchorChain;
  let chain: EmbeddedChain;
  let anchor: Contract;
  let trust: TrustFile;

  beforeAll(async () => {
    env = await freshAnchorChain();
    ({ chain, anchor } = env);
    const { deployment } = env;
    // the vector's domain names the first contract account #0 deploys on a fresh Hardhat chain
    expect(deployment.address).toBe(pinned().signing.domain.verifyingContract);
    anchoring = await anchorVectorBatch(env, pinned().batches[0]);
    trust = trustFromFlags('31337', deployment.address, '0', deployment.blockNumber);
  });

  afterAll(async () => {
    await env?.close();
  });

  const verify = (bundle: unknown): Promise<VerificationReport> => verifyProofBundle(bundle, { rpcUrl: chain.rpcUrl, trust });

  it('verifies VALID with completeness and key ownership proven', async () => {
    const report = await verify(vector());
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ verdict: 'VALID', bundleFormat: 'custody-pod/2', eventsChecked: 6, batchesChecked: 1, pendingEventIds: [], trackingNumber: '1Z999AA10123456784' });
    expect(report.state).toEqual({ provenAtSeq: '0', latestSeq: '0', completeness: 'PROVEN', keyOwnership: 'PROVEN' });
    expect(report.batches).toEqual([{ seq: '0', contract: anchoring!.contractAddress, blockNumber: anchoring!.blockNumber, txHash: anchoring!.txHash, anchoredAt: anchoring!.anchoredAt, confirmations: expect.any(Number) }]);
  });

  describe('checks out on chain through the contract views', () => {
    const view = <T>(name: string, ...args: unknown[]): Promise<T> => anchor.getFunction(name)(...args) as Promise<T>;

    it('verifyState: the anchored root is custody-tree/2 of the events root and the state root', async () => {
      const { batches: [b] } = vector();
      expect(await view('batchRootV2', b.eventsRoot, b.stateRoot)).toBe(b.root);
      expect(await view('verifyState', 0n, b.eventsRoot, b.stateRoot)).toBe(true);
      expect(await view('verifyState', 0n, b.stateRoot, b.eventsRoot)).toBe(false);
    });

    it('verifyInclusion for every event, with the leaf computed here from its signed fields and the proof ending in the state commitment; false for a changed proof', async () => {
      const b = vector();
      const separator = domainSeparator(custodySigningDomain(BigInt(b.signing.domain.chainId), b.signing.domain.verifyingContract));
      const commitment = (await view('stateCommitment', b.batches[0].eventsRoot, b.batches[0].stateRoot)) as string;
      for (const e of b.events) {
        const leaf = custodyLeaf(custodyEventDigest(separator, { ...e.fields, occurredAt: BigInt(e.fields.occurredAt) }), signaturesHash(e.signature, e.counterSignature), e.previousLeaf);
        expect(leaf).toBe(e.leaf);
        expect(await view('custodyLeaf', e.digest, e.signaturesHash, e.previousLeaf)).toBe(leaf);
        expect(e.proof!.at(-1)).toBe(commitment);
        expect(await view('verifyInclusion', 0n, leaf, e.proof)).toBe(true);
      }
      const e = b.events[3];
      expect(await view('verifyInclusion', 0n, e.leaf, [flip(e.proof![0]), ...e.proof!.slice(1)])).toBe(false);
      // a proof that stops at the events root (the commitment dropped) does not reach the anchored root
      expect(await view('verifyInclusion', 0n, e.leaf, e.proof!.slice(0, -1))).toBe(false);
      expect(await view('verifyInclusion', 1n, e.leaf, e.proof)).toBe(false);
    });

    it('verifyShipmentHead for the head; false for a shorter history', async () => {
      const b = vector();
      const s = b.state!;
      const args = (eventCount: number) => [0n, s.eventsRoot, s.stateRoot, b.shipment.carrier, b.shipment.trackingNumber, s.shipment.headLeaf, eventCount, s.shipment.proof];
      expect(await view('shipmentStateKey', b.shipment.carrier, b.shipment.trackingNumber)).toBe(s.shipment.key);
      expect(await view('verifyShipmentHead', ...args(6))).toBe(true);
      expect(await view('verifyShipmentHead', ...args(5))).toBe(false);
      expect(await view('verifyShipmentHead', 0n, s.eventsRoot, s.stateRoot, b.shipment.carrier, b.shipment.trackingNumber, b.events[3].leaf, 4, s.shipment.proof)).toBe(false);
    });

    it('verifySigningKey for every key record; false for another organization', async () => {
      const s = vector().state!;
      for (const k of s.signingKeys) {
        const args = (organization: string) => [0n, s.eventsRoot, s.stateRoot, k.address, organization, BigInt(k.validFromMs), BigInt(k.revokedAtMs ?? 0), k.proof];
        expect(await view('signingKeyStateKey', k.address)).toBe(k.key);
        expect(await view('verifySigningKey', ...args(k.organization))).toBe(true);
        expect(await view('verifySigningKey', ...args('rival-post'))).toBe(false);
      }
    });
  });

  const tampered: Array<[string, (b: ProofBundleV2) => void, VerificationCheck[]]> = [
    ['a cut tail: the CORRECTION and the second DELIVERED dropped, head and count rewritten', (b) => {
      b.events.splice(4);
      b.shipment.headLeaf = b.events[3].leaf;
      b.shipment.eventCount = 4;
      b.events[3].correctedBy = null;
    }, ['COMPLETENESS']],
    ['a CORRECTION re-pointed at another event', (b) => {
      b.events[4].correctsEventId = b.events[2].eventId;
      b.events[2].correctedBy = b.events[4].eventId;
      b.events[3].correctedBy = null;
    }, ['CORRECTION']],
    ['a correction withheld: the voided DELIVERED claims no correction', (b) => void (b.events[3].correctedBy = null), ['CORRECTION']],
    ['a changed signerOrganization', (b) => void (b.events[0].signerOrganization = 'rival-post'), ['KEY_OWNERSHIP']],
    ['a changed counterSignerOrganization', (b) => void (b.events[1].counterSignerOrganization = 'rival-post'), ['KEY_OWNERSHIP']],
    ['a key record claiming another organization (its proof then fails)', (b) => {
      b.state!.signingKeys[1].organization = 'rival-post';
      b.events.forEach((e) => {
        if (e.signerOrganization === 'berlin-hub') e.signerOrganization = 'rival-post';
        if (e.counterSignerOrganization === 'berlin-hub') e.counterSignerOrganization = 'rival-post';
      });
    }, ['KEY_OWNERSHIP']],
    ['changed extra data', (b) => void (b.events[4].extraData = b.events[4].extraData!.replace('neighbour', 'neighbor')), ['EXTRA_DATA']],
    ['a shipment head proof with a changed sibling', (b) => void (b.state!.shipment.proof[0] = flip(b.state!.shipment.proof[0])), ['COMPLETENESS']],
    ['state proofs against another state root', (b) => void (b.state!.stateRoot = b.batches[0].eventsRoot), ['STATE_ROOT']],
  ];

  it.each(tampered)('detects %s', async (_what, mutate, checks) => {
    const bundle = vector();
    mutate(bundle);
    const report = await verify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(checks);
  });

  // last: it anchors a later batch on this chain
  it('is STALE, with both seqs, once batch 1 is anchored after it', async () => {
    const tx = (await anchor.getFunction('anchorBatch')(1n, id('custody-pod/2 vector: a later batch'), 1)) as { wait(): Promise<unknown> };
    await tx.wait();
    const report = await verify(vector());
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('STALE');
    expect(report.state).toEqual({ provenAtSeq: '0', latestSeq: '1', completeness: 'PROVEN', keyOwnership: 'PROVEN' });
    expect(report.limitations.join(' ')).toContain('ask the ledger for a fresh bundle');
  });
});
