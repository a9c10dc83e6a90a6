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
    const perMinute = 600; // chunks of 10
    // every take the replicas make of the shared bucket, by size and answer
    const takes = { chunksTaken: 0, chunksRefused: 0, singles: 0 };
    const counted: RateLimitStore = {
      take: async (key, cost, limit) => {
        const wait = await shared.take(key, cost, limit);
        if (cost === 1) takes.singles++;
        else if (wait === 0) takes.chunksTaken++;
        else takes.chunksRefused++;
        return wait;
      },
    };
    const replicas = [new RateLimits(counted, perMinute, 1000), new RateLimits(counted, perMinute, 1000)];
    const who = `attacker-${Date.now()}`;
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 1_000 }, (_, i) => replicas[i % 2].request(who)));
    const elapsed = (Date.now() - started) / 1000;
    const allowed = answers.filter((wait) => wait === 0).length;
    // the bucket: 600 at the start, refilled at 600 a minute while the test ran
    expect(allowed).toBeLessThanOrEqual(Math.floor(perMinute + (perMinute * elapsed) / 60) + 1);
    expect(allowed).toBeGreaterThanOrEqual(perMinute - 2 * 10);
    expect(answers.filter((wait) => wait > 0).every((wait) => wait >= 1)).toBe(true);
    // the 600 tokens at the start went in chunks of 10: one round trip per 10 requests
    expect(takes.chunksTaken).toBeGreaterThanOrEqual(58);
    // every other request cost one round trip of its own (refused, or one of the tokens refilled while the
    // bucket was low); each replica may end holding at most 9 tokens of a chunk it did not spend
    expect(takes.singles).toBeGreaterThanOrEqual(1_000 - 10 * takes.chunksTaken);
    expect(takes.singles).toBeLessThanOrEqual(1_000 - 10 * takes.chunksTaken + 2 * 9);
    // a refused chunk makes its replica ask one token at a time for a second: at most one refused chunk per replica per second
    const refusedBound = 2 * (Math.ceil(elapsed) + 1);
    expect(takes.chunksRefused).toBeLessThanOrEqual(refusedBound);
    const total = takes.chunksTaken + takes.chunksRefused + takes.singles;
    expect(total).toBeLessThanOrEqual(1_000 - 9 * 58 + refusedBound + 2 * 9);
    expect(total).toBeLessThan(1_000);
  });
});
