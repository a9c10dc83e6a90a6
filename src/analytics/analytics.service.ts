import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { OrganizationsService } from '../organizations/organizations.service';
import type { Principal } from '../auth/principal';
import type { AnchorLatency, CarrierAnalytics, CarrierAnalyticsArgs, CarrierAnalyticsFigures, EstimateAccuracy, FacilityDwell, FindingCount } from './analytics.models';

const MAX_PERIOD_MS = 366 * 86_400_000;
/** the key of the totals in the grouped results */
const TOTAL = '*';

interface FactRow {
  c: string;
  m: string;
  ended: number;
  delivered: number;
  on_time: number;
  late: number;
  without_promise: number;
  first_attempt: number;
  with_exception: number;
  lost: number;
  returned: number;
  first_n: number;
  first_mae: number | null;
  first_day: number | null;
  ofd_n: number;
  ofd_mae: number | null;
  ofd_day: number | null;
}

interface LatencyRow {
  c: string;
  m: string;
  events: string;
  avg: number | null;
  p50: number | null;
  p90: number | null;
}

/** Whose figures a caller reads: all, one carrier's, or one merchant's. */
type AnalyticsScope = { kind: 'ALL' } | { kind: 'CARRIER' | 'MERCHANT'; organizationId: string; slug: string };

/** The geometric middle of a dwell bucket (floor(20 × ln(1 + minutes))), in hours: within 2.5% of every value in it. */
const bucketHours = (b: number): number => (Math.exp((b + 0.5) / 20) - 1) / 60;

const rate = (part: number, whole: number): number | null => (whole > 0 ? part / whole : null);

/**
 * Carrier analytics over the facts ingestion keeps (src/analytics/analytics-writes.ts): four
 * aggregate statements over compact rows, none over custody_events.
 */
@Injectable()
export class AnalyticsService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly organizations: OrganizationsService,
  ) {}

  async carrierAnalytics(args: CarrierAnalyticsArgs, caller: Principal, db: DataSource = this.runtime.dataSource): Promise<CarrierAnalytics> {
    const { from, to } = args;
    if (!(to.getTime() > from.getTime())) throw new LedgerError('INVALID_PERIOD', `to (${to.toISOString()}) must be after from (${from.toISOString()})`, 'to');
    if (to.getTime() - from.getTime() > MAX_PERIOD_MS) throw new LedgerError('PERIOD_TOO_LONG', `the period from ${from.toISOString()} to ${to.toISOString()} spans more than 366 days: ask for a year or less at a time`, 'to');
    const scope = analyticsScope(caller);
    const filters = await this.filters(args, scope);

    const params: unknown[] = [from.getTime(), to.getTime()];
    const where = (alias: string): string => {
      const parts: string[] = [];
      if (filters.carrierId) parts.push(`${alias}.carrier_id = $${params.indexOf(filters.carrierId) + 1}::uuid`);
      if (filters.merchantId) parts.push(`${alias}.merchant_id = $${params.indexOf(filters.merchantId) + 1}::uuid`);
      return parts.length ? ` AND ${parts.join(' AND ')}` : '';
    };
    if (filters.carrierId) params.push(filters.carrierId);
    if (filters.merchantId) params.push(filters.merchantId);
    const key = `coalesce(s.carrier_id::text, '${TOTAL}') AS c, CASE WHEN GROUPING(s.carrier_id) = 1 THEN '${TOTAL}' ELSE coalesce(s.merchant_id::text, '') END AS m`;
    const delivered = `s.end_kind = 'DELIVERED'`;
    // every per-row figure is a stored column (computed when it changes): the scan only counts and sums
    const accuracy = (error: string, sameDay: string, name: string): string => `
        count(s.${error})::int AS ${name}_n, avg(s.${error})::float8 / 3600000 AS ${name}_mae, avg(s.${sameDay}::int)::float8 AS ${name}_day`;
    const [facts, latency, findings, facilities] = await Promise.all([
      sqlRows<FactRow>(
        db,
        `SELECT ${key}, count(*)::int AS ended,
                count(*) FILTER (WHERE ${delivered})::int AS delivered,
                count(*) FILTER (WHERE s.on_time)::int AS on_time,
                count(*) FILTER (WHERE NOT s.on_time)::int AS late,
                count(*) FILTER (WHERE ${delivered} AND s.on_time IS NULL)::int AS without_promise,
                count(*) FILTER (WHERE s.first_attempt)::int AS first_attempt,
                count(*) FILTER (WHERE s.had_exception)::int AS with_exception,
                count(*) FILTER (WHERE s.end_kind = 'LOST')::int AS lost,
                count(*) FILTER (WHERE s.end_kind = 'RETURNED')::int AS returned,
                ${accuracy('first_error_ms', 'first_same_day', 'first')},
                ${accuracy('ofd_error_ms', 'ofd_same_day', 'ofd')}
           FROM shipments s
          WHERE s.ended_at_ms >= $1 AND s.ended_at_ms < $2${where('s')}
          GROUP BY GROUPING SETS ((s.carrier_id, s.merchant_id), ())`,
        params,
      ),
      // grouped by whole seconds first (a hash aggregate), then weighted nearest-rank percentiles over the few groups
      sqlRows<LatencyRow>(
        db,
        `WITH r AS (SELECT s.carrier_id::text AS c, coalesce(s.merchant_id::text, '') AS m,
                           floor(extract(epoch FROM coalesce(b.anchor_seen_at, b.anchored_at) - s.received_s))::int AS sec, sum(s.events)::bigint AS events
                      FROM batch_receipts s JOIN anchor_batches b ON b.seq = s.batch_seq
                     WHERE s.received_s >= to_timestamp($1 / 1000.0) AND s.received_s < to_timestamp($2 / 1000.0) AND b.anchored_at IS NOT NULL${where('s')}
                     GROUP BY 1, 2, 3),
              g AS (SELECT * FROM r UNION ALL SELECT '${TOTAL}', '${TOTAL}', sec, sum(events) FROM r GROUP BY sec),
              w AS (SELECT c, m, sec, events, sum(events) OVER (PARTITION BY c, m ORDER BY sec ROWS UNBOUNDED PRECEDING) AS cum, sum(events) OVER (PARTITION BY c, m) AS total FROM g)
         SELECT c, m, max(total)::text AS events, (sum(sec * events) / sum(events))::float8 AS avg,
                min(sec) FILTER (WHERE cum >= 0.5 * total) AS p50, min(sec) FILTER (WHERE cum >= 0.9 * total) AS p90
           FROM w GROUP BY c, m`,
        params,
      ),
      sqlRows<{ c: string; m: string; code: string; n: number }>(
        db,
        `SELECT ${key}, f.code, count(*)::int AS n
           FROM dispute_findings f JOIN disputes d ON d.id = f.dispute_id JOIN shipments s ON s.id = f.shipment_id
          WHERE d.opened_at >= to_timestamp($1 / 1000.0) AND d.opened_at < to_timestamp($2 / 1000.0)${where('s')}
          GROUP BY GROUPING SETS ((s.carrier_id, s.merchant_id, f.code), (f.code))
          ORDER BY n DESC, f.code`,
        params,
      ),
      // visits counted per (location, dwell bucket about 5% wide): percentiles are the nearest-rank bucket's geometric middle
      sqlRows<{ location_code: string; visits: string; avg_h: number; p50_b: number; p90_b: number }>(
        db,
        `WITH v AS (SELECT s.location_code, s.dwell_bucket AS b, count(*) AS n, sum(s.departed_at_ms - s.arrived_at_ms) AS total_ms
                      FROM shipment_dwell s WHERE s.departed_at_ms >= $1 AND s.departed_at_ms < $2${where('s')} GROUP BY 1, 2),
              w AS (SELECT v.*, sum(n) OVER (PARTITION BY location_code ORDER BY b ROWS UNBOUNDED PRECEDING) AS cum, sum(n) OVER (PARTITION BY location_code) AS visits FROM v)
         SELECT location_code, max(visits)::text AS visits, (sum(total_ms) / max(visits))::float8 / 3600000 AS avg_h,
                min(b) FILTER (WHERE cum >= 0.5 * visits) AS p50_b, min(b) FILTER (WHERE cum >= 0.9 * visits) AS p90_b
           FROM w GROUP BY location_code ORDER BY max(visits) DESC, location_code LIMIT 200`,
        params,
      ),
    ]);

    const groups = new Map<string, { c: string; m: string }>();
    for (const r of [...facts, ...latency, ...findings]) if (r.c !== TOTAL) groups.set(`${r.c}|${r.m}`, { c: r.c, m: r.m });
    const orgs = await this.organizations.byIds([...new Set([...groups.values()].flatMap((g) => [g.c, g.m]).filter((id) => id !== ''))]);
    const figuresOf = (c: string, m: string): CarrierAnalyticsFigures => {
      const f = facts.find((r) => r.c === c && r.m === m);
      const l = latency.find((r) => r.c === c && r.m === m);
      return toFigures(f, l, findings.filter((r) => r.c === c && r.m === m).map((r): FindingCount => ({ code: r.code, count: r.n })));
    };
    const rows = [...groups.values()]
      .map((g) => ({ carrier: orgs.get(g.c)?.slug ?? g.c, merchant: g.m === '' ? null : orgs.get(g.m)?.slug ?? g.m, ...figuresOf(g.c, g.m) }))
      .sort((a, b) => a.carrier.localeCompare(b.carrier) || (a.merchant ?? '').localeCompare(b.merchant ?? ''));
    return {
      from,
      to,
      rows,
      totals: figuresOf(TOTAL, TOTAL),
      facilities: facilities.map((r): FacilityDwell => ({ locationCode: r.location_code, visits: Number(r.visits), avgHours: r.avg_h, p50Hours: bucketHours(r.p50_b), p90Hours: bucketHours(r.p90_b) })),
    };
  }

  /** The filters the query runs with: the caller's scope and the arguments, which may only narrow it. */
  private async filters(args: CarrierAnalyticsArgs, scope: AnalyticsScope): Promise<{ carrierId: string | null; merchantId: string | null }> {
    const slugs = [args.carrier, args.merchant].filter((x): x is string => !!x);
    const named = slugs.length ? await this.organizations.bySlugs(slugs) : new Map<string, { id: string; kind: string }>();
    const resolve = (slug: string | null | undefined, kind: 'CARRIER' | 'MERCHANT', field: string): string | null => {
      if (!slug) return null;
      const org = named.get(slug);
      if (!org || org.kind !== kind) throw new LedgerError('NOT_FOUND', `no ${kind.toLowerCase()} organization "${slug}"`, field);
      return org.id;
    };
    let carrierId = resolve(args.carrier, 'CARRIER', 'carrier');
    let merchantId = resolve(args.merchant, 'MERCHANT', 'merchant');
    if (scope.kind === 'CARRIER') {
      if (carrierId && carrierId !== scope.organizationId) throw new LedgerError('FORBIDDEN', `a key of carrier "${scope.slug}" reads only its own figures: leave carrier out or give "${scope.slug}"`, 'carrier');
      carrierId = scope.organizationId;
    }
    if (scope.kind === 'MERCHANT') {
      if (merchantId && merchantId !== scope.organizationId) throw new LedgerError('FORBIDDEN', `a key of merchant "${scope.slug}" reads only its own figures: leave merchant out or give "${scope.slug}"`, 'merchant');
      merchantId = scope.organizationId;
    }
    return { carrierId, merchantId };
  }
}

/**
 * The admin and platform-wide dispute analysts read every carrier's figures; a CARRIER key (of a
 * carrier organization) its own carrier's; a MERCHANT key its own merchant's; an organization's
 * dispute analyst what that organization's own keys read. Everyone else: FORBIDDEN.
 */
function analyticsScope(caller: Principal): AnalyticsScope {
  if (caller.role === 'ADMIN' || (caller.role === 'DISPUTE_ANALYST' && caller.organizationId === null)) return { kind: 'ALL' };
  const own = (kind: 'CARRIER' | 'MERCHANT'): AnalyticsScope => ({ kind, organizationId: caller.organizationId!, slug: caller.organizationSlug ?? '' });
  if ((caller.role === 'CARRIER' || caller.role === 'DISPUTE_ANALYST') && caller.organizationKind === 'CARRIER') return own('CARRIER');
  if ((caller.role === 'MERCHANT' || caller.role === 'DISPUTE_ANALYST') && caller.organizationKind === 'MERCHANT') return own('MERCHANT');
  throw new LedgerError('FORBIDDEN', `carrier analytics are for the platform admin, platform-wide dispute analysts, carriers (their own figures) and merchants (theirs); a ${caller.role} key of a ${caller.organizationKind ?? 'platform'} organization reads none`);
}

function toFigures(f: FactRow | undefined, l: LatencyRow | undefined, disputeFindings: FindingCount[]): CarrierAnalyticsFigures {
  const n = (v: number | undefined): number => v ?? 0;
  const accuracy = (count: number | undefined, mae: number | null | undefined, day: number | null | undefined): EstimateAccuracy => ({ deliveries: n(count), meanAbsoluteErrorHours: mae ?? null, withinDayShare: day ?? null });
  const anchorLatency: AnchorLatency = { events: Number(l?.events ?? 0), avgSeconds: l?.avg ?? null, p50Seconds: l?.p50 ?? null, p90Seconds: l?.p90 ?? null };
  return {
    ended: n(f?.ended),
    delivered: n(f?.delivered),
    onTime: n(f?.on_time),
    late: n(f?.late),
    withoutPromise: n(f?.without_promise),
    onTimeRate: rate(n(f?.on_time), n(f?.on_time) + n(f?.late)),
    firstAttempt: n(f?.first_attempt),
    firstAttemptRate: rate(n(f?.first_attempt), n(f?.delivered)),
    withException: n(f?.with_exception),
    exceptionRate: rate(n(f?.with_exception), n(f?.ended)),
    lost: n(f?.lost),
    lossRate: rate(n(f?.lost), n(f?.ended)),
    returned: n(f?.returned),
    anchorLatency,
    disputeFindings,
    estimateAtFirstScan: accuracy(f?.first_n, f?.first_mae, f?.first_day),
    estimateAtOutForDelivery: accuracy(f?.ofd_n, f?.ofd_mae, f?.ofd_day),
  };
}
