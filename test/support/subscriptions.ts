import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { eventually, type TestLedger } from './test-ledger';

/** What a subscription has received so far: each `next` payload, the errors it ended with, and whether it ended. */
export interface Received<T> {
  data: T[];
  errors: Array<{ message: string; extensions?: { code?: string } }>;
  /** the WebSocket close (code, reason) when the connection ended the subscription */
  closed: { code: number; reason: string } | null;
  done: boolean;
  stop(): void;
}

/** A graphql-ws client on the ledger's /graphql over a real WebSocket; `key` null sends no connectionParams. */
export function wsClient(t: TestLedger, key: string | null): Client {
  return createClient({
    url: t.url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    connectionParams: key === null ? undefined : { authorization: `Bearer ${key}` },
    retryAttempts: 0,
    lazy: true,
  });
}

export function subscribe<T>(client: Client, query: string, variables?: Record<string, unknown>): Received<T> {
  const got: Received<T> = { data: [], errors: [], closed: null, done: false, stop: () => undefined };
  got.stop = client.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        if (value.errors) got.errors.push(...(value.errors as Received<T>['errors']));
        if (value.data) got.data.push(value.data as T);
      },
      error: (err: unknown) => {
        if (Array.isArray(err)) got.errors.push(...(err as Received<T>['errors']));
        else if (err && typeof err === 'object' && 'code' in err) got.closed = { code: (err as { code: number }).code, reason: String((err as { reason?: string }).reason ?? '') };
        else got.errors.push({ message: String(err) });
        got.done = true;
      },
      complete: () => {
        got.done = true;
      },
    },
  );
  return got;
}

/** Waits until the subscription has received `n` payloads (or has ended, which fails). */
export async function receivedCount<T>(got: Received<T>, n: number, what: string): Promise<T[]> {
  return eventually(async () => {
    if (got.data.length >= n) return got.data.slice(0, n);
    if (got.done) throw new Error(`${what}: the subscription ended (${JSON.stringify({ errors: got.errors, closed: got.closed })}) after ${got.data.length} payloads`);
    return undefined;
  }, 60_000, what);
}

/** Waits until the subscription has ended; returns what ended it. */
export async function ended<T>(got: Received<T>, what: string): Promise<Received<T>> {
  await eventually(async () => (got.done ? true : undefined), 30_000, what);
  return got;
}
