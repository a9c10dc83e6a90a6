import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Real headless Chromium (Debian's `chromium` package, `.ci/run` installs it), driven by
 * playwright-core: no browser download, no stand-in. CHROMIUM_PATH overrides where it is.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update'];

/** Where screenshots go: artifacts/screenshots (kept by CI as artefacts; git ignores artifacts/). */
export const SCREENSHOT_DIR = path.resolve(__dirname, '..', '..', '..', 'artifacts', 'screenshots');

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`the browser tests need Chromium at ${CHROMIUM_PATH}: install Debian's package (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH`);
  }
  // the pages under test are the built ones (test/global-setup.js builds them once per run)
  if (!existsSync(path.resolve(__dirname, '..', '..', '..', 'web', 'dist', 'index.html'))) throw new Error('the web pages are not built: run `npm run build:web`');
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: FLAGS, headless: true });
}

export const PHONE = { width: 390, height: 844 };
export const DESKTOP = { width: 1280, height: 900 };

/** A context per test file: its own storage (the API key in sessionStorage), a fixed time zone and locale. */
export async function newContext(browser: Browser, options: { phone?: boolean; timezoneId?: string } = {}): Promise<BrowserContext> {
  return browser.newContext({
    viewport: options.phone ? PHONE : DESKTOP,
    deviceScaleFactor: 1,
    isMobile: options.phone ?? false,
    hasTouch: options.phone ?? false,
    timezoneId: options.timezoneId ?? 'America/New_York',
    locale: 'en-US',
  });
}

/** Every console error and failed page script, so a test can assert there were none. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  return errors;
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: string[];
}

const AXE_SOURCE = (): string => readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core run in the page (WCAG 2.1 A and AA rules): the serious and critical violations, each
 * with the selectors of the elements at fault, so a failing test says what to fix.
 */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  // through the DevTools protocol, as an extension would: the pages' CSP (no inline scripts) stays on
  await page.evaluate(AXE_SOURCE());
  // a string, run in the page: this project's TypeScript has no DOM types
  const violations = (await page.evaluate(`axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }, resultTypes: ['violations'] })
    .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(' ')) })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Whether the page scrolls sideways at its viewport width (a phone layout must not). */
export async function overflowsHorizontally(page: Page): Promise<boolean> {
  // against the configured viewport, not window.innerWidth: on a mobile viewport Chromium widens the
  // layout to fit content that is too wide, and innerWidth grows with it
  const width = page.viewportSize()?.width ?? 0;
  return ((await page.evaluate('document.documentElement.scrollWidth')) as number) > width + 1;
}

/** Signs in to the staff pages through the sign-in form, as a person would. */
export async function signIn(page: Page, baseUrl: string, apiKey: string, path = '/app/'): Promise<void> {
  await page.goto(`${baseUrl}${path}`);
  await page.getByLabel('API key').fill(apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).waitFor();
}
