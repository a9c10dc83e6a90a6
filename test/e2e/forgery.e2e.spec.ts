import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Contract, JsonRpcProvider, Wallet, id, type Provider } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../../src/anchoring/custody-anchor';
import { buildBatchTree } from '../../src/batching/merkle';
import { verifyProofBundle, type VerificationCheck, type VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV3 } from '../../src/proofs/pod-bundle';
import type { TrustFile } from '../../src/proofs/trust-root';
import { CUSTODY_EVENT_TYPES, custodyEventDigest, custodyLeaf, custodySigningDomain, domainSeparator, signaturesHash, ZERO_HASH, type CustodyEventFields, type CustodySigningDomain } from '../../src/signing/custody-signing';
import { batchRootV2, stateCommitment, shipmentStateKey, shipmentStateValue, signingKeyStateKey, signingKeyStateValue, stateProof, stateRoot } from '../../src/state/custody-state';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { HOUR, asPodV1, recordCorrectedDelivery, sealAndFinalize } from '../support/pod-fixtures';
import { eventFields, fetchDomain, mustGql, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

const ROOT = path.resolve(__dirname, '../..');
/** Hardhat's funded dev account #1: the forger pays for a contract of their own (account #0 is the ledger's anchorer). */
const FORGER_PRIVATE_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
const T0 = Date.now() - 48 * HOUR;
const at = (h: number): bigint => BigInt(T0 + Math.round(h * HOUR));
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const checksOf = (r: { failures: Array<{ check: string }> }): string[] => [...new Set(r.failures.map((f) => f.check))].sort();

const VERIFY_GQL = `query($b: JSON!) { verifyProofBundle(bundle: $b) { verdict failures { check eventIndex message } state { provenAtSeq latestSeq completeness keyOwnership } ledgerStatements { field value } limitations } }`;

/**
 * The forgeries of issue 8, each tried by the three verifiers a user has: the exported function,
 * `npx custody verify` and the GraphQL query. Every one must be refused with a named check.
 */
describe('forged proof-of-delivery bundles are refused by every verifier', () => {
  let t: TestLedger;
  let domain: CustodySigningDomain;
  let trust: TrustFile;
  let good: ProofBundleV3;
  let dir: string;
  const TRACKING = 'FORGE-0001';
  let ids: string[] = [];

  const fn = (bundle: unknown, trustFile: TrustFile | null = trust): Promise<VerificationReport> => verifyProofBundle(clone(bundle), { rpcUrl: t.ledger.rpcUrl, trust: trustFile });

  /** The CLI as a user runs it, in its own process (asynchronously: the chain it asks lives in this one). */
  async function cli(bundle: unknown, args: string[] = []): Promise<{ status: number | null; report: VerificationReport | null; text: string }> {
    const file = path.join(dir, `bundle-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(file, JSON.stringify(bundle));
    const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [path.join(ROOT, 'bin/custody.js'), 'verify', file, '--rpc', t.ledger.rpcUrl, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
      });
    });
    let report: VerificationReport | null = null;
    try {
      report = JSON.parse(run.stdout) as VerificationReport;
    } catch {
      report = null;
    }
    return { status: run.status, report, text: run.stdout + run.stderr };
  }

  const gqlVerify = async (bundle: unknown): Promise<VerificationReport> => (await mustGql<{ verifyProofBundle: VerificationReport }>(t, VERIFY_GQL, { b: bundle })).verifyProofBundle;

  const bundleOf = async (tracking: string): Promise<ProofBundleV3> =>
    (await mustGql<{ proofOfDelivery: ProofBundleV3 }>(t, `query($n: String!) { proofOfDelivery(trackingNumber: $n, carrier: "acme-express") }`, { n: tracking })).proofOfDelivery;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'custody-forgery-'));
    t = await startTestLedger();
    domain = await fetchDomain(t);
    await registerOrganization(t, 'shop-one', 'MERCHANT');
    await registerOrganization(t, 'acme-express', 'CARRIER');
    await registerOrganization(t, 'rival-post', 'CARRIER');
    await registerOrganization(t, 'berlin-hub', 'CARRIER');
    const acme = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    const hub = await registerKey(t, 'berlin-hub', undefined, new Date(T0 - HOUR));
    await registerKey(t, 'rival-post', undefined, new Date(T0 - HOUR));
    ids = await recordCorrectedDelivery(t, domain, TRACKING, acme, hub, at);
    await sealAndFinalize(t);
    good = await bundleOf(TRACKING);
    trust = (await (await fetch(t.url.replace('/graphql', '/trust.json'))).json()) as TrustFile;
    writeFileSync(path.join(dir, 'trust.json'), JSON.stringify(trust));
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the service publishes its trust root: chain id, contract and first batch, also without an API key', async () => {
    expect(trust).toEqual({ format: 'custody-trust/1', anchors: [{ chainId: '31337', contract: t.ledger.contractAddress, fromSeq: '0', deploymentBlock: expect.any(Number) }] });
    const viaGraphQL = await t.gql<{ trustRoot: TrustFile }>(`{ trustRoot }`, undefined, false);
    expect(viaGraphQL.data?.trustRoot).toEqual(trust);
  });

  it('a delivered, corrected, counter-signed shipment verifies VALID with completeness and key ownership proven', async () => {
    expect(good.format).toBe('custody-pod/3');
    expect(good.events.map((e) => e.consent?.kind ?? null)).toEqual(['DESIGNATED', 'COUNTER_SIGNED', null, null, null, null]);
    expect(good.events.map((e) => e.fields.eventType)).toEqual(['PICKED_UP', 'HANDOFF', 'OUT_FOR_DELIVERY', 'DELIVERED', 'CORRECTION', 'DELIVERED']);
    expect(good.events[1]).toMatchObject({ dualAttested: true, counterSignerOrganization: 'acme-express' });
    expect(good.events[3].correctedBy).toBe(ids[4]);
    expect(good.events[4]).toMatchObject({ correctsEventId: ids[3], extraData: expect.stringContaining(ids[3]) });
    const report = await fn(good);
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('VALID');
    expect(report.state).toMatchObject({ provenAtSeq: '0', latestSeq: '0', completeness: 'PROVEN', keyOwnership: 'PROVEN' });
    // what the chain cannot prove is reported, not trusted
    const fields = report.ledgerStatements.map((s) => s.field);
    expect(fields).toEqual(expect.arrayContaining(['shipment.status', 'shipment.destination', 'shipment.merchant', 'events[3].evidence.contentType', 'findings']));
    const cli0 = await cli(good, ['--trust', path.join(dir, 'trust.json'), '--json']);
    expect(cli0.status).toBe(0);
    expect(cli0.report?.verdict).toBe('VALID');
    const text = await cli(good, ['--trust', path.join(dir, 'trust.json')]);
    expect(text.status).toBe(0);
    expect(text.text).toMatch(/ledger statements \(not proven\)/i);
    expect(text.text).toMatch(/verdict\s+VALID/);
    expect((await gqlVerify(good)).verdict).toBe('VALID');
  });

  it('the same bundle checks out on chain: the contract views settle events, head and key records against the anchored state', async () => {
    const provider = new JsonRpcProvider(t.ledger.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
    try {
      const anchor = new Contract(t.ledger.contractAddress, CUSTODY_ANCHOR_ABI, provider);
      const view = (name: string, ...args: unknown[]): Promise<boolean> => anchor.getFunction(name).staticCall(...args) as Promise<boolean>;
      const s = good.state!;
      // event proofs of custody-tree/2 batches check with the same verifyInclusion as before
      for (const e of good.events) expect(await view('verifyInclusion', BigInt(e.batchSeq!), custodyLeaf(e.digest, e.signaturesHash, e.previousLeaf), e.proof)).toBe(true);
      expect(await view('verifyState', BigInt(s.seq), s.eventsRoot, s.stateRoot)).toBe(true);
      expect(await view('verifyShipmentHead', BigInt(s.seq), s.eventsRoot, s.stateRoot, 'acme-express', TRACKING, s.shipment.headLeaf, s.shipment.eventCount, s.shipment.proof)).toBe(true);
      // an escrow shown the cut-off bundle of forgery 5 would be asked to accept an older head: refused
      expect(await view('verifyShipmentHead', BigInt(s.seq), s.eventsRoot, s.stateRoot, 'acme-express', TRACKING, good.events[3].leaf, 4, s.shipment.proof)).toBe(false);
      expect(s.signingKeys.length).toBe(2);
      for (const k of s.signingKeys) {
        expect(await view('verifySigningKey', BigInt(s.seq), s.eventsRoot, s.stateRoot, k.address, k.organization, BigInt(k.validFromMs), BigInt(k.revokedAtMs ?? 0), k.proof)).toBe(true);
        expect(await view('verifySigningKey', BigInt(s.seq), s.eventsRoot, s.stateRoot, k.address, 'rival-post', BigInt(k.validFromMs), BigInt(k.revokedAtMs ?? 0), k.proof)).toBe(false);
      }
    } finally {
      provider.destroy();
    }
  });

  const forgeries: Array<[string, (b: ProofBundleV3) => void, VerificationCheck]> = [
    ['1: blockNumber moved before the anchor, txHash removed', (b) => {
      b.batches[0].blockNumber = 1;
      b.batches[0].txHash = null;
    }, 'ANCHOR_TX'],
    ['2: anchoredAt moved a day earlier', (b) => void (b.batches[0].anchoredAt = new Date(Date.parse(b.batches[0].anchoredAt!) - 24 * HOUR).toISOString()), 'ANCHOR_TIME'],
    ['3: dualAttested claimed for an event without a counter-signature', (b) => void (b.events[2].dualAttested = true), 'DUAL_ATTESTATION'],
    ['4: evidence metadata naming another hash than the signed one', (b) => void (b.events[3].evidence!.hash = id('another photo')), 'EVIDENCE'],
    ['5: the last events cut off, head and count rewritten', (b) => {
      b.events.splice(4);
      b.shipment.headLeaf = b.events[3].leaf;
      b.shipment.eventCount = 4;
      b.events[3].correctedBy = null;
    }, 'COMPLETENESS'],
    ['6: the CORRECTION voiding a DELIVERED cut off', (b) => {
      b.events.splice(4);
      b.shipment.headLeaf = b.events[3].leaf;
      b.shipment.eventCount = 4;
      b.events[3].correctedBy = null;
      b.shipment.status = 'DELIVERED';
    }, 'COMPLETENESS'],
    ['7: a CORRECTION re-pointed at another event', (b) => {
      b.events[4].correctsEventId = b.events[2].eventId;
      b.events[2].correctedBy = b.events[4].eventId;
      b.events[3].correctedBy = null;
    }, 'CORRECTION'],
    ['9: signerOrganization changed to another organization', (b) => void (b.events[0].signerOrganization = 'rival-post'), 'KEY_OWNERSHIP'],
    ['9b: a key record claiming another organization (its proof then fails)', (b) => {
      const record = b.state!.signingKeys.find((k) => k.address.toLowerCase() === b.events[0].signer.toLowerCase())!;
      record.organization = 'rival-post';
      b.events[0].signerOrganization = 'rival-post';
    }, 'KEY_OWNERSHIP'],
    ['the shipment head proof against another state root', (b) => void (b.state!.stateRoot = b.batches[0].eventsRoot), 'STATE_ROOT'],
    ['a changed byte in a signed field', (b) => void (b.events[1].fields.occurredAt = String(BigInt(b.events[1].fields.occurredAt) + 1n)), 'DIGEST'],
    ['a signature from another key', (b) => void (b.events[0].signature = newWallet().signingKey.sign(b.events[0].digest).serialized), 'SIGNATURE'],
    ['a counter-signature from another key', (b) => void (b.events[1].counterSignature = newWallet().signingKey.sign(b.events[1].digest).serialized), 'COUNTER_SIGNATURE'],
    ['a swapped proof element', (b) => void (b.events[0].proof = [...b.events[0].proof!].reverse()), 'MERKLE_PROOF'],
    ['a wrong batch root', (b) => void (b.batches[0].root = id('another root')), 'BATCH_ROOT'],
    ['a dropped middle event', (b) => void b.events.splice(2, 1), 'CHAIN'],
    ['two events reordered', (b) => void ([b.events[1], b.events[2]] = [b.events[2], b.events[1]]), 'CHAIN'],
    ['a leaf claimed for other values', (b) => void (b.events[5].leaf = id('other leaf')), 'LEAF'],
    ['extra data that is not what dataHash commits to', (b) => void (b.events[4].extraData = b.events[4].extraData!.replace('neighbour', 'neighbor')), 'EXTRA_DATA'],
    ['a dropped first event', (b) => void b.events.shift(), 'CHAIN'],
    ['a dropped last event', (b) => void b.events.pop(), 'CHAIN'],
    ['another chain id claimed', (b) => void (b.signing.domain.chainId = '1'), 'TRUST_ROOT'],
    ['another contract claimed', (b) => void (b.signing.domain.verifyingContract = '0x000000000000000000000000000000000000dEaD'), 'TRUST_ROOT'],
    ['a batch that is not on chain', (b) => {
      for (const e of b.events) e.batchSeq = '7';
      b.batches[0].seq = '7';
    }, 'BATCH_ROOT'],
    ['a signed event replayed at the end (its eventId twice)', (b) => void b.events.push(clone(b.events[1])), 'CHAIN'],
    ['a batch said to be only sealed, with an old block and time', (b) => Object.assign(b.batches[0], { status: 'SEALED', txHash: null, blockNumber: 1, anchoredAt: '2020-01-01T00:00:00.000Z' }), 'ANCHOR_TX'],
    ['a batch claiming another chain', (b) => void (b.batches[0].chainId = '1'), 'DOMAIN'],
    ['a batch listed twice', (b) => void b.batches.push(clone(b.batches[0])), 'FORMAT'],
    ['an unsigned field slipped in among the signed ones', (b) => void ((b.events[3].fields as unknown as Record<string, unknown>).recipientName = 'Mallory'), 'FORMAT'],
    ['a hash wrapped in an array', (b) => void ((b.events[2] as unknown as Record<string, unknown>).correctsEventId = [b.events[1].eventId]), 'FORMAT'],
    ['a lone surrogate in extra data', (b) => void (b.events[4].extraData = '\ud800'), 'FORMAT'],
    ['occurredAt beyond uint64', (b) => void (b.events[0].fields.occurredAt = '99999999999999999999'), 'FORMAT'],
    ['a time without a time zone', (b) => void (b.batches[0].anchoredAt = b.batches[0].anchoredAt!.replace('Z', '')), 'FORMAT'],
    ['a proof element wrapped in an array', (b) => void ((b.events[0].proof as unknown[])[0] = [b.events[0].proof![0]]), 'FORMAT'],
    ['a state sibling that is not 32 bytes of hex', (b) => void (b.state!.shipment.proof[0] = '0xzz' + b.state!.shipment.proof[0].slice(4)), 'FORMAT'],
    ['a key record without its revocation field', (b) => void delete (b.state!.signingKeys[0] as Partial<(typeof b.state & object)['signingKeys'][number]>).revokedAtMs, 'FORMAT'],
    ['a signer organization that is not text', (b) => void ((b.events[1] as unknown as Record<string, unknown>).signerOrganization = { slug: 'acme-express' }), 'FORMAT'],
    ['a chain id of 78 digits', (b) => void (b.signing.domain.chainId = '9'.repeat(78)), 'FORMAT'],
  ];

  it.each(forgeries)('forgery %s: the exported function says INVALID', async (_what, mutate, check) => {
    const bundle = clone(good);
    mutate(bundle);
    const report = await fn(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toContain(check);
  });

  it.each(forgeries)('forgery %s: GraphQL verifyProofBundle says INVALID', async (what, mutate, check) => {
    const bundle = clone(good);
    mutate(bundle);
    if (what.includes('lone surrogate')) {
      // refused at the API's edge before any resolver runs: not text anyone meant
      const res = await t.gql(VERIFY_GQL, { b: bundle });
      expect(res.errors?.[0].extensions?.code).toBe('BAD_USER_INPUT');
      return;
    }
    const report = await gqlVerify(bundle);
    expect(report.verdict).toBe('INVALID');
    expect(checksOf(report)).toContain(check);
  });

  it('every forgery: `custody verify --trust` exits 1 with the named check', async () => {
    const outcomes = await mapLimit(forgeries, 3, async ([what, mutate, check]) => {
      const bundle = clone(good);
      mutate(bundle);
      const run = await cli(bundle, ['--trust', path.join(dir, 'trust.json'), '--json']);
      return { what, status: run.status, verdict: run.report?.verdict, caught: run.report ? checksOf(run.report).includes(check) : false };
    });
    expect(outcomes).toEqual(forgeries.map(([what]) => ({ what, status: 1, verdict: 'INVALID', caught: true })));
  }, 300_000);

  it('relabelled as custody-pod/1 with the correction cut off (no state to contradict it): never VALID, and the CLI exits 1', async () => {
    const v2 = clone(good);
    v2.events.splice(4);
    Object.assign(v2.shipment, { headLeaf: v2.events[3].leaf, eventCount: 4 });
    v2.events[3].correctedBy = null;
    const v1 = asPodV1(v2);
    const report = await fn(v1);
    expect(report.failures).toEqual([]);
    expect(report.verdict).toBe('INCOMPLETE');
    expect(report.state.completeness).toBe('NOT_PROVEN');
    const run = await cli(v1, ['--trust', path.join(dir, 'trust.json')]);
    expect(run.status).toBe(1);
    expect(run.text).toMatch(/verdict\s+INCOMPLETE/);
  });

  it('changed status, flags, findings and destination verify, but are listed as the ledger’s unproven statements with the changed values', async () => {
    const bundle = clone(good);
    bundle.shipment.status = 'LOST';
    bundle.events[0].flags = ['LATE_ARRIVAL'];
    bundle.findings = [];
    bundle.shipment.destination = { latE6: 1, lonE6: 2, radiusM: 3 };
    bundle.events[1].dualAttested = false; // counter-signed all the same: denying it proves nothing either
    const report = await fn(bundle);
    expect(report.verdict).toBe('VALID');
    const statement = (field: string): unknown => report.ledgerStatements.find((s) => s.field === field)?.value;
    expect(statement('shipment.status')).toBe('LOST');
    expect(statement('events[0].flags')).toEqual(['LATE_ARRIVAL']);
    expect(statement('findings')).toEqual([]);
    expect(statement('shipment.destination')).toEqual({ latE6: 1, lonE6: 2, radiusM: 3 });
    expect(statement('events[1].dualAttested')).toBe(false);
  });

  describe('8: a whole bundle made with the forger’s own keys, anchored on the forger’s own CustodyAnchor', () => {
    let forged: ProofBundleV3;
    let forgerTrust: TrustFile;

    beforeAll(async () => {
      const provider = new JsonRpcProvider(t.ledger.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
      try {
        ({ forged, forgerTrust } = await forgeWholeBundle(good, provider));
      } finally {
        provider.destroy();
      }
    }, 60_000);

    it('is VALID only against the forger’s own trust root: the forgery itself is sound', async () => {
      const report = await fn(forged, forgerTrust);
      expect(report.failures).toEqual([]);
      expect(report.verdict).toBe('VALID');
    });

    it('is refused against the ledger’s trust root (exported function, GraphQL, CLI with --trust and with --contract/--chain-id)', async () => {
      const report = await fn(forged);
      expect(report.verdict).toBe('INVALID');
      expect(checksOf(report)).toContain('TRUST_ROOT');
      const viaGraphQL = await gqlVerify(forged);
      expect(viaGraphQL.verdict).toBe('INVALID');
      expect(checksOf(viaGraphQL)).toContain('TRUST_ROOT');
      for (const args of [['--trust', path.join(dir, 'trust.json')], ['--contract', trust.anchors[0].contract, '--chain-id', '31337']]) {
        const run = await cli(forged, [...args, '--json']);
        expect(run.status).toBe(1);
        expect(checksOf(run.report!)).toContain('TRUST_ROOT');
      }
    });

    it('without a pinned root, `custody verify` never says VALID: it names the root the bundle claims and exits non-zero', async () => {
      const run = await cli(forged);
      expect(run.status).toBe(1);
      expect(run.text).toContain(forged.signing.domain.verifyingContract);
      expect(run.text).toMatch(/verdict\s+UNPINNED/);
      expect((await fn(forged, null)).verdict).toBe('UNPINNED');
      // and the genuine bundle is not VALID without a pin either
      expect((await cli(good)).status).toBe(1);
    });
  });

  it('a tenant cannot void its own signed handoff by revoking the key retroactively: the revocation is refused and changes nothing', async () => {
    const hubKey = good.events[1].signer;
    const before = await t.fingerprint();
    const res = await t.gql(`mutation($i: RevokeSigningKeyInput!) { revokeSigningKey(input: $i) { address revokedAt } }`, {
      i: { address: hubKey, reason: 'lost the scanner', revokedAt: new Date(Number(good.events[1].fields.occurredAt) - 60_000).toISOString() },
    });
    expect(res.errors?.[0].extensions?.code).toBe('REVOCATION_BEFORE_USE');
    expect(res.errors?.[0].message).toContain(new Date(Number(good.events[5].fields.occurredAt)).toISOString());
    expect(await t.fingerprint()).toEqual(before);
    expect((await fn(good)).verdict).toBe('VALID');
  });

  it('reports STALE, with both seqs, when the chain holds a later state than the bundle was proven against; a fresh bundle is VALID again', async () => {
    await mustGql(t, `mutation($i: CreateShipmentInput!) { createShipment(input: $i) { id } }`, { i: { trackingNumber: 'FORGE-0002', carrier: 'acme-express', merchant: 'shop-one' } });
    const acme2 = await registerKey(t, 'acme-express', undefined, new Date(T0 - HOUR));
    const r = await record(t, [await signEvent(domain, acme2, eventFields({ trackingNumber: 'FORGE-0002', carrier: 'acme-express', eventType: 'PICKED_UP', custodian: 'acme-express', occurredAt: at(2) }))]);
    expect(r[0].outcome).toBe('ACCEPTED');
    const seq = await sealAndFinalize(t);
    const stale = await fn(good);
    expect(stale.verdict).toBe('STALE');
    expect(stale.state).toMatchObject({ provenAtSeq: '0', latestSeq: seq });
    const run = await cli(good, ['--trust', path.join(dir, 'trust.json')]);
    expect(run.status).toBe(1);
    expect(run.text).toMatch(/verdict\s+STALE/);
    const freshBundle = await bundleOf(TRACKING);
    const fresh = await fn(freshBundle);
    expect(fresh.verdict).toBe('VALID');
    expect(fresh.state).toMatchObject({ provenAtSeq: seq, latestSeq: seq });
    // an honest ledger's states never contradict: the older bundle, given as previous, changes nothing
    const compared = await verifyProofBundle(clone(freshBundle), { rpcUrl: t.ledger.rpcUrl, trust, previous: clone(good) });
    expect({ verdict: compared.verdict, contradiction: compared.contradiction }).toEqual({ verdict: 'VALID', contradiction: null });
    const viaGraphQL = (await mustGql<{ verifyProofBundle: { verdict: string; contradiction: unknown } }>(t, `query($b: JSON!, $p: JSON) { verifyProofBundle(bundle: $b, previous: $p) { verdict contradiction { method } } }`, { b: freshBundle, p: good })).verifyProofBundle;
    expect(viaGraphQL).toEqual({ verdict: 'VALID', contradiction: null });
  });
});

/** Runs `work` over `items`, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await work(items[i]);
      }
    }),
  );
  return results;
}

/**
 * The forger's toolkit: the genuine bundle's facts, re-signed with the forger's own keys for a
 * CustodyAnchor the forger deployed, with a state map that says the forger's keys belong to the
 * genuine organizations, anchored on that contract.
 */
async function forgeWholeBundle(genuine: ProofBundleV3, provider: Provider): Promise<{ forged: ProofBundleV3; forgerTrust: TrustFile }> {
  const deployer = new Wallet(FORGER_PRIVATE_KEY, provider);
  const deployment = await deployCustodyAnchor(deployer, { admin: deployer.address, anchorer: deployer.address });
  const domain = custodySigningDomain(31337n, deployment.address);
  const separator = domainSeparator(domain);
  const keys = new Map<string, Wallet>();
  const forgerKey = (org: string): Wallet => {
    if (!keys.has(org)) keys.set(org, newWallet());
    return keys.get(org)!;
  };
  const forged = clone(genuine);
  forged.signing.domain.verifyingContract = deployment.address;
  let previous = ZERO_HASH;
  for (const e of forged.events) {
    const fields: CustodyEventFields = { ...e.fields, occurredAt: BigInt(e.fields.occurredAt) };
    const signer = forgerKey(e.signerOrganization);
    e.signature = await signer.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
    e.signer = signer.address;
    if (e.counterSignature) {
      const counter = forgerKey(e.counterSignerOrganization!);
      e.counterSignature = await counter.signTypedData(domain, CUSTODY_EVENT_TYPES, fields);
      e.counterSigner = counter.address;
    }
    e.digest = custodyEventDigest(separator, fields);
    e.signaturesHash = signaturesHash(e.signature, e.counterSignature);
    e.previousLeaf = previous;
    e.leaf = custodyLeaf(e.digest, e.signaturesHash, previous);
    previous = e.leaf;
  }
  forged.shipment.headLeaf = previous;
  const tree = await buildBatchTree(forged.events.map((e) => e.leaf));
  forged.events.forEach((e, i) => {
    e.proof = tree.proofs[i];
    e.leafIndex = i;
    e.batchSeq = '0';
  });
  const records = [...keys.entries()].map(([org, wallet]) => ({ address: wallet.address, organization: org, validFromMs: '0', revokedAtMs: null as string | null, key: signingKeyStateKey(wallet.address) }));
  const shipmentKey = shipmentStateKey(forged.shipment.carrier, forged.shipment.trackingNumber);
  const entries = [
    { key: shipmentKey, valueHash: shipmentStateValue(previous, forged.events.length) },
    ...records.map((r) => ({ key: r.key, valueHash: signingKeyStateValue(r.organization, r.validFromMs, r.revokedAtMs) })),
  ];
  const state = stateRoot(entries);
  const root = batchRootV2(tree.root, state);
  // custody-tree/2 event proofs end with the state commitment
  for (const e of forged.events) e.proof = [...e.proof!, stateCommitment(tree.root, state)];
  const anchor = new Contract(deployment.address, CUSTODY_ANCHOR_ABI, deployer);
  const tx = (await anchor.getFunction('anchorBatch')(0n, root, forged.events.length)) as { wait(): Promise<{ blockNumber: number; hash: string }> };
  const receipt = await tx.wait();
  const block = await provider.getBlock(receipt.blockNumber);
  forged.batches = [{ ...forged.batches[0], seq: '0', root, eventsRoot: tree.root, stateRoot: state, leafCount: forged.events.length, contractAddress: deployment.address, txHash: receipt.hash, blockNumber: receipt.blockNumber, anchoredAt: new Date(block!.timestamp * 1000).toISOString() }];
  forged.state = {
    seq: '0',
    root,
    eventsRoot: tree.root,
    stateRoot: state,
    shipment: { key: shipmentKey, headLeaf: previous, eventCount: forged.events.length, proof: stateProof(entries, shipmentKey) },
    signingKeys: records.map((r) => ({ ...r, proof: stateProof(entries, r.key) })),
  };
  return { forged, forgerTrust: { format: 'custody-trust/1', anchors: [{ chainId: '31337', contract: deployment.address, fromSeq: '0', deploymentBlock: deployment.blockNumber }] } };
}
