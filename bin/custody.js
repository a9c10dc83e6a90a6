#!/usr/bin/env node
// The `custody` command (`npx custody verify bundle.json --rpc URL`, `npx custody audit ...`).
// Runs the TypeScript sources directly, so a checkout needs no build step.
require('ts-node').register({ transpileOnly: true, project: require('node:path').join(__dirname, '..', 'tsconfig.json') });
require('../src/cli/main.ts')
  .main(process.argv.slice(2))
  .then((code) => process.exit(code))
  .catch((err) => {
    process.stderr.write(`custody: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(2);
  });
