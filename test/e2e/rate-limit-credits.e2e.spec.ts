import { PostgresRateLimitStore, RateLimits, type RateLimitStore } from '../../src/auth/rate-limiter';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * With a shared store each replica takes a second's worth of the request budget at once (one
 * round trip per chunk, not per request). The attack: two replicas hammered at once must still
 * not allow more than the shared budget between them.
 */
describe('request budget taken in chunks from the shared store', () => {
  let t: TestLedger;

  beforeAll(async () => {
    t = await startTestLedger();
  }, 120_000);
  afterAll(async () => t?.stop());

  it('two replicas on one PostgreSQL bucket allow no more than the budget together, with a fraction of the round trips', async () => {
    const shared = new PostgresRateLimitStore(t.ledger.runtime.dataSource);
    let takes = 0;
    const counted: RateLimitStore = { take: (key, cost, perMinute) => (takes++, shared.take(key, cost, perMinute)) };
    const perMinute = 600; // chunks of 10
    const replicas = [new RateLimits(counted, perMinute, 1000), new RateLimits(counted, perMinute, 1000)];
    const who = `attacker-${Date.now()}`;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 1_000 }, (_, i) => replicas[i % 2].request(who)));
    const elapsedMinutes = (Date.now() - started) / 60_000;
    const allowed = answers.filter((wait) => wait === 0).length;
    // the bucket: 600 at the start, refilled at 600 a minute while the test ran
    expect(allowed).toBeLessThanOrEqual(Math.floor(perMinute + perMinute * elapsedMinutes) + 1);
    expect(allowed).toBeGreaterThanOrEqual(perMinute - 2 * 10);
    expect(answers.filter((wait) => wait > 0).every((wait) => wait >= 1)).toBe(true);
    // one round trip per chunk of 10 while the bucket had whole chunks
    // and one per request refused (not two: once the bucket lacks a chunk it is asked one token at a time)
    expect(takes).toBeLessThanOrEqual(Math.ceil(allowed / 10) + (1_000 - allowed) + 50);
    expect(takes).toBeLessThan(1_000);
  });
});
