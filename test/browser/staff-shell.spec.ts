import type { Page } from 'playwright-core';
import { newContext, overflowsHorizontally, pageErrors, screenshot, seriousAxeViolations, signIn } from './support/browser';
import { seededBrowser } from './support/journey';

/**
 * Issue 12: the staff pages' sign-in and role-based navigation, in real headless Chromium against
 * a running service: the API key is entered once, kept for the tab, and a role sees the pages its
 * key can read through GraphQL, no others.
 */
describe('staff pages: sign-in with an API key and role-based navigation (browser)', () => {
  const env = seededBrowser();

  const navLabels = async (page: Page): Promise<string[]> => (await page.getByRole('navigation', { name: 'Pages' }).getByRole('link').allTextContents()).map((s) => s.trim());

  it('refuses a wrong key with a message that says what to fix, and signs in with a valid one', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(`${env.j.baseUrl}/app/`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Enter an API key').waitFor();
    await page.getByLabel('API key').fill('cl_not_a_real_key_0000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('This API key is not valid').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'sign-in');

    await page.getByLabel('API key').fill(env.j.keys.analyst);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    expect(await navLabels(page)).toEqual(['Shipments', 'Disputes', 'Carrier analytics']);
    // kept for the tab: a reload stays signed in
    await page.reload();
    await page.getByRole('navigation', { name: 'Pages' }).waitFor();
    expect(await navLabels(page)).toEqual(['Shipments', 'Disputes', 'Carrier analytics']);
    // a new tab (a new context: its own sessionStorage) is signed out
    const other = await (await newContext(env.browser)).newPage();
    await other.goto(`${env.j.baseUrl}/app/`);
    await other.getByLabel('API key').waitFor();
    await other.context().close();
    expect(errors.filter((e) => !e.includes('401') && !e.includes('Failed to load resource'))).toEqual([]);
    await context.close();
  });

  it.each([
    ['auditor', ['Anchors and audit']],
    ['carrier', ['Shipments', 'Carrier analytics']],
    ['merchant', ['Shipments', 'Carrier analytics']],
    ['admin', ['Shipments', 'Disputes', 'Anchors and audit', 'Carrier analytics']],
  ] as const)('a %s key sees %j in the menu, and a page outside its role says it is not available', async (role, expected) => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys[role]);
    expect(await navLabels(page)).toEqual(expected);
    if (!(expected as readonly string[]).includes('Disputes')) {
      await page.goto(`${env.j.baseUrl}/app/disputes`);
      await page.getByRole('heading', { name: 'Not available' }).waitFor();
    }
    await context.close();
  });

  it('signing out forgets the key; the layout fits a phone', async () => {
    const context = await newContext(env.browser, { phone: true });
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.admin);
    expect(await overflowsHorizontally(page)).toBe(false);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await context.close();
  });

  it('unknown page paths answer the app, an unknown asset 404s, and the pages carry a strict CSP', async () => {
    const res = await fetch(`${env.j.baseUrl}/app/nowhere`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self' 'wasm-unsafe-eval'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect((await fetch(`${env.j.baseUrl}/assets/nothing-here.js`)).status).toBe(404);
    const root = await fetch(`${env.j.baseUrl}/`, { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/app/');
  });
});
