import { sealAndAnchor } from '../../src/bootstrap';
import { startTestLedger, type TestLedger } from '../support/test-ledger';
import { createShipment, eventFields, fetchDomain, mustGql, record, registerKey, registerOrganization, signEvent } from '../support/factories';

/**
 * GET /inclusion-proofs/<eventId> over real HTTP: with PROOF_HTTP_CACHE_SECONDS a FINAL proof is
 * cacheable (private, max-age, ETag, 304); a proof that can still change (pending, batched,
 * anchored but not final) never is, nor any error, nor anything while the setting is 0.
 */
describe('HTTP cache of anchored inclusion proofs', () => {
  let t: TestLedger;
  let base: string;
  let carrierKey: string;
  let otherKey: string;
  let anchored: string;
  let pending: string;
  const FIELDS = 'eventId status digest signaturesHash previousLeaf leaf proof leafIndex batchSeq root chainId contractAddress txHash blockNumber';

  beforeAll(async () => {
    t = await startTestLedger({ PROOF_HTTP_CACHE_SECONDS: '3600' });
    base = t.url.replace(/\/graphql$/, '');
    const domain = await fetchDomain(t);
    await registerOrganization(t, 'cache-express', 'CARRIER');
    await registerOrganization(t, 'other-express', 'CARRIER');
    const device = await registerKey(t, 'cache-express');
    const key = async (o: string): Promise<string> => (await mustGql<{ createApiKey: { key: string } }>(t, `mutation($o: String!) { createApiKey(input: { organization: $o, role: "CARRIER" }) { key } }`, { o })).createApiKey.key;
    carrierKey = await key('cache-express');
    otherKey = await key('other-express');
    await createShipment(t, 'HTTPCACHE1', 'cache-express');
    const first = await signEvent(domain, device, eventFields({ trackingNumber: 'HTTPCACHE1', carrier: 'cache-express', eventType: 'PICKED_UP', custodian: 'cache-express', occurredAt: BigInt(Date.now() - 120_000) }));
    expect((await record(t, [first]))[0].outcome).toBe('ACCEPTED');
    await sealAndAnchor(t.ledger);
    anchored = first.eventId;
    const second = await signEvent(domain, device, eventFields({ trackingNumber: 'HTTPCACHE1', carrier: 'cache-express', eventType: 'ARRIVED_AT_FACILITY', custodian: 'cache-express', occurredAt: BigInt(Date.now() - 60_000) }));
    expect((await record(t, [second]))[0].outcome).toBe('ACCEPTED');
    pending = second.eventId;
  }, 120_000);
  afterAll(async () => t?.stop());

  const get = (eventId: string, key: string | null, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}/inclusion-proofs/${eventId}`, { headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });

  it('a FINAL proof: the GraphQL answer, private max-age and a strong ETag; the ETag answered 304 without a body', async () => {
    const res = await get(anchored, carrierKey);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    const viaGraphql = (await t.gql<{ inclusionProof: Record<string, unknown> }>(`query($id: String!) { inclusionProof(eventId: $id) { ${FIELDS} } }`, { id: anchored }, carrierKey)).data!.inclusionProof;
    expect(viaGraphql.status).toBe('FINAL');
    expect(body).toEqual(viaGraphql);
    expect(res.headers.get('cache-control')).toBe('private, max-age=3600');
    expect(res.headers.get('vary')).toMatch(/authorization/i);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]{43}"$/);

    const again = await get(anchored, carrierKey, { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const changed = await get(anchored, carrierKey, { 'if-none-match': '"something-else"' });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).toBe(etag);
  });

  it('a pending proof is never cached, even when the client offers any ETag', async () => {
    const res = await get(pending, carrierKey, { 'if-none-match': '*' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe('PENDING');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('etag')).toBeNull();
  });

  it('errors are not cached: another tenant gets NOT_FOUND, no key UNAUTHENTICATED, a malformed id NOT_FOUND', async () => {
    for (const [key, id, status, code] of [[otherKey, anchored, 404, 'NOT_FOUND'], [null, anchored, 401, 'UNAUTHENTICATED'], [carrierKey, 'not-an-id', 404, 'NOT_FOUND']] as const) {
      const res = await get(id, key);
      expect({ status: res.status, code: ((await res.json()) as { errors: Array<{ extensions: { code: string } }> }).errors[0].extensions.code }).toEqual({ status, code });
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('with PROOF_HTTP_CACHE_SECONDS=0 (the default) a FINAL proof is not cached either', async () => {
    const config = t.ledger.runtime.config;
    const before = config.proofHttpCacheSeconds;
    config.proofHttpCacheSeconds = 0;
    try {
      const res = await get(anchored, carrierKey);
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('etag')).toBeNull();
    } finally {
      config.proofHttpCacheSeconds = before;
    }
  });
});
