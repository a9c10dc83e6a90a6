import { Inject, Injectable } from '@nestjs/common';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { TRUST_FORMAT, type TrustFile } from './trust-root';

/** The service's own trust file: the contract its batches are anchored on, for verifiers to pin once. */
@Injectable()
export class TrustRootService {
  /** deployment transaction → its block: a mined transaction's block never changes (the embedded chain's redeploy is a new transaction) */
  private readonly blocks = new Map<string, number>();

  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  async trustFile(): Promise<TrustFile> {
    const { chain } = this.runtime;
    const chainId = chain.chainId.toString();
    const [deployment] = await sqlRows<{ deploy_tx_hash: string | null }>(
      this.runtime.dataSource,
      `SELECT deploy_tx_hash FROM chain_deployments WHERE chain_id = $1 AND lower(contract_address) = lower($2) ORDER BY id DESC LIMIT 1`,
      [chainId, chain.contractAddress],
    );
    // a contract this ledger deployed: its deployment transaction says where; else ANCHOR_DEPLOYMENT_BLOCK (npm run deploy prints it)
    const tx = deployment?.deploy_tx_hash ?? null;
    if (tx !== null && !this.blocks.has(tx)) {
      const receipt = await chain.provider.getTransactionReceipt(tx);
      if (receipt) this.blocks.set(tx, receipt.blockNumber);
    }
    const deploymentBlock = (tx !== null ? this.blocks.get(tx) : undefined) ?? this.runtime.config.anchorDeploymentBlock;
    // start-up refuses a database that anchored on another contract, so every batch from 0 is on this one
    return { format: TRUST_FORMAT, anchors: [{ chainId, contract: chain.contractAddress, fromSeq: '0', deploymentBlock }] };
  }
}
