import { loadConfig } from '../../src/config/config';
import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * Anonymous callers (the tracking page's visitors among them) are counted by address. Behind a
 * load balancer every visitor has the balancer's address: one curl loop would answer 429 to every
 * recipient (attacker's review of issue 12). TRUST_PROXY names the proxies whose
 * X-Forwarded-For is believed; nobody else can choose their own address.
 */
const BUDGET = 5;

async function anonymous(t: TestLedger, forwardedFor?: string): Promise<number> {
  const headers: Record<string, string> = {};
  if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
  const res = await fetch(new URL('/api/track/not-a-token', t.url), { headers });
  await res.arrayBuffer();
  return res.status;
}

/** Statuses of n requests from one forwarded address. */
const burst = async (t: TestLedger, n: number, forwardedFor?: string): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await anonymous(t, forwardedFor));
  return out;
};

describe('TRUST_PROXY: client addresses behind a load balancer', () => {
  describe('without TRUST_PROXY (the default)', () => {
    let t: TestLedger;
    beforeAll(async () => {
      t = await startTestLedger({ RATE_LIMIT_PER_MINUTE: String(BUDGET) });
    }, 120_000);
    afterAll(async () => t?.stop());

    it('believes no X-Forwarded-For: a caller cannot open fresh budgets by naming addresses', async () => {
      const statuses = [];
      for (let i = 0; i < BUDGET + 2; i++) statuses.push(await anonymous(t, `203.0.113.${i + 1}`));
      expect(statuses.slice(0, BUDGET).every((s) => s === 404)).toBe(true);
      expect(statuses.slice(BUDGET)).toEqual([429, 429]);
    });
  });

  describe('with TRUST_PROXY=loopback (the balancer on this machine)', () => {
    let t: TestLedger;
    beforeAll(async () => {
      t = await startTestLedger({ RATE_LIMIT_PER_MINUTE: String(BUDGET), TRUST_PROXY: 'loopback' });
    }, 120_000);
    afterAll(async () => t?.stop());

    it('gives each visitor behind the proxy a budget of its own: one flooding visitor does not lock out another', async () => {
      const flooder = await burst(t, BUDGET + 2, '198.51.100.7');
      expect(flooder.slice(BUDGET)).toEqual([429, 429]);
      expect(await anonymous(t, '198.51.100.8')).toBe(404);
    });

    it('believes only the hop the proxy added: an address the client wrote before it is not used', async () => {
      // the client sends "X-Forwarded-For: <made-up>"; the proxy appends the address it saw
      const real = '198.51.100.9';
      const statuses = [];
      for (let i = 0; i < BUDGET + 1; i++) statuses.push(await anonymous(t, `192.0.2.${i + 1}, ${real}`));
      expect(statuses[BUDGET]).toBe(429);
    });

    it('counts an IPv6 visitor by its /64: the addresses of one network share one budget', async () => {
      const statuses = [];
      for (let i = 0; i < BUDGET + 1; i++) statuses.push(await anonymous(t, `2001:db8:1:2::${(i + 1).toString(16)}`));
      expect(statuses[BUDGET]).toBe(429);
      expect(await anonymous(t, '2001:db8:1:3::1')).toBe(404);
    });
  });

  it('refuses a TRUST_PROXY that is neither a hop count nor addresses, saying what it takes', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', TRUST_PROXY: 'yes please' })).toThrow(/TRUST_PROXY/);
    expect(() => loadConfig({ NODE_ENV: 'test', TRUST_PROXY: '10.0.0.0/33' })).toThrow(/TRUST_PROXY/);
  });
});
