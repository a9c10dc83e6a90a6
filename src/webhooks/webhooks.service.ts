import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type PgBoss from 'pg-boss';
import type { QueryRunner } from 'typeorm';
import { RUNTIME, type Runtime } from '../common/runtime';
import { LedgerError } from '../common/errors';
import { inTransaction, sqlRows } from '../database/data-source';
import { advisoryLockName } from '../anchoring/leader-lock';
import { mustManage, type Principal } from '../auth/principal';
import { newWebhookSecret, signatureHeader } from './webhook-signing';
import { checkWebhookUrl, guardedLookup, refusedAtDelivery, type AddressPolicy } from './webhook-address';
import { WEBHOOK_EVENT_TYPES } from './webhook-events';
import { DELIVERY_QUEUE, createBoss, enqueueDeliveries, type DeliveryJob } from './webhook-queue';
import type { CreatedWebhookEndpoint, CreateWebhookEndpointInput, WebhookDelivery, WebhookEndpoint } from './webhook.models';

const MAX_ENDPOINTS_PER_ORGANIZATION = 20;
const MAX_RETRY_DELAY_MS = 3_600_000;
/** deliveries the sweeper queues again at most per sweep */
const SWEEP_LIMIT = 500;

/** Delivery `d` is the oldest waiting one of its endpoint and shipment (later ones wait for it). */
// `=` (not IS NOT DISTINCT FROM, which no index serves: a wake-up over a backlog of 3,000 took 6 s
// on PostgreSQL) with the both-NULL case apart; the ledger writes no NULL key today
const FIRST_IN_LINE_SQL = `NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' AND p.ordering_key = d.ordering_key AND p.seq < d.seq)
  AND (d.ordering_key IS NOT NULL OR NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' AND p.ordering_key IS NULL AND p.seq < d.seq))`;
/**
 * Delivery `d` (endpoint `w`, organization `o`) may be sent now, its organization's share apart:
 * pending, enabled, not suspended, claimed by nobody, due, first in line.
 */
const SENDABLE_SQL = `w.id = d.endpoint_id AND w.enabled AND w.deleted_at IS NULL AND d.status = 'PENDING'
  AND o.id = w.organization_id AND o.suspended_at IS NULL
  AND (d.claimed_until IS NULL OR d.claimed_until < now()) AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now() + interval '50 milliseconds')
  AND ${FIRST_IN_LINE_SQL}`;
/** The organization of delivery $1. */
const DELIVERY_ORGANIZATION_SQL = `SELECT w.organization_id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id WHERE d.id = $1`;
/** The organization of endpoint $1. */
const ENDPOINT_ORGANIZATION_SQL = `SELECT organization_id FROM webhook_endpoints WHERE id = $1`;
/** The attempts in flight of the organization whose id is the SQL expression `organization`. */
const inFlightSql = (organization: string): string =>
  `(SELECT count(*) FROM webhook_deliveries f JOIN webhook_endpoints fw ON fw.id = f.endpoint_id WHERE fw.organization_id = ${organization} AND f.status = 'PENDING' AND f.claimed_until > now())`;

interface EndpointRow {
  id: string;
  organization: string;
  url: string;
  event_types: string[];
  description: string;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: Date | null;
  consecutive_failures: number;
  previous_secret_until: Date | null;
  created_at: Date;
}
const ENDPOINT_COLUMNS = `w.id, o.slug AS organization, w.url, w.event_types, w.description, w.enabled, w.disabled_reason, w.disabled_at, w.consecutive_failures, w.previous_secret_until, w.created_at`;

const toEndpoint = (r: EndpointRow): WebhookEndpoint => ({
  id: r.id,
  organization: r.organization,
  url: r.url,
  eventTypes: r.event_types,
  description: r.description,
  enabled: r.enabled,
  disabledReason: r.disabled_reason,
  disabledAt: r.disabled_at,
  consecutiveFailures: r.consecutive_failures,
  previousSecretUntil: r.previous_secret_until,
  createdAt: r.created_at,
});

/** The outcome of one HTTP attempt: a status, or an error text that never holds a secret. */
interface AttemptResult {
  httpStatus: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * Webhooks (README "Webhooks"): endpoints per organization, the outbox rows written in the
 * transaction that records an event, and their delivery from pg-boss jobs with signed requests,
 * retries with back-off, ordering per shipment and automatic disabling.
 */
@Injectable()
export class WebhooksService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Webhooks');
  /** runs the workers; undefined once stopped */
  private boss: PgBoss | undefined;
  /**
   * inserts jobs (in the caller's transaction, through its own connection): kept after the workers
   * stop, so events recorded while the service shuts down still get their deliveries queued
   */
  private sender: PgBoss | undefined;
  /** queues deliveries long due without a job again (`sweep`) */
  private sweeper: NodeJS.Timeout | undefined;
  /** `/metrics`: deliveries by outcome, endpoints disabled automatically */
  readonly stats = { delivered: 0, failedAttempts: 0, givenUp: 0, endpointsDisabled: 0 };

  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  private get policy(): AddressPolicy {
    return { production: this.runtime.config.production, allowedHosts: this.runtime.config.webhooks.allowedHosts };
  }

  async onApplicationBootstrap(): Promise<void> {
    const boss = createBoss(this.runtime.dataSource, this.runtime.config.database);
    // pg-boss errors are about its own SQL (jobs carry delivery ids only, never a secret)
    boss.on('error', (err: Error) => this.logger.error(`queue: ${err.message}`));
    await boss.start();
    await boss.createQueue(DELIVERY_QUEUE);
    for (let i = 0; i < this.runtime.config.webhooks.workers; i++) {
      await boss.work<DeliveryJob>(DELIVERY_QUEUE, { batchSize: 1, pollingIntervalSeconds: Math.max(0.5, this.runtime.config.webhooks.pollMs / 1000) }, async ([job]) => this.deliver(job.data.deliveryId));
    }
    this.boss = boss;
    this.sender = boss;
    this.sweeper = setInterval(() => {
      this.sweep().catch((err: Error) => this.logger.warn(`sweep: ${err.message}`));
    }, this.runtime.config.webhooks.sweepMs);
    this.sweeper.unref();
  }

  /** Stops taking jobs and waits for the ones in flight; unfinished jobs stay in the queue for the next start. */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    const boss = this.boss;
    this.boss = undefined;
    await boss?.stop({ graceful: true, wait: true, timeout: this.runtime.config.webhooks.timeoutMs + 5_000 });
  }

  private queue(): PgBoss {
    if (!this.sender) throw new Error('the webhook queue was never started');
    return this.sender;
  }

  // ---- the hooks: one call each, inside the transaction that writes the object ----

  /** Outbox rows (and their jobs) for events just inserted in `runner`'s transaction. */
  async custodyEventsRecorded(runner: QueryRunner, eventIds: string[]): Promise<void> {
    if (eventIds.length === 0) return;
    const rows = await sqlRows<{ id: string }>(
      runner,
      `INSERT INTO webhook_deliveries (endpoint_id, webhook_id, event_type, ordering_key, payload)
       SELECT w.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'shipment.event_recorded', e.shipment_id::text,
              json_build_object('type', 'shipment.event_recorded', 'timestamp', ${iso('now()')}, 'data', json_build_object(
                'receipt', json_build_object('eventId', e.event_id, 'digest', e.digest, 'leaf', e.leaf, 'previousLeaf', e.previous_leaf, 'status', 'PENDING', 'receivedAt', ${iso('e.received_at')}),
                'trackingNumber', e.tracking_number, 'carrier', e.carrier, 'eventType', e.event_type, 'custodian', e.custodian,
                'occurredAt', ${iso('to_timestamp(e.occurred_at_ms / 1000.0)')}))::text
         FROM custody_events e
         JOIN shipments s ON s.id = e.shipment_id
         JOIN webhook_endpoints w ON w.deleted_at IS NULL AND 'shipment.event_recorded' = ANY(w.event_types)
         JOIN organizations o ON o.id = w.organization_id AND o.suspended_at IS NULL
        WHERE e.event_id = ANY($1::text[])
          AND ${readableSql('o', 's', 'e')}
        ORDER BY e.id, w.id
       RETURNING id`,
      [eventIds],
    );
    await enqueueDeliveries(this.queue(), runner, rows.map((r) => r.id), this.runtime.config.webhooks.timeoutMs);
  }

  /**
   * Outbox rows for a batch that just became ANCHORED in `runner`'s transaction, to every endpoint
   * subscribed to batch.anchored (batches are public to every role). One ordering key for all
   * batches: they arrive in anchoring order. After a reorg a batch can be announced again.
   */
  async batchAnchored(runner: QueryRunner, seq: string): Promise<void> {
    const rows = await sqlRows<{ id: string }>(
      runner,
      `INSERT INTO webhook_deliveries (endpoint_id, webhook_id, event_type, ordering_key, payload)
       SELECT w.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''), 'batch.anchored', 'batches',
              json_build_object('type', 'batch.anchored', 'timestamp', ${iso('now()')}, 'data', json_build_object(
                'seq', b.seq::text, 'root', b.root, 'leafCount', b.leaf_count, 'txHash', b.tx_hash, 'blockNumber', b.block_number::text, 'blockHash', b.block_hash,
                'chainId', b.chain_id::text, 'contractAddress', b.contract_address, 'anchoredAt', ${iso('b.anchored_at')}))::text
         FROM anchor_batches b
         JOIN webhook_endpoints w ON w.deleted_at IS NULL AND 'batch.anchored' = ANY(w.event_types)
         JOIN organizations o ON o.id = w.organization_id AND o.suspended_at IS NULL
        WHERE b.seq = $1::bigint
        ORDER BY w.id
       RETURNING id`,
      [seq],
    );
    await enqueueDeliveries(this.queue(), runner, rows.map((r) => r.id), this.runtime.config.webhooks.timeoutMs);
  }

  // ---- endpoints ----

  async create(input: CreateWebhookEndpointInput, caller: Principal): Promise<CreatedWebhookEndpoint> {
    const organizationId = await this.organizationFor(input.organization ?? null, caller);
    mustManage(caller, organizationId, 'webhook endpoints');
    const eventTypes = checkEventTypes(input.eventTypes);
    const description = (input.description ?? '').trim();
    if (description.length > 500) throw new LedgerError('VALIDATION_FAILED', 'description is longer than 500 characters', 'description');
    const url = checkWebhookUrl(input.url, this.policy);
    const secret = newWebhookSecret();
    return inTransaction(this.runtime.dataSource, async (runner) => {
      // registrations of one organization take turns, so concurrent ones cannot pass the cap
      await this.lockOrganizationId(runner, organizationId);
      const [{ n }] = await sqlRows<{ n: number }>(runner, `SELECT count(*)::int AS n FROM webhook_endpoints WHERE organization_id = $1 AND deleted_at IS NULL`, [organizationId]);
      if (n >= MAX_ENDPOINTS_PER_ORGANIZATION) throw new LedgerError('VALIDATION_FAILED', `an organization has at most ${MAX_ENDPOINTS_PER_ORGANIZATION} webhook endpoints: delete one first`);
      const [{ id }] = await sqlRows<{ id: string }>(runner, `INSERT INTO webhook_endpoints (organization_id, url, event_types, description, secret) VALUES ($1, $2, $3::text[], $4, $5) RETURNING id`, [
        organizationId,
        url.href,
        eventTypes,
        description,
        secret,
      ]);
      return { secret, endpoint: await this.endpointRow(runner, id) };
    });
  }

  async list(caller: Principal): Promise<WebhookEndpoint[]> {
    const params: unknown[] = [];
    const rows = await sqlRows<EndpointRow>(
      this.runtime.dataSource,
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints w JOIN organizations o ON o.id = w.organization_id WHERE w.deleted_at IS NULL AND ${ownerSql(caller, params)} ORDER BY w.created_at, w.id`,
      params,
    );
    return rows.map(toEndpoint);
  }

  /** A new secret, returned this once; the old one keeps signing (a second signature) for WEBHOOK_SECRET_GRACE_MS. */
  async rotateSecret(id: string, caller: Principal): Promise<CreatedWebhookEndpoint> {
    const secret = newWebhookSecret();
    return inTransaction(this.runtime.dataSource, async (runner) => {
      await this.managed(runner, id, caller);
      await runner.query(
        `UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = now() + make_interval(secs => $3::double precision / 1000), secret = $2 WHERE id = $1`,
        [id, secret, this.runtime.config.webhooks.secretGraceMs],
      );
      return { secret, endpoint: await this.endpointRow(runner, id) };
    });
  }

  async setEnabled(id: string, enabled: boolean, caller: Principal): Promise<WebhookEndpoint> {
    return inTransaction(this.runtime.dataSource, async (runner) => {
      // the organization's lock before any row (managed() locks the endpoint's): the order an
      // attempt's bookkeeping takes them in, so the two never wait for each other in a cycle
      await this.lockOrganization(runner, ENDPOINT_ORGANIZATION_SQL, asUuid(id));
      await this.managed(runner, id, caller);
      if (!enabled) {
        await runner.query(`UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'disabled by disableWebhookEndpoint', disabled_at = now() WHERE id = $1 AND enabled`, [id]);
        return this.endpointRow(runner, id);
      }
      const [was] = await sqlRows<{ enabled: boolean }>(runner, `SELECT enabled FROM webhook_endpoints WHERE id = $1`, [id]);
      if (!was.enabled) {
        await runner.query(`UPDATE webhook_endpoints SET enabled = true, disabled_reason = NULL, disabled_at = NULL, consecutive_failures = 0, failing_since = NULL WHERE id = $1`, [id]);
        // what waited while it was disabled goes out now, the oldest of each shipment first
        const heads = await sqlRows<{ id: string }>(
          runner,
          `UPDATE webhook_deliveries d SET next_attempt_at = now(), first_attempt_at = NULL WHERE d.endpoint_id = $1 AND d.status = 'PENDING'
             AND ${FIRST_IN_LINE_SQL}
           RETURNING d.id`,
          [id],
        );
        await enqueueDeliveries(this.queue(), runner, heads.map((h) => h.id), this.runtime.config.webhooks.timeoutMs);
      }
      return this.endpointRow(runner, id);
    });
  }

  /**
   * An organization reinstated: what waited for it while it was suspended (its jobs found it
   * suspended and ended) goes out now, the oldest of each shipment first, to its enabled endpoints.
   */
  async organizationReinstated(runner: QueryRunner, organizationId: string): Promise<void> {
    const heads = await sqlRows<{ id: string }>(
      runner,
      `SELECT d.id FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
        WHERE w.organization_id = $1 AND w.enabled AND w.deleted_at IS NULL AND d.status = 'PENDING'
          AND ${FIRST_IN_LINE_SQL}`,
      [organizationId],
    );
    await enqueueDeliveries(this.queue(), runner, heads.map((h) => h.id), this.runtime.config.webhooks.timeoutMs);
  }

  /**
   * Deletes the endpoint, its pending deliveries and its log (soft for the endpoint row, so ids
   * stay unique). A delivery with an attempt in flight stays until that attempt ends (then
   * `recordAttempt` removes it): it still counts against its organization's share, and its
   * bookkeeping has a row to end.
   */
  async delete(id: string, caller: Principal): Promise<boolean> {
    return inTransaction(this.runtime.dataSource, async (runner) => {
      await this.lockOrganization(runner, ENDPOINT_ORGANIZATION_SQL, asUuid(id));
      await this.managed(runner, id, caller);
      await runner.query(`DELETE FROM webhook_deliveries WHERE endpoint_id = $1 AND NOT (status = 'PENDING' AND claimed_until > now())`, [id]);
      await runner.query(`UPDATE webhook_endpoints SET deleted_at = now(), enabled = false, secret = '', previous_secret = NULL WHERE id = $1`, [id]);
      return true;
    });
  }

  // ---- the delivery log ----

  async deliveries(endpointId: string, caller: Principal, first: number): Promise<WebhookDelivery[]> {
    await this.owned(this.runtime.dataSource, endpointId, caller);
    const rows = await sqlRows<{ id: string; webhook_id: string; event_type: string; status: string; created_at: Date; finished_at: Date | null; payload: string; attempts: Array<{ attempt: number; attempted_at: string; http_status: number | null; error: string | null; duration_ms: number }> }>(
      this.runtime.dataSource,
      `SELECT d.id, d.webhook_id, d.event_type, d.status, d.created_at, d.finished_at, d.payload,
              coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'attempted_at', a.attempted_at, 'http_status', a.http_status, 'error', a.error, 'duration_ms', a.duration_ms) ORDER BY a.attempt)
                          FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]'::json) AS attempts
         FROM webhook_deliveries d WHERE d.endpoint_id = $1 ORDER BY d.seq DESC LIMIT $2`,
      [endpointId, first],
    );
    return rows.map((r) => ({
      id: r.id,
      webhookId: r.webhook_id,
      eventType: r.event_type,
      status: r.status,
      createdAt: r.created_at,
      finishedAt: r.finished_at,
      payload: r.payload,
      attempts: (typeof r.attempts === 'string' ? (JSON.parse(r.attempts) as typeof r.attempts) : r.attempts).map((a) => ({
        attempt: a.attempt,
        attemptedAt: new Date(a.attempted_at),
        httpStatus: a.http_status,
        error: a.error,
        durationMs: a.duration_ms,
      })),
    }));
  }

  /**
   * Sends a delivery again, with the SAME webhook-id (receivers that de-duplicate by it see a
   * repeat, as the spec intends) and a fresh timestamp and signature. It becomes PENDING with a new
   * retry window; a later delivery of the same shipment to the endpoint waits for it, as for any.
   * Not while an attempt of it is in flight: clearing that claim would send it a second time at
   * once, past its organization's share (WEBHOOK_ORGANIZATION_CONCURRENCY).
   */
  async replay(deliveryId: string, caller: Principal): Promise<WebhookDelivery> {
    const endpointId = await inTransaction(this.runtime.dataSource, async (runner) => {
      await this.lockOrganization(runner, DELIVERY_ORGANIZATION_SQL, asUuid(deliveryId));
      const [row] = await sqlRows<{ endpoint_id: string }>(runner, `SELECT endpoint_id FROM webhook_deliveries WHERE id = $1`, [deliveryId]);
      if (!row) throw new LedgerError('NOT_FOUND', 'no webhook delivery with this id for your organization', 'id');
      await this.managed(runner, row.endpoint_id, caller, 'no webhook delivery with this id for your organization');
      const [replayed] = await sqlRows<{ id: string }>(
        runner,
        `UPDATE webhook_deliveries SET status = 'PENDING', finished_at = NULL, first_attempt_at = NULL, next_attempt_at = now(), claimed_until = NULL
          WHERE id = $1 AND NOT (status = 'PENDING' AND claimed_until > now()) RETURNING id`,
        [deliveryId],
      );
      if (!replayed) throw new LedgerError('VALIDATION_FAILED', `this delivery is being sent right now: replay it once that attempt ended (within ${Math.ceil(this.runtime.config.webhooks.timeoutMs / 1000)} s)`, 'id');
      await enqueueDeliveries(this.queue(), runner, [deliveryId], this.runtime.config.webhooks.timeoutMs);
      return row.endpoint_id;
    });
    const all = await this.deliveries(endpointId, caller, 1000);
    return all.find((d) => d.id === deliveryId)!;
  }

  /** Deliveries not yet delivered nor given up (the `/metrics` queue depth). */
  async queueDepth(): Promise<number> {
    const [{ n }] = await sqlRows<{ n: number }>(this.runtime.dataSource, `SELECT count(*)::int AS n FROM webhook_deliveries WHERE status = 'PENDING'`);
    return n;
  }

  // ---- sending ----

  /**
   * One pg-boss job: one attempt of one delivery, or nothing when it is not its turn or time. An
   * organization has at most WEBHOOK_ORGANIZATION_CONCURRENCY attempts in flight (all replicas):
   * past that the delivery is parked, and the attempt that ends first queues it again
   * (`wakeParked`), so one organization's slow receivers hold at most that many workers.
   */
  async deliver(deliveryId: string): Promise<void> {
    const cfg = this.runtime.config.webhooks;
    const outcome = await inTransaction(this.runtime.dataSource, async (runner) => {
      const organizationId = await this.lockOrganization(runner, DELIVERY_ORGANIZATION_SQL, deliveryId);
      if (organizationId === undefined) return 'gone' as const;
      const [claimed] = await sqlRows<{ id: string; webhook_id: string; payload: string; url: string; secret: string; previous_secret: string | null; previous_valid: boolean; endpoint_id: string }>(
        runner,
        `UPDATE webhook_deliveries d SET claimed_until = now() + make_interval(secs => $2::double precision / 1000), first_attempt_at = coalesce(d.first_attempt_at, now()), parked_at = NULL
           FROM webhook_endpoints w, organizations o
          WHERE d.id = $1 AND ${SENDABLE_SQL} AND ${inFlightSql('w.organization_id')} < $3
         RETURNING d.id, d.webhook_id, d.payload, w.url, w.secret, w.previous_secret, coalesce(w.previous_secret_until > now(), false) AS previous_valid, w.id AS endpoint_id`,
        [deliveryId, cfg.timeoutMs + 30_000, cfg.organizationConcurrency],
      );
      if (claimed) return claimed;
      const [parked] = await sqlRows<{ id: string }>(
        runner,
        `UPDATE webhook_deliveries d SET parked_at = now() FROM webhook_endpoints w, organizations o WHERE d.id = $1 AND ${SENDABLE_SQL} RETURNING d.id`,
        [deliveryId],
      );
      return parked ? ('parked' as const) : ('not sendable' as const);
    });
    if (outcome === 'not sendable') return this.requeueIfReserved(deliveryId);
    if (typeof outcome === 'string') return;
    const claimed = outcome;
    const secrets = claimed.previous_valid && claimed.previous_secret ? [claimed.secret, claimed.previous_secret] : [claimed.secret];
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'custody-ledger-webhooks/1',
      'webhook-id': claimed.webhook_id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, claimed.webhook_id, timestamp, claimed.payload),
    };
    const attemptedAt = new Date();
    const result = await this.post(new URL(claimed.url), headers, claimed.payload, cfg.timeoutMs);
    await this.recordAttempt(claimed.id, claimed.endpoint_id, attemptedAt, result);
  }

  /**
   * Takes the organization's delivery lock for the transaction (claims and the end of attempts of
   * one organization take turns, so a parked delivery is never missed by the attempt that ends);
   * `sql` finds the organization's id from `id`. Undefined when there is none (deleted).
   */
  private async lockOrganization(runner: QueryRunner, sql: string, id: string): Promise<string | undefined> {
    const [row] = await sqlRows<{ organization_id: string }>(runner, sql, [id]);
    if (!row) return undefined;
    await this.lockOrganizationId(runner, row.organization_id);
    return row.organization_id;
  }

  private async lockOrganizationId(runner: QueryRunner, organizationId: string): Promise<void> {
    await runner.query(`SELECT pg_advisory_xact_lock(hashtext($1))`, [advisoryLockName(this.runtime.config.database, `webhook-organization:${organizationId}`)]);
  }

  /**
   * An attempt of the organization ended (in `runner`'s transaction, under its lock): as many of its
   * parked deliveries as it now has free slots are queued again, the oldest first.
   */
  private async wakeParked(runner: QueryRunner, organizationId: string): Promise<void> {
    const woken = await sqlRows<{ id: string }>(
      runner,
      `WITH next AS (
         SELECT d.id FROM webhook_deliveries d, webhook_endpoints w, organizations o
          WHERE w.organization_id = $1 AND d.parked_at IS NOT NULL AND ${SENDABLE_SQL}
          ORDER BY d.seq LIMIT greatest($2 - ${inFlightSql('$1')}, 0))
       UPDATE webhook_deliveries u SET parked_at = NULL FROM next WHERE u.id = next.id RETURNING u.id`,
      [organizationId, this.runtime.config.webhooks.organizationConcurrency],
    );
    await enqueueDeliveries(this.queue(), runner, woken.map((w) => w.id), this.runtime.config.webhooks.timeoutMs);
  }

  /**
   * Every WEBHOOK_SWEEP_MS: deliveries due for longer than that, claimed by nobody and first in
   * line, get a job again (at most once per five sweeps each). A job can be lost: pg-boss gives
   * one up after its 20 retries (a long database outage), and a crash can cost a wake-up. A
   * delivery that still had a job gets a second one, which finds it claimed or sent and ends. Not
   * a parked one while its organization is at its share: an attempt in flight wakes it when it
   * ends, and a job now would only park it again (a slow tenant's backlog: 500 jobs a sweep and
   * replica, ahead of everyone else's).
   */
  async sweep(): Promise<number> {
    const cfg = this.runtime.config.webhooks;
    return inTransaction(this.runtime.dataSource, async (runner) => {
      const swept = await sqlRows<{ id: string }>(
        runner,
        `WITH at_share AS (
           SELECT fw.organization_id FROM webhook_deliveries f JOIN webhook_endpoints fw ON fw.id = f.endpoint_id
            WHERE f.status = 'PENDING' AND f.claimed_until > now() GROUP BY fw.organization_id HAVING count(*) >= $3),
         due AS (
           SELECT d.id FROM webhook_deliveries d, webhook_endpoints w, organizations o
            WHERE ${SENDABLE_SQL}
              AND (d.parked_at IS NULL OR w.organization_id NOT IN (SELECT organization_id FROM at_share))
              AND coalesce(d.next_attempt_at, d.created_at) < now() - make_interval(secs => $1::double precision / 1000)
              AND (d.swept_at IS NULL OR d.swept_at < now() - make_interval(secs => $2::double precision / 1000))
            ORDER BY d.seq LIMIT ${SWEEP_LIMIT} FOR UPDATE OF d SKIP LOCKED)
         UPDATE webhook_deliveries u SET swept_at = now(), parked_at = NULL FROM due WHERE u.id = due.id RETURNING u.id`,
        [cfg.sweepMs, cfg.sweepMs * 5, cfg.organizationConcurrency],
      );
      await enqueueDeliveries(this.queue(), runner, swept.map((d) => d.id), cfg.timeoutMs);
      return swept.length;
    });
  }

  /**
   * A job that found its delivery reserved by another attempt or not yet due. When that attempt's
   * bookkeeping failed (a database error after the POST), no other job would ever come: the
   * delivery, and every later one of its shipment, would stay PENDING for good. So the job is
   * queued again for when the reservation ends or the attempt is due. Not for a delivery waiting
   * its turn (the one before it queues it when it ends), nor for a disabled endpoint (enabling
   * queues what waited, and reinstating an organization the same). The reservation may have ended
   * between the claim and this look (a busy machine): then the job comes back at once.
   */
  private async requeueIfReserved(deliveryId: string): Promise<void> {
    await inTransaction(this.runtime.dataSource, async (runner) => {
      // its endpoint was deleted during an attempt whose worker died: nothing will end it but this
      const [gone] = await sqlRows<{ id: string }>(
        runner,
        `DELETE FROM webhook_deliveries d USING webhook_endpoints w WHERE d.id = $1 AND w.id = d.endpoint_id AND w.deleted_at IS NOT NULL AND NOT (d.status = 'PENDING' AND d.claimed_until > now()) RETURNING d.id`,
        [deliveryId],
      );
      if (gone) return;
      const [d] = await sqlRows<{ at: Date }>(
        runner,
        `SELECT greatest(d.claimed_until, d.next_attempt_at, now()) + interval '100 milliseconds' AS at
           FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id JOIN organizations o ON o.id = w.organization_id
          WHERE d.id = $1 AND d.status = 'PENDING' AND w.enabled AND w.deleted_at IS NULL AND o.suspended_at IS NULL
            AND ${FIRST_IN_LINE_SQL}`,
        [deliveryId],
      );
      if (d) await enqueueDeliveries(this.queue(), runner, [deliveryId], this.runtime.config.webhooks.timeoutMs, new Date(d.at));
    });
  }

  private post(url: URL, headers: Record<string, string>, body: string, timeoutMs: number): Promise<AttemptResult> {
    const started = performance.now();
    const done = (httpStatus: number | null, error: string | null): AttemptResult => ({ httpStatus, error, durationMs: Math.round(performance.now() - started) });
    const refused = refusedAtDelivery(url, this.policy);
    if (refused) return Promise.resolve(done(null, refused));
    return new Promise((resolve) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(url, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, lookup: guardedLookup(this.policy, url), timeout: timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => resolve(done(res.statusCode ?? null, null)));
        res.on('error', (err) => resolve(done(res.statusCode ?? null, `response: ${err.message}`)));
      });
      const timer = setTimeout(() => req.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
      // node's messages name the host and port at most; the URL's path and query are not included
      req.on('error', (err: NodeJS.ErrnoException) => resolve(done(null, err.code === 'WEBHOOK_URL_REFUSED' ? err.message : `${err.code ?? 'ERROR'}: ${err.message}`.slice(0, 300))));
      req.end(body);
    });
  }

  /** Logs the attempt and decides: delivered, retry later (same webhook-id), or given up; disables an endpoint that keeps failing. */
  private async recordAttempt(deliveryId: string, endpointId: string, attemptedAt: Date, result: AttemptResult): Promise<void> {
    const ok = result.httpStatus !== null && result.httpStatus >= 200 && result.httpStatus < 300;
    await inTransaction(this.runtime.dataSource, async (runner) => {
      const organizationId = await this.lockOrganization(runner, ENDPOINT_ORGANIZATION_SQL, endpointId);
      // the endpoint was deleted while the attempt was in flight: the delivery goes with it now
      const [gone] = await sqlRows<{ id: string }>(
        runner,
        `DELETE FROM webhook_deliveries d USING webhook_endpoints w WHERE d.id = $1 AND w.id = d.endpoint_id AND w.deleted_at IS NOT NULL RETURNING d.id`,
        [deliveryId],
      );
      if (!gone) await this.settleAttempt(runner, deliveryId, endpointId, attemptedAt, result, ok);
      if (organizationId !== undefined) await this.wakeParked(runner, organizationId);
    });
  }

  private async settleAttempt(runner: QueryRunner, deliveryId: string, endpointId: string, attemptedAt: Date, result: AttemptResult, ok: boolean): Promise<void> {
    const cfg = this.runtime.config.webhooks;
    const [{ attempt }] = await sqlRows<{ attempt: number }>(
      runner,
      `INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, http_status, error, duration_ms)
       SELECT $1, coalesce(max(attempt), 0) + 1, $2, $3, $4, $5 FROM webhook_attempts WHERE delivery_id = $1 RETURNING attempt`,
      [deliveryId, attemptedAt, result.httpStatus, result.error, result.durationMs],
    );
    if (ok) {
      await runner.query(`UPDATE webhook_deliveries SET status = 'DELIVERED', finished_at = now(), claimed_until = NULL WHERE id = $1`, [deliveryId]);
      await runner.query(`UPDATE webhook_endpoints SET consecutive_failures = 0, failing_since = NULL WHERE id = $1`, [endpointId]);
      this.stats.delivered++;
      await this.releaseNext(runner, deliveryId);
      return;
    }
    this.stats.failedAttempts++;
    const [ep] = await sqlRows<{ consecutive_failures: number; failing_ms: number; enabled: boolean }>(
      runner,
      `UPDATE webhook_endpoints SET consecutive_failures = consecutive_failures + 1, failing_since = coalesce(failing_since, $2)
        WHERE id = $1 RETURNING consecutive_failures, (extract(epoch FROM now() - failing_since) * 1000)::float8 AS failing_ms, enabled`,
      [endpointId, attemptedAt],
    );
    if (ep.enabled && ep.consecutive_failures >= cfg.disableAfterFailures && ep.failing_ms >= cfg.disableAfterMs) {
      const reason = `${ep.consecutive_failures} consecutive delivery attempts failed (last: ${result.httpStatus !== null ? `HTTP ${result.httpStatus}` : result.error})`;
      await runner.query(`UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, disabled_at = now() WHERE id = $1`, [endpointId, reason]);
      await runner.query(`UPDATE webhook_deliveries SET claimed_until = NULL WHERE id = $1`, [deliveryId]);
      this.stats.endpointsDisabled++;
      this.logger.warn(`webhook endpoint ${endpointId} disabled: ${reason}`);
      return;
    }
    const delay = retryDelayMs(cfg.retryBaseMs, attempt);
    const [d] = await sqlRows<{ give_up: boolean; next_at: Date }>(
      runner,
      `SELECT now() + make_interval(secs => $2::double precision / 1000) > coalesce(first_attempt_at, created_at) + make_interval(secs => $3::double precision / 1000) AS give_up,
              now() + make_interval(secs => $2::double precision / 1000) AS next_at
         FROM webhook_deliveries WHERE id = $1`,
      [deliveryId, delay, cfg.retryForMs],
    );
    if (d.give_up) {
      await runner.query(`UPDATE webhook_deliveries SET status = 'FAILED', finished_at = now(), claimed_until = NULL WHERE id = $1`, [deliveryId]);
      this.stats.givenUp++;
      await this.releaseNext(runner, deliveryId);
      return;
    }
    await runner.query(`UPDATE webhook_deliveries SET next_attempt_at = $2, claimed_until = NULL WHERE id = $1`, [deliveryId, d.next_at]);
    await enqueueDeliveries(this.queue(), runner, [deliveryId], cfg.timeoutMs, new Date(d.next_at));
  }

  /** The next delivery of the same shipment to the same endpoint may go now. */
  private async releaseNext(runner: QueryRunner, deliveryId: string): Promise<void> {
    const next = await sqlRows<{ id: string }>(
      runner,
      `SELECT n.id FROM webhook_deliveries d JOIN webhook_deliveries n ON n.endpoint_id = d.endpoint_id AND n.ordering_key IS NOT DISTINCT FROM d.ordering_key AND n.status = 'PENDING' AND n.seq > d.seq
        WHERE d.id = $1 ORDER BY n.seq LIMIT 1`,
      [deliveryId],
    );
    await enqueueDeliveries(this.queue(), runner, next.map((n) => n.id), this.runtime.config.webhooks.timeoutMs);
  }

  // ---- access ----

  /** The organization an endpoint is created for: the key's own, or any one the platform admin names. */
  private async organizationFor(slug: string | null, caller: Principal): Promise<string> {
    if (caller.role !== 'ADMIN') {
      if (!caller.organizationId) throw new LedgerError('FORBIDDEN', 'only keys of an organization (or the platform admin) register webhook endpoints');
      if (slug !== null) {
        const [own] = await sqlRows<{ slug: string }>(this.runtime.dataSource, `SELECT slug FROM organizations WHERE id = $1`, [caller.organizationId]);
        if (own?.slug !== slug) throw new LedgerError('FORBIDDEN', "a key registers webhook endpoints for its own organization only: leave organization out", 'organization');
      }
      return caller.organizationId;
    }
    if (slug === null) throw new LedgerError('VALIDATION_FAILED', 'the platform admin names the organization the endpoint is for', 'organization');
    const [org] = await sqlRows<{ id: string }>(this.runtime.dataSource, `SELECT id FROM organizations WHERE slug = $1`, [slug]);
    if (!org) throw new LedgerError('NOT_FOUND', `no organization has the slug ${JSON.stringify(slug.slice(0, 64))}`, 'organization');
    return org.id;
  }

  /** The endpoint exists and the caller reads it (its organization's keys, the platform admin); otherwise NOT_FOUND (never "someone else's"). Its organization. */
  private async owned(on: QueryRunner | Runtime['dataSource'], id: string, caller: Principal, message = 'no webhook endpoint with this id for your organization'): Promise<string> {
    const params: unknown[] = [asUuid(id)];
    const rows = await sqlRows<{ organization_id: string }>(on, `SELECT w.organization_id FROM webhook_endpoints w WHERE w.id = $1 AND w.deleted_at IS NULL AND ${ownerSql(caller, params)} FOR UPDATE`, params);
    if (rows.length === 0) throw new LedgerError('NOT_FOUND', message, 'id');
    return rows[0].organization_id;
  }

  /** owned, and the caller may change it: the platform admin or a key of its organization with manageKeys (FORBIDDEN otherwise). */
  private async managed(runner: QueryRunner, id: string, caller: Principal, message?: string): Promise<void> {
    mustManage(caller, await this.owned(runner, id, caller, message), 'webhook endpoints');
  }

  private async endpointRow(runner: QueryRunner, id: string): Promise<WebhookEndpoint> {
    const [row] = await sqlRows<EndpointRow>(runner, `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints w JOIN organizations o ON o.id = w.organization_id WHERE w.id = $1`, [id]);
    return toEndpoint(row);
  }
}

/** The pause after failed attempt `attempt` (1, 2, …): base, 2×base, 4×base, … up to an hour. */
export function retryDelayMs(baseMs: number, attempt: number): number {
  return Math.min(baseMs * 2 ** Math.min(attempt - 1, 40), MAX_RETRY_DELAY_MS);
}

const iso = (expr: string): string => `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Endpoints of organization `o` that may read event `e` of shipment `s`: the same rule as
 * eventScopeSql (merchants their shipments' events; the carrier all of its shipments'; a hub, a
 * locker or another carrier the events from its first custody of the parcel on, never before).
 */
function readableSql(o: string, s: string, e: string): string {
  return `((${o}.kind = 'MERCHANT' AND ${s}.merchant_id = ${o}.id)
        OR (${o}.kind IN ('CARRIER', 'HUB', 'LOCKER_OPERATOR') AND (${s}.carrier_id = ${o}.id
            OR ${e}.occurred_at_ms >= (SELECT min(x.occurred_at_ms) FROM custody_events x WHERE x.shipment_id = ${e}.shipment_id AND x.custodian_id = ${o}.id))))`;
}

function ownerSql(caller: Principal, params: unknown[]): string {
  if (caller.role === 'ADMIN') return 'TRUE';
  if (!caller.organizationId) return 'FALSE';
  params.push(caller.organizationId);
  return `w.organization_id = $${params.length}::uuid`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function asUuid(id: string): string {
  if (!UUID.test(id)) throw new LedgerError('NOT_FOUND', 'no webhook object with this id for your organization', 'id');
  return id;
}

function checkEventTypes(types: string[]): string[] {
  if (types.length === 0) throw new LedgerError('UNKNOWN_WEBHOOK_EVENT_TYPE', `eventTypes must name at least one of ${WEBHOOK_EVENT_TYPES.join(', ')}`, 'eventTypes');
  for (const t of types) {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(t)) throw new LedgerError('UNKNOWN_WEBHOOK_EVENT_TYPE', `unknown event type ${JSON.stringify(t.slice(0, 64))}: use ${WEBHOOK_EVENT_TYPES.join(', ')}`, 'eventTypes');
  }
  return [...new Set(types)];
}

