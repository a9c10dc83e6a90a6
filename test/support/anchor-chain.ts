import { Contract, ContractFactory, JsonRpcProvider, Wallet } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor, type CustodyAnchorArtifact, type CustodyAnchorDeployment } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY, startEmbeddedChain, type EmbeddedChain } from '../../src/anchoring/embedded-chain';
import { ExternalNode } from './external-node';

export interface AnchorChain {
  chain: EmbeddedChain;
  provider: JsonRpcProvider;
  /** CustodyAnchor, connected to Hardhat's account #0, which is both its admin and its anchorer */
  anchor: Contract;
  deployment: CustodyAnchorDeployment;
  close(): Promise<void>;
}

/** A fresh in-process chain with CustodyAnchor deployed by account #0 (so at 0x5FbDB…0aa3, the vectors' contract). */
export async function freshAnchorChain(): Promise<AnchorChain> {
  const chain = await startEmbeddedChain({ port: 0 });
  const provider = new JsonRpcProvider(chain.rpcUrl, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const deployer = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
  const deployment = await deployCustodyAnchor(deployer, { admin: deployer.address, anchorer: deployer.address });
  return {
    chain,
    provider,
    anchor: new Contract(deployment.address, CUSTODY_ANCHOR_ABI, deployer),
    deployment,
    async close() {
      provider.destroy();
      await chain.close();
    },
  };
}

/** A Hardhat node over HTTP (reset) with CustodyAnchor of `artifact` deployed by account #0 as admin, `anchorer` anchoring. */
export async function nodeWithAnchor(
  artifact: CustodyAnchorArtifact,
  anchorer: string,
): Promise<{ node: ExternalNode; provider: JsonRpcProvider; address: string; deploymentBlock: number; close(): Promise<void> }> {
  const node = new ExternalNode();
  await node.start();
  await node.hre.network.provider.request({ method: 'hardhat_reset', params: [] });
  const provider = new JsonRpcProvider(node.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
  const admin = new Wallet(HARDHAT_DEV_PRIVATE_KEY, provider);
  const deployed = await new ContractFactory(artifact.abi, artifact.bytecode, admin).deploy(admin.address, anchorer);
  const receipt = await deployed.deploymentTransaction()!.wait();
  return {
    node,
    provider,
    address: await deployed.getAddress(),
    deploymentBlock: receipt!.blockNumber,
    async close() {
      provider.destroy();
      await node.stop();
    },
  };
}
