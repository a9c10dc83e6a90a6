import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import type { CustodyIngestionService } from '../custody/custody-ingestion.service';
import type { WebhooksService } from '../webhooks/webhooks.service';

type Next = (err?: unknown) => void;
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: Next) => void;

/** The few routes a request is counted under: never a raw URL (tokens, ids and tracking numbers stay out of labels). */
export function routeOf(url: string | undefined): string {
  const path = (url ?? '/').split('?')[0];
  if (path === '/graphql') return '/graphql';
  if (path.startsWith('/api/track/')) return '/api/track/:token';
  if (path.startsWith('/t/')) return '/t/:token';
  if (path.startsWith('/inclusion-proofs/')) return '/inclusion-proofs/:eventId';
  if (path.startsWith('/assets/')) return '/assets';
  if (path === '/app' || path.startsWith('/app/')) return '/app';
  for (const known of ['/health/live', '/health/ready', '/metrics', '/api/site', '/trust.json', '/']) if (path === known) return known;
  if (path.startsWith('/proof-of-delivery/') || path.startsWith('/bundles/')) return '/bundles';
  return 'other';
}

interface Lag {
  pending: number;
  oldestPendingSeconds: number | null;
  unanchoredBatches: number;
  oldestUnanchoredSeconds: number | null;
}

/** One SQL round trip: the pending backlog (through the partial pending index) and the batches sealed but not on chain yet. */
async function readLag(runtime: Runtime): Promise<Lag> {
  const [row] = await sqlRows<{ pending: string; oldest_pending: number | null; unanchored: string; oldest_unanchored: number | null }>(
    runtime.dataSource,
    `SELECT (SELECT count(*) FROM custody_events WHERE batch_seq IS NULL) AS pending,
            (SELECT extract(epoch FROM now() - received_at)::float8 FROM custody_events WHERE batch_seq IS NULL ORDER BY id LIMIT 1) AS oldest_pending,
            (SELECT count(*) FROM anchor_batches WHERE status IN ('SEALED', 'SUBMITTED')) AS unanchored,
            (SELECT extract(epoch FROM now() - min(sealed_at))::float8 FROM anchor_batches WHERE status IN ('SEALED', 'SUBMITTED')) AS oldest_unanchored`,
  );
  return { pending: Number(row.pending), oldestPendingSeconds: row.oldest_pending, unanchoredBatches: Number(row.unanchored), oldestUnanchoredSeconds: row.oldest_unanchored };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * Prometheus metrics of one running ledger (a registry of its own, so several ledgers in one
 * process, as in the tests, never mix): process figures from prom-client's defaults, HTTP request
 * latency by route and status, custody events by outcome, the pending backlog and the sealing and
 * anchoring lag read at scrape time, and the JSON-RPC requests and failures.
 */
export class LedgerMetrics {
  readonly registry = new Registry();
  private readonly http: Histogram<'method' | 'route' | 'status'>;

  constructor(runtime: Runtime, ingestion: CustodyIngestionService, webhooks?: WebhooksService) {
    const registry = this.registry;
    collectDefaultMetrics({ register: registry, prefix: 'custody_' });
    this.http = new Histogram({
      name: 'custody_http_request_duration_seconds',
      help: 'HTTP requests by method, route and status code, from the first byte read to the last byte written',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    });
    new Counter({
      name: 'custody_events_recorded_total',
      help: 'custody events sent to recordCustodyEvents, by outcome (ACCEPTED, DUPLICATE, REJECTED)',
      labelNames: ['outcome'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [outcome, n] of Object.entries(ingestion.outcomeCounts)) this.inc({ outcome }, n);
      },
    });
    new Counter({
      name: 'custody_events_stored_seconds_total',
      help: 'time spent in the statements that store accepted events (with custody_events_stored_total: the write cost per event)',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(ingestion.writeStats.ms / 1000);
      },
    });
    new Counter({
      name: 'custody_events_stored_total',
      help: 'accepted events written to the database',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(ingestion.writeStats.rows);
      },
    });
    const lag = { value: null as Promise<Lag | null> | null };
    const readOnce = (): Promise<Lag | null> => (lag.value ??= readLag(runtime).catch(() => null).finally(() => setTimeout(() => (lag.value = null), 0)));
    const gauge = (name: string, help: string, pick: (l: Lag) => number | null): void => {
      new Gauge({
        name,
        help,
        registers: [registry],
        async collect() {
          const l = await readOnce();
          const v = l ? pick(l) : null;
          this.set(v ?? 0);
        },
      });
    };
    gauge('custody_pending_events', 'accepted events not sealed into a batch yet', (l) => l.pending);
    gauge('custody_sealing_lag_seconds', 'age of the oldest pending event (0: none pending)', (l) => l.oldestPendingSeconds);
    gauge('custody_unanchored_batches', 'batches sealed but not anchored on chain yet (SEALED or SUBMITTED)', (l) => l.unanchoredBatches);
    gauge('custody_anchoring_lag_seconds', 'age of the oldest sealed batch not anchored yet (0: none)', (l) => l.oldestUnanchoredSeconds);
    const rpc = runtime.chain.provider.stats;
    const rpcCounter = (name: string, help: string, pick: () => number): void => {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(pick());
        },
      });
    };
    rpcCounter('custody_rpc_requests_total', 'JSON-RPC requests to the anchor chain', () => rpc.requests);
    rpcCounter('custody_rpc_endpoint_failures_total', 'JSON-RPC requests one endpoint failed (the next endpoint was tried)', () => rpc.endpointFailures);
    rpcCounter('custody_rpc_errors_total', 'JSON-RPC requests every endpoint failed', () => rpc.failedRequests);
    if (webhooks) webhookMetrics(registry, webhooks);
  }

  /** Times every request; first in the chain, so refusals by the rate limit are counted too. */
  middleware(): Middleware {
    return (req, res, next) => {
      const end = this.http.startTimer();
      // Express' originalUrl: mounted routers rewrite req.url on the way
      const url = (req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url;
      res.once('finish', () => end({ method: req.method ?? 'GET', route: routeOf(url), status: String(res.statusCode) }));
      next();
    };
  }

  /** GET /metrics: the Prometheus text format. */
  handler(): Middleware {
    return (req, res, next) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') return next();
      this.registry
        .metrics()
        .then((text) => {
          res.statusCode = 200;
          res.setHeader('content-type', this.registry.contentType);
          res.setHeader('cache-control', 'no-store');
          res.end(req.method === 'HEAD' ? undefined : text);
        })
        .catch(next);
    };
  }
}

export interface HealthCheck {
  status: 'ok' | 'warn' | 'fail';
  detail: string;
}

/**
 * GET /health/live: the process answers. GET /health/ready: whether this replica should get
 * traffic: 503 only when its database does not answer (nothing works without it). The chain,
 * the anchoring lag and the pending backlog are reported as `warn` and keep it ready: ingestion and
 * reads go on while anchoring waits, and taking every replica out of a load balancer because the
 * chain is slow would turn a delay of anchoring into an outage. Alert on the warns (and on
 * /metrics). While the process drains for shutdown it answers 503 (check `shutdown`).
 */
export function healthRoutes(
  runtime: Runtime,
  limits: { maxAnchorLagSeconds: number; maxPendingEvents: number },
  draining: () => boolean = () => false,
): { live: Middleware; ready: Middleware } {
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.statusCode = status;
    res.setHeader('content-type', 'application/json; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    res.end(JSON.stringify(body));
  };
  const live: Middleware = (_req, res) => send(res, 200, { status: 'ok' });
  const ready: Middleware = (_req, res, next) => {
    // shutting down: a load balancer takes this replica out while its last requests finish
    if (draining()) return send(res, 503, { status: 'fail', checks: { shutdown: { status: 'fail', detail: 'this process is shutting down (SIGTERM/SIGINT): finishing its in-flight requests' } } });
    const run = async (): Promise<void> => {
      const checks: Record<string, HealthCheck> = {};
      let lag: Lag | null = null;
      try {
        lag = await withTimeout(readLag(runtime), 3_000, 'the database');
        checks.database = { status: 'ok', detail: runtime.config.database.kind === 'postgres' ? 'PostgreSQL answers' : 'PGlite answers' };
      } catch (err) {
        checks.database = { status: 'fail', detail: (err as Error).message.split('\n')[0] };
      }
      try {
        const block = await withTimeout(runtime.chain.provider.getBlockNumber(), 3_000, 'the chain');
        checks.chain = { status: 'ok', detail: `chain ${runtime.chain.chainId} at block ${block}` };
      } catch (err) {
        // the reason names endpoints by number, never by URL (json-rpc.ts)
        checks.chain = { status: 'warn', detail: `chain ${runtime.chain.chainId} does not answer: ${(err as Error).message.split(' (')[0]}; anchoring waits, ingestion and reads go on` };
      }
      if (lag) {
        const anchorLag = lag.oldestUnanchoredSeconds ?? 0;
        checks.anchoring = anchorLag > limits.maxAnchorLagSeconds
          ? { status: 'warn', detail: `${lag.unanchoredBatches} batch(es) sealed but not anchored, the oldest for ${Math.round(anchorLag)} s (more than READY_MAX_ANCHOR_LAG_SECONDS=${limits.maxAnchorLagSeconds})` }
          : { status: 'ok', detail: `${lag.unanchoredBatches} batch(es) waiting for the chain, the oldest for ${Math.round(anchorLag)} s` };
        checks.backlog = lag.pending > limits.maxPendingEvents
          ? { status: 'warn', detail: `${lag.pending} events pending, more than READY_MAX_PENDING_EVENTS=${limits.maxPendingEvents}` }
          : { status: 'ok', detail: `${lag.pending} events pending, the oldest for ${Math.round(lag.oldestPendingSeconds ?? 0)} s` };
      }
      const failed = Object.values(checks).some((c) => c.status === 'fail');
      const warned = Object.values(checks).some((c) => c.status === 'warn');
      send(res, failed ? 503 : 200, { status: failed ? 'fail' : warned ? 'warn' : 'ok', checks });
    };
    run().catch(next);
  };
  return { live, ready };
}

/** The webhook series: queue depth (deliveries not yet delivered nor given up), attempts by outcome, endpoints disabled automatically. */
function webhookMetrics(registry: Registry, webhooks: WebhooksService): void {
  new Gauge({
    name: 'custody_webhook_queue_depth',
    help: 'webhook deliveries waiting to be delivered (PENDING: due, waiting for a retry, or behind an earlier delivery of the same shipment)',
    registers: [registry],
    async collect() {
      this.set(await webhooks.queueDepth().catch(() => 0));
    },
  });
  new Counter({
    name: 'custody_webhook_deliveries_total',
    help: 'webhook delivery attempts by outcome: delivered (2xx), failed (retried later), given_up (retry window over)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      this.inc({ outcome: 'delivered' }, webhooks.stats.delivered);
      this.inc({ outcome: 'failed' }, webhooks.stats.failedAttempts);
      this.inc({ outcome: 'given_up' }, webhooks.stats.givenUp);
    },
  });
  new Counter({
    name: 'custody_webhook_endpoints_disabled_total',
    help: 'webhook endpoints disabled automatically after consecutive failed attempts',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(webhooks.stats.endpointsDisabled);
    },
  });
}
