import { availableParallelism } from 'node:os';
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
    // one signature worker per core; 0 recovers on the event loop
    expect(config.signatureWorkers).toBe(availableParallelism());
    expect(loadConfig({ SIGNATURE_WORKERS: '0' }).signatureWorkers).toBe(0);
    expect(problems({ SIGNATURE_WORKERS: '-1' })).toEqual([expect.stringContaining('SIGNATURE_WORKERS must be a whole number from 0')]);
    // delivery estimates use a lane's history from 20 deliveries on
    expect(config.estimateMinDeliveries).toBe(20);
    expect(loadConfig({ ESTIMATE_MIN_DELIVERIES: '3' }).estimateMinDeliveries).toBe(3);
    expect(problems({ ESTIMATE_MIN_DELIVERIES: '0' })).toEqual([expect.stringContaining('ESTIMATE_MIN_DELIVERIES must be a whole number from 1')]);
  });

  it('says how to get back to the embedded chain when CHAIN_RPC_URL alone is set (exported for the scripts)', () => {
    expect(problems({ CHAIN_RPC_URL: 'http://127.0.0.1:8600' })).toContainEqual(expect.stringContaining('`unset CHAIN_RPC_URL` to start on the embedded chain'));
    // with the rest of an external chain's settings it is no mistake, and the hint is not given
    expect(problems({ ...EXTERNAL, ANCHOR_CONTRACT_ADDRESS: 'nope' }).join('\n')).not.toContain('unset CHAIN_RPC_URL');
  });

  it('uses PostgreSQL and an external chain when configured', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://u@db:5432/ledger', ...EXTERNAL, CONFIRMATIONS: '12' });
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://u@db:5432/ledger', schema: 'public', timeouts: { lockMs: 5_000, statementMs: 120_000, idleInTransactionMs: 3_000 } });
    // the server-side timeouts are configurable, and refused out of range with the variable's name
    expect((loadConfig({ DATABASE_URL: 'postgres://u@db:5432/ledger', DB_LOCK_TIMEOUT_MS: '2000', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '3000', DB_STATEMENT_TIMEOUT_MS: '60000' }).database as { timeouts: unknown }).timeouts).toEqual({ lockMs: 2_000, statementMs: 60_000, idleInTransactionMs: 3_000 });
    expect(problems({ DATABASE_URL: 'postgres://u@db:5432/ledger', DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: '0' })).toEqual([expect.stringContaining('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS must be a whole number from 100')]);
    expect(config.chain).toEqual({ kind: 'external', rpcUrls: [EXTERNAL.CHAIN_RPC_URL], privateKey: EXTERNAL.ANCHOR_PRIVATE_KEY, contractAddress: EXTERNAL.ANCHOR_CONTRACT_ADDRESS, rpcTimeoutMs: 10_000 });
    // several endpoints, comma-separated, in the order they are tried; each checked, none echoed
    expect(loadConfig({ ...EXTERNAL, CHAIN_RPC_URL: ' https://a.example/v3/k1 , http://10.0.0.2:8545 ' }).chain).toMatchObject({ rpcUrls: ['https://a.example/v3/k1', 'http://10.0.0.2:8545'] });
    const badList = problems({ ...EXTERNAL, CHAIN_RPC_URL: 'https://a.example/v3/k1,,wss://b.example/ws/k2secret' });
    expect(badList).toEqual(['CHAIN_RPC_URL entry #2 is empty (a stray comma?)', 'CHAIN_RPC_URL entry #3 must be an http(s):// JSON-RPC URL']);
    expect(badList.join()).not.toContain('k2secret');
    expect(config.chainLogRange).toBe(5_000);
    expect(loadConfig({ ...EXTERNAL, CHAIN_LOG_RANGE: '500' }).chainLogRange).toBe(500);
    expect(problems({ ...EXTERNAL, CHAIN_LOG_RANGE: '0' })).toEqual([expect.stringContaining('CHAIN_LOG_RANGE must be a whole number from 1')]);
    expect(loadConfig({ ...EXTERNAL, RPC_TIMEOUT_MS: '2500' }).chain).toMatchObject({ rpcTimeoutMs: 2_500 });
    expect(problems({ ...EXTERNAL, RPC_TIMEOUT_MS: '50' })).toEqual([expect.stringContaining('RPC_TIMEOUT_MS must be a whole number from 100')]);
    expect(config.confirmations).toBe(12);
    expect(config.anchorDeploymentBlock).toBeNull();
    expect(loadConfig({ ...EXTERNAL, ANCHOR_DEPLOYMENT_BLOCK: '19000001' }).anchorDeploymentBlock).toBe(19_000_001);
    expect(problems({ ...EXTERNAL, ANCHOR_DEPLOYMENT_BLOCK: 'latest' })).toEqual([expect.stringContaining('ANCHOR_DEPLOYMENT_BLOCK must be a whole number')]);
  });

  it('reads proofs, timelines and bundles from DATABASE_READ_URL, a standby of DATABASE_URL, with a lag bound', () => {
    const db = { DATABASE_URL: 'postgres://u@db:5432/ledger' };
    expect(loadConfig({ ...db, DATABASE_READ_URL: 'postgres://u@standby:5432/ledger' }).database).toEqual({
      kind: 'postgres',
      url: 'postgres://u@db:5432/ledger',
      schema: 'public',
      timeouts: { lockMs: 5_000, statementMs: 120_000, idleInTransactionMs: 3_000 },
      replica: { url: 'postgres://u@standby:5432/ledger', maxLagMs: 5_000 },
    });
    expect(loadConfig({ ...db, DATABASE_READ_URL: 'postgresql://u@standby/ledger', DATABASE_READ_MAX_LAG_MS: '1500' }).database).toMatchObject({ replica: { url: 'postgresql://u@standby/ledger', maxLagMs: 1_500 } });
    // without DATABASE_READ_URL there is no replica, whatever the lag bound says
    expect(loadConfig({ ...db, DATABASE_READ_MAX_LAG_MS: '1500' }).database).not.toHaveProperty('replica');
    expect(problems({ ...db, DATABASE_READ_URL: 'postgres://u@standby/ledger', DATABASE_READ_MAX_LAG_MS: '10' })).toEqual([expect.stringContaining('DATABASE_READ_MAX_LAG_MS must be a whole number from 100 to 3600000')]);
    // a bad URL is named, never echoed (it can hold a password)
    const bad = problems({ ...db, DATABASE_READ_URL: 'mysql://u:hunter2@standby/ledger' });
    expect(bad).toEqual(['DATABASE_READ_URL must be a postgres:// or postgresql:// URL (a streaming standby of DATABASE_URL)']);
    // PGlite has no replicas: refused, not ignored
    expect(problems({ DATABASE_READ_URL: 'postgres://u:hunter2@standby/ledger' })).toEqual([
      'DATABASE_READ_URL needs DATABASE_URL: read replicas are standbys of a PostgreSQL server, and the embedded PGlite database has none (unset DATABASE_READ_URL, or set DATABASE_URL to the primary)',
    ]);
  });

  it('sizes new partition ranges with PARTITION_RANGE_EVENTS', () => {
    expect(loadConfig({}).partitionRangeEvents).toBe(1_000_000);
    expect(loadConfig({ PARTITION_RANGE_EVENTS: '100000000' }).partitionRangeEvents).toBe(100_000_000);
    expect(problems({ PARTITION_RANGE_EVENTS: '10' })).toEqual(['PARTITION_RANGE_EVENTS must be a whole number from 1000 to 1000000000000 (got "10")']);
  });

  it('configures anchoring leadership, back-off and fee bumping, each within its range', () => {
    const pick = (env: Record<string, string>) => {
      const c = loadConfig(env);
      return { leaderLeaseMs: c.leaderLeaseMs, anchorBackoffMaxMs: c.anchorBackoffMaxMs, anchorReplaceAfterBlocks: c.anchorReplaceAfterBlocks, anchorMaxFeeGwei: c.anchorMaxFeeGwei };
    };
    expect(pick({})).toEqual({ leaderLeaseMs: 5_000, anchorBackoffMaxMs: 30_000, anchorReplaceAfterBlocks: 3, anchorMaxFeeGwei: 500 });
    expect(pick({ LEADER_LEASE_MS: '2000', ANCHOR_BACKOFF_MAX_MS: '5000', ANCHOR_REPLACE_AFTER_BLOCKS: '10', ANCHOR_MAX_FEE_GWEI: '80' })).toEqual({ leaderLeaseMs: 2_000, anchorBackoffMaxMs: 5_000, anchorReplaceAfterBlocks: 10, anchorMaxFeeGwei: 80 });
    expect(problems({ LEADER_LEASE_MS: '100', ANCHOR_BACKOFF_MAX_MS: '0', ANCHOR_REPLACE_AFTER_BLOCKS: '0', ANCHOR_MAX_FEE_GWEI: '1.5' })).toEqual([
      'LEADER_LEASE_MS must be a whole number from 300 to 600000 (got "100")',
      'ANCHOR_BACKOFF_MAX_MS must be a whole number from 10 to 3600000 (got "0")',
      'ANCHOR_REPLACE_AFTER_BLOCKS must be a whole number from 1 to 10000 (got "0")',
      'ANCHOR_MAX_FEE_GWEI must be a whole number from 1 to 1000000 (got "1.5")',
    ]);
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

  it('read caches: API keys reused for 10 s by default (0: read on every request), proofs cached over HTTP only when asked for; both checked', () => {
    const pick = (c: ReturnType<typeof loadConfig>) => ({ apiKeyCacheMs: c.apiKeyCacheMs, proofHttpCacheSeconds: c.proofHttpCacheSeconds });
    expect(pick(loadConfig({}))).toEqual({ apiKeyCacheMs: 10_000, proofHttpCacheSeconds: 0 });
    expect(pick(loadConfig({ API_KEY_CACHE_MS: '0', PROOF_HTTP_CACHE_SECONDS: '86400' }))).toEqual({ apiKeyCacheMs: 0, proofHttpCacheSeconds: 86_400 });
    expect(problems({ API_KEY_CACHE_MS: '600000', PROOF_HTTP_CACHE_SECONDS: '-1' })).toEqual([
      expect.stringContaining('API_KEY_CACHE_MS must be a whole number from 0 to 300000'),
      expect.stringContaining('PROOF_HTTP_CACHE_SECONDS must be a whole number from 0'),
    ]);
  });

  it('MAP_TILE_URL: the pages draw a plain vector route without tiles; a template needs {z}, {x}, {y}; an attribution needs a URL', () => {
    expect(loadConfig({}).mapTiles).toBeNull();
    expect(loadConfig({ MAP_TILE_URL: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', MAP_TILE_ATTRIBUTION: '© OpenStreetMap contributors' }).mapTiles).toEqual({ url: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', attribution: '© OpenStreetMap contributors' });
    expect(problems({ MAP_TILE_URL: 'https://tiles.example/{z}/{x}.png' })).toEqual([expect.stringContaining('MAP_TILE_URL must be an http(s):// tile URL template with {z}, {x} and {y}')]);
    expect(problems({ MAP_TILE_URL: 'file:///tiles/{z}/{x}/{y}.png' })).toEqual([expect.stringContaining('MAP_TILE_URL must be an http(s)://')]);
    expect(problems({ MAP_TILE_ATTRIBUTION: 'someone' })).toEqual([expect.stringContaining('MAP_TILE_ATTRIBUTION needs MAP_TILE_URL')]);
  });

  it('public tracking pages: PUBLIC_CHAIN_RPC_URL and BLOCK_EXPLORER_TX_URL unset by default, checked, never one of the CHAIN_RPC_URL endpoints', () => {
    const pick = (c: ReturnType<typeof loadConfig>) => ({ publicChainRpcUrl: c.publicChainRpcUrl, blockExplorerTxUrl: c.blockExplorerTxUrl });
    expect(pick(loadConfig({}))).toEqual({ publicChainRpcUrl: null, blockExplorerTxUrl: null });
    expect(pick(loadConfig({ PUBLIC_CHAIN_RPC_URL: 'https://rpc.public.example', BLOCK_EXPLORER_TX_URL: 'https://explorer.example/tx/{tx}' }))).toEqual({ publicChainRpcUrl: 'https://rpc.public.example', blockExplorerTxUrl: 'https://explorer.example/tx/{tx}' });
    expect(problems({ PUBLIC_CHAIN_RPC_URL: 'ws://rpc', BLOCK_EXPLORER_TX_URL: 'https://explorer.example/tx/' })).toEqual([
      expect.stringContaining('PUBLIC_CHAIN_RPC_URL must be one http(s):// JSON-RPC URL'),
      expect.stringContaining('BLOCK_EXPLORER_TX_URL must be an http(s):// URL with {tx}'),
    ]);
    const external = { CHAIN_RPC_URL: 'https://a.example/v3/SECRETKEY,https://b.example', ANCHOR_PRIVATE_KEY: '0x' + '11'.repeat(32), ANCHOR_CONTRACT_ADDRESS: '0x5FbDB2315678afecb367f032d93F642f64180aa3' };
    const leaked = problems({ ...external, PUBLIC_CHAIN_RPC_URL: 'https://a.example/v3/SECRETKEY' });
    expect(leaked).toEqual([expect.stringContaining('PUBLIC_CHAIN_RPC_URL must not be one of the CHAIN_RPC_URL endpoints')]);
    expect(leaked.join()).not.toContain('SECRETKEY');
  });

  it('READY_MAX_ANCHOR_LAG_SECONDS and READY_MAX_PENDING_EVENTS: when /health/ready warns; checked', () => {
    expect(loadConfig({})).toMatchObject({ readyMaxAnchorLagSeconds: 900, readyMaxPendingEvents: 500_000 });
    expect(loadConfig({ READY_MAX_ANCHOR_LAG_SECONDS: '60', READY_MAX_PENDING_EVENTS: '1000' })).toMatchObject({ readyMaxAnchorLagSeconds: 60, readyMaxPendingEvents: 1000 });
    expect(problems({ READY_MAX_ANCHOR_LAG_SECONDS: '0', READY_MAX_PENDING_EVENTS: 'lots' })).toEqual([
      expect.stringContaining('READY_MAX_ANCHOR_LAG_SECONDS must be a whole number from 1'),
      expect.stringContaining('READY_MAX_PENDING_EVENTS must be a whole number from 1'),
    ]);
  });

  it('LOG_FORMAT: text to try it out, json by default in production; LOG_FILE instead of stdout', () => {
    expect(loadConfig({})).toMatchObject({ logFormat: 'text', logFile: null });
    expect(loadConfig({ LOG_FORMAT: 'json', LOG_FILE: '/var/log/ledger.log' })).toMatchObject({ logFormat: 'json', logFile: '/var/log/ledger.log' });
    expect(problems({ NODE_ENV: 'production' }).some((p) => p.includes('LOG_FORMAT'))).toBe(false);
    expect(problems({ LOG_FORMAT: 'xml' })).toEqual([expect.stringContaining('LOG_FORMAT must be json or text')]);
  });

  it('REDIS_URL: the rate-limit buckets in Redis, whatever the database, under a prefix named after the schema; a bad URL is refused without echoing its password', () => {
    expect(loadConfig({}).redis).toBeUndefined();
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis).toEqual({ url: 'redis://127.0.0.1:6379', keyPrefix: 'custody-ledger:pglite:' });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/ledger', DATABASE_SCHEMA: 'tenant_a', REDIS_URL: 'rediss://:pw@cache:6380/2' }).redis).toEqual({ url: 'rediss://:pw@cache:6380/2', keyPrefix: 'custody-ledger:tenant_a:' });
    expect(loadConfig({ DATABASE_URL: 'postgres://u@db:5432/ledger', REDIS_URL: 'redis://cache' }).redis).toEqual({ url: 'redis://cache', keyPrefix: 'custody-ledger:public:' });
    expect(loadConfig({ REDIS_URL: 'redis://cache', REDIS_KEY_PREFIX: 'ledger-eu:' }).redis).toEqual({ url: 'redis://cache', keyPrefix: 'ledger-eu:' });
    const bad = problems({ REDIS_URL: 'http://:hunter2secret@cache:6379', REDIS_KEY_PREFIX: 'has space' });
    expect(bad).toEqual(['REDIS_URL must be a redis:// or rediss:// URL (redis://[:password@]host:port[/db])', 'REDIS_KEY_PREFIX must be 1 to 100 printable characters without spaces']);
    expect(bad.join()).not.toContain('hunter2secret');
    expect(problems({ REDIS_KEY_PREFIX: 'x:' })).toEqual([expect.stringContaining('REDIS_KEY_PREFIX needs REDIS_URL')]);
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
