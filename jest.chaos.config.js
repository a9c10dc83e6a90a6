/**
 * The chaos suite (`npm run test:chaos`): faults across service processes and connections on a
 * real PostgreSQL (DATABASE_URL, required), kept apart from `npm test` because it needs
 * PostgreSQL's multiple sessions, which the embedded PGlite does not have.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/chaos'],
  testMatch: ['**/*.chaos.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] },
  testTimeout: 300000,
  maxWorkers: 1,
};
