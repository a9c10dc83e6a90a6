import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type PgBoss from 'pg-boss';
import type { QueryRunner } from 'typeorm';
import { RUNTIME, type Runtime } from '../common/runtime';
import { LedgerError } from '../common/errors';
import { inTransaction, sqlRows } from '../database/data-source';
import { mustManage, type Principal } from '../auth/principal';
import { newWebhookSecret, signatureHeader } from './webhook-signing';
import { checkWebhookUrl, guardedLookup, refusedAtDelivery, type AddressPolicy } from './webhook-address';
import { WEBHOOK_EVENT_TYPES } from './webhook-events';
import { DELIVERY_QUEUE, createBoss, enqueueDeliveries, type DeliveryJob } from './webhook-queue';
import type { CreatedWebhookEndpoint, CreateWebhookEndpointInput, WebhookDelivery, WebhookEndpoint } from './webhook.models';

const MAX_ENDPOINTS_PER_ORGANIZATION = 20;
const WORKERS = 4;
const MAX_RETRY_DELAY_MS = 3_600_000;

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
    for (let i = 0; i < WORKERS; i++) {
      await boss.work<DeliveryJob>(DELIVERY_QUEUE, { batchSize: 1, pollingIntervalSeconds: Math.max(0.5, this.runtime.config.webhooks.pollMs / 1000) }, async ([job]) => this.deliver(job.data.deliveryId));
    }
    this.boss = boss;
    this.sender = boss;
  }

  /** Stops taking jobs and waits for the ones in flight; unfinished jobs stay in the queue for the next start. */
  async onApplicationShutdown(): Promise<void> {
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
             AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' AND p.ordering_key IS NOT DISTINCT FROM d.ordering_key AND p.seq < d.seq)
           RETURNING d.id`,
          [id],
        );
        await enqueueDeliveries(this.queue(), runner, heads.map((h) => h.id), this.runtime.config.webhooks.timeoutMs);
      }
      return this.endpointRow(runner, id);
    });
  }

  /** Deletes the endpoint, its pending deliveries and its log (soft for the endpoint row, so ids stay unique). */
  async delete(id: string, caller: Principal): Promise<boolean> {
    return inTransaction(this.runtime.dataSource, async (runner) => {
      await this.managed(runner, id, caller);
      await runner.query(`DELETE FROM webhook_deliveries WHERE endpoint_id = $1`, [id]);
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
   */
  async replay(deliveryId: string, caller: Principal): Promise<WebhookDelivery> {
    const endpointId = await inTransaction(this.runtime.dataSource, async (runner) => {
      const [row] = await sqlRows<{ endpoint_id: string }>(runner, `SELECT endpoint_id FROM webhook_deliveries WHERE id = $1`, [asUuid(deliveryId)]);
      if (!row) throw new LedgerError('NOT_FOUND', 'no webhook delivery with this id for your organization', 'id');
      await this.managed(runner, row.endpoint_id, caller, 'no webhook delivery with this id for your organization');
      await runner.query(`UPDATE webhook_deliveries SET status = 'PENDING', finished_at = NULL, first_attempt_at = NULL, next_attempt_at = now(), claimed_until = NULL WHERE id = $1`, [deliveryId]);
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

  /** One pg-boss job: one attempt of one delivery (or nothing, when it is not its turn or time). */
  async deliver(deliveryId: string): Promise<void> {
    const timeoutMs = this.runtime.config.webhooks.timeoutMs;
    const [claimed] = await sqlRows<{ id: string; webhook_id: string; payload: string; url: string; secret: string; previous_secret: string | null; previous_valid: boolean; endpoint_id: string }>(
      this.runtime.dataSource,
      `UPDATE webhook_deliveries d SET claimed_until = now() + make_interval(secs => $2::double precision / 1000), first_attempt_at = coalesce(d.first_attempt_at, now())
         FROM webhook_endpoints w, organizations o
        WHERE d.id = $1 AND w.id = d.endpoint_id AND w.enabled AND w.deleted_at IS NULL AND d.status = 'PENDING'
          AND o.id = w.organization_id AND o.suspended_at IS NULL
          AND (d.claimed_until IS NULL OR d.claimed_until < now()) AND (d.next_attempt_at IS NULL OR d.next_attempt_at <= now() + interval '50 milliseconds')
          AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' AND p.ordering_key IS NOT DISTINCT FROM d.ordering_key AND p.seq < d.seq)
       RETURNING d.id, d.webhook_id, d.payload, w.url, w.secret, w.previous_secret, coalesce(w.previous_secret_until > now(), false) AS previous_valid, w.id AS endpoint_id`,
      [deliveryId, timeoutMs + 30_000],
    );
    if (!claimed) return this.requeueIfReserved(deliveryId);
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
    const result = await this.post(new URL(claimed.url), headers, claimed.payload, timeoutMs);
    await this.recordAttempt(claimed.id, claimed.endpoint_id, attemptedAt, result);
  }

  /**
   * A job that found its delivery reserved by another attempt or not yet due. When that attempt's
   * bookkeeping failed (a database error after the POST), no other job would ever come: the
   * delivery, and every later one of its shipment, would stay PENDING for good. So the job is
   * queued again for when the reservation ends or the attempt is due. Not for a delivery waiting
   * its turn (the one before it queues it when it ends), nor for a disabled endpoint (enabling
   * queues what waited).
   */
  private async requeueIfReserved(deliveryId: string): Promise<void> {
    await inTransaction(this.runtime.dataSource, async (runner) => {
      const [d] = await sqlRows<{ at: Date }>(
        runner,
        `SELECT greatest(d.claimed_until, d.next_attempt_at) + interval '100 milliseconds' AS at
           FROM webhook_deliveries d JOIN webhook_endpoints w ON w.id = d.endpoint_id
          WHERE d.id = $1 AND d.status = 'PENDING' AND w.enabled AND w.deleted_at IS NULL
            AND greatest(d.claimed_until, d.next_attempt_at) > now()
            AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.endpoint_id = d.endpoint_id AND p.status = 'PENDING' AND p.ordering_key IS NOT DISTINCT FROM d.ordering_key AND p.seq < d.seq)`,
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
    const cfg = this.runtime.config.webhooks;
    const ok = result.httpStatus !== null && result.httpStatus >= 200 && result.httpStatus < 300;
    await inTransaction(this.runtime.dataSource, async (runner) => {
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
        `SELECT now() + make_interval(secs => $2::double precision / 1000) > created_at + make_interval(secs => $3::double precision / 1000) AS give_up,
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
    });
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

