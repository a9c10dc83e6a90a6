import type { Page, Route } from 'playwright-core';
import { newContext, overflowsHorizontally, pageErrors, screenshot, seriousAxeViolations } from './support/browser';
import { CARRIER, MERCHANT, TRACKING, seededBrowser } from './support/journey';

/** An element as far as these tests read it in the page (this project's TypeScript has no DOM types). */
type Attributed = { getAttribute(name: string): string | null };

/** The merchant's logo as a data: URL (an SVG mark in its colours). */
const LOGO = 'data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHZpZXdCb3g9IjAgMCA2NCA2NCI+PHJlY3Qgd2lkdGg9IjY0IiBoZWlnaHQ9IjY0IiByeD0iMTIiIGZpbGw9IiNmZmZmZmYiLz48cGF0aCBkPSJNMTQgNDZWMThoNmwxMiAxN1YxOGg2djI4aC02TDIwIDI5djE3eiIgZmlsbD0iIzZiMmQ1YyIvPjxjaXJjbGUgY3g9IjQ4IiBjeT0iMjAiIHI9IjUiIGZpbGw9IiMxZDZiNDUiLz48L3N2Zz4=';

/**
 * Issue 12: the public tracking page, in real headless Chromium against a running service with
 * an anchored journey. The visitor needs only the share link; the "Verify" button checks every
 * event in the browser against the chain's own JSON-RPC, and a page fed one tampered signed byte
 * says which check failed for which event.
 */
describe('tracking page /t/<token> (browser)', () => {
  const env = seededBrowser();
  let token: string;

  beforeAll(async () => {
    const merchant = { authorization: `Bearer ${env.j.keys.merchant}` };
    const gql = async <T>(query: string, variables: Record<string, unknown>): Promise<T> => {
      const res = await fetch(env.j.t.url, { method: 'POST', headers: { 'content-type': 'application/json', ...merchant }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: T; errors?: unknown };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data!;
    };
    await gql(`mutation($i: UpdateOrganizationBrandingInput!) { updateOrganizationBranding(input: $i) { slug } }`, { i: { displayName: 'Northwind Outfitters', brandColor: '#6b2d5c', accentColor: '#1d6b45', logoUrl: LOGO } });
    token = (await gql<{ createShareLink: { token: string } }>(`mutation($n: String!, $c: String!) { createShareLink(trackingNumber: $n, carrier: $c) { token } }`, { n: TRACKING, c: CARRIER })).createShareLink.token;
  }, 180_000);

  async function open(options: { phone?: boolean } = {}): Promise<{ page: Page; errors: string[] }> {
    const context = await newContext(env.browser, options);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(`${env.j.baseUrl}/t/${token}`);
    await page.getByRole('heading', { level: 1 }).waitFor();
    return { page, errors };
  }

  it("shows the merchant's brand, the status, the dates, the route and the timeline in the visitor's time zone", async () => {
    const { page, errors } = await open();
    await page.getByRole('heading', { name: 'Delivered' }).waitFor();
    expect(await page.locator('.tracking-header .merchant').textContent()).toBe('Northwind Outfitters');
    expect(await page.getByRole('img', { name: 'Northwind Outfitters logo' }).count()).toBe(1);
    expect(await page.evaluate('getComputedStyle(document.querySelector(".tracking")).getPropertyValue("--brand").trim()')).toBe('#6b2d5c');
    const items = page.locator('.timeline > li');
    expect(await items.count()).toBe(env.j.events.length);
    // newest first, in the visitor's zone (the browser context runs in America/New_York)
    const newest = env.j.events[env.j.events.length - 1];
    const expected = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'America/New_York' }).format(new Date(Number(newest.occurredAt)));
    expect(await items.first().locator('time').textContent()).toBe(expected);
    expect(await page.getByText('Times in your time zone (America/New_York)').count()).toBe(1);
    // the route: drawn as vectors (no MAP_TILE_URL), one marker per scan with a position
    await page.locator('.route-map svg path').first().waitFor();
    // one line and one marker per scan, the delivery scan left out: it was made at the recipient's door
    expect(await page.locator('.route-map svg path').count()).toBe(1 + env.j.events.length - 1);
    expect(await page.locator('.route-map img.leaflet-tile').count()).toBe(0);
    // no personal data without the grant: no destination geofence
    expect(await page.getByText('This link shows no personal data').count()).toBe(1);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'tracking');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("without the personal-data grant the JSON holds no position of the scans at the recipient's door", async () => {
    const view = (await (await fetch(`${env.j.baseUrl}/api/track/${token}`)).json()) as { timeline: Array<{ eventType: string; latitude: number | null; longitude: number | null; accuracyM: number | null }> };
    const door = view.timeline.filter((e) => e.eventType === 'DELIVERED');
    expect(door.length).toBe(1);
    expect(door.map((e) => [e.latitude, e.longitude, e.accuracyM])).toEqual([[null, null, null]]);
    // the scans on the way keep theirs: the route is drawn from them
    expect(view.timeline.filter((e) => e.latitude !== null).length).toBe(env.j.events.length - 1);
  });

  it('fits a phone', async () => {
    const { page } = await open({ phone: true });
    await page.getByRole('heading', { name: 'Delivered' }).waitFor();
    expect(await overflowsHorizontally(page)).toBe(false);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'tracking-phone');
    await page.context().close();
  });

  it('"Verify" checks every event in the env.browser, against the chain read from the browser: VALID, event by event', async () => {
    const { page, errors } = await open();
    const rpcCalls: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && !r.url().startsWith(env.j.baseUrl)) rpcCalls.push(r.url());
    });
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('[data-verdict]').waitFor({ timeout: 60_000 });
    expect(await page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('VALID');
    const results = page.locator('[data-event-result]');
    expect(await results.count()).toBe(env.j.events.length);
    expect(await page.locator('[data-event-result][data-ok="false"]').count()).toBe(0);
    // every event: signature, leaf, hash chain, Merkle proof and its root on chain, all passed
    expect(await page.locator('[data-check][data-state="ok"]').count()).toBe(env.j.events.length * 5);
    // the roots came from the chain's JSON-RPC, straight from the browser
    expect(rpcCalls.length).toBeGreaterThan(0);
    expect(new Set(rpcCalls.map((u) => new URL(u).origin))).toEqual(new Set([new URL(env.j.t.ledger.rpcUrl).origin]));
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'tracking-verified');
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('one tampered signed byte served to the page: INVALID, and the page names the event and the check that failed', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    const tampered = 3;
    await page.route('**/api/track/**', async (route: Route) => {
      const response = await route.fetch();
      const view = (await response.json()) as { verification: { bundle: { events: Array<{ eventId: string; fields: { locationCode: string } }> } } };
      const event = view.verification.bundle.events[tampered];
      // one byte of a signed field: US-NJ-EWR-HUB → US-NJ-EWR-HUC
      event.fields.locationCode = event.fields.locationCode.slice(0, -1) + String.fromCharCode(event.fields.locationCode.charCodeAt(event.fields.locationCode.length - 1) + 1);
      await route.fulfill({ response, json: view });
    });
    await page.goto(`${env.j.baseUrl}/t/${token}`);
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.locator('[data-verdict]').waitFor({ timeout: 60_000 });
    expect(await page.locator('[data-verdict]').getAttribute('data-verdict')).toBe('INVALID');
    const failedIds = await page.locator('[data-event-result][data-ok="false"]').evaluateAll((els: Attributed[]) => els.map((el) => el.getAttribute('data-event-result') ?? ''));
    const states = async (id: string): Promise<Record<string, string>> =>
      page.locator(`[data-event-result="${id}"] [data-check]`).evaluateAll((els: Attributed[]) => Object.fromEntries(els.map((el) => [el.getAttribute('data-check') ?? '', el.getAttribute('data-state') ?? ''])));
    // the tampered event: its signature no longer recovers the registered key, so its leaf is not the one on chain
    const tamperedId = env.j.events[tampered].eventId;
    expect(failedIds).toContain(tamperedId);
    expect(await states(tamperedId)).toMatchObject({ Signature: 'failed' });
    expect(await page.locator(`[data-event-result="${tamperedId}"] .check-failure`).first().textContent()).toMatch(/^Signature failed: /);
    // the one after it links to the tampered event's leaf: only its hash chain breaks, nothing else
    const nextId = env.j.events[tampered + 1].eventId;
    expect(failedIds.filter((id) => id !== tamperedId)).toEqual(failedIds.includes(nextId) ? [nextId] : []);
    if (failedIds.includes(nextId)) expect(await states(nextId)).toEqual({ Signature: 'ok', Leaf: 'ok', 'Hash chain': 'failed', 'Merkle proof': 'ok', 'Root on chain': 'ok' });
    // every other event passes all of its checks
    expect(await page.locator('[data-event-result][data-ok="true"]').count()).toBe(env.j.events.length - failedIds.length);
    await screenshot(page, 'tracking-tampered');
    await context.close();
  });

  it('says plainly when the chain cannot be reached, and verifies nothing', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await page.route(`${new URL(env.j.t.ledger.rpcUrl).origin}/**`, (route: Route) => route.abort('connectionrefused'));
    await page.goto(`${env.j.baseUrl}/t/${token}`);
    await page.getByRole('button', { name: 'Verify' }).click();
    const alert = page.locator('[data-verdict="UNREACHABLE"]');
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toMatch(/^Could not reach the chain at 127\.0\.0\.1:\d+: the browser could not connect to it/);
    expect(await page.locator('[data-event-result]').count()).toBe(0);
    await context.close();
  });

  it('a visitor without a valid share token sees nothing of the parcel', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    for (const bad of ['not-a-token', token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A'), TRACKING]) {
      const answers: number[] = [];
      page.on('response', (r) => {
        if (r.url().includes('/api/track/')) answers.push(r.status());
      });
      await page.goto(`${env.j.baseUrl}/t/${bad}`);
      await page.getByRole('heading', { name: 'This tracking link does not work' }).waitFor();
      const text = await page.locator('body').innerText();
      for (const secret of [TRACKING, 'Northwind', 'Acme', MERCHANT, CARRIER, 'Delivered']) expect(text).not.toContain(secret);
      expect(answers).toContain(404);
      page.removeAllListeners('response');
    }
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'tracking-bad-link');
    await context.close();
  });
});
