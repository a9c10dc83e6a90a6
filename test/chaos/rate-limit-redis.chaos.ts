import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { TEST_ADMIN_KEY, startTestLedger, type TestLedger } from '../support/test-ledger';
import { RECORD, eventFields, fetchDomain, newEventId, newWallet, signEvent, type SignedEventInput } from '../support/factories';

/**
 * "Limits are shared between replicas through PostgreSQL, or through Redis when REDIS_URL is
 * set." Two service instances with the same REDIS_URL and key prefix: on PGlite they are two
 * separate databases, on PostgreSQL two schemas, so whatever they share, they share through the
 * Redis at 127.0.0.1:6379 (running on this machine and in CI) and nothing else.
 */
const REDIS_URL = 'redis://127.0.0.1:6379';

interface Answer {
  status: number;
  code: string | undefined;
  retryAfterMs: number | undefined;
}

async function post(t: TestLedger, body: unknown, key?: string): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(t.url, { method: 'POST', headers, body: JSON.stringify(body) });
  const parsed = (await res.json()) as { errors?: Array<{ extensions?: { code?: string; retryAfterMs?: number } }> };
  return { status: res.status, code: parsed.errors?.[0]?.extensions?.code, retryAfterMs: parsed.errors?.[0]?.extensions?.retryAfterMs };
}

const SPEC = { query: '{ custodySigningSpec { version } }' };

/** A TCP port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('rate limits shared through Redis (REDIS_URL)', () => {
  const prefix = `custody-ledger-test:${randomBytes(6).toString('hex')}:`;
  let a: TestLedger;
  let b: TestLedger;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redis.connect();
    // one after the other: the embedded chains of two ledgers must not deploy at the same time
    const env = { REDIS_URL, REDIS_KEY_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '60', RATE_LIMIT_EVENTS_PER_MINUTE: '100' };
    a = await startTestLedger(env);
    b = await startTestLedger(env);
  }, 300_000);

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
    if (redis) {
      const keys = await redis.keys(`${prefix}*`);
      if (keys.length > 0) await redis.del(...keys);
      const ended = once(redis, 'end');
      await redis.quit();
      await ended;
    }
  });

  it('100 anonymous requests alternating between two instances: one budget of 60 (plus refill) gets through, and both refuse', async () => {
    const started = Date.now();
    const answers: Answer[] = [];
    for (let i = 0; i < 100; i++) answers.push(await post(i % 2 === 0 ? a : b, SPEC));
    const elapsedMs = Date.now() - started;
    const passed = answers.filter((r) => r.status === 200).length;
    const limited = answers.filter((r) => r.status === 429 && r.code === 'RATE_LIMITED');
    console.log(`two instances on Redis, budget 60/min: ${passed} answered, ${limited.length} RATE_LIMITED in ${elapsedMs} ms`);
    expect(passed + limited.length).toBe(100);
    // each instance alone would have let all its 50 through
    expect(passed).toBeGreaterThanOrEqual(60);
    expect(passed).toBeLessThanOrEqual(60 + Math.ceil(elapsedMs / 1_000) + 1);
    expect(answers.filter((r, i) => i % 2 === 0 && r.status === 429).length).toBeGreaterThan(0);
    expect(answers.filter((r, i) => i % 2 === 1 && r.status === 429).length).toBeGreaterThan(0);
    for (const r of limited) {
      expect(r.retryAfterMs).toBeGreaterThan(0);
      expect(r.retryAfterMs).toBeLessThanOrEqual(60_000);
    }
  });

  it('the event budget of recordCustodyEvents is shared too: 60 events on one instance, then 60 on the other are refused (100 a minute)', async () => {
    const domain = await fetchDomain(a);
    const device = newWallet();
    const events = async (n: number): Promise<SignedEventInput[]> =>
      Promise.all(Array.from({ length: n }, () => signEvent(domain, device, eventFields({ eventId: newEventId(), trackingNumber: 'REDIS-0001', carrier: 'nobody', eventType: 'PICKED_UP', custodian: 'nobody' }))));
    const first = await post(a, { query: RECORD, variables: { events: await events(60) } }, TEST_ADMIN_KEY);
    expect(first.status).toBe(200);
    const second = await post(b, { query: RECORD, variables: { events: await events(60) } }, TEST_ADMIN_KEY);
    // on its own, b's budget of 100 would hold 60 events
    expect({ status: second.status, code: second.code }).toEqual({ status: 429, code: 'RATE_LIMITED' });
    // what is left (40 plus refill) still passes, on either
    const third = await post(b, { query: RECORD, variables: { events: await events(30) } }, TEST_ADMIN_KEY);
    expect(third.status).toBe(200);
  });

  it('the buckets are in Redis, under the prefix, and expire when idle', async () => {
    const keys = (await redis.keys(`${prefix}*`)).sort();
    expect(keys.some((k) => k.startsWith(`${prefix}req:ip:`))).toBe(true);
    expect(keys).toContain(`${prefix}events:key:bootstrap-admin`);
    expect(keys).toContain(`${prefix}req:key:bootstrap-admin`);
    for (const key of keys) {
      const ttl = await redis.pttl(key);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(61_000);
    }
    // the event bucket: 100 - 60 - 30 = 10 tokens left, plus what refilled since (under 100 a minute)
    const tokens = Number(await redis.hget(`${prefix}events:key:bootstrap-admin`, 'tokens'));
    expect(tokens).toBeGreaterThanOrEqual(10);
    expect(tokens).toBeLessThan(100);
  });

  describe('when Redis does not answer', () => {
    let down: TestLedger;

    beforeAll(async () => {
      down = await startTestLedger({ REDIS_URL: `redis://127.0.0.1:${await closedPort()}`, REDIS_KEY_PREFIX: prefix, RATE_LIMIT_PER_MINUTE: '5' });
    }, 120_000);

    afterAll(async () => {
      await down?.stop();
    });

    it('requests are still answered, and limited per process', async () => {
      for (let n = 0; n < 5; n++) {
        const ok = await post(down, SPEC);
        expect({ status: ok.status, code: ok.code }).toEqual({ status: 200, code: undefined });
      }
      const refused = await post(down, SPEC);
      expect({ status: refused.status, code: refused.code }).toEqual({ status: 429, code: 'RATE_LIMITED' });
    });
  });
});
