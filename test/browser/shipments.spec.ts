import { newContext, overflowsHorizontally, screenshot, seriousAxeViolations, signIn } from './support/browser';
import { CARRIER, TRACKING, seededBrowser } from './support/journey';

/**
 * Issue 12: a merchant's support agent answers "where is my order?": finds the shipment by its
 * tracking number, sees where it is, creates a tracking link for the customer, and revokes it.
 * Real headless Chromium against a running service.
 */
describe('shipments page: find a shipment, share and revoke a tracking link (browser)', () => {
  const env = seededBrowser();

  it("a merchant's agent finds the parcel, shares a link the customer opens without a key, and revokes it", async () => {
    const context = await newContext(env.browser);
    const page = await context.newPage();
    await signIn(page, env.j.baseUrl, env.j.keys.merchant);
    await page.getByRole('heading', { name: 'Shipments', level: 1 }).waitFor();
    await page.getByRole('cell', { name: TRACKING }).waitFor();
    await page.getByLabel('Tracking number').fill(TRACKING);
    await page.getByLabel('Carrier (slug)').fill(CARRIER);
    await page.getByRole('button', { name: 'Find' }).click();
    const panel = page.getByRole('region', { name: new RegExp(`^${TRACKING}`) });
    await panel.getByText('Delivered', { exact: false }).first().waitFor();
    expect(await panel.locator('.timeline > li').count()).toBe(env.j.events.length);
    expect(page.url()).toContain(`tracking=${TRACKING}`);
    expect(await seriousAxeViolations(page)).toEqual([]);

    await panel.getByRole('button', { name: 'Create a tracking link' }).click();
    const link = await panel.locator('[data-share-link]').getAttribute('href');
    expect(link).toMatch(new RegExp(`^${env.j.baseUrl}/t/[A-Za-z0-9_-]{43}$`));
    await screenshot(page, 'shipments');

    // the customer: another env.browser, no key
    const customer = await (await newContext(env.browser, { phone: true })).newPage();
    await customer.goto(link!);
    await customer.getByRole('heading', { name: 'Delivered' }).waitFor();
    expect(await overflowsHorizontally(customer)).toBe(false);

    await panel.getByRole('button', { name: /^Revoke the link/ }).click();
    await panel.getByText(/· revoked /).waitFor();
    await customer.reload();
    await customer.getByRole('heading', { name: 'This tracking link does not work' }).waitFor();
    await customer.context().close();

    // another carrier's key cannot find it: the same answer as for a parcel that does not exist
    const rival = await (await newContext(env.browser)).newPage();
    await signIn(rival, env.j.baseUrl, env.j.keys.otherCarrier, `/app/shipments?tracking=${TRACKING}&carrier=${CARRIER}`);
    await rival.getByText(`No shipment ${TRACKING} of carrier ${CARRIER} that this key can see.`).waitFor();
    expect(await rival.locator('.timeline > li').count()).toBe(0);
    await rival.context().close();
    await context.close();
  });
});
