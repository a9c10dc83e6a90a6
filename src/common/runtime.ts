import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/config';
import type { ChainClient } from '../anchoring/chain-client';
import type { CustodySigningDomain } from '../signing/custody-signing';

/** Things built before Nest starts (database, chain, deployment) and shared with every module. */
export interface Runtime {
  config: AppConfig;
  dataSource: DataSource;
  chain: ChainClient;
  domain: CustodySigningDomain;
  domainSeparator: string;
  adminApiKey: string;
}

export const RUNTIME = Symbol('RUNTIME');
