import { Inject, Injectable } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { decodeCursor, encodeCursor } from '../common/cursor';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { verifyProofBundle } from '../proofs/bundle-verifier';
import { TrustRootService } from '../proofs/trust-root.service';
import { ProofBundleService } from '../proofs/proof-bundle.service';
import { ShipmentsService } from '../shipments/shipments.service';
import { judgeDispute, type DisputeClaim } from './dispute-verdict';
import { SYSTEM_SCOPE, disputeScopeSql, isDisputeParty, type Principal, type Scope } from '../auth/principal';
import type { Dispute, DisputeConnection, DisputeOutcomeEnum, DisputesArgs } from './dispute.models';

interface DisputeRow {
  id: string;
  tracking_number: string;
  carrier: string;
  claim: DisputeClaim;
  note: string;
  verdict: Dispute['verdict'];
  reasons: string[];
  bundle: unknown;
  verification: unknown;
  status: Dispute['status'];
  outcome: Dispute['outcome'];
  resolution_note: string | null;
  opened_at: Date;
  resolved_at: Date | null;
}

const SELECT = `SELECT d.*, s.tracking_number, o.slug AS carrier FROM disputes d JOIN shipments s ON s.id = d.shipment_id JOIN organizations o ON o.id = s.carrier_id`;

@Injectable()
export class DisputesService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly shipments: ShipmentsService,
    private readonly bundles: ProofBundleService,
    private readonly trust: TrustRootService,
  ) {}

  /** Gathers the bundle and findings, verifies the bundle against the chain, judges, stores the snapshot. */
  async open(trackingNumber: string, carrier: string, claim: DisputeClaim, note: string, caller: Principal): Promise<Dispute> {
    if (note.length > 2000) throw new LedgerError('VALIDATION_FAILED', 'note must be at most 2000 characters', 'note');
    const shipment = await this.shipments.find(trackingNumber, carrier, caller);
    // only the shipment's carrier and merchant are parties (and the platform): a hub or locker that
    // once held it reads the shipment, but for it there is nothing to dispute — answered exactly like
    // a missing shipment (ShipmentsService.find's NOT_FOUND)
    if (!isDisputeParty(caller, shipment.carrier.id, shipment.merchant?.id ?? null)) {
      throw new LedgerError('NOT_FOUND', `carrier "${carrier}" has no shipment "${trackingNumber}"`, 'trackingNumber');
    }
    // the verdict is reached on the whole record, whoever asked
    const bundle = await this.bundles.build(trackingNumber, carrier, SYSTEM_SCOPE);
    const verification = await verifyProofBundle(bundle, { provider: this.runtime.chain.provider, trust: await this.trust.trustFile() });
    const findings = bundle.findings.map((f) => ({ ...f, code: f.code as never, severity: f.severity as 'LOW' | 'MEDIUM' | 'HIGH' }));
    const legacy = await sqlRows<{ event_id: string }>(
      this.runtime.dataSource,
      `SELECT e.event_id FROM custody_events e JOIN ledger_upgrades u ON u.name = 'custody-consent' WHERE e.shipment_id = $1 AND e.id <= u.event_id_watermark AND e.consent IS NULL`,
      [shipment.id],
    );
    const { verdict, reasons } = judgeDispute(claim, bundle, verification, findings, shipment.promisedDeliveryAt, new Set(legacy.map((r) => r.event_id)));
    const [{ id }] = await sqlRows<{ id: string }>(
      this.runtime.dataSource,
      // the findings it was judged on are kept by code too, for carrier analytics (detectors do not run at ingestion)
      `WITH d AS (INSERT INTO disputes (shipment_id, claim, note, verdict, reasons, bundle, verification) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb) RETURNING id, shipment_id),
            f AS (INSERT INTO dispute_findings (dispute_id, shipment_id, code, severity) SELECT d.id, d.shipment_id, x.code, x.severity FROM d, unnest($8::text[], $9::text[]) AS x(code, severity))
       SELECT id FROM d`,
      [shipment.id, claim, note, verdict, JSON.stringify(reasons), JSON.stringify(bundle), JSON.stringify(verification), findings.map((f) => f.code), findings.map((f) => f.severity)],
    );
    return this.get(id, caller);
  }

  /** By the admin or a platform-wide analyst: an organization's own analyst is a party, not a judge. */
  async resolve(id: string, outcome: DisputeOutcomeEnum, note: string, caller: Principal): Promise<Dispute> {
    if (caller.role !== 'ADMIN' && caller.organizationId !== null) {
      throw new LedgerError('FORBIDDEN', `a DISPUTE_ANALYST key of "${caller.organizationSlug}" reads and opens its organization's disputes; resolving them is for the platform admin or a platform-wide DISPUTE_ANALYST key (without organization)`);
    }
    if (note.trim().length < 1 || note.length > 2000) throw new LedgerError('VALIDATION_FAILED', 'note must be 1-2000 characters: record why', 'note');
    const current = await this.get(id, caller);
    if (current.status === 'RESOLVED') throw new LedgerError('ALREADY_EXISTS', `dispute ${id} was resolved already (${current.outcome})`, 'id');
    await sqlRows(this.runtime.dataSource, `UPDATE disputes SET status = 'RESOLVED', outcome = $2, resolution_note = $3, resolved_at = now() WHERE id = $1 AND status = 'OPEN'`, [id, outcome, note.trim()]);
    return this.get(id, caller);
  }

  async get(id: string, scope: Scope): Promise<Dispute> {
    const params: unknown[] = [id];
    const [row] = /^[0-9a-f-]{36}$/.test(id) ? await sqlRows<DisputeRow>(this.runtime.dataSource, `${SELECT} WHERE d.id = $1 AND ${disputeScopeSql(scope, params)}`, params) : [];
    if (!row) throw new LedgerError('NOT_FOUND', `no dispute ${id}`, 'id');
    return toDispute(row);
  }

  async list({ filter, first, after }: DisputesArgs, scope: Scope): Promise<DisputeConnection> {
    if (!Number.isInteger(first) || first < 1 || first > 100) throw new LedgerError('VALIDATION_FAILED', 'first must be from 1 to 100', 'first');
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    where.push(disputeScopeSql(scope, params));
    if (filter?.status) add('d.status = ?', filter.status);
    if (filter?.verdict) add('d.verdict = ?', filter.verdict);
    if (filter?.claim) add('d.claim = ?', filter.claim);
    if (filter?.carrier) add('o.slug = ?', filter.carrier);
    if (filter?.trackingNumber) add('s.tracking_number = ?', filter.trackingNumber);
    if (after) {
      params.push(...decodeCursor(after, 'dispute', ['timestamp', 'uuid'], 'disputes'));
      where.push(`(date_trunc('milliseconds', d.opened_at), d.id) > ($${params.length - 1}::timestamptz, $${params.length}::uuid)`);
    }
    params.push(first + 1);
    const rows = await sqlRows<DisputeRow>(
      this.runtime.dataSource,
      `${SELECT} WHERE ${where.join(' AND ')} ORDER BY date_trunc('milliseconds', d.opened_at), d.id LIMIT $${params.length}`,
      params,
    );
    const page = rows.slice(0, first).map(toDispute);
    const cursor = (d: Dispute): string => encodeCursor('dispute', d.openedAt.toISOString(), d.id);
    return { edges: page.map((d) => ({ cursor: cursor(d), node: d })), pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? cursor(page[page.length - 1]) : null } };
  }
}

function toDispute(r: DisputeRow): Dispute {
  return {
    id: r.id,
    trackingNumber: r.tracking_number,
    carrier: r.carrier,
    claim: r.claim,
    note: r.note,
    verdict: r.verdict,
    reasons: typeof r.reasons === 'string' ? (JSON.parse(r.reasons) as string[]) : r.reasons,
    status: r.status,
    outcome: r.outcome,
    resolutionNote: r.resolution_note,
    openedAt: r.opened_at,
    resolvedAt: r.resolved_at,
    bundle: typeof r.bundle === 'string' ? JSON.parse(r.bundle) : r.bundle,
    verification: typeof r.verification === 'string' ? JSON.parse(r.verification) : r.verification,
  };
}
