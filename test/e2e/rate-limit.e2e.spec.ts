import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import type { Wallet } from 'ethers';
import { TEST_ADMIN_KEY, startTestLedger, type TestLedger } from '../support/test-ledger';
import { RECORD, createShipment, eventFields, fetchDomain, mustGql, newEventId, newWallet, registerKey, registerOrganization, signEvent, type SignedEventInput } from '../support/factories';
import type { CustodySigningDomain } from '../../src/signing/custody-signing';

/**
 * Issue 10, "edges closed": the rate limit and the size of a query document are enforced before
 * Apollo parses or validates anything.
 *   - queries that fail validation were never counted (the limit ran in the guard, after validation);
 *   - a 3.4 MB anonymous document of 200,000 directives blocked the process for seconds;
 *   - recordCustodyEvents with 1,000 events cost one token, like any query;
 *   - (the budget shared between replicas is in test/chaos/rate-limit.chaos.ts: it needs PostgreSQL.)
 */

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string; retryAfterMs?: number; [k: string]: unknown } }> } | null;
}

async function post(t: TestLedger, body: unknown, key?: string): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  const res = await fetch(t.url, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: Answer['body'] = null;
  try {
    parsed = JSON.parse(text) as Answer['body'];
  } catch {
    parsed = null;
  }
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: parsed };
}

const codeOf = (a: Answer): string | undefined => a.body?.errors?.[0]?.extensions?.code;

/** A RATE_LIMITED answer, as every client gets it: 429, Retry-After, the wait in the body too. */
function expectRateLimited(a: Answer): void {
  expect({ status: a.status, code: codeOf(a) }).toEqual({ status: 429, code: 'RATE_LIMITED' });
  const wait = a.body!.errors![0].extensions!.retryAfterMs!;
  expect(wait).toBeGreaterThan(0);
  expect(wait).toBeLessThanOrEqual(60_000);
  expect(Number(a.retryAfter)).toBe(Math.ceil(wait / 1000));
  expect(a.body!.errors![0].message).toMatch(/retry in \d+ s/);
  expect(a.body!.data ?? null).toBeNull();
}

const randomKey = (): string => `cl_${randomBytes(6).toString('hex')}_${randomBytes(24).toString('hex')}`;

describe('rate limits before parsing, events counted, query documents bounded (issue 10)', () => {
  /** 300 requests and 1,200 events per minute per caller */
  let limits: TestLedger;
  /** the test defaults (no practical request limit), for the document bounds */
  let main: TestLedger;
  let domain: CustodySigningDomain;
  let device: Wallet;
  let carrierApiKey: string;

  beforeAll(async () => {
    // one after the other: the embedded chains of two ledgers must not deploy at the same time
    limits = await startTestLedger({ RATE_LIMIT_PER_MINUTE: '300', RATE_LIMIT_EVENTS_PER_MINUTE: '1200' });
    main = await startTestLedger();
    domain = await fetchDomain(limits);
    await registerOrganization(limits, 'acme-limits', 'CARRIER');
    device = await registerKey(limits, 'acme-limits', newWallet());
    await createShipment(limits, 'LIMIT-0001', 'acme-limits');
    carrierApiKey = (await mustGql<{ createApiKey: { key: string } }>(limits, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization: 'acme-limits', role: 'CARRIER', label: 'limits carrier' } })).createApiKey.key;
  }, 300_000);

  afterAll(async () => {
    await main?.stop();
    await limits?.stop();
  });

  describe('the request budget counts what fails validation', () => {
    it('1,500 queries that fail validation: the first 300 are validation errors, then RATE_LIMITED (429, Retry-After) beyond the refill', async () => {
      const answers: Answer[] = [];
      const started = Date.now();
      // ten at a time: the first 300 all fit in the bucket whatever order each ten arrive in
      for (let i = 0; i < 1_500; i += 10) answers.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => post(limits, { query: `{ noSuchField${(i + j) % 7} }` })))));
      const elapsedMs = Date.now() - started;
      // the bucket holds 300 and refills 300 a minute: what got through is bounded by that
      expect(answers.slice(0, 300).map(codeOf).filter((c) => c !== 'GRAPHQL_VALIDATION_FAILED')).toEqual([]);
      const passed = answers.filter((a) => codeOf(a) === 'GRAPHQL_VALIDATION_FAILED').length;
      const limited = answers.filter((a) => codeOf(a) === 'RATE_LIMITED');
      expect(passed + limited.length).toBe(1_500);
      expect(passed).toBeLessThanOrEqual(300 + Math.ceil((elapsedMs * 300) / 60_000) + 1);
      expect(limited.length).toBeGreaterThan(0);
      for (const a of limited) expectRateLimited(a);
      console.log(`1,500 invalid queries in ${elapsedMs} ms: ${passed} validation errors, ${limited.length} RATE_LIMITED`);
    }, 300_000);

    it('a different made-up API key on every request is counted under the address, and does not escape the budget', async () => {
      // empty the address's bucket (it refills 5 tokens a second): from then on only those get through
      for (let n = 0; n < 100 && codeOf(await post(limits, { query: '{ noSuchField }' })) !== 'RATE_LIMITED'; n++);
      const started = Date.now();
      const answers: Answer[] = [];
      for (let i = 0; i < 30; i++) answers.push(await post(limits, { query: i % 2 ? '{ noSuchField }' : '{ custodySigningSpec { version } }' }, i % 3 ? randomKey() : `not-a-key-${randomBytes(4).toString('hex')}`));
      const limited = answers.filter((a) => codeOf(a) === 'RATE_LIMITED');
      for (const a of limited) expectRateLimited(a);
      expect(30 - limited.length).toBeLessThanOrEqual(Math.ceil(((Date.now() - started) * 300) / 60_000) + 1);
    });

    it('a real API key has a budget of its own: the exhausted address does not stop it', async () => {
      const res = await post(limits, { query: '{ batches(first: 1) { totalCount } }' }, TEST_ADMIN_KEY);
      expect(res.status).toBe(200);
      expect(res.body?.errors).toBeUndefined();
      const carrier = await post(limits, { query: '{ custodySigningSpec { version } }' }, carrierApiKey);
      expect(carrier.body?.data).toEqual({ custodySigningSpec: { version: 'custody-signing/1' } });
    });
  });

  describe('recordCustodyEvents costs one event token per event', () => {
    /** events that are well formed but signed for another event id: REJECTED one by one, nothing stored */
    const rejectable = async (n: number): Promise<SignedEventInput[]> => {
      const template = await signEvent(domain, device, eventFields({ trackingNumber: 'LIMIT-0001', carrier: 'acme-limits', eventType: 'PICKED_UP', custodian: 'acme-limits' }));
      return Array.from({ length: n }, () => ({ ...template, eventId: newEventId() }));
    };
    const recordAs = (events: SignedEventInput[]): Promise<Answer> => post(limits, { query: RECORD, variables: { events } }, carrierApiKey);

    it('a 1,000-event call spends 1,000 of 1,200 event tokens: 1,000 more are refused (nothing written), 150 more pass', async () => {
      const first = await recordAs(await rejectable(1_000));
      expect(first.status).toBe(200);
      expect((first.body!.data!.recordCustodyEvents as unknown[]).length).toBe(1_000);

      // a call over the remaining budget (200, refilled at 20 a second: 40 s from fitting) is refused whole, its one valid event included
      const valid = await signEvent(domain, device, eventFields({ trackingNumber: 'LIMIT-0001', carrier: 'acme-limits', eventType: 'PICKED_UP', custodian: 'acme-limits' }));
      const before = await limits.fingerprint();
      const refused = await recordAs([valid, ...(await rejectable(999))]);
      expectRateLimited(refused);
      expect(refused.body!.errors![0].message).toMatch(/1000 events/);
      expect(await limits.fingerprint()).toEqual(before);

      const smaller = await recordAs(await rejectable(150));
      expect(smaller.status).toBe(200);
      expect((smaller.body!.data!.recordCustodyEvents as Array<{ outcome: string }>).every((r) => r.outcome === 'REJECTED')).toBe(true);
    });

    it('two aliased calls in one operation are counted together: 700 + 700 events are more than the whole budget of 1,200, each alone is not', async () => {
      const other = (await mustGql<{ createApiKey: { key: string } }>(limits, `mutation($i: CreateApiKeyInput!) { createApiKey(input: $i) { key } }`, { i: { organization: 'acme-limits', role: 'CARRIER', label: 'limits carrier 2' } })).createApiKey.key;
      const before = await limits.fingerprint();
      const res = await post(limits, { query: `mutation($a: [SignedCustodyEventInput!]!, $b: [SignedCustodyEventInput!]!) { a: recordCustodyEvents(events: $a) { outcome } b: recordCustodyEvents(events: $b) { outcome } }`, variables: { a: await rejectable(700), b: await rejectable(700) } }, other);
      // over the whole budget: waiting would not help, so no Retry-After
      expect({ status: res.status, code: codeOf(res), retryAfter: res.retryAfter }).toEqual({ status: 429, code: 'RATE_LIMITED', retryAfter: null });
      expect(res.body!.errors![0].message).toMatch(/1400 events; at most 1200 events a minute.*send smaller batches/);
      expect(await limits.fingerprint()).toEqual(before);
      // each alone fits
      const one = await post(limits, { query: RECORD, variables: { events: await rejectable(700) } }, other);
      expect(one.status).toBe(200);
    });
  });

  describe('the query document is bounded before it is parsed', () => {
    it('an anonymous 3.4 MB document of 200,000 directives is QUERY_TOO_LARGE (400) without blocking the event loop', async () => {
      const query = `{ custodySigningSpec${' @skip(if:false)'.repeat(200_000)} { version } }`;
      expect(query.length).toBeGreaterThan(3_200_000);
      const body = JSON.stringify({ query });
      const once = async () => {
        const delay = monitorEventLoopDelay({ resolution: 10 });
        const cpu = process.cpuUsage();
        delay.enable();
        const res = await post(main, body);
        delay.disable();
        const { user, system } = process.cpuUsage(cpu);
        return { res, cpuMs: (user + system) / 1000, stalledMs: delay.max / 1e6 };
      };
      // process.cpuUsage counts every thread of this jest worker (GC threads, the signature pool):
      // a full collection of a heap grown over many suites can land inside one request, so a second
      // request is measured when the first is over the bound, and the lower figure counts
      let { res, cpuMs, stalledMs } = await once();
      if (cpuMs >= 1_500) {
        const again = await once();
        console.log(`first request: CPU ${cpuMs.toFixed(0)} ms; measured again: ${again.cpuMs.toFixed(0)} ms`);
        if (again.cpuMs < cpuMs) ({ res, cpuMs, stalledMs } = again);
      }
      console.log(`200,000 directives: HTTP ${res.status} ${codeOf(res)}; event loop delay max ${stalledMs.toFixed(0)} ms, CPU ${cpuMs.toFixed(0)} ms`);
      expect({ status: res.status, code: codeOf(res) }).toEqual({ status: 400, code: 'QUERY_TOO_LARGE' });
      expect(res.body!.errors![0].message).toMatch(/MAX_QUERY_BYTES|bytes/);
      // correctness bounds (the document was never parsed: parsing and validating it took 14 s of
      // one core), not speed benchmarks. The process's CPU time does not depend on what else the
      // machine runs; the event loop's delay does (about 100 ms alone, 800 ms at a load of 34 on 2
      // cores), so its bound leaves room for a busy machine.
      expect(cpuMs).toBeLessThan(1_500);
      expect(stalledMs).toBeLessThan(2_000);
    });

    it('a document under the byte limit with more than 10,000 tokens is QUERY_TOO_LARGE', async () => {
      const res = await post(main, { query: `{ ${'a '.repeat(10_500)}}` });
      expect({ status: res.status, code: codeOf(res) }).toEqual({ status: 400, code: 'QUERY_TOO_LARGE' });
      expect(res.body!.errors![0].message).toMatch(/tokens/);
    });

    it('a document of 10,000 tokens is still parsed (the limit is not off by one)', async () => {
      // `{`, 9,998 names, `}` = 10,000 tokens: parsed, then refused by validation
      const res = await post(main, { query: `{ ${'a '.repeat(9_998)}}` });
      expect(codeOf(res)).toBe('GRAPHQL_VALIDATION_FAILED');
    });

    it('the document is bounded apart from the body: a 100 kB comment is refused, 100 kB of variables are not', async () => {
      const res = await post(main, { query: `# ${'x'.repeat(100_000)}\n{ custodySigningSpec { version } }` });
      expect({ status: res.status, code: codeOf(res) }).toEqual({ status: 400, code: 'QUERY_TOO_LARGE' });
      const big = await post(main, { query: 'query($v: JSON!) { verifyProofBundle(bundle: $v) { verdict } }', variables: { v: { padding: 'x'.repeat(100_000) } } }, TEST_ADMIN_KEY);
      expect(codeOf(big)).not.toBe('QUERY_TOO_LARGE');
      expect(big.status).not.toBe(413);
    });

    it('a GET query is bounded the same way', async () => {
      // a URL is bounded by Node's 16 kB header limit: 10,600 one-character tokens fit
      const res = await fetch(`${main.url}?query=${encodeURIComponent(`{a${'()'.repeat(5_300)}}`)}`, { headers: { 'apollo-require-preflight': 'true' } });
      const body = (await res.json()) as Answer['body'];
      expect({ status: res.status, code: body?.errors?.[0]?.extensions?.code }).toEqual({ status: 400, code: 'QUERY_TOO_LARGE' });
    });
  });

  describe('a small budget (5 requests, 50 events a minute), and when the shared store fails', () => {
    let tiny: TestLedger;

    beforeAll(async () => {
      tiny = await startTestLedger({ RATE_LIMIT_PER_MINUTE: '5', RATE_LIMIT_EVENTS_PER_MINUTE: '50' });
    }, 120_000);

    afterAll(async () => {
      await tiny?.stop();
    });

    it('events written into the document itself are counted too: 60 of them are over a budget of 50, refused for good', async () => {
      const domainTiny = await fetchDomain(tiny);
      const e = await signEvent(domainTiny, newWallet(), eventFields({ trackingNumber: 'LIMIT-0001', carrier: 'acme-limits', eventType: 'PICKED_UP', custodian: 'acme-limits' }));
      const literal = (id: string): string =>
        `{ eventId: "${id}", trackingNumber: "LIMIT-0001", carrier: "acme-limits", eventType: "PICKED_UP", custodian: "acme-limits", occurredAt: "${e.occurredAt}", latE6: ${e.latE6}, lonE6: ${e.lonE6}, accuracyM: ${e.accuracyM}, locationCode: "", scanMethod: "BARCODE", evidenceHash: "${e.evidenceHash}", dataHash: "${e.dataHash}", signature: "${e.signature}" }`;
      const before = await tiny.fingerprint();
      const res = await post(tiny, { query: `mutation { recordCustodyEvents(events: [${Array.from({ length: 60 }, () => literal(newEventId())).join(' ')}]) { outcome } }` }, TEST_ADMIN_KEY);
      expect({ status: res.status, code: codeOf(res) }).toEqual({ status: 429, code: 'RATE_LIMITED' });
      expect(res.body!.errors![0].message).toMatch(/60 events.*at most 50/);
      expect(await tiny.fingerprint()).toEqual(before);
    });

    it('the limit falls back to this process: requests are still answered, and still limited', async () => {
      await tiny.ledger.runtime.dataSource.query('DROP TABLE IF EXISTS rate_limit_buckets');
      for (let n = 0; n < 5; n++) {
        const ok = await post(tiny, { query: '{ custodySigningSpec { version } }' });
        expect(ok.body?.data).toEqual({ custodySigningSpec: { version: 'custody-signing/1' } });
      }
      expectRateLimited(await post(tiny, { query: '{ custodySigningSpec { version } }' }));
    });
  });
});
