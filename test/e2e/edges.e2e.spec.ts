import net from 'node:net';
import { startTestLedger, TEST_ADMIN_KEY, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, newWallet, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * Issue 10, "edges": inputs and connections that once took the service down or answered wrongly.
 *   - a JSON variable nested 100,000 levels deep overflowed the stack of the input guard (HTTP 500);
 *   - a signature sent with v = 0/1 was stored as sent, so the same event resent with v = 27/28
 *     (the same signature, another encoding) answered EVENT_ID_CONFLICT instead of DUPLICATE;
 *   - a client that never finishes its headers (slow loris) kept its socket for 66 s.
 */
describe('edges: deep JSON, signature encodings, slow clients (issue 10)', () => {
  let t: TestLedger;

  beforeAll(async () => {
    t = await startTestLedger();
  }, 120_000);

  afterAll(async () => {
    await t?.stop();
  });

  const post = async (body: string): Promise<{ status: number; json: { errors?: Array<{ extensions?: { code?: string }; message: string }> } | null }> => {
    const res = await fetch(t.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` }, body });
    const text = await res.text();
    try {
      return { status: res.status, json: JSON.parse(text) };
    } catch {
      return { status: res.status, json: null };
    }
  };

  it.each([
    ['arrays', (n: number) => '['.repeat(n) + ']'.repeat(n)],
    ['objects', (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)],
  ])('a variable of %s nested 100,000 levels deep is a 400 with a code, and the service answers after it', async (_kind, nest) => {
    const res = await post(`{"query":"query($v: JSON!) { verifyProofBundle(bundle: $v) { verdict } }","variables":{"v":${nest(100_000)}}}`);
    expect(res.status).toBe(400);
    expect(res.json?.errors?.[0]?.extensions?.code).toBe('INPUT_TOO_DEEP');
    expect(res.json?.errors?.[0]?.message).toMatch(/nested more than \d+ levels/);
    const after = await post(`{"query":"{ custodySigningSpec { version } }"}`);
    expect(after.status).toBe(200);
  });

  it('a variable nested 64 levels deep is still accepted (the limit is not off by one)', async () => {
    const res = await post(`{"query":"query($v: JSON!) { verifyProofBundle(bundle: $v) { verdict } }","variables":{"v":${'['.repeat(63)}{}${']'.repeat(63)}}}`);
    expect(res.json?.errors?.[0]?.extensions?.code).not.toBe('INPUT_TOO_DEEP');
  });

  it('the same signature sent with v = 0/1 and with v = 27/28 is the same event: DUPLICATE with the first receipt, either way round', async () => {
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'acme-edges', 'CARRIER');
    await registerOrganization(t, 'hub-edges', 'HUB');
    const carrier = await registerKey(t, 'acme-edges', newWallet());
    const hub = await registerKey(t, 'hub-edges', newWallet());
    await createShipment(t, 'EDGE-0001', 'acme-edges');
    const flip = (sig: string, to: 'low' | 'high'): string => {
      const v = parseInt(sig.slice(130, 132), 16);
      const low = v >= 27 ? v - 27 : v;
      return sig.slice(0, 130) + (to === 'low' ? low : low + 27).toString(16).padStart(2, '0');
    };
    // the pick-up first sent with v = 0/1, then with 27/28
    const picked = await signEvent(domain, carrier, eventFields({ trackingNumber: 'EDGE-0001', carrier: 'acme-edges', eventType: 'PICKED_UP', custodian: 'acme-edges', occurredAt: BigInt(Date.now() - 3_600_000) }));
    const [first] = await record(t, [{ ...picked, signature: flip(picked.signature, 'low') }]);
    expect(first.outcome).toBe('ACCEPTED');
    const [again] = await record(t, [{ ...picked, signature: flip(picked.signature, 'high') }]);
    expect([again.outcome, again.error?.code ?? null]).toEqual(['DUPLICATE', null]);
    expect(again.receipt).toEqual(first.receipt);
    // a counter-signed handoff first sent with 27/28, then both signatures with v = 0/1
    const handoff = await signEvent(domain, hub, eventFields({ trackingNumber: 'EDGE-0001', carrier: 'acme-edges', eventType: 'HANDOFF', custodian: 'hub-edges', occurredAt: BigInt(Date.now() - 1_800_000) }), carrier);
    const [h1] = await record(t, [handoff]);
    expect(h1.outcome).toBe('ACCEPTED');
    const [h2] = await record(t, [{ ...handoff, signature: flip(handoff.signature, 'low'), counterSignature: flip(handoff.counterSignature!, 'low') }]);
    expect([h2.outcome, h2.error?.code ?? null]).toEqual(['DUPLICATE', null]);
    expect(h2.receipt).toEqual(h1.receipt);
  });

  it('a client that never finishes its request headers is answered 408 and disconnected by the server within 10 s (slow loris)', async () => {
    const { port } = new URL(t.url);
    const started = Date.now();
    let answer = '';
    const endedAfter = await new Promise<number>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => {
        socket.write('POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n');
        // one more header line now and then, never the blank line that ends them
        const drip = setInterval(() => socket.write('X-Slow: a\r\n'), 1_000);
        socket.on('data', (d) => (answer += d.toString()));
        // the server closes its side of the connection
        socket.on('end', () => {
          clearInterval(drip);
          socket.destroy();
          resolve(Date.now() - started);
        });
      });
      socket.on('error', () => undefined);
      setTimeout(() => reject(new Error('still connected after 20 s')), 20_000).unref();
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(endedAfter).toBeLessThanOrEqual(10_000);
  }, 30_000);
});
