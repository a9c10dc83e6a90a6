import type { SiteSettings } from '../../src/web/web-pages';

export type { SiteSettings };

/** The pages' only ways to the service: GraphQL with the visitor's API key, and the public JSON routes. */

const KEY_STORAGE = 'custody-ledger.api-key';

/** The API key lives in sessionStorage: kept for this browser tab, gone when it closes, never in a URL. */
export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_STORAGE),
  signIn: (key: string): void => sessionStorage.setItem(KEY_STORAGE, key),
  signOut: (): void => sessionStorage.removeItem(KEY_STORAGE),
};

export class ApiError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export async function gql<T>(query: string, variables: Record<string, unknown> = {}, key = session.key()): Promise<T> {
  let res: Response;
  try {
    res = await fetch('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
  } catch {
    throw new ApiError('NETWORK', 'The ledger could not be reached. Check the connection and try again.');
  }
  const body = (await res.json().catch(() => ({}))) as GraphQLAnswer<T>;
  if (body.errors?.length) {
    const first = body.errors[0];
    throw new ApiError(first.extensions?.code ?? `HTTP_${res.status}`, first.message);
  }
  if (!body.data) throw new ApiError(`HTTP_${res.status}`, `The ledger answered HTTP ${res.status} without data.`);
  return body.data;
}

/** GET of a public JSON route; its errors are `{ error: { code, message } }` or GraphQL-shaped. */
export async function getJson<T>(path: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(path, { headers: { accept: 'application/json' } });
  } catch {
    throw new ApiError('NETWORK', 'The ledger could not be reached. Check the connection and try again.');
  }
  const body = (await res.json().catch(() => null)) as (T & { error?: { code: string; message: string }; errors?: Array<{ message: string; extensions?: { code?: string } }> }) | null;
  if (!res.ok || body === null) {
    const err = body?.error ?? (body?.errors?.[0] ? { code: body.errors[0].extensions?.code ?? `HTTP_${res.status}`, message: body.errors[0].message } : null);
    throw new ApiError(err?.code ?? `HTTP_${res.status}`, err?.message ?? `The ledger answered HTTP ${res.status}.`);
  }
  return body;
}

let site: Promise<SiteSettings> | null = null;
export const siteSettings = (): Promise<SiteSettings> => (site ??= getJson<SiteSettings>('/api/site'));

export interface Viewer {
  role: 'ADMIN' | 'CARRIER' | 'MERCHANT' | 'DISPUTE_ANALYST' | 'AUDITOR';
  organization: string | null;
  organizationKind: string | null;
  manageKeys: boolean;
}

export const fetchViewer = (key?: string): Promise<Viewer> => gql<{ viewer: Viewer }>(`{ viewer { role organization organizationKind manageKeys } }`, {}, key ?? session.key()).then((d) => d.viewer);
