import { startTestLedger, type TestLedger } from '../support/test-ledger';

/**
 * `@nestjs/apollo` 13 depends on Apollo 4's GraphQL Playground plugin (package.json overrides its
 * Apollo 4 peer to our Apollo 5 so `npm ci` resolves cleanly). The module is required by
 * @nestjs/apollo but never installed as a plugin: `playground: false` installs Apollo's
 * landing-page-disabled plugin instead, so a browser opening /graphql gets no page and no
 * third-party script, in development as in production.
 */
describe('GraphQL landing page', () => {
  let t: TestLedger;
  beforeAll(async () => {
    t = await startTestLedger();
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves no playground or sandbox page at GET /graphql, and the API still answers POST', async () => {
    const res = await fetch(t.url, { headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' } });
    const body = await res.text();
    expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(body).not.toMatch(/<html|<!DOCTYPE|playground|sandbox|embeddable/i);
    expect(res.status).toBe(400);
    const answer = await t.gql<{ custodySigningSpec: { domain: { name: string } } }>('{ custodySigningSpec { domain { name } } }', undefined, false);
    expect(answer.data?.custodySigningSpec.domain.name).toBe('CustodyLedger');
  });
});
