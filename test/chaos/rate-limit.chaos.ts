import { randomBytes } from 'node:crypto';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * Issue 10, "N replicas allow N× the rate": the buckets lived in each process's memory, so two
 * replicas behind one load balancer let a client through twice as often. Here two service
 * instances share one PostgreSQL schema, as replicas do; requests go to them in turn and the
 * client's budget must be one budget.
 */
const url = process.env.DATABASE_URL;
if (!url) throw new Error('the chaos suite needs PostgreSQL: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test)');

describe('two replicas share one rate-limit budget (chaos)', () => {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  let a: TestLedger;
  let b: TestLedger;

  beforeAll(async () => {
    // one after the other: the second finds the schema migrated and the contract of the first
    a = await startTestLedger({ DATABASE_SCHEMA: schema, RATE_LIMIT_PER_MINUTE: '60' });
    b = await startTestLedger({ DATABASE_SCHEMA: schema, RATE_LIMIT_PER_MINUTE: '60' });
  }, 180_000);

  afterAll(async () => {
    await b?.stop();
    await a?.stop();
  });

  const ask = async (t: TestLedger): Promise<{ status: number; code: string | undefined }> => {
    const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ custodySigningSpec { version } }' }) });
    const body = (await res.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    return { status: res.status, code: body.errors?.[0]?.extensions?.code };
  };

  it('100 anonymous requests, alternating between the replicas: at most the one budget of 60 (plus refill) gets through', async () => {
    const started = Date.now();
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await ask(i % 2 === 0 ? a : b));
    const elapsedMs = Date.now() - started;
    const passed = answers.filter((r) => r.status === 200).length;
    const limited = answers.filter((r) => r.status === 429 && r.code === 'RATE_LIMITED').length;
    console.log(`two replicas, budget 60/min: ${passed} answered, ${limited} RATE_LIMITED in ${elapsedMs} ms`);
    expect(passed + limited).toBe(100);
    // per process, each replica would have let all its 50 through
    expect(passed).toBeLessThanOrEqual(60 + Math.ceil(elapsedMs / 1_000) + 1);
    expect(passed).toBeGreaterThanOrEqual(60);
    // both replicas refuse: the budget is spent for everyone
    expect(answers.filter((r, i) => i % 2 === 0 && r.status === 429).length).toBeGreaterThan(0);
    expect(answers.filter((r, i) => i % 2 === 1 && r.status === 429).length).toBeGreaterThan(0);
  });
});
