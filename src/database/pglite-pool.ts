import { EventEmitter } from 'node:events';
import type { PGlite } from '@electric-sql/pglite';

/**
 * A `pg`-shaped driver over one PGlite instance, for TypeORM's postgres dialect.
 *
 * PGlite is a single connection. typeorm-pglite hands that one connection to every caller at
 * once, so two concurrent transactions would interleave on it (one's ROLLBACK undoing the
 * other's writes). This pool has exactly one client and makes every other caller wait until it
 * is released, which gives each TypeORM query runner the isolation of a real connection.
 * Each DataSource gets its own PGlite (tests run many side by side).
 */
interface QueryResult {
  rows: unknown[];
  rowCount: number;
  command: string;
}
type QueryCallback = (err: Error | null, result: QueryResult | null) => void;

const commandOf = (text: string): string => (/^\s*(\w+)/.exec(text)?.[1] ?? '').toUpperCase();

class PGliteClient extends EventEmitter {
  constructor(readonly db: PGlite) {
    super();
  }

  /** node-postgres' two call shapes: promise, or a trailing callback. */
  query(text: string, params?: unknown[] | QueryCallback, callback?: QueryCallback): Promise<QueryResult> | undefined {
    const cb = typeof params === 'function' ? params : callback;
    const run = this.run(text, typeof params === 'function' ? undefined : params);
    if (!cb) return run;
    run.then((result) => cb(null, result), (err: Error) => cb(err, null));
    return undefined;
  }

  private async run(text: string, params: unknown[] | undefined): Promise<QueryResult> {
    if (params && params.length > 0) {
      const result = await this.db.query(text, params);
      return { rows: result.rows, rowCount: result.affectedRows ?? result.rows.length, command: commandOf(text) };
    }
    const results = await this.db.exec(text);
    const last = results[results.length - 1];
    return { rows: last?.rows ?? [], rowCount: last?.affectedRows ?? last?.rows.length ?? 0, command: commandOf(text) };
  }
}

export function pgliteDriver(open: () => Promise<PGlite>): { Pool: new () => EventEmitter } {
  class PGlitePool extends EventEmitter {
    private client: PGliteClient | undefined;
    private opening: Promise<PGliteClient> | undefined;
    private busy = false;
    private readonly waiting: Array<() => void> = [];

    private getClient(): Promise<PGliteClient> {
      this.opening ??= open().then((db) => (this.client = new PGliteClient(db)));
      return this.opening;
    }

    private release = (): void => {
      const next = this.waiting.shift();
      if (next) next();
      else this.busy = false;
    };

    connect(callback: (err: Error | null, client: PGliteClient | null, release: (err?: unknown) => void) => void): void {
      this.getClient().then(
        (client) => {
          const grant = (): void => {
            let released = false;
            callback(null, client, () => {
              if (released) return;
              released = true;
              this.release();
            });
          };
          if (this.busy) this.waiting.push(grant);
          else {
            this.busy = true;
            grant();
          }
        },
        (err: Error) => callback(err, null, () => undefined),
      );
    }

    end(callback: (err: Error | null) => void): void {
      const db = this.client?.db;
      (db ? db.close() : Promise.resolve()).then(() => callback(null), (err: Error) => callback(err));
    }
  }
  return { Pool: PGlitePool };
}
