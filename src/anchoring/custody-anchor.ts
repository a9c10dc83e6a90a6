import { ContractFactory, getAddress, type JsonFragment, type Signer } from 'ethers';
import artifactJson from './custody-anchor.artifact.json';

/**
 * The compiled CustodyAnchor contract, as exported by `npm run contracts:build` from
 * contracts/CustodyAnchor.sol. Committed, so the service never compiles; a contract test fails
 * when it no longer matches a fresh compile of the source.
 */
export interface CustodyAnchorArtifact {
  readonly contractName: string;
  readonly sourceName: string;
  readonly solcVersion: string;
  readonly abi: readonly JsonFragment[];
  /** Creation code, 0x-prefixed hex. */
  readonly bytecode: string;
  /**
   * Runtime code, 0x-prefixed hex: what `eth_getCode` returns at a deployed address, except for the
   * constructor's `anchorer` (an immutable), whose address fills two 32-byte words that are zero here.
   */
  readonly deployedBytecode: string;
}

export const CUSTODY_ANCHOR_ARTIFACT: CustodyAnchorArtifact = artifactJson;

export const CUSTODY_ANCHOR_ABI: readonly JsonFragment[] = CUSTODY_ANCHOR_ARTIFACT.abi;

export interface CustodyAnchorDeployment {
  address: string;
  txHash: string;
  blockNumber: number;
}

/**
 * Deploys CustodyAnchor from the committed artifact and waits until the deployment is mined.
 * `admin` gets DEFAULT_ADMIN_ROLE (manages roles), `anchorer` gets ANCHORER_ROLE (anchors
 * batches); both must be non-zero addresses, and may be the same account.
 */
export async function deployCustodyAnchor(
  deployer: Signer,
  opts: { admin: string; anchorer: string },
): Promise<CustodyAnchorDeployment> {
  // getAddress rejects malformed addresses up front; ethers would otherwise try them as ENS names.
  const admin = getAddress(opts.admin);
  const anchorer = getAddress(opts.anchorer);
  const factory = new ContractFactory(CUSTODY_ANCHOR_ABI, CUSTODY_ANCHOR_ARTIFACT.bytecode, deployer);
  const contract = await factory.deploy(admin, anchorer);
  const tx = contract.deploymentTransaction();
  if (tx === null) throw new Error('CustodyAnchor deployment returned no transaction');
  const receipt = await tx.wait();
  if (receipt === null || receipt.contractAddress === null) {
    throw new Error(`CustodyAnchor deployment ${tx.hash} has no receipt with a contract address`);
  }
  return { address: getAddress(receipt.contractAddress), txHash: tx.hash, blockNumber: receipt.blockNumber };
}
