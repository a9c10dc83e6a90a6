/**
 * Copies the compiled CustodyAnchor (ABI and bytecode) from Hardhat's artifacts into
 * src/anchoring/custody-anchor.artifact.json, which is committed: the service deploys and calls
 * the contract from that file and never compiles. Run through `npm run contracts:build`, which
 * compiles first; test/contracts/custody-anchor.spec.ts fails if the committed file drifts.
 */
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const SOURCE_NAME = 'contracts/CustodyAnchor.sol';
const CONTRACT_NAME = 'CustodyAnchor';
const OUTPUT = path.join(ROOT, 'src', 'anchoring', 'custody-anchor.artifact.json');

interface HardhatArtifact {
  contractName: string;
  sourceName: string;
  abi: unknown[];
  bytecode: string;
  deployedBytecode: string;
  linkReferences: Record<string, unknown>;
}

function readJson<T>(file: string): T {
  if (!fs.existsSync(file)) {
    throw new Error(`${path.relative(ROOT, file)} not found: run \`npx hardhat compile\` first (or \`npm run contracts:build\`)`);
  }
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

function main(): void {
  const artifactDir = path.join(ROOT, 'artifacts', SOURCE_NAME);
  const artifact = readJson<HardhatArtifact>(path.join(artifactDir, `${CONTRACT_NAME}.json`));
  const debug = readJson<{ buildInfo: string }>(path.join(artifactDir, `${CONTRACT_NAME}.dbg.json`));
  const buildInfo = readJson<{ solcVersion: string }>(path.resolve(artifactDir, debug.buildInfo));

  if (Object.keys(artifact.linkReferences).length > 0) {
    throw new Error(`${CONTRACT_NAME} needs library linking, which deployCustodyAnchor does not do`);
  }

  // Fixed key order, so the committed file only changes when the contract does.
  const exported = {
    contractName: artifact.contractName,
    sourceName: artifact.sourceName,
    solcVersion: buildInfo.solcVersion,
    abi: artifact.abi,
    bytecode: artifact.bytecode,
    deployedBytecode: artifact.deployedBytecode,
  };
  fs.writeFileSync(OUTPUT, JSON.stringify(exported, null, 2) + '\n');
  const runtimeBytes = (artifact.deployedBytecode.length - 2) / 2;
  console.log(`wrote ${path.relative(ROOT, OUTPUT)} (solc ${buildInfo.solcVersion}, runtime ${runtimeBytes} bytes)`);
}

main();
