import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import type { DatabaseConfig } from '../config/config';
import { LedgerError } from '../common/errors';
import type { Principal, Scope } from '../auth/principal';
import { createReadDataSource, sqlRows } from './data-source';

/** NONE: no DATABASE_READ_URL. UP: within the lag bound. NOT_A_STANDBY: the server is not in recovery (a promoted standby, or a primary): never read. */
export type ReplicaState = 'NONE' | 'UP' | 'LAGGING' | 'DOWN' | 'NOT_A_STANDBY';

/** A WAL position ('16/B374D848') as a number, for comparing. */
export function parseLsn(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** The caller whose writes a read must see: the API key (the bootstrap admin key is one caller). */
const callerKey = (caller: Pick<Principal, 'keyId'>): string => caller.keyId ?? 'bootstrap-admin';
const isPrincipal = (scope: Scope): scope is Principal => 'keyId' in scope;

/** Samples of the primary's WAL position kept at most (one per tick): past that, the standby counts as lagging. */
const MAX_SAMPLES = 10_000;

/**
 * Where the caller-facing reads of proofs, timelines and bundles run: the streaming standby of
 * DATABASE_READ_URL when it has what the caller must see, else the primary. The rules:
 *
 * - read-your-writes: after each mutation the primary's WAL position (pg_current_wal_lsn(), taken
 *   after the commit) is remembered for the caller (API key); that caller's reads go to the standby
 *   only once its replay position (pg_last_wal_replay_lsn()) has reached it. Reads inside a
 *   mutation always run on the primary.
 * - lag bound: every tick samples the primary's WAL position; the standby is "fresh as of" the
 *   newest sample it has replayed, and nobody reads from it while that is more than maxLagMs ago.
 * - failure: a read that fails on the standby (down, query cancelled by recovery, ...) or finds
 *   nothing there (NOT_FOUND: it may not have replayed it yet) is run again on the primary.
 *
 * The choice is made once per request (per Principal object), so one request never mixes the two.
 */
export class ReadRouter {
  /** Routed reads by where they were answered (a read retried on the primary counts there). */
  readonly served = { replica: 0, primary: 0 };
  private readonly logger = new Logger('ReadReplica');
  private replica: DataSource | null = null;
  private down = false;
  private notStandby = false;
  private replayLsn = -1n;
  /** Time of the newest primary sample the standby has replayed: it has everything committed before it. */
  private freshAt: number | null = null;
  private samples: Array<{ at: number; lsn: bigint }> = [];
  private readonly writes = new Map<string, { lsn: bigint; at: number }>();
  private readonly perRequest = new WeakMap<Principal, DataSource>();
  private timer: NodeJS.Timeout | null = null;
  private ticking: Promise<void> | null = null;
  private closed = false;
  private lastLogged: ReplicaState | null = null;

  constructor(
    readonly primary: DataSource,
    private readonly config: DatabaseConfig,
  ) {}

  get enabled(): boolean {
    return this.config.kind === 'postgres' && this.config.replica !== undefined;
  }

  private get maxLagMs(): number {
    return this.config.kind === 'postgres' ? this.config.replica?.maxLagMs ?? 0 : 0;
  }

  /** Connects to the standby if it is there (it may come later) and starts watching it. */
  async start(): Promise<void> {
    if (!this.enabled) return;
    await this.tick();
    const interval = Math.max(50, Math.min(1000, Math.floor(this.maxLagMs / 4)));
    const loop = (): void => {
      this.timer = setTimeout(() => {
        this.ticking = this.tick().finally(() => {
          this.ticking = null;
          if (!this.closed) loop();
        });
      }, interval);
      this.timer.unref();
    };
    loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.ticking;
    if (this.replica?.isInitialized) await this.replica.destroy().catch(() => undefined);
  }

  status(): { replica: ReplicaState; stalenessMs: number | null } {
    if (!this.enabled) return { replica: 'NONE', stalenessMs: null };
    const stalenessMs = this.freshAt === null ? null : Date.now() - this.freshAt;
    if (this.down || !this.replica) return { replica: 'DOWN', stalenessMs };
    if (this.notStandby) return { replica: 'NOT_A_STANDBY', stalenessMs: null };
    return { replica: stalenessMs !== null && stalenessMs <= this.maxLagMs ? 'UP' : 'LAGGING', stalenessMs };
  }

  /** Reads in this request run on the primary (a mutation's own reads, before and after its writes). */
  pin(caller: Principal): void {
    this.perRequest.set(caller, this.primary);
  }

  /**
   * Remembers the primary's WAL position after a caller's write, so its next reads see it. Never
   * throws: if the position cannot be read, the caller is held on the primary for the lag bound.
   */
  async noteWrite(caller: Principal): Promise<void> {
    if (!this.enabled) return;
    const at = Date.now();
    let lsn: bigint;
    try {
      const [row] = await sqlRows<{ lsn: string }>(this.primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
      lsn = parseLsn(row.lsn);
    } catch {
      lsn = 1n << 64n;
    }
    const key = callerKey(caller);
    const known = this.writes.get(key);
    if (!known || known.lsn < lsn) this.writes.set(key, { lsn, at });
  }

  /**
   * Runs a read for `scope` on the standby when the rules allow it, else on the primary. Only a
   * caller's request (a Principal) is ever sent to the standby; the service's own work
   * (SYSTEM_SCOPE) reads the primary.
   */
  async run<T>(scope: Scope, work: (db: DataSource) => Promise<T>): Promise<T> {
    const db = isPrincipal(scope) ? this.sourceFor(scope) : this.primary;
    if (db !== this.primary) {
      try {
        const result = await work(db);
        this.served.replica++;
        return result;
      } catch (err) {
        if (err instanceof LedgerError && err.code !== 'NOT_FOUND') {
          this.served.replica++;
          throw err;
        }
        if (!(err instanceof LedgerError)) this.markDown(err);
        this.perRequest.set(scope as Principal, this.primary);
      }
    }
    try {
      return await work(this.primary);
    } finally {
      this.served.primary++;
    }
  }

  private sourceFor(caller: Principal): DataSource {
    const chosen = this.perRequest.get(caller);
    if (chosen) return chosen;
    const db = this.replica && this.status().replica === 'UP' && this.caughtUpWith(caller) ? this.replica : this.primary;
    this.perRequest.set(caller, db);
    return db;
  }

  private caughtUpWith(caller: Principal): boolean {
    const write = this.writes.get(callerKey(caller));
    return write === undefined || write.lsn <= this.replayLsn;
  }

  private markDown(err: unknown): void {
    this.down = true;
    this.log('DOWN', `a read failed on the read replica (${describe(err)}): reads go to the primary until it answers again`);
  }

  private async tick(): Promise<void> {
    const at = Date.now();
    try {
      const [row] = await sqlRows<{ lsn: string }>(this.primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
      this.samples.push({ at, lsn: parseLsn(row.lsn) });
      if (this.samples.length > MAX_SAMPLES) this.samples.shift();
    } catch {
      // the primary's trouble is reported by everything else; keep the samples there are
    }
    try {
      if (!this.replica) this.replica = await this.connect();
      const [row] = await sqlRows<{ recovery: boolean; lsn: string | null }>(this.replica, 'SELECT pg_is_in_recovery() AS recovery, pg_last_wal_replay_lsn()::text AS lsn');
      this.down = false;
      this.notStandby = !row.recovery || row.lsn === null;
      if (this.notStandby) {
        this.log('NOT_A_STANDBY', 'DATABASE_READ_URL points at a server that is not a standby in recovery (pg_is_in_recovery() is false): every read goes to the primary. Point it at a streaming standby of DATABASE_URL');
        return;
      }
      this.replayLsn = parseLsn(row.lsn!);
      let replayed = this.samples.length - 1;
      while (replayed >= 0 && this.samples[replayed].lsn > this.replayLsn) replayed--;
      if (replayed >= 0) {
        this.freshAt = this.samples[replayed].at;
        this.samples = this.samples.slice(replayed);
      }
      // a write the standby has replayed, or made before the time it is fresh as of, needs no more care
      for (const [key, w] of this.writes) if (w.lsn <= this.replayLsn || (this.freshAt !== null && w.at < this.freshAt)) this.writes.delete(key);
      const { replica, stalenessMs } = this.status();
      this.log(replica, replica === 'UP' ? 'the read replica is streaming: proofs, timelines and bundles are read from it' : `the read replica is ${stalenessMs === null ? 'behind by an unknown time' : `${stalenessMs} ms behind`} (bound: ${this.maxLagMs} ms): reads go to the primary`);
    } catch (err) {
      this.down = true;
      this.log('DOWN', `the read replica does not answer (${describe(err)}): reads go to the primary`);
    }
  }

  private async connect(): Promise<DataSource> {
    const db = createReadDataSource(this.config);
    await db.initialize();
    return db;
  }

  /** Logs each change of state once (the URL never: it can hold a password). */
  private log(state: ReplicaState, message: string): void {
    if (state === this.lastLogged) return;
    this.lastLogged = state;
    if (state === 'UP') this.logger.log(message);
    else this.logger.warn(message);
  }
}

/** A driver error's code and first line, without connection strings. */
function describe(err: unknown): string {
  const e = err as { code?: string; driverError?: { code?: string }; message?: string };
  const code = e.driverError?.code ?? e.code;
  return `${code ? `${code}: ` : ''}${(e.message ?? String(err)).split('\n')[0].replace(/postgres(ql)?:\/\/\S+/g, '<url>')}`;
}
