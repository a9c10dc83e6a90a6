import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/config';
import type { ChainClient } from '../anchoring/chain-client';
import type { CustodySigningDomain } from '../signing/custody-signing';
import type { ReadRouter } from '../database/read-replica';

/** Things built before Nest starts (database, chain, deployment) and shared with every module. */
export interface Runtime {
  config: AppConfig;
  dataSource: DataSource;
  /** where caller-facing reads of proofs, timelines and bundles run (the read replica or the primary) */
  reads: ReadRouter;
  chain: ChainClient;
  domain: CustodySigningDomain;
  domainSeparator: string;
  adminApiKey: string;
}

export const RUNTIME = Symbol('RUNTIME');
