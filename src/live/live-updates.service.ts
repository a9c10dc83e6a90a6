import { EventEmitter } from 'node:events';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Client } from 'pg';
import type { QueryRunner } from 'typeorm';
import { RUNTIME, type Runtime } from '../common/runtime';

/**
 * What one replica announces to all: ids only (NOTIFY payloads are limited to 8000 bytes, and
 * each replica re-reads the rows with each subscriber's own scope). `events`: custody events
 * newly recorded on one shipment, in the order they were stored; `batch`: a batch anchored.
 */
export type LiveNotice = { k: 'events'; s: string; e: string[] } | { k: 'batch'; seq: string };

/** Event ids (66 characters) per notice, so a payload stays well under PostgreSQL's 8000 bytes. */
const IDS_PER_NOTICE = 100;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 10_000;

function parseNotice(payload: string | undefined): LiveNotice | null {
  try {
    const n = JSON.parse(payload ?? '') as LiveNotice;
    if (n.k === 'events' && typeof n.s === 'string' && Array.isArray(n.e)) return n;
    if (n.k === 'batch' && typeof n.seq === 'string') return n;
  } catch {
    // not ours
  }
  return null;
}

/**
 * Live updates across replicas through PostgreSQL LISTEN/NOTIFY. Writers announce with NOTIFY
 * inside the transaction that stores the data, so only committed data is announced (PostgreSQL
 * delivers a transaction's notifications at commit, and drops them on rollback). Each replica
 * LISTENs on a dedicated connection (reconnecting with back-off; notices sent while it is
 * disconnected are missed) and hands every notice to its local subscribers. On PGlite (one
 * process) the same NOTIFY is heard in process. The channel is per schema, so ledgers sharing a
 * PostgreSQL database in different schemas do not hear each other.
 *
 * Also keeps the per-replica counts the WebSocket server bounds (connections per key and per
 * organization) and reports (open subscriptions).
 */
@Injectable()
export class LiveUpdatesService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('LiveUpdates');
  private readonly local = new EventEmitter();
  readonly channel: string;
  private listener: Client | null = null;
  private stopPglite: (() => Promise<void>) | null = null;
  private stopped = false;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private subscribers = 0;
  private readonly connections = new Map<string, number>();

  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {
    this.local.setMaxListeners(0);
    const db = runtime.config.database;
    this.channel = db.kind === 'postgres' ? `custody_live_${db.schema}`.toLowerCase().slice(0, 63) : 'custody_live';
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.runtime.config.database.kind === 'postgres') await this.listenPostgres();
    else await this.listenPglite();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    const client = this.listener;
    this.listener = null;
    if (client) {
      await client.query(`UNLISTEN "${this.channel}"`).catch(() => undefined);
      await client.end().catch(() => undefined);
    }
    await this.stopPglite?.();
    this.stopPglite = null;
    this.local.removeAllListeners();
  }

  /** Ingestion's hook: inside the transaction that stores the events (shipment id, event id, in storing order). */
  async eventsRecorded(runner: QueryRunner, events: ReadonlyArray<{ shipmentId: string; eventId: string }>): Promise<void> {
    const byShipment = new Map<string, string[]>();
    for (const { shipmentId, eventId } of events) {
      const ids = byShipment.get(shipmentId) ?? [];
      ids.push(eventId);
      byShipment.set(shipmentId, ids);
    }
    const payloads: string[] = [];
    for (const [s, ids] of byShipment) {
      for (let i = 0; i < ids.length; i += IDS_PER_NOTICE) payloads.push(JSON.stringify({ k: 'events', s, e: ids.slice(i, i + IDS_PER_NOTICE) } satisfies LiveNotice));
    }
    if (payloads.length > 0) await runner.query(`SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, [this.channel, payloads]);
  }

  /** The anchorer's hook: after the batch's ANCHORED row is committed. */
  async batchAnchored(seq: string): Promise<void> {
    const payload = JSON.stringify({ k: 'batch', seq } satisfies LiveNotice);
    await this.runtime.dataSource.query(`SELECT pg_notify($1, $2)`, [this.channel, payload]).catch((err: unknown) => {
      this.logger.warn(`could not announce batch ${seq}: ${(err as Error).message}`);
    });
  }

  /** Every notice this replica hears (its own included); returns the unsubscribe function. */
  onNotice(listener: (notice: LiveNotice) => void): () => void {
    this.local.on('notice', listener);
    return () => this.local.off('notice', listener);
  }

  private dispatch(payload: string | undefined): void {
    const notice = parseNotice(payload);
    if (notice) this.local.emit('notice', notice);
  }

  private async listenPostgres(): Promise<void> {
    const db = this.runtime.config.database;
    if (db.kind !== 'postgres') return;
    const client = new Client({ connectionString: db.url, application_name: 'custody-ledger-live' });
    client.on('notification', (m) => {
      if (m.channel === this.channel) this.dispatch(m.payload);
    });
    client.on('error', (err) => this.logger.warn(`LISTEN connection failed: ${err.message}; reconnecting`));
    client.on('end', () => {
      if (this.listener === client) this.listener = null;
      this.scheduleReconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch (err) {
      this.logger.warn(`LISTEN failed: ${(err as Error).message}; retrying in ${this.reconnectDelay} ms`);
      await client.end().catch(() => undefined);
      this.scheduleReconnect();
      return;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
    this.reconnectDelay = RECONNECT_MIN_MS;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer || this.listener) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(RECONNECT_MAX_MS, this.reconnectDelay * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.listenPostgres();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** PGlite is one session in this process: LISTEN on it through the pool (between transactions), then hear its notifications. */
  private async listenPglite(): Promise<void> {
    const runner = this.runtime.dataSource.createQueryRunner();
    const connection = (await runner.connect()) as { db: { onNotification(cb: (channel: string, payload: string) => void): () => void } };
    try {
      await runner.query(`LISTEN ${this.channel}`);
      const off = connection.db.onNotification((channel, payload) => {
        if (channel === this.channel) this.dispatch(payload);
      });
      this.stopPglite = async () => {
        off();
        await this.runtime.dataSource.query(`UNLISTEN ${this.channel}`).catch(() => undefined);
      };
    } finally {
      await runner.release();
    }
  }

  /** Open subscriptions on this replica (for tests and metrics). */
  subscriberCount(): number {
    return this.subscribers;
  }

  subscriptionStarted(): () => void {
    this.subscribers++;
    let ended = false;
    return () => {
      if (!ended) this.subscribers--;
      ended = true;
    };
  }

  /** WebSocket connections of an API key (its id, or `bootstrap-admin`) on this replica. */
  connectionsOf(keyId: string): number {
    return this.connections.get(`key:${keyId}`) ?? 0;
  }

  /**
   * Counts a connection of `keyId` and of its organization (none for the platform's keys, bound by
   * the key's count only) unless the key holds `max.perKey` or the organization `max.perOrganization`
   * already; returns the release function (it gives both back, once), or which count is full.
   */
  openConnection(keyId: string, organizationId: string | null, max: { perKey: number; perOrganization: number }): (() => void) | 'KEY' | 'ORGANIZATION' {
    const counts = [`key:${keyId}`, ...(organizationId === null ? [] : [`organization:${organizationId}`])];
    if ((this.connections.get(counts[0]) ?? 0) >= max.perKey) return 'KEY';
    if (counts[1] && (this.connections.get(counts[1]) ?? 0) >= max.perOrganization) return 'ORGANIZATION';
    for (const count of counts) this.connections.set(count, (this.connections.get(count) ?? 0) + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      for (const count of counts) {
        const left = (this.connections.get(count) ?? 0) - 1;
        if (left <= 0) this.connections.delete(count);
        else this.connections.set(count, left);
      }
    };
  }
}
