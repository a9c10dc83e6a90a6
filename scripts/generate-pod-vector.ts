/**
 * Writes test/vectors/custody-pod-v1.json: a custody-pod/1 bundle over the signing-v1 test
 * vectors (4 events of one shipment in one batch, seq 0, on Hardhat's chain 31337 with the
 * contract at the first address account #0 deploys to). It pins the bundle format; the verifier
 * test anchors its root on a fresh chain and expects VALID. Run once per format version.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CUSTODY_EVENT_TYPES, EIP712_DOMAIN_TYPE } from '../src/signing/custody-signing';
import { LEAF_FORMAT_V1, POD_FORMAT, type ProofBundle } from '../src/proofs/pod-bundle';

const root = path.join(__dirname, '..');
const v = JSON.parse(readFileSync(path.join(root, 'test/vectors/signing-v1.json'), 'utf8'));
const last = v.events[v.events.length - 1];
const bundle: ProofBundle = {
  format: POD_FORMAT,
  generatedAt: '2026-11-25T12:00:00.000Z',
  shipment: { trackingNumber: v.events[0].event.trackingNumber, carrier: v.events[0].event.carrier, merchant: 'shop-one', destination: { latE6: -33868800, lonE6: 151209300, radiusM: 150 }, status: 'DELIVERED', eventCount: v.events.length, headLeaf: last.leaf },
  signing: { version: v.version, primaryType: 'CustodyEvent', domain: v.domain, types: { EIP712Domain: EIP712_DOMAIN_TYPE, ...CUSTODY_EVENT_TYPES } },
  leafFormat: LEAF_FORMAT_V1,
  events: v.events.map((e: { event: { eventId: string; eventType: string; evidenceHash: string }; signature: string; counterSignature: string | null; signer: string; counterSigner: string | null; digest: string; signaturesHash: string; previousLeaf: string; leaf: string }, i: number) => ({
    eventId: e.event.eventId,
    fields: e.event,
    signature: e.signature,
    counterSignature: e.counterSignature,
    signer: e.signer.toLowerCase(),
    counterSigner: e.counterSigner?.toLowerCase() ?? null,
    signerOrganization: 'acme-express',
    digest: e.digest,
    signaturesHash: e.signaturesHash,
    previousLeaf: e.previousLeaf,
    leaf: e.leaf,
    status: 'FINAL',
    batchSeq: '0',
    leafIndex: i,
    proof: v.merkle.proofs[i],
    evidence: e.event.eventType === 'DELIVERED' ? { contentType: 'image/jpeg', sizeBytes: 182044, hash: e.event.evidenceHash } : null,
    flags: [],
    dualAttested: e.counterSignature !== null,
    correctsEventId: null,
    correctedBy: null,
    receivedAt: '2026-11-25T11:59:00.000Z',
  })),
  batches: [{ seq: '0', root: v.merkle.root, leafCount: v.events.length, status: 'FINAL', chainId: v.domain.chainId, contractAddress: v.domain.verifyingContract, txHash: null, blockNumber: null, anchoredAt: '2026-11-25T11:59:30.000Z' }],
  findings: [],
};
const out = path.join(root, 'test/vectors/custody-pod-v1.json');
writeFileSync(out, JSON.stringify(bundle, null, 2) + '\n');
console.log(`wrote ${out}`);
