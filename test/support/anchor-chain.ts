import { Contract, JsonRpcProvider, Wallet } from 'ethers';
import { CUSTODY_ANCHOR_ABI, deployCustodyAnchor, type CustodyAnchorDeployment } from '../../src/anchoring/custody-anchor';
import { HARDHAT_DEV_PRIVATE_KEY, startEmbeddedChain, type EmbeddedChain } from '../../src/anchoring/embedded-chain';

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
