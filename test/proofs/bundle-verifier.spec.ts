import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY, startEmbeddedChain, type EmbeddedChain } from '../../src/anchoring/embedded-chain';
import { verifyProofBundle, type VerificationCheck, type VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundle } from '../../src/proofs/pod-bundle';
import { trustFromFlags, type TrustFile } from '../../src/proofs/trust-root';

const ROOT = path.resolve(__dirname, '../..');
const VECTOR = path.join(ROOT, 'test/vectors/custody-pod-v1.json');
const pinnedVector = (): ProofBundle => JSON.parse(readFileSync(VECTOR, 'utf8')) as ProofBundle;
/** Where and when this test's chain anchored the vector's root: facts of the chain, not of the format. */
let anchoring: { txHash: string; blockNumber: number; anchoredAt: string } | undefined;
const vector = (): ProofBundle => {
  const b = pinnedVector();
  if (anchoring) Object.assign(b.batches[0], anchoring);
  return b;
};

/** Flips the last hex digit of a 0x string: one changed byte. */
const flip = (hex: string): string => hex.slice(0, -1) + (hex.endsWith('0') ? '1' : '0');

describe('custody-pod/1 verifier: the pinned vector on a real chain, and every tampering', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-verify-'));
  const TRUST = path.join(dir, 'trust.json');
  const ANCHORED = path.join(dir, 'vector-anchored.json');
  let trust: TrustFile;
  let chain: EmbeddedChain;
  let provider: JsonRpcProvider;
  let anchor: Contract;

  beforeAll(async () => {
    chain = await startEmbeddedChain({ port: 0 });
    provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    const deployer = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
    const { address } = await deployCustodyAnchor(deployer, { admin: deployer.address, anchorer: deployer.address });
    // the vector's domain names the first contract account #0 deploys on a fresh Hardhat chain
    expect(address).toBe(vector().signing.domain.verifyingContract);
    anchor = new Contract(address, CUSTODY_ANCHOR_ABI, deployer);
    const tx = (await anchor.getFunction('anchorBatch')(0n, vector().batches[0].root, vector().batches[0].leafCount)) as { wait(): Promise<{ hash: string; blockNumber: number }> };
    const receipt = await tx.wait();
    const block = await provider.getBlock(receipt.blockNumber);
    anchoring = { txHash: receipt.hash, blockNumber: receipt.blockNumber, anchoredAt: new Date(block!.timestamp * 1000).toISOString() };
    trust = trustFromFlags('31337', address);
    writeFileSync(TRUST, JSON.stringify(trust));
    writeFileSync(ANCHORED, JSON.stringify(vector()));
  });

  afterAll(async () => {
    provider?.destroy();
    await chain?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const verify = (bundle: unknown, pin: TrustFile | null = trust): Promise<VerificationReport> => verifyProofBundle(bundle, { rpcUrl: chain.rpcUrl, trust: pin });
  const checksOf = (r: VerificationReport): VerificationCheck[] => [...new Set(r.failures.map((f) => f.check))].sort();

  it('passes every check of the pinned vector: digest, signer, leaf, link, proof, root; a /1 bundle is at best INCOMPLETE', async () => {
    const report = await verify(vector());
    expect(report.failures).toEqual([]);
    expect(report).toMatchObject({ verdict: 'INCOMPLETE', eventsChecked: 4, batchesChecked: 1, pendingEventIds: [], trackingNumber: '1Z999AA10123456784', chainId: '31337', bundleFormat: 'custody-pod/1' });
    // a /1 bundle proves neither completeness nor key ownership, and says so
    expect(report.state).toMatchObject({ completeness: 'NOT_PROVEN', keyOwnership: 'NOT_PROVEN' });
    expect(report.limitations.join(' ')).toContain('custody-pod/1 bundles carry no state proofs');
    expect(report.ledgerStatements.map((st) => st.field)).toEqual(expect.arrayContaining(['events[0].signerOrganization', 'events[2].correctedBy', 'shipment.status']));
    expect(report.batches).toEqual([{ seq: '0', contract: trust.anchors[0].contract, ...anchoring, confirmations: expect.any(Number) }]);
  });

  it('is at best UNPINNED without a trust root, and INVALID against someone else’s', async () => {
    expect((await verify(vector(), null)).verdict).toBe('UNPINNED');
    const other = await verify(vector(), trustFromFlags('31337', '0x000000000000000000000000000000000000dEaD'));
    expect(other.verdict).toBe('INVALID');
    expect(checksOf(other)).toContain('TRUST_ROOT');
  });

  it.each([
    ['the anchoring block moved, the transaction dropped (the block check is never skipped)', (b: ProofBundle) => Object.assign(b.batches[0], { blockNumber: 1, txHash: null }), 'ANCHOR_TX'],
    ['another transaction named', (b: ProofBundle) => void (b.batches[0].txHash = '0x' + 'ab'.repeat(32)), 'ANCHOR_TX'],
    ['the anchoring time moved a day earlier', (b: ProofBundle) => void (b.batches[0].anchoredAt = new Date(Date.parse(b.batches[0].anchoredAt!) - 86_400_000).toISOString()), 'ANCHOR_TIME'],
    ['dual attestation claimed without a counter-signature', (b: ProofBundle) => void (b.events[0].dualAttested = true), 'DUAL_ATTESTATION'],
    ['evidence metadata naming another hash', (b: ProofBundle) => void (b.events[3].evidence = { contentType: 'image/jpeg', sizeBytes: 1, hash: '0x' + '12'.repeat(32) }), 'EVIDENCE'],
    ['a leaf count the contract does not hold', (b: ProofBundle) => void (b.batches[0].leafCount = 5), 'BATCH_ROOT'],
  ])('detects %s', async (_what, mutate, check) => {
    const bundle = vector();
    mutate(bundle);
    const report = await verify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toContain(check);
  });

  const tampered: Array<[string, (b: ProofBundle) => void, VerificationCheck[], number | null]> = [
    ['one changed byte in a signed field (occurredAt + 1 ms)', (b) => void (b.events[1].fields.occurredAt = String(BigInt(b.events[1].fields.occurredAt) + 1n)), ['DIGEST', 'LEAF', 'SIGNATURE'], 1],
    ['one changed byte in the custodian slug', (b) => void (b.events[2].fields.custodian = 'berlin-hux'), ['DIGEST', 'LEAF', 'SIGNATURE'], 2],
    ['one changed byte in the evidence hash', (b) => void (b.events[3].fields.evidenceHash = flip(b.events[3].fields.evidenceHash)), ['DIGEST', 'LEAF', 'SIGNATURE'], 3],
    ['a signature from another key (digest and hashes made consistent)', (b) => {
      const other = new Wallet('0x' + '11'.repeat(32));
      b.events[0].signature = other.signingKey.sign(b.events[0].digest).serialized;
    }, ['LEAF', 'SIGNATURE', 'SIGNATURES_HASH'], 0],
    ['a counter-signature from another key', (b) => void (b.events[2].counterSignature = new Wallet('0x' + '22'.repeat(32)).signingKey.sign(b.events[2].digest).serialized), ['COUNTER_SIGNATURE', 'LEAF', 'SIGNATURES_HASH'], 2],
    ['a swapped proof element', (b) => void (b.events[1].proof = [...b.events[1].proof!].reverse()), ['MERKLE_PROOF'], 1],
    ['a changed proof element', (b) => void (b.events[0].proof![0] = flip(b.events[0].proof![0])), ['MERKLE_PROOF'], 0],
    ['a wrong root', (b) => void (b.batches[0].root = flip(b.batches[0].root)), ['BATCH_ROOT', 'MERKLE_PROOF'], null],
    ['a dropped event', (b) => void b.events.splice(1, 1), ['CHAIN'], 1],
    ['a dropped last event', (b) => void b.events.pop(), ['CHAIN'], null],
    ['two events reordered', (b) => void ([b.events[1], b.events[2]] = [b.events[2], b.events[1]]), ['CHAIN'], 1],
    ['a leaf claimed for other values', (b) => void (b.events[3].leaf = flip(b.events[3].leaf)), ['LEAF'], 3],
  ];

  it.each(tampered)('detects %s', async (_what, mutate, checks, eventIndex) => {
    const bundle = vector();
    mutate(bundle);
    const report = await verify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(expect.arrayContaining(checks));
    if (eventIndex !== null) expect(report.failures.some((f) => f.eventIndex === eventIndex)).toBe(true);
  });

  it('detects a bundle from another chain id', async () => {
    const bundle = vector();
    bundle.signing.domain.chainId = '1';
    bundle.batches[0].chainId = '1';
    const report = await verify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(report.failures).toEqual(expect.arrayContaining([expect.objectContaining({ check: 'DOMAIN', message: 'the bundle was signed for chain 1, but the RPC endpoint serves chain 31337' })]));
    // and the signatures no longer match the domain either
    expect(checksOf(report)).toEqual(expect.arrayContaining(['DIGEST', 'SIGNATURE']));
  });

  it('detects a bundle naming another contract', async () => {
    const bundle = vector();
    bundle.signing.domain.verifyingContract = '0x000000000000000000000000000000000000dEaD';
    const report = await verify(bundle);
    expect(checksOf(report)).toEqual(expect.arrayContaining(['TRUST_ROOT', 'DIGEST', 'SIGNATURE']));
  });

  it('detects a batch that is not on chain', async () => {
    const bundle = vector();
    for (const e of bundle.events) e.batchSeq = '7';
    bundle.batches[0].seq = '7';
    const report = await verify(bundle);
    expect(report.failures).toEqual([expect.objectContaining({ check: 'BATCH_ROOT', batchSeq: '7', message: expect.stringContaining('is not on chain') })]);
  });

  it('calls a bundle whose batch is still being anchored INCOMPLETE, not VALID', async () => {
    const bundle = vector();
    for (const e of bundle.events) e.batchSeq = '1';
    Object.assign(bundle.batches[0], { seq: '1', status: 'SEALED', chainId: null, contractAddress: null, txHash: null, blockNumber: null, anchoredAt: null });
    const report = await verify(bundle);
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('INCOMPLETE');
    expect(report.pendingEventIds).toHaveLength(4);
  });

  it.each([
    ['not an object', 'hello'],
    ['another format', { ...vector(), format: 'custody-pod/2' }],
    ['no events', { ...vector(), events: [] }],
    ['a truncated signature', (() => { const b = vector(); b.events[0].signature = b.events[0].signature.slice(0, 20); return b; })()],
  ])('rejects a malformed bundle (%s) as FORMAT without touching the chain', async (_what, bundle) => {
    const report = await verify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toEqual(['FORMAT']);
  });

  describe('npx custody verify', () => {
    const run = (args: string[]): Promise<{ code: number | null; out: string }> => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/custody.js'), ...args], { cwd: ROOT, env: { PATH: process.env.PATH } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      return new Promise((resolve) => child.on('exit', (code) => resolve({ code, out })));
    };

    it('passes every check of a good /1 bundle with the trust file or with --contract/--chain-id, and exits 1 with INCOMPLETE: no state proofs', async () => {
      for (const pin of [['--trust', TRUST], ['--contract', trust.anchors[0].contract, '--chain-id', '31337']]) {
        const { code, out } = await run(['verify', ANCHORED, '--rpc', chain.rpcUrl, ...pin]);
        expect(out).not.toContain('FAILED');
        expect(out).toContain('custody-pod/1 bundles carry no state proofs');
        expect(out).toContain('ledger statements (not proven):');
        expect(out).toContain('verdict     INCOMPLETE');
        expect(code).toBe(1);
      }
    });

    it('exits 1 with UNPINNED, naming the contract the bundle claims, when no trust root is given', async () => {
      const { code, out } = await run(['verify', ANCHORED, '--rpc', chain.rpcUrl]);
      expect(out).toContain('verdict     UNPINNED');
      expect(out).toContain(`contract ${trust.anchors[0].contract}`);
      expect(code).toBe(1);
    });

    it('prints help and exits 0', async () => {
      const { code, out } = await run(['verify', '--help']);
      expect(out).toContain('--trust <file>');
      expect(code).toBe(0);
    });

    it('exits 1 and names the event and the check for a tampered bundle', async () => {
      const bundle = vector();
      bundle.events[2].fields.locationCode = 'SOMEWHERE-ELSE';
      const file = path.join(dir, 'tampered.json');
      writeFileSync(file, JSON.stringify(bundle));
      const { code, out } = await run(['verify', file, '--rpc', chain.rpcUrl, '--trust', TRUST, '--json']);
      expect(code).toBe(1);
      const report = JSON.parse(out) as VerificationReport;
      expect(report.verdict).toBe('INVALID');
      expect(report.failures).toEqual(expect.arrayContaining([expect.objectContaining({ check: 'DIGEST', eventIndex: 2, eventId: bundle.events[2].eventId })]));
    });

    it('exits 2 with usage when the RPC URL is missing', async () => {
      const { code, out } = await run(['verify', VECTOR]);
      expect(code).toBe(2);
      expect(out).toContain('usage: custody verify <bundle.json> --rpc');
    });
  });
});
