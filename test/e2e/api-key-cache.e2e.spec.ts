import { ApiKeysService } from '../../src/auth/api-keys.service';
import { LedgerError } from '../../src/common/errors';
import { eventually, startTestLedger, type TestLedger } from '../support/test-ledger';
import { mustGql, registerOrganization } from '../support/factories';

/**
 * API keys are authenticated from a cached row (API_KEY_CACHE_MS), written as the attack: a key
 * revoked (or an organization suspended) keeps working from a stale cache. On the replica that
 * made the change it must stop at once; another replica on the same database (here a second
 * ApiKeysService on the same database: its own cache, as another process has) within the TTL.
 */
const TTL = 1_500;

describe('API key cache: revocation and suspension are immediate here, bounded elsewhere', () => {
  let t: TestLedger;
  let otherReplica: ApiKeysService;

  beforeAll(async () => {
    t = await startTestLedger({ API_KEY_CACHE_MS: String(TTL) });
    otherReplica = new ApiKeysService(t.ledger.runtime);
    await registerOrganization(t, 'cache-carrier', 'CARRIER');
    await registerOrganization(t, 'cache-hub', 'HUB');
  }, 120_000);
  afterAll(async () => t?.stop());

  const newKey = async (organization: string): Promise<{ key: string; id: string }> => {
    const created = await mustGql<{ createApiKey: { key: string; apiKey: { id: string } } }>(t, `mutation($o: String!) { createApiKey(input: { organization: $o, role: "CARRIER" }) { key apiKey { id } } }`, { o: organization });
    return { key: created.createApiKey.key, id: created.createApiKey.apiKey.id };
  };
  /** The code the ledger answers a key with over HTTP (null: it was accepted). */
  const codeFor = async (key: string, own = 'cache-carrier'): Promise<string | null> => {
    const res = await t.gql<{ organization: { slug: string } }>(`{ organization(slug: "${own}") { slug } }`, {}, key);
    return res.errors?.length ? String(res.errors[0].extensions?.code) : null;
  };
  const otherCodeFor = async (key: string): Promise<string | null> => {
    try {
      return (await otherReplica.authenticate(key)) ? null : 'UNAUTHENTICATED';
    } catch (err) {
      return err instanceof LedgerError ? err.code : 'ERROR';
    }
  };

  it('a revoked key is refused at once by the replica that revoked it, and by the others within API_KEY_CACHE_MS', async () => {
    const { key, id } = await newKey('cache-carrier');
    // both replicas have the key's row cached
    expect(await codeFor(key)).toBeNull();
    expect(await codeFor(key)).toBeNull();
    const cachedAt = Date.now();
    expect(await otherCodeFor(key)).toBeNull();

    await mustGql(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id });
    const revokedAt = Date.now();
    expect(await codeFor(key)).toBe('UNAUTHENTICATED');
    // the other replica still has the row it read before (when the machine was fast enough to ask within the TTL): refused within the TTL, not at once
    const stale = await otherCodeFor(key);
    if (Date.now() - cachedAt < TTL) expect(stale).toBeNull();
    await eventually(async () => ((await otherCodeFor(key)) === 'UNAUTHENTICATED' ? true : undefined), TTL + 2_000, 'the other replica to refuse the revoked key');
    expect(Date.now() - revokedAt).toBeLessThan(TTL + 2_000);
  });

  it('a rotated key is refused at once; the new one works', async () => {
    const { key, id } = await newKey('cache-carrier');
    expect(await codeFor(key)).toBeNull();
    const rotated = await mustGql<{ rotateApiKey: { key: string } }>(t, `mutation($id: ID!) { rotateApiKey(id: $id) { key } }`, { id });
    expect(await codeFor(key)).toBe('UNAUTHENTICATED');
    expect(await codeFor(rotated.rotateApiKey.key)).toBeNull();
  });

  it('a suspension stops the organization’s keys at once here and within the TTL elsewhere; a reinstatement restores them at once here', async () => {
    const { key } = await newKey('cache-hub');
    expect(await codeFor(key, 'cache-hub')).toBeNull();
    expect(await otherCodeFor(key)).toBeNull();
    await mustGql(t, `mutation { suspendOrganization(slug: "cache-hub", reason: "test") { slug } }`);
    expect(await codeFor(key, 'cache-hub')).toBe('ORGANIZATION_SUSPENDED');
    await eventually(async () => ((await otherCodeFor(key)) === 'ORGANIZATION_SUSPENDED' ? true : undefined), TTL + 2_000, 'the other replica to refuse the suspended key');
    await mustGql(t, `mutation { reinstateOrganization(slug: "cache-hub") { slug } }`);
    expect(await codeFor(key, 'cache-hub')).toBeNull();
  });

  it('a made-up key with a real prefix is refused: the cached row does not stand in for the secret', async () => {
    const { key } = await newKey('cache-carrier');
    expect(await codeFor(key)).toBeNull();
    const forged = key.slice(0, -8) + (key.endsWith('00000000') ? '11111111' : '00000000');
    expect(await codeFor(forged)).toBe('UNAUTHENTICATED');
  });

  it('with API_KEY_CACHE_MS=0 every request reads the row: another replica refuses a revoked key at once', async () => {
    const uncached = new ApiKeysService({ ...t.ledger.runtime, config: { ...t.ledger.runtime.config, apiKeyCacheMs: 0 } });
    const { key, id } = await newKey('cache-carrier');
    expect(await uncached.authenticate(key)).not.toBeNull();
    await mustGql(t, `mutation($id: ID!) { revokeApiKey(id: $id) { revokedAt } }`, { id });
    expect(await uncached.authenticate(key)).toBeNull();
  });
});
