import { ConfigError, loadConfig } from '../../src/config/config';

const STRONG_KEY = '3f9c1a7e5b2d8f4c6a0e9b1d7c3f5a2e8b4d6f0c';
const EXTERNAL = {
  CHAIN_RPC_URL: 'http://127.0.0.1:8545',
  ANCHOR_PRIVATE_KEY: '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  ANCHOR_CONTRACT_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
};

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('configuration', () => {
  it('runs on embedded defaults with no configuration at all', () => {
    const config = loadConfig({});
    expect(config.database.kind).toBe('pglite');
    expect(config.database).toEqual({ kind: 'pglite', dataDir: expect.stringMatching(/data\/pglite$/) });
    expect(config.chain).toEqual({ kind: 'embedded', host: '127.0.0.1', port: 8545 });
    expect(config.port).toBe(4000);
    expect(config.adminApiKey).toBeUndefined();
    expect(config.confirmations).toBe(1);
  });

  it('uses PostgreSQL and an external chain when configured', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/ledger', ...EXTERNAL, CONFIRMATIONS: '12' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/ledger', schema: 'public', timeouts: { lockMs: 5_000, statementMs: 120_000, idleInTransactionMs: 5_000 } });
    // the server-side timeouts are configurable, and refused out of range with the variable's name
    expect((loadConfig({ DATABASE_URL: 'postgres://u@db:5432/ledger', DB_LOCK_TIMEOUT_MS: '2000', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '3000', DB_STATEMENT_TIMEOUT_MS: '60000' }).database as { timeouts: unknown }).timeouts).toEqual({ lockMs: 2_000, statementMs: 60_000, idleInTransactionMs: 3_000 });
    expect(problems({ DATABASE_URL: 'postgres://u@db:5432/ledger', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0' })).toEqual([expect.stringContaining('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS must be a whole number from 100')]);
    expect(config.chain).toEqual({ kind: 'external', rpcUrl: EXTERNAL.CHAIN_RPC_URL, privateKey: EXTERNAL.ANCHOR_PRIVATE_KEY, contractAddress: EXTERNAL.ANCHOR_CONTRACT_ADDRESS, rpcTimeoutMs: 10_000 });
    expect(loadConfig({ ...EXTERNAL, RPC_TIMEOUT_MS: '2500' }).chain).toMatchObject({ rpcTimeoutMs: 2_500 });
    expect(problems({ ...EXTERNAL, RPC_TIMEOUT_MS: '50' })).toEqual([expect.stringContaining('RPC_TIMEOUT_MS must be a whole number from 100')]);
    expect(config.confirmations).toBe(12);
    expect(config.anchorDeploymentBlock).toBeNull();
    expect(loadConfig({ ...EXTERNAL, ANCHOR_DEPLOYMENT_BLOCK: '19000001' }).anchorDeploymentBlock).toBe(19_000_001);
    expect(problems({ ...EXTERNAL, ANCHOR_DEPLOYMENT_BLOCK: 'latest' })).toEqual([expect.stringContaining('ANCHOR_DEPLOYMENT_BLOCK must be a whole number')]);
  });

  it('refuses production without an admin key, without PostgreSQL and on the embedded chain', () => {
    const found = problems({ NODE_ENV: 'production' });
    expect(found).toEqual([
      expect.stringContaining('needs ADMIN_API_KEY'),
      expect.stringContaining('needs DATABASE_URL'),
      expect.stringContaining('needs CHAIN_RPC_URL'),
    ]);
  });

  it('starts production with every unsafe default replaced', () => {
    const config = loadConfig({ NODE_ENV: 'production', ADMIN_API_KEY: STRONG_KEY, DATABASE_URL: 'postgres://u@db/ledger', ...EXTERNAL, ANCHOR_PRIVATE_KEY: '0x' + '4c'.repeat(31) + '01' });
    expect(config.production).toBe(true);
  });

  it.each([['a repeated character', 'k'.repeat(40)], ['a word', 'my-test-admin-key-0123456789abcdef0123']])('refuses a default-looking admin key in production (%s)', (_what, key) => {
    expect(problems({ NODE_ENV: 'production', ADMIN_API_KEY: key, DATABASE_URL: 'postgres://u@db/ledger', ...EXTERNAL, ANCHOR_PRIVATE_KEY: '0x' + '4c'.repeat(31) + '01' })).toEqual([expect.stringContaining('refuses this ADMIN_API_KEY')]);
  });

  it("refuses Hardhat's public development key as the anchoring key in production, without echoing it", () => {
    const found = problems({ NODE_ENV: 'production', ADMIN_API_KEY: STRONG_KEY, DATABASE_URL: 'postgres://u@db/ledger', ...EXTERNAL });
    expect(found).toEqual([expect.stringContaining("refuses ANCHOR_PRIVATE_KEY: it is one of Hardhat's public development keys")]);
    expect(found.join()).not.toContain(EXTERNAL.ANCHOR_PRIVATE_KEY.slice(2));
  });

  it('rate limits and query-document bounds: defaults that let a carrier batch of 1,000 events through, configurable, checked', () => {
    const pick = (c: ReturnType<typeof loadConfig>) => ({ rateLimitPerMinute: c.rateLimitPerMinute, rateLimitEventsPerMinute: c.rateLimitEventsPerMinute, maxQueryBytes: c.maxQueryBytes, maxQueryTokens: c.maxQueryTokens });
    expect(pick(loadConfig({}))).toEqual({ rateLimitPerMinute: 1200, rateLimitEventsPerMinute: 60_000, maxQueryBytes: 65_536, maxQueryTokens: 10_000 });
    expect(pick(loadConfig({ RATE_LIMIT_PER_MINUTE: '300', RATE_LIMIT_EVENTS_PER_MINUTE: '5000', MAX_QUERY_BYTES: '20000', MAX_QUERY_TOKENS: '2000' }))).toEqual({ rateLimitPerMinute: 300, rateLimitEventsPerMinute: 5_000, maxQueryBytes: 20_000, maxQueryTokens: 2_000 });
    expect(problems({ RATE_LIMIT_EVENTS_PER_MINUTE: '0', MAX_QUERY_BYTES: '10', MAX_QUERY_TOKENS: 'many' })).toEqual([
      expect.stringContaining('RATE_LIMIT_EVENTS_PER_MINUTE must be a whole number from 1'),
      expect.stringContaining('MAX_QUERY_BYTES must be a whole number from 1024'),
      expect.stringContaining('MAX_QUERY_TOKENS must be a whole number from 100'),
    ]);
  });

  it('refuses a short admin key in any mode', () => {
    expect(problems({ ADMIN_API_KEY: 'secret' })).toEqual([expect.stringContaining('ADMIN_API_KEY must be at least 32 characters')]);
  });

  it('names every bad variable at once, without echoing the private key', () => {
    const found = problems({ CHAIN_RPC_URL: 'ftp://x', ANCHOR_PRIVATE_KEY: '0xdeadbeef-not-a-key', BATCH_MAX_EVENTS: '0', PORT: 'http', DATABASE_URL: 'mysql://x' });
    expect(found).toHaveLength(6);
    expect(found.join('\n')).not.toContain('deadbeef');
    expect(found).toEqual(
      expect.arrayContaining([
        expect.stringContaining('DATABASE_URL'),
        expect.stringContaining('CHAIN_RPC_URL'),
        expect.stringContaining('ANCHOR_PRIVATE_KEY'),
        expect.stringContaining('ANCHOR_CONTRACT_ADDRESS'),
        expect.stringContaining('BATCH_MAX_EVENTS must be a whole number from 1 to 100000'),
        expect.stringContaining('PORT must be a whole number'),
      ]),
    );
  });
});
