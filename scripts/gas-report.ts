/**
 * Gas used by CustodyAnchor on the embedded Hardhat chain: the deployment, each of a few
 * anchorBatch calls (the first one pays for creating the nextSeq slot), and verifyInclusion
 * for proofs of a few depths (a view, so free for callers; shown for contracts that call it).
 * Run with `npm run bench:gas`.
 */
import { Contract, JsonRpcProvider, Wallet, concat, id, keccak256, type TransactionReceipt } from 'ethers';
import { startEmbeddedChain } from '../src/anchoring/embedded-chain';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor } from '../src/anchoring/custody-anchor';

const BATCHES = 5;
const PROOF_DEPTHS = [0, 3, 10, 20];

/** A leaf, a proof of `depth` made-up siblings and the root they hash to (sorted pairs). */
function syntheticProof(depth: number): { leaf: string; proof: string[]; root: string } {
  const leaf = id('gas-report leaf');
  const proof = Array.from({ length: depth }, (_, i) => id(`gas-report sibling ${i}`));
  const root = proof.reduce((node, sibling) => keccak256(BigInt(node) < BigInt(sibling) ? concat([node, sibling]) : concat([sibling, node])), leaf);
  return { leaf, proof, root };
}

async function main(): Promise<void> {
  const chain = await startEmbeddedChain({ port: 0 });
  // cacheTimeout -1: ethers otherwise reuses a nonce lookup made <250 ms before, and automining is faster than that
  const provider = new JsonRpcProvider(chain.rpcUrl, chain.chainId, { staticNetwork: true, cacheTimeout: -1 });
  try {
    const deployer = new Wallet(chain.deployerPrivateKey, provider);
    const deployment = await deployCustodyAnchor(deployer, { admin: deployer.address, anchorer: deployer.address });
    const deployReceipt = await provider.getTransactionReceipt(deployment.txHash);
    const anchor = new Contract(deployment.address, CUSTODY_ANCHOR_ABI, deployer);

    const rows: [string, bigint][] = [['deploy CustodyAnchor', deployReceipt?.gasUsed ?? 0n]];
    for (let seq = 0; seq < BATCHES; seq++) {
      const tx = await anchor.anchorBatch(seq, id(`gas-report root ${seq}`), 1000 + seq);
      const receipt = (await tx.wait()) as TransactionReceipt;
      rows.push([`anchorBatch seq ${seq}${seq === 0 ? ' (first)' : ''}`, receipt.gasUsed]);
    }
    for (const depth of PROOF_DEPTHS) {
      const { leaf, proof, root } = syntheticProof(depth);
      const seq = Number(await anchor.nextSeq());
      await (await anchor.anchorBatch(seq, root, 2 ** depth)).wait();
      if (!(await anchor.verifyInclusion(seq, leaf, proof))) throw new Error(`synthetic proof of depth ${depth} does not verify`);
      const gas = await anchor.verifyInclusion.estimateGas(seq, leaf, proof);
      rows.push([`verifyInclusion, proof depth ${depth} (estimate, incl. 21000 base)`, gas]);
    }

    const width = Math.max(...rows.map(([label]) => label.length));
    console.log(`CustodyAnchor gas on the embedded Hardhat chain (chain id ${chain.chainId}, evm cancun, solc 0.8.28, optimizer 200 runs)`);
    for (const [label, gas] of rows) console.log(`  ${label.padEnd(width)}  ${gas.toString().padStart(9)}`);
  } finally {
    provider.destroy();
    await chain.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
