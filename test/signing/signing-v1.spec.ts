import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Signature, TypedDataEncoder, Wallet, verifyTypedData } from 'ethers';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  CUSTODY_EVENT_TYPES,
  SIGNING_SPEC_VERSION,
  custodyEventDigest,
  custodyLeaf,
  custodySigningDomain,
  domainSeparator,
  signaturesHash,
  type CustodyEventFields,
} from '../../src/signing/custody-signing';
import { recoverSigners } from '../../src/signing/signature-verifier';
import { buildBatchTree, rootFromProof } from '../../src/batching/merkle';

interface VectorEvent {
  event: Omit<CustodyEventFields, 'occurredAt'> & { occurredAt: string };
  digest: string;
  signature: string;
  counterSignature: string | null;
  signer: string;
  counterSigner: string | null;
  signaturesHash: string;
  previousLeaf: string;
  leaf: string;
}
const vectors = JSON.parse(readFileSync(path.join(__dirname, '../vectors/signing-v1.json'), 'utf8')) as {
  version: string;
  privateKeys: { device: string; hub: string };
  domain: { name: string; version: string; chainId: string; verifyingContract: string };
  domainSeparator: string;
  types: typeof CUSTODY_EVENT_TYPES;
  events: VectorEvent[];
  merkle: { leaves: string[]; root: string; proofs: string[][] };
};
const domain = custodySigningDomain(BigInt(vectors.domain.chainId), vectors.domain.verifyingContract);
const fields = (v: VectorEvent): CustodyEventFields => ({ ...v.event, occurredAt: BigInt(v.event.occurredAt) });

describe('signing spec v1 test vectors', () => {
  it('pins the version, the domain and the CustodyEvent type', () => {
    expect(vectors.version).toBe(SIGNING_SPEC_VERSION);
    expect(vectors.types).toEqual(CUSTODY_EVENT_TYPES);
    expect(domainSeparator(domain)).toBe(vectors.domainSeparator);
    expect(TypedDataEncoder.hashDomain({ ...vectors.domain })).toBe(vectors.domainSeparator);
  });

  it.each(vectors.events.map((v, i) => [i, v] as const))('reproduces digest, signatures and leaf of event %i', async (_i, v) => {
    const event = fields(v);
    const digest = custodyEventDigest(vectors.domainSeparator, event);
    expect(digest).toBe(v.digest);
    // an independent EIP-712 implementation path (ethers' full typed-data hash) agrees
    expect(TypedDataEncoder.hash(domain, CUSTODY_EVENT_TYPES, event)).toBe(v.digest);
    const device = new Wallet(vectors.privateKeys.device);
    expect(await device.signTypedData(domain, CUSTODY_EVENT_TYPES, event)).toBe(v.signature);
    expect(verifyTypedData(domain, CUSTODY_EVENT_TYPES, event, v.signature)).toBe(v.signer);
    expect(signaturesHash(v.signature, v.counterSignature)).toBe(v.signaturesHash);
    expect(custodyLeaf(v.digest, v.signaturesHash, v.previousLeaf)).toBe(v.leaf);
    const ozTree = StandardMerkleTree.of([[v.digest, v.signaturesHash, v.previousLeaf]], ['bytes32', 'bytes32', 'bytes32']);
    expect(ozTree.leafHash([v.digest, v.signaturesHash, v.previousLeaf])).toBe(v.leaf);
  });

  it('chains each leaf to the previous one, starting from zero', () => {
    expect(vectors.events[0].previousLeaf).toBe('0x' + '00'.repeat(32));
    for (let i = 1; i < vectors.events.length; i++) expect(vectors.events[i].previousLeaf).toBe(vectors.events[i - 1].leaf);
  });

  it('recovers the device and the counter-signer through the batch verifier', () => {
    const requests = vectors.events.flatMap((v) => [
      { digest: v.digest, signature: v.signature },
      ...(v.counterSignature ? [{ digest: v.digest, signature: v.counterSignature }] : []),
    ]);
    const expected = vectors.events.flatMap((v) => [v.signer, ...(v.counterSigner ? [v.counterSigner] : [])]);
    expect(recoverSigners(requests)).toEqual(expected.map((s) => ({ ok: true, signer: s.toLowerCase() })));
  });

  it('rejects the high-s twin of a valid signature and a truncated signature', () => {
    const v = vectors.events[0];
    const sig = Signature.from(v.signature);
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
    const highS = '0x' + sig.r.slice(2) + (n - BigInt(sig.s)).toString(16).padStart(64, '0') + (sig.v === 27 ? '1c' : '1b');
    const [high, short] = recoverSigners([
      { digest: v.digest, signature: highS },
      { digest: v.digest, signature: v.signature.slice(0, 100) },
    ]);
    expect(high).toEqual({ ok: false, reason: expect.stringContaining('high-s') });
    expect(short.ok).toBe(false);
  });

  it('builds the pinned batch tree whose proofs verify with StandardMerkleTree', async () => {
    const tree = await buildBatchTree(vectors.merkle.leaves);
    expect(tree.root).toBe(vectors.merkle.root);
    expect(tree.proofs).toEqual(vectors.merkle.proofs);
    for (const [i, v] of vectors.events.entries()) {
      expect(StandardMerkleTree.verify(vectors.merkle.root, ['bytes32', 'bytes32', 'bytes32'], [v.digest, v.signaturesHash, v.previousLeaf], vectors.merkle.proofs[i])).toBe(true);
      expect(await rootFromProof(v.leaf, vectors.merkle.proofs[i])).toBe(vectors.merkle.root);
    }
  });
});

describe('batch trees', () => {
  it.each([1, 2, 3, 7, 64, 101])('proves every leaf of a %i-leaf tree, odd counts included', async (count) => {
    const leaves = Array.from({ length: count }, (_, i) => StandardMerkleTree.of([[`0x${(i + 1).toString(16).padStart(64, '0')}`]], ['bytes32']).root);
    const tree = await buildBatchTree(leaves);
    const oz = StandardMerkleTree.of(leaves.map((l) => [l]), ['bytes32']);
    expect(oz.root).toBeDefined();
    for (let i = 0; i < count; i++) expect(await rootFromProof(leaves[i], tree.proofs[i])).toBe(tree.root);
    // a wrong leaf does not reach the root
    expect(await rootFromProof('0x' + 'ab'.repeat(32), tree.proofs[0])).not.toBe(tree.root);
  });

  it('refuses an empty batch', async () => {
    await expect(buildBatchTree([])).rejects.toThrow('at least one leaf');
  });
});
