import { newContext, overflowsHorizontally, pageErrors, screenshot, seriousAxeViolations, signIn } from './support/browser';
import { seededBrowser } from './support/journey';
import { mustGql } from '../support/factories';

/**
 * Issue 12: the auditor page in real headless Chromium: batches and their anchors as GraphQL
 * reports them, and the anchor audit run from a button, its progress polled until the result.
 */
describe('auditor page (browser)', () => {
  const env = seededBrowser();

  it('an auditor sees the batches with their anchors, runs the audit and watches it reach the end with the result', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await signIn(page, env.j.baseUrl, env.j.keys.auditor, '/app/audit');
    await page.getByRole('heading', { name: 'Anchors and audit', level: 1 }).waitFor();
    await page.getByText('No audit was run yet.').waitFor();

    // the batches as GraphQL reports them
    const api = await mustGql<{ batches: { edges: Array<{ node: { seq: string; status: string; txHash: string; blockNumber: number } }> } }>(env.j.t, `{ batches(first: 50) { edges { node { seq status txHash blockNumber } } } }`);
    const rows = page.locator('section[aria-labelledby="batches-h"] tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(api.batches.edges.length);
    const first = api.batches.edges[0].node;
    const cells = await rows.first().locator('td').allTextContents();
    expect(cells[0]).toBe(first.seq);
    expect(cells[1]).toBe(first.status.charAt(0) + first.status.slice(1).toLowerCase());
    expect(cells[4]).toBe(`${first.txHash.slice(0, 10)}…${first.txHash.slice(-6)}`);
    expect(cells[5]).toBe(String(first.blockNumber));
    expect(Number(cells[6])).toBeGreaterThanOrEqual(1);

    // the audit: the button starts it, the page polls until the result
    const polls: string[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/graphql') && (r.postData() ?? '').includes('anchorAuditRun')) polls.push(r.url());
    });
    await page.getByRole('button', { name: 'Run the audit' }).click();
    await page.getByRole('status').getByText(/Audit finished/).waitFor({ timeout: 60_000 });
    const progress = page.getByLabel(/Batches checked/);
    const [value, max] = [await progress.getAttribute('value'), await progress.getAttribute('max')];
    expect(Number(value)).toBeGreaterThanOrEqual(1);
    expect(value).toBe(max);
    expect(polls.length).toBeGreaterThanOrEqual(1);
    const result = page.getByTestId('audit-result');
    expect(await result.textContent()).toMatch(new RegExp(`No problem found ${value} batch\\(es\\) and \\d+ event\\(s\\) checked`));
    const latest = await mustGql<{ latestAnchorAudit: { status: string; batchesChecked: number; result: { ok: boolean } } }>(env.j.t, `{ latestAnchorAudit { status batchesChecked result { ok } } }`);
    expect(latest.latestAnchorAudit).toEqual({ status: 'DONE', batchesChecked: Number(value), result: { ok: true } });
    expect(await page.getByRole('button', { name: 'Run the audit' }).isEnabled()).toBe(true);

    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await overflowsHorizontally(page)).toBe(false);
    await screenshot(page, 'audit');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('fits a phone width and shows the latest audit after a reload', async () => {
    const context = await newContext(env.browser, { phone: true });
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.auditor, '/app/audit');
    await page.getByTestId('audit-result').waitFor();
    await page.locator('section[aria-labelledby="batches-h"] tbody tr').first().waitFor();
    expect(await overflowsHorizontally(page)).toBe(false);
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'audit-phone');
    await context.close();
  });

  it('an analyst key cannot see the auditor page', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.analyst, '/app/audit');
    await page.getByRole('heading', { name: 'Not available' }).waitFor();
    expect(await page.getByRole('button', { name: 'Run the audit' }).count()).toBe(0);
    await context.close();
  });
});
