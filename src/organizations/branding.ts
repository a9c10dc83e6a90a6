import { LedgerError } from '../common/errors';

/** An organization's look on public tracking pages; every field nullable (the page falls back to its own). */
export interface Branding {
  displayName: string | null;
  logoUrl: string | null;
  brandColor: string | null;
  accentColor: string | null;
}

/** The most a data: logo URL may be, whole (the page embeds it in every answer). */
export const MAX_LOGO_DATA_URL_BYTES = 65_536;
const MAX_LOGO_HTTPS_URL_LENGTH = 2_048;
const COLOR = /^#[0-9a-fA-F]{6}$/;
const DATA_URL = /^data:image\/(png|svg\+xml|jpeg);base64,([A-Za-z0-9+/]+={0,2})$/;
/** control, zero-width and bidi-override characters: a name a page shows must read as it is stored */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\u2028\u2029]/u;

/**
 * Checks one change of branding (undefined: leave as is; null: clear) and returns it normalised:
 * colours lower-case, the name trimmed. Throws a LedgerError naming the field and what to fix.
 */
export function validateBranding(input: Partial<Branding>, production: boolean): Partial<Branding> {
  const out: Partial<Branding> = {};
  if (input.displayName !== undefined) {
    const name = input.displayName === null ? null : input.displayName.trim();
    if (name !== null && (name.length < 1 || [...name].length > 80 || UNPRINTABLE.test(name))) {
      throw new LedgerError('INVALID_DISPLAY_NAME', 'displayName must be 1-80 characters without control or invisible characters (null clears it: the page then shows the organization\'s name)', 'displayName');
    }
    out.displayName = name;
  }
  for (const field of ['brandColor', 'accentColor'] as const) {
    const value = input[field];
    if (value === undefined) continue;
    if (value !== null && !COLOR.test(value)) throw new LedgerError('INVALID_COLOR', `${field} must be a colour #rrggbb, six hex digits such as "#0a66c2" (got ${JSON.stringify(value.slice(0, 20))}); null clears it`, field);
    out[field] = value === null ? null : value.toLowerCase();
  }
  if (input.logoUrl !== undefined) {
    if (input.logoUrl !== null) checkLogoUrl(input.logoUrl, production);
    out.logoUrl = input.logoUrl;
  }
  return out;
}

function checkLogoUrl(url: string, production: boolean): void {
  const bad = (why: string): never => {
    throw new LedgerError('INVALID_LOGO_URL', `logoUrl ${why}`, 'logoUrl');
  };
  if (url.startsWith('data:')) {
    if (Buffer.byteLength(url) > MAX_LOGO_DATA_URL_BYTES) bad(`is a data: URL of ${Buffer.byteLength(url)} bytes; at most ${MAX_LOGO_DATA_URL_BYTES} (64 KB): shrink the image or host it at an https:// URL`);
    const m = DATA_URL.exec(url);
    if (!m || m[2].length % 4 !== 0) bad('must be data:image/png;base64,…, data:image/svg+xml;base64,… or data:image/jpeg;base64,… with valid base64');
    return;
  }
  if (url.length > MAX_LOGO_HTTPS_URL_LENGTH) bad(`must be at most ${MAX_LOGO_HTTPS_URL_LENGTH} characters`);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return bad('must be an https:// URL (or a data:image/png|svg+xml|jpeg;base64 URL)');
  }
  if (/\s/.test(url) || UNPRINTABLE.test(url)) bad('must not contain spaces or control characters');
  if (parsed.username || parsed.password) bad('must not carry a user name or password');
  const local = parsed.hostname === '127.0.0.1' || parsed.hostname === 'localhost';
  if (parsed.protocol === 'https:') return;
  if (parsed.protocol === 'http:' && local && !production) return;
  bad(production ? 'must be an https:// URL (or a data:image/png|svg+xml|jpeg;base64 URL)' : 'must be an https:// URL, http://127.0.0.1 or http://localhost (development only), or a data:image/png|svg+xml|jpeg;base64 URL');
}
