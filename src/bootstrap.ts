import 'reflect-metadata';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Logger, type LogLevel, type NestApplicationOptions } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express';
import type { AppConfig } from './config/config';
import type { DataSource } from 'typeorm';
import { openDatabase } from './database/data-source';
import { ReadRouter } from './database/read-replica';
import { connectChain } from './anchoring/chain-bootstrap';
import { custodySigningDomain, domainSeparator } from './signing/custody-signing';
import { AppModule } from './app.module';
import { WEB_DIST } from './web/web-pages';
import { LedgerMetrics, healthRoutes } from './ops/operations';
import { WebhooksService } from './webhooks/webhooks.service';
import { JsonNestLogger, createPino, requestLogger } from './ops/logging';
import { CustodyIngestionService } from './custody/custody-ingestion.service';
import type { Runtime } from './common/runtime';
import { AnchorerService } from './anchoring/anchorer.service';
import { SealerService } from './batching/sealer.service';
import { ApiKeysService } from './auth/api-keys.service';
import { MemoryRateLimitStore, PostgresRateLimitStore, RateLimits, RedisRateLimitStore, type RateLimitStore } from './auth/rate-limiter';
import { rateLimitMiddleware } from './auth/rate-limit.middleware';
import { queryDocumentGuard } from './common/query-limits';
import { GraphQLSchemaHost } from '@nestjs/graphql';
import { LiveUpdatesService } from './live/live-updates.service';
import { startSubscriptionServer } from './live/subscription-server';
import { HttpDrain } from './ops/shutdown';

export interface RunningLedger {
  app: NestExpressApplication;
  runtime: Runtime;
  graphqlUrl: string;
  /** the chain's first JSON-RPC endpoint (the embedded chain's only one); never log it: it may hold an API key */
  rpcUrl: string;
  contractAddress: string;
  /** true when the admin key was generated here (and may be shown to the person starting it) */
  adminKeyGenerated: boolean;
  close(): Promise<void>;
  /**
   * SIGTERM/SIGINT: /health/ready answers 503, new connections are refused, no new seal or
   * anchoring tick starts, in-flight requests get up to `timeoutMs` to finish, a seal or tick in
   * progress finishes its transaction, then everything closes. Resolves with the number of requests
   * cut off at the bound (0 when every one was answered).
   */
  shutdown(timeoutMs: number, log: (line: string) => void): Promise<number>;
}

const LEVELS: Record<AppConfig['logLevel'], LogLevel[]> = {
  error: ['fatal', 'error'],
  warn: ['fatal', 'error', 'warn'],
  log: ['fatal', 'error', 'warn', 'log'],
  debug: ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'],
};

/** Outside production, a missing ADMIN_API_KEY is generated once and kept beside the data. */
function adminKeyFor(config: AppConfig): { key: string; generated: boolean } {
  if (config.adminApiKey) return { key: config.adminApiKey, generated: false };
  const file = path.join(config.dataDir, 'admin-api-key');
  if (existsSync(file)) return { key: readFileSync(file, 'utf8').trim(), generated: true };
  mkdirSync(config.dataDir, { recursive: true });
  const key = `cl_admin_${randomBytes(24).toString('hex')}`;
  writeFileSync(file, key + '\n', { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key, generated: true };
}

/**
 * A request's headers must arrive within 8 s and the whole request within 9 s, checked twice a
 * second, so a slow-loris client is cut off within 10 s (Node's defaults: 60 s and 300 s, checked
 * every 30 s). Node only takes these at server creation, so the adapter creates the server itself.
 */
export const HEADERS_TIMEOUT_MS = 8_000;
export const REQUEST_TIMEOUT_MS = 9_000;
class BoundedExpressAdapter extends ExpressAdapter {
  override initHttpServer(options: NestApplicationOptions): void {
    this.httpServer = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: 500 }, this.getInstance());
    if (options?.forceCloseConnections) (this as unknown as { trackOpenConnections(): void }).trackOpenConnections();
  }
}

/** Loads Hardhat (about a second of module loading) for startEmbeddedChain, which finds it loaded. */
function preloadEmbeddedChain(): void {
  const config = path.join(__dirname, '..', 'hardhat.config.ts');
  if (!existsSync(config)) return;
  process.env.HARDHAT_CONFIG ??= config;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    require('hardhat');
  } catch {
    // startEmbeddedChain loads it again and reports why it cannot
  }
}

/** Opens the database, connects (or starts) the chain, then serves GraphQL. */
export async function startLedger(config: AppConfig): Promise<RunningLedger> {
  // LOG_FORMAT=json: every line through pino (request ids, secrets redacted); text: Nest's console logger
  const jsonLog = config.logFormat === 'json' ? createPino(config) : null;
  const nestLogger = jsonLog ? new JsonNestLogger(jsonLog) : null;
  const logger = new Logger('CustodyLedger');
  Logger.overrideLogger(nestLogger ?? LEVELS[config.logLevel]);
  if (config.database.kind === 'pglite' && config.database.dataDir) mkdirSync(config.database.dataDir, { recursive: true });
  const opening = openDatabase(config.database);
  // PGlite compiles its WASM off the main thread meanwhile: the embedded chain's modules load now
  if (config.chain.kind === 'embedded') preloadEmbeddedChain();
  const dataSource = await opening;
  let chainParts: Awaited<ReturnType<typeof connectChain>>;
  try {
    chainParts = await connectChain(config.chain, dataSource, config.production, { logRange: config.chainLogRange, deploymentBlock: config.anchorDeploymentBlock });
  } catch (err) {
    await dataSource.destroy();
    throw err;
  }
  const { chain, embedded } = chainParts;
  const domain = custodySigningDomain(chain.chainId, chain.contractAddress);
  const admin = adminKeyFor(config);
  const reads = new ReadRouter(dataSource, config.database);
  await reads.start();
  const runtime: Runtime = { config, dataSource, reads, chain, domain, domainSeparator: domainSeparator(domain), adminApiKey: admin.key };

  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRuntime(runtime), new BoundedExpressAdapter(), { bodyParser: false, logger: nestLogger ?? LEVELS[config.logLevel] });
  // before the body is read and GraphQL parses anything: the caller's request budget; after the
  // body is read, the query document's own bounds (Apollo's route is mounted later, at listen)
  // every answer of the proof route is uncacheable unless the route itself says otherwise (FINAL
  // proofs with PROOF_HTTP_CACHE_SECONDS): refusals by the rate limit or the guard included
  // operations first: every request timed (refusals too), probes and scrapes never rate-limited
  // which proxies' X-Forwarded-For names the client (req.ip): the rate limit and the logs count by it
  app.set('trust proxy', config.trustProxy);
  if (jsonLog) app.use(requestLogger(jsonLog));
  const metrics = new LedgerMetrics(runtime, app.get(CustodyIngestionService), app.get(WebhooksService));
  app.use(metrics.middleware());
  let drain: HttpDrain | undefined;
  const health = healthRoutes(runtime, { maxAnchorLagSeconds: config.readyMaxAnchorLagSeconds, maxPendingEvents: config.readyMaxPendingEvents }, () => drain?.draining ?? false);
  app.use('/health/live', health.live);
  app.use('/health/ready', health.ready);
  app.use('/metrics', metrics.handler());
  app.use('/inclusion-proofs', (_req: unknown, res: import('node:http').ServerResponse, next: () => void) => {
    res.setHeader('cache-control', 'no-store');
    next();
  });
  // the pages' built files (content-hashed names: cached for a year) before the rate limit: one
  // page view is several of them, and they are the same public bytes for everyone
  app.useStaticAssets(path.join(WEB_DIST, 'assets'), { prefix: '/assets/', immutable: true, maxAge: '365d', index: false });
  const limits = new RateLimits(await rateLimitStore(config, dataSource), config.rateLimitPerMinute, config.rateLimitEventsPerMinute);
  app.use(rateLimitMiddleware(limits, app.get(ApiKeysService)));
  app.useBodyParser('json', { limit: config.maxBodyBytes });
  app.use('/graphql', queryDocumentGuard({ maxBytes: config.maxQueryBytes, maxTokens: config.maxQueryTokens }));
  await app.listen(config.port, config.host);
  // subscriptions over graphql-ws on the same server and path (the upgrade does not pass Express)
  const subscriptions = startSubscriptionServer(app.getHttpServer() as import('node:http').Server, {
    config,
    schema: app.get(GraphQLSchemaHost).schema,
    keys: app.get(ApiKeysService),
    limits,
    live: app.get(LiveUpdatesService),
  });
  // idle keep-alive connections outlive a typical load balancer's (60 s), so clients never reuse a closed one
  const server = app.getHttpServer() as import('node:http').Server;
  server.keepAliveTimeout = 65_000;
  drain = new HttpDrain(server);
  const http = drain;
  const address = app.getHttpServer().address() as AddressInfo;
  const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
  logger.log(`database: ${config.database.kind === 'postgres' ? 'PostgreSQL' : `PGlite at ${config.database.dataDir ?? '(memory)'}`}`);
  const close = async (): Promise<void> => {
    // WebSocket clients are told 1001 (going away) before the HTTP server stops and LISTEN ends
    await subscriptions.close();
    await app.close();
    await limits.close();
    chain.close();
    await reads.close();
    await dataSource.destroy();
    await embedded?.close();
    jsonLog?.flush();
  };
  logger.log(`rate-limit buckets: ${config.redis ? `Redis (REDIS_URL), keys prefixed ${config.redis.keyPrefix}` : config.database.kind === 'postgres' ? 'PostgreSQL' : 'this process'}`);
  return {
    app,
    runtime,
    graphqlUrl: `http://${host}:${address.port}/graphql`,
    rpcUrl: chain.rpcUrl,
    contractAddress: chain.contractAddress,
    adminKeyGenerated: admin.generated,
    close,
    shutdown: async (timeoutMs, log) => {
      app.get(SealerService).stopTimer();
      app.get(AnchorerService).stopTicks();
      // subscribers are told 1001 (going away) first: a WebSocket is never "finished", so it is not waited for
      await subscriptions.close();
      log(`draining ${http.requests} request(s) in flight (at most SHUTDOWN_TIMEOUT_MS=${timeoutMs} ms); /health/ready answers 503, new connections are refused`);
      const cutOff = await http.drain(timeoutMs);
      if (cutOff > 0) log(`${cutOff} request(s) still in flight after SHUTDOWN_TIMEOUT_MS=${timeoutMs} ms; their connections are closed; a handler still running is not cancelled: its write commits or rolls back whole with its transaction, and its caller gets no answer`);
      // the sealer and anchorer wait for a seal or tick in progress (one transaction each) before the pools close
      await close();
      return cutOff;
    },
  };
}

/** Where the rate-limit buckets live: Redis when REDIS_URL is set (whatever the database), else PostgreSQL, else (PGlite, one process) memory. */
async function rateLimitStore(config: AppConfig, dataSource: DataSource): Promise<RateLimitStore> {
  if (config.redis) {
    const store = new RedisRateLimitStore(config.redis);
    await store.connect();
    return store;
  }
  return config.database.kind === 'postgres' ? new PostgresRateLimitStore(dataSource) : new MemoryRateLimitStore();
}

/** Test and script helper: seal what is pending and let the anchorer run until it is idle. */
export async function sealAndAnchor(ledger: RunningLedger): Promise<void> {
  await ledger.app.get(SealerService).sealNow(true);
  await ledger.app.get(AnchorerService).settle();
}
