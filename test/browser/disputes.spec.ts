import * as fs from 'fs';
import { newContext, overflowsHorizontally, pageErrors, screenshot, seriousAxeViolations, signIn } from './support/browser';
import { CARRIER, seededBrowser, TRACKING } from './support/journey';
import { mustGql } from '../support/factories';

/**
 * Issue 12: the dispute workspace in real headless Chromium against a running service: an
 * analyst filters the list, opens the dispute, reads the custody chain, the delivery position
 * against the geofence, every verification check, downloads the bundle and resolves the dispute.
 */
describe('dispute workspace (browser)', () => {
  const env = seededBrowser();

  it('an analyst filters, opens the dispute, sees chain, map and every check, downloads the bundle and resolves it', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await signIn(page, env.j.baseUrl, env.j.keys.analyst, '/app/disputes');
    await page.getByRole('heading', { name: 'Disputes', level: 1 }).waitFor();
    await page.getByRole('link', { name: TRACKING }).waitFor();

    // a filter that matches nothing, reflected in the URL
    await page.getByLabel('Status').selectOption('RESOLVED');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('No dispute matches these filters.').waitFor();
    expect(new URL(page.url()).searchParams.get('status')).toBe('RESOLVED');

    await page.getByLabel('Status').selectOption('OPEN');
    await page.getByLabel('Claim').selectOption('NOT_RECEIVED');
    await page.getByLabel('Tracking number').fill(TRACKING);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/claim=NOT_RECEIVED/);
    expect(new URL(page.url()).searchParams.get('trackingNumber')).toBe(TRACKING);
    await page.getByRole('link', { name: TRACKING }).waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await seriousAxeViolations(page)).toEqual([]);
    expect(await overflowsHorizontally(page)).toBe(false);
    await screenshot(page, 'dispute-list');

    await page.getByRole('link', { name: TRACKING }).click();
    await page.waitForURL(new RegExp(`/app/disputes/${env.j.disputeId}$`));
    await page.getByRole('heading', { name: /Dispute: Not received/ }).waitFor();

    // custody chain: who held the parcel, in order, with signers
    const chain = page.getByRole('list', { name: 'Who held the parcel, in order' });
    await chain.waitFor();
    const links = await chain.locator(':scope > li').allTextContents();
    expect(links.length).toBeGreaterThanOrEqual(2);
    expect(links[0]).toContain('signed by');
    expect(links.join(' ')).toContain(CARRIER);

    // delivery position vs the destination geofence, with the map
    const distance = await page.getByTestId('delivery-distance').textContent();
    expect(distance).toMatch(/Delivered \d+ m from the destination \(geofence 150 m.*inside the geofence/);
    await page.locator('.leaflet-container').first().waitFor();

    // every check of the verifier, each passed or failed
    const checks = page.getByRole('list', { name: 'Every check' });
    await checks.waitFor();
    const items = await checks.locator(':scope > li').allTextContents();
    expect(items.length).toBe(23);
    expect(items.every((t) => /^(Passed|Failed)/.test(t))).toBe(true);
    expect(items.some((t) => t.includes('MERKLE_PROOF'))).toBe(true);

    // fraud findings section answered
    await page.getByRole('heading', { name: 'Fraud findings' }).waitFor();
    await page.locator('section[aria-labelledby="findings-h"] .loading').waitFor({ state: 'detached' });

    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'dispute-workspace');

    // the bundle: the key goes in the header, never in a URL; the file parses as the bundle
    const requests: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download the bundle' }).click()]);
    const saved = await download.path();
    const bundle = JSON.parse(fs.readFileSync(saved, 'utf8')) as { format: string; shipment: { trackingNumber: string; carrier: string }; events: unknown[] };
    expect(bundle.format).toMatch(/^custody-pod\//);
    expect(bundle.shipment).toMatchObject({ trackingNumber: TRACKING, carrier: CARRIER });
    expect(bundle.events.length).toBeGreaterThan(3);
    expect(requests.some((u) => u.includes(`/proofs/${CARRIER}/${TRACKING}.json`))).toBe(true);
    expect(requests.every((u) => !u.includes(env.j.keys.analyst))).toBe(true);

    // resolve: validation first, then success
    await page.getByRole('button', { name: 'Resolve the dispute' }).click();
    await page.getByText('Choose an outcome.').waitFor();
    await page.getByText('Write a note saying why').waitFor();
    await page.getByLabel('Outcome').selectOption('CLAIM_REJECTED');
    await page.getByLabel('Note').fill('Delivered inside the geofence, signed and FINAL on chain.');
    await page.getByRole('button', { name: 'Resolve the dispute' }).click();
    await page.getByRole('status').getByText('This dispute is resolved: Claim rejected.').waitFor();
    const d = await mustGql<{ dispute: { status: string; outcome: string; resolutionNote: string } }>(env.j.t, `query($id: ID!) { dispute(id: $id) { status outcome resolutionNote } }`, { id: env.j.disputeId });
    expect(d.dispute).toEqual({ status: 'RESOLVED', outcome: 'CLAIM_REJECTED', resolutionNote: 'Delivered inside the geofence, signed and FINAL on chain.' });

    await page.getByRole('link', { name: '← All disputes' }).click();
    await page.getByLabel('Status').selectOption('RESOLVED');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByRole('link', { name: TRACKING }).waitFor();
    expect(await page.locator('tbody tr').first().textContent()).toContain('Resolved (Claim rejected)');
    expect(errors).toEqual([]);
    await context.close();
  });

  it('fits a phone width', async () => {
    const context = await newContext(env.browser, { phone: true });
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.analyst, `/app/disputes/${env.j.disputeId}`);
    await page.getByRole('list', { name: 'Every check' }).waitFor();
    await page.locator('.leaflet-container').first().waitFor();
    expect(await overflowsHorizontally(page)).toBe(false);
    // a mobile viewport widens itself to overflowing content, so check the layout width too
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, 'dispute-workspace-phone');
    await context.close();
  });

  it('a carrier key cannot see the disputes page', async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.carrier, `/app/disputes/${env.j.disputeId}`);
    await page.getByRole('heading', { name: 'Not available' }).waitFor();
    expect(await page.getByText('Custody chain').count()).toBe(0);
    await context.close();
  });
  it('pages through the list with the after cursor, keeping the filters in the URL', async () => {
    for (let i = 0; i < 26; i++) {
      await mustGql(env.j.t, `mutation($t: String!, $c: String!) { openDispute(trackingNumber: $t, carrier: $c, claim: LATE, note: "late ${i}") { id } }`, { t: TRACKING, c: CARRIER });
    }
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.analyst, '/app/disputes?claim=LATE');
    await page.getByRole('link', { name: 'Next page' }).waitFor();
    expect(new URL(page.url()).searchParams.get('claim')).toBe('LATE');
    expect(await page.locator('tbody tr').count()).toBe(25);
    expect(await page.locator('tbody tr').allTextContents()).toEqual(Array(25).fill(expect.stringContaining('Late')));
    expect(await page.getByLabel('Claim').inputValue()).toBe('LATE');
    await page.getByRole('link', { name: 'Next page' }).click();
    await page.waitForURL(/after=/);
    expect(new URL(page.url()).searchParams.get('claim')).toBe('LATE');
    await page.getByText('Disputes, oldest first (next page)').waitFor();
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.getByRole('link', { name: 'Next page' }).count()).toBe(0);
    await context.close();
  });
});
