import path from 'node:path';
import { availableParallelism } from 'node:os';
import { Wallet, isAddress, getAddress } from 'ethers';
import ipaddr from 'ipaddr.js';

/**
 * Server-side limits set on every PostgreSQL connection the service opens, so no replica can
 * stall another: a paused process's open transaction is ended after `idleInTransactionMs`
 * (releasing its locks), a writer waits at most `lockMs` for a lock, a statement runs at most
 * `statementMs`. Migrations run on their own connection without them.
 */
export interface DatabaseTimeouts {
  lockMs: number;
  statementMs: number;
  idleInTransactionMs: number;
}

/**
 * A streaming hot standby of the primary that serves proofs, timelines and bundles. A caller
 * whose own writes it has not replayed yet, and everyone while it is more than `maxLagMs` behind
 * (or down), is served by the primary instead.
 */
export interface ReadReplicaConfig {
  url: string;
  maxLagMs: number;
}

export type DatabaseConfig =
  | { kind: 'postgres'; url: string; schema: string; timeouts?: DatabaseTimeouts; replica?: ReadReplicaConfig }
  /** dataDir undefined: in memory (tests). */
  | { kind: 'pglite'; dataDir: string | undefined };

/** The Redis that holds the rate-limit buckets; `url` can hold a password: never logged. */
export interface RedisConfig {
  url: string;
  /** every key starts with it: several ledgers can share one Redis */
  keyPrefix: string;
}

export type ChainConfig =
  | { kind: 'embedded'; host: string; port: number }
  /** rpcUrls: the JSON-RPC endpoints of one chain, tried in this order (CHAIN_RPC_URL, comma-separated) */
  | { kind: 'external'; rpcUrls: string[]; privateKey: string; contractAddress: string; rpcTimeoutMs?: number };

export interface AppConfig {
  production: boolean;
  host: string;
  port: number;
  dataDir: string;
  database: DatabaseConfig;
  chain: ChainConfig;
  /** Undefined outside production: a random key is generated and kept under dataDir. */
  adminApiKey: string | undefined;
  batchMaxEvents: number;
  batchMaxAgeMs: number;
  /** a lane's (or carrier's) delivery history is used for estimates from this many deliveries on */
  estimateMinDeliveries: number;
  confirmations: number;
  /** block the anchor contract was deployed in, for the trust file (where verifiers start reading its logs); null: unknown */
  anchorDeploymentBlock: number | null;
  /** at most this many blocks per eth_getLogs (public endpoints refuse wider ranges) */
  chainLogRange: number;
  sealerIntervalMs: number;
  anchorerIntervalMs: number;
  /** anchoring leadership: how long a leader's lease lasts unrenewed (renewed every third of it) */
  leaderLeaseMs: number;
  /** the longest pause between anchoring attempts after chain failures (back-off doubles from anchorerIntervalMs) */
  anchorBackoffMaxMs: number;
  /** blocks an anchor transaction may stay pending before it is replaced with higher fees */
  anchorReplaceAfterBlocks: number;
  /** ceiling of maxFeePerGas (gas price on chains without EIP-1559) the anchorer ever offers, in gwei */
  anchorMaxFeeGwei: number;
  maxEventsPerCall: number;
  /** worker threads that recover signers off the event loop (0: on the event loop) */
  signatureWorkers: number;
  /** How far in the future a device clock may be before an event is refused. */
  maxClockSkewMs: number;
  /** HTTP requests per minute per API key (per client address without a valid one); token bucket, bursts up to the same number */
  rateLimitPerMinute: number;
  /** custody events per minute per API key (or address) that recordCustodyEvents accepts for checking; bursts up to the same number */
  rateLimitEventsPerMinute: number;
  /**
   * Which proxies' X-Forwarded-For is believed for the client's address (Express' `trust proxy`):
   * false (none, the default), a hop count, or addresses, CIDR ranges and the names loopback,
   * linklocal, uniquelocal
   */
  trustProxy: false | number | string[];
  /** how long a public tracking view is kept per shipment and grant (0: built on every request); the link itself is checked every time */
  trackViewCacheMs: number;
  /** how long an API key's row (with its organization's suspension) is reused before it is read again; 0: read on every request */
  apiKeyCacheMs: number;
  /** Cache-Control max-age (s) of GET /inclusion-proofs/<eventId> for events in FINAL batches; 0: never cached (no-store) */
  proofHttpCacheSeconds: number;
  /** the web pages' map tiles (MAP_TILE_URL, `{z}/{x}/{y}` template) and their attribution; null: a plain vector route, works offline */
  mapTiles: { url: string; attribution: string } | null;
  /** GET /health/ready warns (stays 200) past these: the oldest sealed batch not on chain, the pending events */
  readyMaxAnchorLagSeconds: number;
  readyMaxPendingEvents: number;
  /** SIGTERM/SIGINT: how long in-flight HTTP requests may run before their connections are closed */
  shutdownTimeoutMs: number;
  /**
   * PUBLIC_CHAIN_RPC_URL: a JSON-RPC URL a visitor's browser may use to verify a shared tracking
   * page's bundle (it is published in GET /api/track/<token>); null: the embedded chain's own URL in
   * embedded mode, none with an external chain. Never CHAIN_RPC_URL, which may carry an API key.
   */
  publicChainRpcUrl: string | null;
  /** BLOCK_EXPLORER_TX_URL: a block explorer's transaction page, `{tx}` standing for the hash; null: none */
  blockExplorerTxUrl: string | null;
  /** where the rate-limit buckets are shared when set (REDIS_URL): instead of PostgreSQL; undefined: the database */
  redis: RedisConfig | undefined;
  /** a GraphQL query document's size in bytes (apart from its variables, which MAX_BODY_BYTES bounds) */
  maxQueryBytes: number;
  /** a GraphQL query document's lexical tokens, counted before it is parsed */
  maxQueryTokens: number;
  maxBodyBytes: number;
  /** SUBSCRIPTIONS_PER_CONNECTION: live subscriptions one WebSocket connection may hold at once */
  subscriptionsPerConnection: number;
  /** WS_CONNECTIONS_PER_KEY: WebSocket connections one API key may hold at once, per replica */
  wsConnectionsPerKey: number;
  /** WS_CONNECTIONS_PER_ORGANIZATION: WebSocket connections the keys of one organization may hold at once together, per replica */
  wsConnectionsPerOrganization: number;
  /** ids per new range of the partitioned custody_events and merkle_proofs (PARTITION_RANGE_EVENTS) */
  partitionRangeEvents: number;
  logLevel: 'error' | 'warn' | 'log' | 'debug';
  /** LOG_FORMAT: json (one object per line, request ids, secrets redacted; the default in production) or text */
  logFormat: 'json' | 'text';
  /** LOG_FILE: append the logs to this file instead of stdout; null: stdout */
  logFile: string | null;
  webhooks: WebhookConfig;
}

/** Webhook deliveries (README "Webhooks"). */
export interface WebhookConfig {
  /** WEBHOOK_RETRY_BASE_MS: the first retry's delay; each next one doubles, up to an hour */
  retryBaseMs: number;
  /** WEBHOOK_RETRY_FOR_HOURS: a delivery is given up (FAILED) once its next attempt would fall this long after its first attempt (of the latest replay or enabling) */
  retryForMs: number;
  /** WEBHOOK_TIMEOUT_MS: one attempt (connect, send, answer) at most this long */
  timeoutMs: number;
  /** WEBHOOK_DISABLE_AFTER_FAILURES and WEBHOOK_DISABLE_AFTER_HOURS: an endpoint is disabled after this many consecutive failed attempts spanning at least that long (a burst of failures in a short outage does not disable it) */
  disableAfterFailures: number;
  disableAfterMs: number;
  /** WEBHOOK_SECRET_GRACE_HOURS: after a rotation the old secret keeps signing (a second signature) this long */
  secretGraceMs: number;
  /** WEBHOOK_POLL_MS: how often due deliveries are looked for */
  pollMs: number;
  /** WEBHOOK_WORKERS: attempts one replica sends at once */
  workers: number;
  /** WEBHOOK_ORGANIZATION_CONCURRENCY: attempts one organization's endpoints may have in flight at once (per database, all replicas together), so a slow receiver cannot take every worker */
  organizationConcurrency: number;
  /** WEBHOOK_SWEEP_MS: how often, per replica, deliveries long due without a job are queued again */
  sweepMs: number;
  /** WEBHOOK_ALLOWED_HOSTS: host or host:port entries exempt from the private-address and https rules */
  allowedHosts: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

export const MIN_ADMIN_KEY_LENGTH = 32;

/** Hardhat's public development accounts #0-#2: known to everyone, never for a real chain. */
const PUBLIC_DEV_KEYS = new Set([
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
]);

/** A key someone chose to remember is not a key: refuse the obvious ones in production. */
function weakSecret(value: string): boolean {
  return new Set(value).size < 12 || /(test|changeme|change-me|example|default|password|secret|admin)/i.test(value);
}

/**
 * Reads and validates the environment once, at boot. Every problem is reported at once with
 * the variable's name and what to set; nothing else in the code reads process.env.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const problems: string[] = [];
  const production = env.NODE_ENV === 'production';

  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max} (got "${raw}")`);
      return fallback;
    }
    return value;
  };

  const dataDir = path.resolve(env.DATA_DIR ?? './data');
  let database: DatabaseConfig;
  if (env.DATABASE_URL) {
    if (!/^postgres(ql)?:\/\//.test(env.DATABASE_URL)) problems.push('DATABASE_URL must be a postgres:// or postgresql:// URL');
    const schema = env.DATABASE_SCHEMA ?? 'public';
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) problems.push('DATABASE_SCHEMA must be a lower-case SQL identifier');
    database = {
      kind: 'postgres',
      url: env.DATABASE_URL,
      schema,
      timeouts: {
        lockMs: int('DB_LOCK_TIMEOUT_MS', 5_000, 100, 600_000),
        statementMs: int('DB_STATEMENT_TIMEOUT_MS', 120_000, 1_000, 3_600_000),
        idleInTransactionMs: int('DB_IDLE_IN_TRANSACTION_TIMEOUT_MS', 3_000, 100, 600_000),
      },
    };
    if (env.DATABASE_READ_URL) {
      if (!/^postgres(ql)?:\/\//.test(env.DATABASE_READ_URL)) problems.push('DATABASE_READ_URL must be a postgres:// or postgresql:// URL (a streaming standby of DATABASE_URL)');
      database.replica = { url: env.DATABASE_READ_URL, maxLagMs: int('DATABASE_READ_MAX_LAG_MS', 5_000, 100, 3_600_000) };
    }
  } else {
    database = { kind: 'pglite', dataDir: env.PGLITE_IN_MEMORY === '1' ? undefined : path.join(dataDir, 'pglite') };
    if (env.DATABASE_READ_URL) {
      problems.push('DATABASE_READ_URL needs DATABASE_URL: read replicas are standbys of a PostgreSQL server, and the embedded PGlite database has none (unset DATABASE_READ_URL, or set DATABASE_URL to the primary)');
    }
  }

  let chain: ChainConfig;
  if (env.CHAIN_RPC_URL) {
    // several endpoints of one chain, comma-separated; a URL can hold an API key, so a bad one is named by its number only
    const rpcUrls = env.CHAIN_RPC_URL.split(',').map((u) => u.trim());
    rpcUrls.forEach((url, i) => {
      const name = rpcUrls.length === 1 ? 'CHAIN_RPC_URL' : `CHAIN_RPC_URL entry #${i + 1}`;
      if (url === '') problems.push(`${name} is empty (a stray comma?)`);
      else if (!/^https?:\/\/[^\s/?#]+/.test(url) || !URL.canParse(url)) problems.push(`${name} must be an http(s):// JSON-RPC URL`);
    });
    const privateKey = env.ANCHOR_PRIVATE_KEY ?? '';
    try {
      new Wallet(privateKey);
    } catch {
      problems.push('ANCHOR_PRIVATE_KEY must be the 32-byte hex private key of the account that holds the anchorer role (required with CHAIN_RPC_URL)');
    }
    const contractAddress = env.ANCHOR_CONTRACT_ADDRESS ?? '';
    if (!isAddress(contractAddress)) problems.push('ANCHOR_CONTRACT_ADDRESS must be the CustodyAnchor address (required with CHAIN_RPC_URL; deploy with `npm run deploy`)');
    // The scripts read CHAIN_RPC_URL too: a reader who exported it for them would otherwise meet two
    // cryptic "required with CHAIN_RPC_URL" lines on the next `npm start` in that shell.
    if (!env.ANCHOR_PRIVATE_KEY && !env.ANCHOR_CONTRACT_ADDRESS) {
      problems.push('CHAIN_RPC_URL is set, so the service expects an external chain (with ANCHOR_PRIVATE_KEY and ANCHOR_CONTRACT_ADDRESS); if it was exported only for the scripts, `unset CHAIN_RPC_URL` to start on the embedded chain');
    }
    chain = { kind: 'external', rpcUrls, privateKey, contractAddress: isAddress(contractAddress) ? getAddress(contractAddress) : contractAddress, rpcTimeoutMs: int('RPC_TIMEOUT_MS', 10_000, 100, 300_000) };
  } else {
    chain = { kind: 'embedded', host: env.EMBEDDED_CHAIN_HOST ?? '127.0.0.1', port: int('EMBEDDED_CHAIN_PORT', 8545, 0, 65535) };
  }

  const adminApiKey = env.ADMIN_API_KEY || undefined;
  if (adminApiKey !== undefined && adminApiKey.length < MIN_ADMIN_KEY_LENGTH) {
    problems.push(`ADMIN_API_KEY must be at least ${MIN_ADMIN_KEY_LENGTH} characters (use \`openssl rand -hex 32\`)`);
  }
  if (production) {
    if (!adminApiKey) problems.push('NODE_ENV=production needs ADMIN_API_KEY (at least 32 random characters; no default key in production)');
    if (database.kind !== 'postgres') problems.push('NODE_ENV=production needs DATABASE_URL (the embedded PGlite database is for trying the service out)');
    if (chain.kind !== 'external') problems.push('NODE_ENV=production needs CHAIN_RPC_URL, ANCHOR_PRIVATE_KEY and ANCHOR_CONTRACT_ADDRESS (the embedded chain forgets its state on restart)');
    if (adminApiKey && weakSecret(adminApiKey)) problems.push('NODE_ENV=production refuses this ADMIN_API_KEY: it looks like a default or a word; use `openssl rand -hex 32`');
    if (chain.kind === 'external' && PUBLIC_DEV_KEYS.has(chain.privateKey.toLowerCase())) problems.push('NODE_ENV=production refuses ANCHOR_PRIVATE_KEY: it is one of Hardhat\'s public development keys');
  }

  let redis: RedisConfig | undefined;
  let mapTiles: AppConfig['mapTiles'] = null;
  if (env.MAP_TILE_URL) {
    const template = env.MAP_TILE_URL.trim();
    if (!/^https?:\/\/[^\s]+$/.test(template) || !['{z}', '{x}', '{y}'].every((p) => template.includes(p)) || !URL.canParse(template.replace(/[{}]/g, ''))) {
      problems.push('MAP_TILE_URL must be an http(s):// tile URL template with {z}, {x} and {y}, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png (unset: the pages draw a plain vector route)');
    } else {
      mapTiles = { url: template, attribution: (env.MAP_TILE_ATTRIBUTION ?? '').trim().slice(0, 300) };
    }
  } else if (env.MAP_TILE_ATTRIBUTION) {
    problems.push('MAP_TILE_ATTRIBUTION needs MAP_TILE_URL (the attribution of the tiles it names)');
  }
  if (env.REDIS_URL) {
    // the URL can hold a password: the problem names the variable, never the value
    if (!/^rediss?:\/\/[^\s]+$/.test(env.REDIS_URL) || !URL.canParse(env.REDIS_URL)) problems.push('REDIS_URL must be a redis:// or rediss:// URL (redis://[:password@]host:port[/db])');
    const keyPrefix = env.REDIS_KEY_PREFIX ?? `custody-ledger:${database.kind === 'postgres' ? database.schema : 'pglite'}:`;
    if (!/^[\x21-\x7e]{1,100}$/.test(keyPrefix)) problems.push('REDIS_KEY_PREFIX must be 1 to 100 printable characters without spaces');
    redis = { url: env.REDIS_URL, keyPrefix };
  } else if (env.REDIS_KEY_PREFIX) {
    problems.push('REDIS_KEY_PREFIX needs REDIS_URL (without it the rate-limit buckets are in the database)');
  }

  let trustProxy: false | number | string[] = false;
  if (env.TRUST_PROXY !== undefined && env.TRUST_PROXY !== '' && env.TRUST_PROXY !== 'false') {
    const raw = env.TRUST_PROXY.trim();
    if (/^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 20) trustProxy = Number(raw);
    else {
      const entries = raw.split(',').map((e) => e.trim());
      const valid = (e: string): boolean => ['loopback', 'linklocal', 'uniquelocal'].includes(e) || ipaddr.isValid(e) || (() => {
        try {
          ipaddr.parseCIDR(e);
          return true;
        } catch {
          return false;
        }
      })();
      const bad = entries.filter((e) => !valid(e));
      if (bad.length) problems.push(`TRUST_PROXY must be the number of proxies in front of the service (1 to 20), or the addresses of the proxies: IP addresses, CIDR ranges (10.0.0.0/8) and the names loopback, linklocal, uniquelocal, comma-separated; not "${bad.join('", "')}" (unset: no proxy is trusted, X-Forwarded-For is ignored)`);
      else trustProxy = entries;
    }
  }

  const publicChainRpcUrl = env.PUBLIC_CHAIN_RPC_URL || null;
  if (publicChainRpcUrl !== null && (!/^https?:\/\/[^\s/?#]+/.test(publicChainRpcUrl) || !URL.canParse(publicChainRpcUrl) || publicChainRpcUrl.includes(','))) {
    problems.push('PUBLIC_CHAIN_RPC_URL must be one http(s):// JSON-RPC URL that browsers may reach (it is published to every visitor of a shared tracking page)');
  } else if (publicChainRpcUrl !== null && chain.kind === 'external' && chain.rpcUrls.includes(publicChainRpcUrl)) {
    problems.push('PUBLIC_CHAIN_RPC_URL must not be one of the CHAIN_RPC_URL endpoints (those may carry an API key; it is published to every visitor): use a public endpoint of the same chain');
  }
  const blockExplorerTxUrl = env.BLOCK_EXPLORER_TX_URL || null;
  if (blockExplorerTxUrl !== null && (!/^https?:\/\/[^\s/?#]+/.test(blockExplorerTxUrl) || !blockExplorerTxUrl.includes('{tx}') || !URL.canParse(blockExplorerTxUrl.replace('{tx}', '0x00')))) {
    problems.push('BLOCK_EXPLORER_TX_URL must be an http(s):// URL with {tx} where the transaction hash goes (e.g. https://etherscan.io/tx/{tx})');
  }

  const logLevel = (env.LOG_LEVEL ?? 'log') as AppConfig['logLevel'];
  if (!['error', 'warn', 'log', 'debug'].includes(logLevel)) problems.push('LOG_LEVEL must be one of error, warn, log, debug');
  const logFormat = (env.LOG_FORMAT ?? (production ? 'json' : 'text')) as AppConfig['logFormat'];
  if (!['json', 'text'].includes(logFormat)) problems.push('LOG_FORMAT must be json or text');
  const logFile = env.LOG_FILE?.trim() || null;
  const allowedHosts = (env.WEBHOOK_ALLOWED_HOSTS ?? '').split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
  for (const h of allowedHosts) if (!/^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/.test(h)) problems.push(`WEBHOOK_ALLOWED_HOSTS entries must be host or host:port (got "${h}")`);

  const config: AppConfig = {
    production,
    host: env.HOST ?? '127.0.0.1',
    port: int('PORT', 4000, 0, 65535),
    dataDir,
    database,
    chain,
    adminApiKey,
    batchMaxEvents: int('BATCH_MAX_EVENTS', 1000, 1, 1_000_000),
    batchMaxAgeMs: int('BATCH_MAX_AGE_MS', 10_000, 10, 86_400_000),
    estimateMinDeliveries: int('ESTIMATE_MIN_DELIVERIES', 20, 1, 1_000_000),
    confirmations: int('CONFIRMATIONS', chain.kind === 'embedded' ? 1 : 3, 1, 1000),
    anchorDeploymentBlock: env.ANCHOR_DEPLOYMENT_BLOCK ? int('ANCHOR_DEPLOYMENT_BLOCK', 0, 0, Number.MAX_SAFE_INTEGER) : null,
    chainLogRange: int('CHAIN_LOG_RANGE', 5_000, 1, 1_000_000),
    sealerIntervalMs: int('SEALER_INTERVAL_MS', 500, 10, 60_000),
    anchorerIntervalMs: int('ANCHORER_INTERVAL_MS', 1000, 10, 600_000),
    leaderLeaseMs: int('LEADER_LEASE_MS', 5_000, 300, 600_000),
    anchorBackoffMaxMs: int('ANCHOR_BACKOFF_MAX_MS', 30_000, 10, 3_600_000),
    anchorReplaceAfterBlocks: int('ANCHOR_REPLACE_AFTER_BLOCKS', 3, 1, 10_000),
    anchorMaxFeeGwei: int('ANCHOR_MAX_FEE_GWEI', 500, 1, 1_000_000),
    maxEventsPerCall: int('MAX_EVENTS_PER_CALL', 1000, 1, 10_000),
    signatureWorkers: int('SIGNATURE_WORKERS', availableParallelism(), 0, 64),
    maxClockSkewMs: int('MAX_CLOCK_SKEW_MS', 300_000, 0, 86_400_000),
    rateLimitPerMinute: int('RATE_LIMIT_PER_MINUTE', 1200, 1, 1_000_000),
    rateLimitEventsPerMinute: int('RATE_LIMIT_EVENTS_PER_MINUTE', 60_000, 1, 10_000_000),
    trustProxy,
    trackViewCacheMs: int('TRACK_VIEW_CACHE_MS', 5_000, 0, 300_000),
    apiKeyCacheMs: int('API_KEY_CACHE_MS', 10_000, 0, 300_000),
    proofHttpCacheSeconds: int('PROOF_HTTP_CACHE_SECONDS', 0, 0, 31_536_000),
    mapTiles,
    readyMaxAnchorLagSeconds: int('READY_MAX_ANCHOR_LAG_SECONDS', 900, 1, 604_800),
    readyMaxPendingEvents: int('READY_MAX_PENDING_EVENTS', 500_000, 1, 1_000_000_000),
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 25_000, 0, 600_000),
    publicChainRpcUrl,
    blockExplorerTxUrl,
    redis,
    maxQueryBytes: int('MAX_QUERY_BYTES', 65_536, 1024, 4_194_304),
    maxQueryTokens: int('MAX_QUERY_TOKENS', 10_000, 100, 1_000_000),
    partitionRangeEvents: int('PARTITION_RANGE_EVENTS', 1_000_000, 1_000, 1_000_000_000_000),
    maxBodyBytes: int('MAX_BODY_BYTES', 4_194_304, 1024, 67_108_864),
    subscriptionsPerConnection: int('SUBSCRIPTIONS_PER_CONNECTION', 20, 1, 1_000),
    wsConnectionsPerKey: int('WS_CONNECTIONS_PER_KEY', 10, 1, 10_000),
    wsConnectionsPerOrganization: int('WS_CONNECTIONS_PER_ORGANIZATION', 50, 1, 10_000),
    logLevel,
    logFormat,
    logFile,
    webhooks: {
      retryBaseMs: int('WEBHOOK_RETRY_BASE_MS', 5_000, 1, 3_600_000),
      retryForMs: int('WEBHOOK_RETRY_FOR_HOURS', 48, 24, 720) * 3_600_000,
      timeoutMs: int('WEBHOOK_TIMEOUT_MS', 10_000, 100, 120_000),
      disableAfterFailures: int('WEBHOOK_DISABLE_AFTER_FAILURES', 20, 1, 1_000_000),
      disableAfterMs: int('WEBHOOK_DISABLE_AFTER_HOURS', 24, 0, 720) * 3_600_000,
      secretGraceMs: int('WEBHOOK_SECRET_GRACE_HOURS', 24, 0, 720) * 3_600_000,
      pollMs: int('WEBHOOK_POLL_MS', 1_000, 10, 60_000),
      workers: int('WEBHOOK_WORKERS', 8, 1, 64),
      organizationConcurrency: int('WEBHOOK_ORGANIZATION_CONCURRENCY', 2, 1, 64),
      sweepMs: int('WEBHOOK_SWEEP_MS', 60_000, 500, 3_600_000),
      allowedHosts,
    },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
