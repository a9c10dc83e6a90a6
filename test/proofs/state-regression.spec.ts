import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Wallet, id, type Contract, type JsonRpcProvider } from 'ethers';
import { HARDHAT_DEV_PRIVATE_KEY } from '../../src/anchoring/embedded-chain';
import { freshAnchorChain, type AnchorChain } from '../support/anchor-chain';
import { verifyProofBundle, type VerificationReport } from '../../src/proofs/bundle-verifier';
import type { ProofBundleV2 } from '../../src/proofs/pod-bundle';
import { trustFromFlags, type TrustFile } from '../../src/proofs/trust-root';
import { batchRootV2, shipmentStateKey, shipmentStateValue, signingKeyStateKey, signingKeyStateValue, stateProof, stateRoot } from '../../src/state/custody-state';

const VECTOR = path.resolve(__dirname, '../vectors/custody-pod-v2.json');
const pinned = (): ProofBundleV2 => JSON.parse(readFileSync(VECTOR, 'utf8')) as ProofBundleV2;
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/**
 * The operator's attack on the anchored state: it holds the anchoring key, so it can anchor a new
 * state that contradicts an earlier one — a shipment's head rewound (its correction gone), a key
 * given to another organization. A verifier holding one bundle cannot see it; anyone holding the
 * earlier bundle can prove the contradiction on chain, and from then on every verifier refuses the
 * contract's states.
 */
describe('an operator that anchors a state contradicting an earlier one is caught', () => {
  let env: AnchorChain;
  let provider: JsonRpcProvider;
  let anchor: Contract;
  let trust: TrustFile;
  let genuine: ProofBundleV2;

  const verify = (bundle: unknown): Promise<VerificationReport> => verifyProofBundle(clone(bundle), { rpcUrl: env.chain.rpcUrl, trust });
  const mined = async (tx: Promise<unknown>): Promise<{ hash: string; blockNumber: number }> => ((await tx) as { wait(): Promise<{ hash: string; blockNumber: number }> }).wait();

  /** The operator's map and its anchoring as batch `seq`, with `records` as it likes them. */
  async function anchorState(seq: bigint, entries: Array<{ key: string; valueHash: string }>): Promise<{ root: string; eventsRoot: string; stateRoot: string }> {
    const state = stateRoot(entries);
    const eventsRoot = id(`operator events ${seq}`);
    const root = batchRootV2(eventsRoot, state);
    await mined(anchor.getFunction('anchorBatch')(seq, root, 1));
    return { root, eventsRoot, stateRoot: state };
  }

  beforeAll(async () => {
    env = await freshAnchorChain();
    ({ provider, anchor } = env);
    const { deployment } = env;
    genuine = pinned();
    const receipt = await mined(anchor.getFunction('anchorBatch')(0n, genuine.batches[0].root, genuine.batches[0].leafCount));
    const block = await provider.getBlock(receipt.blockNumber);
    Object.assign(genuine.batches[0], { status: 'FINAL', chainId: '31337', contractAddress: deployment.address, txHash: receipt.hash, blockNumber: receipt.blockNumber, anchoredAt: new Date(block!.timestamp * 1000).toISOString() });
    for (const e of genuine.events) e.status = 'FINAL';
    trust = trustFromFlags('31337', deployment.address, '0', deployment.blockNumber);
  });

  afterAll(async () => {
    await env?.close();
  });

  it('the genuine bundle is VALID before the operator acts', async () => {
    expect((await verify(genuine)).verdict).toBe('VALID');
  });

  it('a rewound head (the correction gone) verifies against the new state until someone proves the contradiction on chain; then nothing of the contract verifies', async () => {
    const s0 = genuine.state!;
    const keys = s0.signingKeys;
    const carrier = genuine.shipment.carrier;
    const tracking = genuine.shipment.trackingNumber;
    const head3 = genuine.events[3].leaf;
    const entries = [
      { key: shipmentStateKey(carrier, tracking), valueHash: shipmentStateValue(head3, 4) },
      ...keys.map((k) => ({ key: k.key, valueHash: signingKeyStateValue(k.organization, k.validFromMs, k.revokedAtMs) })),
    ];
    const s1 = await anchorState(1n, entries);
    const rewound = clone(genuine);
    rewound.events.splice(4);
    rewound.events[3].correctedBy = null;
    Object.assign(rewound.shipment, { headLeaf: head3, eventCount: 4 });
    rewound.state = {
      seq: '1',
      ...s1,
      shipment: { key: entries[0].key, headLeaf: head3, eventCount: 4, proof: stateProof(entries, entries[0].key) },
      signingKeys: keys.map((k) => ({ ...k, proof: stateProof(entries, k.key) })),
    };
    // the attack: one bundle, one state, nothing to contradict it
    expect((await verify(rewound)).verdict).toBe('VALID');
    expect((await verify(genuine)).verdict).toBe('STALE');

    // the merchant still holds the genuine bundle: its proof at seq 0 and the new one at seq 1 contradict
    const ref = (s: { seq: string; eventsRoot: string; stateRoot: string }) => ({ seq: BigInt(s.seq), eventsRoot: s.eventsRoot, stateRoot: s.stateRoot });
    const shipment = (s: ProofBundleV2['state']) => ({ headLeaf: s!.shipment.headLeaf, eventCount: s!.shipment.eventCount, siblings: s!.shipment.proof });
    // consistent states are no contradiction: the genuine state against itself is refused
    await expect(anchor.getFunction('proveShipmentContradiction').staticCall(ref(s0), shipment(s0), ref(s0), shipment(s0), carrier, tracking)).rejects.toThrow();
    // `custody verify --previous` finds it, has the contract confirm it, and hands over the transaction
    const compared = await verifyProofBundle(clone(rewound), { rpcUrl: env.chain.rpcUrl, trust, previous: clone(genuine) });
    expect(compared.verdict).toBe('INVALID');
    expect(compared.failures.map((f) => f.check)).toEqual(['STATE_CONTRADICTION']);
    expect(compared.contradiction).toEqual({ contract: env.deployment.address, method: 'proveShipmentContradiction', calldata: expect.stringMatching(/^0x/) });
    expect(compared.contradiction!.calldata).toBe(anchor.interface.encodeFunctionData('proveShipmentContradiction', [ref(s0), shipment(s0), ref(rewound.state!), shipment(rewound.state), carrier, tracking]));
    // the same through the command line
    const dir = mkdtempSync(path.join(os.tmpdir(), 'custody-contradiction-'));
    try {
      writeFileSync(path.join(dir, 'old.json'), JSON.stringify(genuine));
      writeFileSync(path.join(dir, 'new.json'), JSON.stringify(rewound));
      const run = await new Promise<{ code: number | null; out: string }>((resolve) =>
        execFile(process.execPath, [path.join(__dirname, '../../bin/custody.js'), 'verify', path.join(dir, 'new.json'), '--rpc', env.chain.rpcUrl, '--contract', env.deployment.address, '--chain-id', '31337', '--previous', path.join(dir, 'old.json')], (err, stdout, stderr) =>
          resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, out: stdout + stderr }),
        ),
      );
      expect(run.code).toBe(1);
      expect(run.out).toContain('FAILED STATE_CONTRADICTION');
      expect(run.out).toContain(`prove it   send to ${env.deployment.address} (proveShipmentContradiction) the data ${compared.contradiction!.calldata}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // an honest pair of states is no contradiction
    const fresh = await verifyProofBundle(clone(rewound), { rpcUrl: env.chain.rpcUrl, trust, previous: clone(rewound) });
    expect(fresh.contradiction).toBeNull();
    await mined(env.provider.getSigner(0).then((s) => s.sendTransaction({ to: compared.contradiction!.contract, data: compared.contradiction!.calldata })));
    expect(await anchor.getFunction('contradictedAt')()).toBe(2n); // seq 1, plus one

    for (const bundle of [rewound, genuine]) {
      const report = await verify(bundle);
      expect(report.verdict).toBe('INVALID');
      expect(report.failures.map((f) => f.check)).toContain('STATE_CONTRADICTION');
    }
  });
});

describe('a signing key moved to another organization is caught the same way', () => {
  let env: AnchorChain;
  let anchor: Contract;

  beforeAll(async () => {
    env = await freshAnchorChain();
    anchor = env.anchor;
  });

  afterAll(async () => {
    await env?.close();
  });

  it('proveKeyContradiction: another organization or valid-from, or a revocation undone; a new revocation is no contradiction', async () => {
    const signer = new Wallet(HARDHAT_DEV_PRIVATE_KEY).address;
    const key = signingKeyStateKey(signer);
    const record = (organization: string, validFromMs: bigint, revokedAtMs: bigint) => ({ organization, validFromMs, revokedAtMs });
    const states: Array<{ ref: { seq: bigint; eventsRoot: string; stateRoot: string }; proof: (r: ReturnType<typeof record>) => { organization: string; validFromMs: bigint; revokedAtMs: bigint; siblings: string[] } }> = [];
    const versions = [record('acme-express', 1000n, 0n), record('acme-express', 1000n, 5000n), record('rival-post', 1000n, 5000n)];
    for (const [i, r] of versions.entries()) {
      const entries = [{ key, valueHash: signingKeyStateValue(r.organization, r.validFromMs, r.revokedAtMs) }, { key: id('other'), valueHash: id(`v${i}`) }];
      const state = stateRoot(entries);
      const eventsRoot = id(`events ${i}`);
      await (await anchor.getFunction('anchorBatch')(BigInt(i), batchRootV2(eventsRoot, state), 1)).wait();
      states.push({ ref: { seq: BigInt(i), eventsRoot, stateRoot: state }, proof: (x) => ({ ...x, siblings: stateProof(entries, key) }) });
    }
    const report = (a: number, b: number) => anchor.getFunction('proveKeyContradiction').staticCall(states[a].ref, states[a].proof(versions[a]), states[b].ref, states[b].proof(versions[b]), signer);
    await expect(report(0, 1)).rejects.toThrow(); // revoked later: allowed
    await expect(report(1, 0)).rejects.toThrow(); // states out of order
    await report(1, 2); // the key moved to rival-post
    await report(0, 2);
    await (await anchor.getFunction('proveKeyContradiction')(states[1].ref, states[1].proof(versions[1]), states[2].ref, states[2].proof(versions[2]), signer)).wait();
    expect(await anchor.getFunction('contradictedAt')()).toBe(3n);
  });
});
