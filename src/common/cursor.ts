import { LedgerError } from './errors';

/** What a cursor part may be; each is checked before it reaches SQL. */
export type CursorPart = 'timestamp' | 'uuid' | 'bigint';

const BIGINT_MAX = (1n << 63n) - 1n;
const VALID: Record<CursorPart, (v: string) => boolean> = {
  timestamp: (v) => /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(v) && !Number.isNaN(new Date(v).getTime()),
  uuid: (v) => /^[0-9a-f-]{36}$/.test(v),
  bigint: (v) => /^\d{1,19}$/.test(v) && BigInt(v) <= BIGINT_MAX,
};

/** Relay cursors for every connection: `<kind>:<part>:<part>…`, base64url, opaque to clients. */
export function encodeCursor(kind: string, ...parts: string[]): string {
  return Buffer.from([kind, ...parts].join('|')).toString('base64url');
}

/** The parts of a cursor made by encodeCursor for `kind`; anything else is the caller's mistake. */
export function decodeCursor(cursor: string, kind: string, shape: CursorPart[], connection: string): string[] {
  const [prefix, ...parts] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (prefix !== kind || parts.length !== shape.length || !shape.every((type, i) => VALID[type](parts[i]))) {
    throw new LedgerError('VALIDATION_FAILED', `after must be an endCursor returned by ${connection}`, 'after');
  }
  return parts;
}
