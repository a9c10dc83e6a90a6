import { Logger } from '@nestjs/common';
import Redis from 'ioredis';
import type { DataSource } from 'typeorm';
import { LedgerError } from '../common/errors';
import { sqlRows } from '../database/data-source';

/**
 * Token buckets: a bucket of `perMinute` tokens refills at `perMinute` a minute; a request that
 * costs `cost` tokens is allowed when the bucket holds them (and takes them), else it is told how
 * long to wait. A refused request takes nothing.
 */
export interface RateLimitStore {
  /** Milliseconds to wait before `cost` tokens are there; 0 when they were taken now. */
  take(key: string, cost: number, perMinute: number): Promise<number>;
  /** Releases what the store holds open (a connection), at shutdown. */
  close?(): Promise<void>;
}

const waitFor = (missing: number, perMinute: number): number => Math.max(1, Math.ceil((missing * 60_000) / perMinute));

/** Buckets in this process's memory: the fallback, and enough for one process. */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  async take(key: string, cost: number, perMinute: number, now = Date.now()): Promise<number> {
    const bucket = this.buckets.get(key) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (Math.max(0, now - bucket.at) * perMinute) / 60_000);
    bucket.at = now;
    if (this.buckets.size > 100_000) this.buckets.clear();
    this.buckets.set(key, bucket);
    if (bucket.tokens >= cost) {
      bucket.tokens -= cost;
      return 0;
    }
    return waitFor(cost - bucket.tokens, perMinute);
  }
}

/**
 * Buckets in PostgreSQL (the UNLOGGED table rate_limit_buckets), shared by every replica: one
 * statement per take, atomic under concurrency (the conflicting row is locked while its new value
 * is computed), refilled by the database's clock so the replicas' clocks do not matter. A row
 * unused for a minute is a full bucket, so rows older than that are swept now and then.
 */
export class PostgresRateLimitStore implements RateLimitStore {
  private lastSweep = Date.now();

  constructor(private readonly dataSource: DataSource) {}

  async take(key: string, cost: number, perMinute: number): Promise<number> {
    this.sweep();
    const [row] = await sqlRows<{ tokens: number; granted: boolean }>(
      this.dataSource,
      `INSERT INTO rate_limit_buckets AS b (key, tokens, granted, at) VALUES ($1, $2::float8 - $3::float8, true, clock_timestamp())
       ON CONFLICT (key) DO UPDATE SET (tokens, granted, at) = (
         SELECT CASE WHEN r.level >= $3::float8 THEN r.level - $3::float8 ELSE r.level END, r.level >= $3::float8, r.t
         FROM (SELECT least($2::float8, b.tokens + $2::float8 / 60 * greatest(0, extract(epoch FROM c.t - b.at)::float8)) AS level, c.t
               FROM (SELECT clock_timestamp() AS t) c) r)
       RETURNING tokens, granted`,
      [key, perMinute, cost],
    );
    return row.granted ? 0 : waitFor(cost - Number(row.tokens), perMinute);
  }

  private sweep(): void {
    if (Date.now() - this.lastSweep < 60_000) return;
    this.lastSweep = Date.now();
    this.dataSource.query(`DELETE FROM rate_limit_buckets WHERE at < clock_timestamp() - interval '2 minutes'`).catch(() => undefined);
  }
}

/**
 * One take, atomic in Redis: the bucket (a hash of tokens and the time they were counted) refills
 * by Redis' own clock, gives `cost` tokens or answers the wait in ms, and expires once it would be
 * full again (a missing key is a full bucket), so idle callers leave nothing behind.
 * KEYS[1] the bucket; ARGV[1] tokens a minute; ARGV[2] cost.
 */
const TAKE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local per = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = per
if b[1] and b[2] then
  tokens = math.min(per, tonumber(b[1]) + math.max(0, now - tonumber(b[2])) * per / 60000)
end
local granted = tokens >= cost
if granted then tokens = tokens - cost end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((per - tokens) * 60000 / per) + 1000)
if granted then return 0 end
return math.max(1, math.ceil((cost - tokens) * 60000 / per))
`;

/**
 * Buckets in Redis (REDIS_URL), shared by every replica that uses the same Redis and key prefix:
 * one EVALSHA per take (the script above; ioredis loads it when Redis does not know it yet). The
 * client never queues: while Redis is unreachable a take fails at once and RateLimits decides
 * per process; it reconnects in the background.
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly logger = new Logger('RateLimits');
  private readonly client: Redis;

  constructor(options: { url: string; keyPrefix: string }) {
    this.client = new Redis(options.url, {
      keyPrefix: options.keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: STORE_TIMEOUT_MS,
      commandTimeout: STORE_TIMEOUT_MS,
      retryStrategy: (attempt) => Math.min(attempt * 250, 5_000),
      connectionName: 'custody-ledger-rate-limits',
    });
    // connection errors reach the caller of each take (and RateLimits' warning); no unhandled 'error' events
    this.client.on('error', () => undefined);
    this.client.defineCommand('rateLimitTake', { numberOfKeys: 1, lua: TAKE_LUA });
  }

  /** Connects, waiting at most STORE_TIMEOUT_MS: a Redis that is down must not stop the service from starting. */
  async connect(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.connect(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      // the URL can hold a password: never in the message
      this.logger.warn(`cannot reach Redis (REDIS_URL) for the rate-limit buckets (${(err as Error)?.message ?? String(err)}); limiting per process until it answers`);
    } finally {
      clearTimeout(timer);
    }
  }

  async take(key: string, cost: number, perMinute: number): Promise<number> {
    const client = this.client as unknown as { rateLimitTake(key: string, perMinute: number, cost: number): Promise<number> };
    return Number(await client.rateLimitTake(key, perMinute, cost));
  }

  /** Disconnects and waits (at most a second) until the socket is closed, so the process can exit at once. */
  async close(): Promise<void> {
    if (this.client.status === 'end') return;
    const ended = new Promise<void>((resolve) => {
      this.client.once('end', () => resolve());
      setTimeout(resolve, STORE_TIMEOUT_MS).unref();
    });
    this.client.disconnect();
    await ended;
  }
}

/** RATE_LIMITED, with the wait in milliseconds (extensions.retryAfterMs) when waiting helps. */
export class RateLimitedError extends LedgerError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super('RATE_LIMITED', message);
  }
}

/** How long a take may wait for the shared store before this process decides alone. */
export const STORE_TIMEOUT_MS = 1_000;

/**
 * The budgets of every caller: requests (RATE_LIMIT_PER_MINUTE) and custody events
 * (RATE_LIMIT_EVENTS_PER_MINUTE), each in a bucket of its own, in the shared store. When the store
 * fails or does not answer within a second, this process's own buckets decide (fail open to a
 * per-process limit, never to no limit), with a warning at most once a minute: an outage of the
 * limiter's store must not stop ingestion.
 */
export class RateLimits {
  private readonly logger = new Logger('RateLimits');
  private readonly fallback = new MemoryRateLimitStore();
  private lastWarning = 0;
  /** request tokens this process took from the shared store and has not spent yet, per bucket */
  private readonly credits = new Map<string, number>();
  private readonly chunksInFlight = new Map<string, Promise<number>>();
  /** buckets that lacked a whole chunk, until when they are asked one token at a time */
  private readonly lowUntil = new Map<string, number>();
  /** request tokens taken from a shared store at once (1: one at a time; always 1 in memory) */
  private readonly requestChunk: number;

  constructor(
    private readonly store: RateLimitStore,
    readonly requestsPerMinute: number,
    readonly eventsPerMinute: number,
  ) {
    this.requestChunk = store instanceof MemoryRateLimitStore ? 1 : Math.max(1, Math.floor(requestsPerMinute / 60));
  }

  /** Closes the shared store's connection (shutdown). */
  async close(): Promise<void> {
    await this.store.close?.();
  }

  /**
   * One request of `who`: milliseconds to wait, 0 when allowed. With a shared store (PostgreSQL,
   * Redis) a request does not cost a round trip each: this process takes a second's worth of
   * the budget at once (RATE_LIMIT_PER_MINUTE / 60, when that is more than 1) and spends it
   * here. Every request allowed was taken from the shared bucket first, so all replicas together
   * never allow more than the budget; a replica holds at most that second's worth unspent (which
   * the others cannot use meanwhile). When the bucket no longer has a whole chunk, requests are
   * taken one at a time, so the last tokens go exactly as before.
   */
  request(who: string): Promise<number> {
    return this.requestOf(`req:${who}`);
  }

  private requestOf(key: string): Promise<number> {
    if (this.requestChunk > 1) {
      const credit = this.credits.get(key) ?? 0;
      if (credit >= 1) {
        this.credits.set(key, credit - 1);
        return Promise.resolve(0);
      }
      // a bucket that had no whole chunk a moment ago is asked one token at a time (a refused request: one round trip, as before)
      if ((this.lowUntil.get(key) ?? 0) <= Date.now()) return this.requestFromChunk(key);
    }
    return this.take(key, 1, this.requestsPerMinute);
  }

  /** One chunk in flight per bucket: concurrent requests wait for it rather than each taking one. */
  private async requestFromChunk(key: string): Promise<number> {
    const pending = this.chunksInFlight.get(key);
    if (pending) {
      await pending;
      return this.requestOf(key);
    }
    const taking = this.take(key, this.requestChunk, this.requestsPerMinute);
    this.chunksInFlight.set(key, taking);
    try {
      if ((await taking) === 0) {
        if (this.credits.size >= 100_000) this.credits.clear();
        this.credits.set(key, (this.credits.get(key) ?? 0) + this.requestChunk - 1);
        return 0;
      }
      if (this.lowUntil.size >= 100_000) this.lowUntil.clear();
      this.lowUntil.set(key, Date.now() + 1_000);
    } finally {
      this.chunksInFlight.delete(key);
    }
    return this.take(key, 1, this.requestsPerMinute);
  }

  /** `count` custody events of `who`; throws RATE_LIMITED when they are over the budget. */
  async events(who: string, count: number): Promise<void> {
    if (count <= 0) return;
    if (count > this.eventsPerMinute) {
      throw new RateLimitedError(`this call has ${count} events; at most ${this.eventsPerMinute} events a minute are allowed per API key (RATE_LIMIT_EVENTS_PER_MINUTE): send smaller batches`, undefined);
    }
    const wait = await this.take(`events:${who}`, count, this.eventsPerMinute);
    if (wait > 0) {
      throw new RateLimitedError(`this call has ${count} events, more than this API key's event budget (${this.eventsPerMinute} a minute) holds now; nothing was recorded: retry in ${Math.ceil(wait / 1000)} s or send fewer events`, wait);
    }
  }

  private async take(key: string, cost: number, perMinute: number): Promise<number> {
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${STORE_TIMEOUT_MS} ms`)), STORE_TIMEOUT_MS);
        timer.unref();
      });
      return await Promise.race([this.store.take(key, cost, perMinute), timeout]);
    } catch (err) {
      if (Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.logger.warn(`the shared rate-limit store failed (${(err as Error)?.message ?? String(err)}); limiting per process until it answers again`);
      }
      return this.fallback.take(key, cost, perMinute);
    } finally {
      clearTimeout(timer);
    }
  }
}
