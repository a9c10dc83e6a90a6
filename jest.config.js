/** Jest runs every suite against real parts: PGlite or the PostgreSQL at DATABASE_URL, and Hardhat's EVM. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 120000,
  maxWorkers: 2,
  globalSetup: '<rootDir>/test/global-setup.js',
};
