import path from 'node:path';
import { subtask } from 'hardhat/config';
import { TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD } from 'hardhat/builtin-tasks/task-names';
import type { HardhatUserConfig } from 'hardhat/types';

/** The pragma version; solc-js of exactly this version ships as an npm dependency. */
const SOLC_VERSION = '0.8.28';

// Hardhat's compiler download cannot reach the internet on our machines: compile with the
// pinned `solc` npm package (solc-js) instead.
subtask(TASK_COMPILE_SOLIDITY_GET_SOLC_BUILD, async (args: { solcVersion: string }, _hre, runSuper) => {
  if (args.solcVersion !== SOLC_VERSION) return runSuper();
  const compilerPath = path.join(path.dirname(require.resolve('solc/package.json')), 'soljson.js');
  return { compilerPath, isSolcJs: true, version: SOLC_VERSION, longVersion: `${SOLC_VERSION}+solc-js` };
});

const config: HardhatUserConfig = {
  solidity: {
    version: SOLC_VERSION,
    settings: { optimizer: { enabled: true, runs: 200 }, evmVersion: 'cancun' },
  },
  paths: { sources: './contracts', artifacts: './artifacts', cache: './cache', tests: './test/contracts' },
  networks: {
    hardhat: { chainId: 31337 },
  },
};

export default config;
