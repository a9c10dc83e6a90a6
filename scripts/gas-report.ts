/**
 * Gas used by CustodyAnchor on the embedded Hardhat chain: the deployment, anchorBatch (the first
 * batch, later ones, and through the AccessControl lookup instead of the initial anchorer's
 * shortcut), nextSeq called from a contract, and verifyInclusion for proofs of a few depths (views,
 * so free for callers; shown for contracts that call them). The same anchorBatch calls are made on
 * version 1 (test/contracts/fixtures/custody-anchor-v1.artifact.json, the contract ledgers deployed
 * before) for comparison. Run with `npm run bench:gas`.
 */
import { report } from './bench/report';
import { AbiCoder, Contract, ContractFactory, JsonRpcProvider, Wallet, concat, id, keccak256, parseEther, type TransactionReceipt } from 'ethers';
import { startEmbeddedChain } from '../src/anchoring/embedded-chain';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor, type CustodyAnchorArtifact } from '../src/anchoring/custody-anchor';
import v1Artifact from '../test/contracts/fixtures/custody-anchor-v1.artifact.json';

const BATCHES = 5;
const PROOF_DEPTHS = [0, 3, 10, 20];
/** A realistic anchor: a 10,000-event batch (two non-zero calldata bytes of leaf count). */
const LEAF_COUNT = 10_000;
const PLANTED = 10_000;

/** A leaf, a proof of `depth` made-up siblings and the root they hash to (sorted pairs). */
function syntheticProof(depth: number): { leaf: string; proof: string[]; root: string } {
  const leaf = id('gas-report leaf');
  const proof = Array.from({ length: depth }, (_, i) => id(`gas-report sibling ${i}`));
  const root = proof.reduce((node, sibling) => keccak256(BigInt(node) < BigInt(sibling) ? concat([node, sibling]) : concat([sibling, node])), leaf);
  return { leaf, proof, root };
}

async function anchorGas(anchor: Contract, seq: number): Promise<bigint> {
  const tx = await anchor.anchorBatch(seq, id(`gas-report root ${seq}`), LEAF_COUNT);
  return ((await tx.wait()) as TransactionReceipt).gasUsed;
}

async function main(): Promise<void> {
  const chain = await startEmbeddedChain({ port: 0 });
  // cacheTimeout -1: ethers otherwise reuses a nonce lookup made <250 ms before, and automining is faster than that
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, cacheTimeout: -1 });
  try {
    const deployer = new Wallet(chain.deployerPrivateKey, provider);
    const other = new Wallet(id('gas-report second anchorer'), provider);
    await (await deployer.sendTransaction({ to: other.address, value: parseEther('1') })).wait();

    // version 1, as deployed by ledgers before version 2
    const v1 = v1Artifact as CustodyAnchorArtifact;
    const v1Anchor = (await new ContractFactory(v1.abi, v1.bytecode, deployer).deploy(deployer.address, deployer.address)) as Contract;
    const v1Deploy = await v1Anchor.deploymentTransaction()!.wait();
    const v1Rows: bigint[] = [];
    for (let seq = 0; seq < BATCHES; seq++) v1Rows.push(await anchorGas(v1Anchor, seq));

    const deployment = await deployCustodyAnchor(deployer, { admin: deployer.address, anchorer: deployer.address });
    const deployReceipt = await provider.getTransactionReceipt(deployment.txHash);
    const anchor = new Contract(deployment.address, CUSTODY_ANCHOR_ABI, deployer);

    const rows: [string, bigint, bigint | null][] = [['deploy CustodyAnchor', deployReceipt?.gasUsed ?? 0n, v1Deploy?.gasUsed ?? null]];
    for (let seq = 0; seq < BATCHES; seq++) {
      rows.push([`anchorBatch seq ${seq}${seq === 0 ? ' (first)' : ''}`, await anchorGas(anchor, seq), v1Rows[seq]]);
    }
    // another account holding ANCHORER_ROLE: the AccessControl lookup, as for the initial anchorer once its shortcut is closed
    const role = (await anchor.ANCHORER_ROLE()) as string;
    await (await anchor.grantRole(role, other.address)).wait();
    const viaRole = await anchorGas(new Contract(deployment.address, CUSTODY_ANCHOR_ABI, other), BATCHES);
    rows.push([`anchorBatch seq ${BATCHES}, through the role lookup`, viaRole, null]);

    // nextSeq is not stored: its cost for a contract that calls it grows with log2 of the batch count
    rows.push([`nextSeq at ${await anchor.nextSeq()} batches (estimate, incl. 21000 base)`, await anchor.nextSeq.estimateGas(), null]);
    const big = await deployCustodyAnchor(deployer, { admin: deployer.address, anchorer: deployer.address });
    const bigAnchor = new Contract(big.address, CUSTODY_ANCHOR_ABI, deployer);
    for (let from = 0; from < PLANTED; from += 1000) {
      // roots written straight into storage (mapping slot 1): anchoring 10,000 batches one by one would take minutes
      const seqs = Array.from({ length: Math.min(1000, PLANTED - from) }, (_, i) => BigInt(from + i));
      await Promise.all(seqs.map((seq) => provider.send('hardhat_setStorageAt', [big.address, keccak256(AbiCoder.defaultAbiCoder().encode(['uint256', 'uint256'], [seq, 1n])), id(`planted ${seq}`)])));
    }
    if ((await bigAnchor.nextSeq()) !== BigInt(PLANTED)) throw new Error('planted roots not found by nextSeq');
    rows.push([`nextSeq at ${PLANTED} batches (estimate, incl. 21000 base)`, await bigAnchor.nextSeq.estimateGas(), null]);
    for (const depth of PROOF_DEPTHS) {
      const { leaf, proof, root } = syntheticProof(depth);
      const seq = Number(await anchor.nextSeq());
      await (await anchor.anchorBatch(seq, root, 2 ** depth)).wait();
      if (!(await anchor.verifyInclusion(seq, leaf, proof))) throw new Error(`synthetic proof of depth ${depth} does not verify`);
      const gas = await anchor.verifyInclusion.estimateGas(seq, leaf, proof);
      rows.push([`verifyInclusion, proof depth ${depth} (estimate, incl. 21000 base)`, gas, null]);
    }

    const width = Math.max(...rows.map(([label]) => label.length));
    console.log(`CustodyAnchor gas on the embedded Hardhat chain (chain id ${chain.chainId}, evm cancun, solc 0.8.28, optimizer 200 runs, leaf count ${LEAF_COUNT})`);
    console.log(`  ${''.padEnd(width)}  ${'version 2'.padStart(9)}  ${'version 1'.padStart(9)}`);
    for (const [label, gas, before] of rows) console.log(`  ${label.padEnd(width)}  ${gas.toString().padStart(9)}  ${(before?.toString() ?? '').padStart(9)}`);
    // for `npm run bench`: the worst batch against one slot and one log (the floor this contract can reach)
    const batches = rows.filter(([label]) => label.startsWith('anchorBatch seq') && !label.includes('role'));
    const worst = batches.reduce((max, [, gas]) => (gas > max ? gas : max), 0n);
    const floor = 21_000 + 22_100 + 2_012 + 868;
    report({ row: 'gas per anchored batch (worst of the first 5)', database: '', value: Number(worst), unit: 'gas', limit: { value: floor, what: 'base + one new slot + one log + calldata' }, goal: { value: 50_000, higherIsBetter: false }, note: `first ${batches[0][1]}, version 1: ${v1Rows[1] ?? '?'} (first ${v1Rows[0] ?? '?'})` });
  } finally {
    provider.destroy();
    await chain.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
