import { Inject, Injectable } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import type { CustodyEventRow } from '../custody/custody-event.row';
import { CustodyQueryService } from '../custody/custody-query.service';
import type { Shipment } from '../shipments/models/shipment.model';
import { ShipmentsService } from '../shipments/shipments.service';
import type { Scope } from '../auth/principal';
import { detectFindings, detectShipmentIncidents, type DetectorPolicy, type Finding, type FraudShipment, type KeyWindow, type Severity } from './detectors';

const RANK: Record<Severity, number> = { LOW: 0, MEDIUM: 1, HIGH: 2 };

export interface IncidentFilter {
  carrier?: string | null;
  merchant?: string | null;
  minSeverity?: Severity | null;
  codes?: string[] | null;
  staleAfterHours?: number | null;
  /** how many of the most recently changed shipments to examine */
  scanLimit: number;
}

/** Runs the pure detectors (detectors.ts) over stored shipments; all reads are batched. */
@Injectable()
export class FraudService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly shipments: ShipmentsService,
    private readonly events: CustodyQueryService,
  ) {}

  async report(trackingNumber: string, carrier: string, scope: Scope, policy?: Partial<DetectorPolicy>): Promise<{ shipment: Shipment; findings: Finding[] }> {
    const shipment = await this.shipments.find(trackingNumber, carrier, scope);
    const rows = (await this.events.forShipments([shipment.id], scope)).get(shipment.id) ?? [];
    return { shipment, findings: await this.findingsFor(shipment, rows, policy) };
  }

  /** Custody-chain findings plus the operational ones (stale, late), most severe first. */
  async findingsFor(shipment: Shipment, rows: CustodyEventRow[], policy?: Partial<DetectorPolicy>): Promise<Finding[]> {
    const keys = await this.keyWindows(rows);
    return this.detect(shipment, rows, keys, policy);
  }

  async incidents(filter: IncidentFilter, scope: Scope): Promise<Array<{ shipment: Shipment; finding: Finding }>> {
    if (!Number.isInteger(filter.scanLimit) || filter.scanLimit < 1 || filter.scanLimit > 2000) throw new LedgerError('VALIDATION_FAILED', 'scanLimit must be from 1 to 2000', 'scanLimit');
    FraudService.checkFilter(filter);
    const page = await this.shipments.list({ first: 100, filter: { carrier: filter.carrier, merchant: filter.merchant }, after: null }, scope, filter.scanLimit);
    const models = page.edges.map((e) => e.node);
    const events = await this.events.forShipments(models.map((s) => s.id), scope);
    const keys = await this.keyWindows([...events.values()].flat());
    const policy = filter.staleAfterHours ? { staleAfterHours: filter.staleAfterHours } : undefined;
    const out: Array<{ shipment: Shipment; finding: Finding }> = [];
    for (const shipment of models) {
      for (const finding of this.detect(shipment, events.get(shipment.id) ?? [], keys, policy)) {
        if (filter.minSeverity && RANK[finding.severity] < RANK[filter.minSeverity]) continue;
        if (filter.codes?.length && !filter.codes.includes(finding.code)) continue;
        out.push({ shipment, finding });
      }
    }
    return out.sort((a, b) => RANK[b.finding.severity] - RANK[a.finding.severity]);
  }

  /**
   * Live updates' hook (incidentRaised): the findings on a shipment that involve one of the events
   * just recorded (so they did not exist before), as `scope` reads the shipment; null when the
   * scope cannot read it. Filter them with `matchesFilter`.
   */
  async raisedBy(shipmentId: string, newEventIds: readonly string[], staleAfterHours: number | null | undefined, scope: Scope): Promise<{ shipment: Shipment; findings: Finding[] } | null> {
    const shipment = await this.shipments.findById(shipmentId, scope);
    if (!shipment) return null;
    const rows = (await this.events.forShipments([shipment.id], scope)).get(shipment.id) ?? [];
    const fresh = new Set(newEventIds.map((id) => id.toLowerCase()));
    const findings = await this.findingsFor(shipment, rows, staleAfterHours ? { staleAfterHours } : undefined);
    return { shipment, findings: findings.filter((f) => f.eventIds.some((id) => fresh.has(id.toLowerCase()))) };
  }

  /** `incidents`' filter on one finding of one shipment (staleAfterHours is the detectors' policy, not a filter). */
  static matchesFilter(shipment: Shipment, finding: Finding, filter: Omit<IncidentFilter, 'scanLimit'>): boolean {
    if (filter.carrier && shipment.carrier.slug !== filter.carrier) return false;
    if (filter.merchant && shipment.merchant?.slug !== filter.merchant) return false;
    if (filter.minSeverity && RANK[finding.severity] < RANK[filter.minSeverity]) return false;
    return !filter.codes?.length || filter.codes.includes(finding.code);
  }

  /** The checks `incidents` makes on a filter, for a subscription's filter too. */
  static checkFilter(filter: Pick<IncidentFilter, 'staleAfterHours'>): void {
    if (filter.staleAfterHours !== undefined && filter.staleAfterHours !== null && !(filter.staleAfterHours > 0)) throw new LedgerError('VALIDATION_FAILED', 'staleAfterHours must be positive', 'staleAfterHours');
  }

  private detect(shipment: Shipment, rows: CustodyEventRow[], keys: Map<string, KeyWindow>, policy?: Partial<DetectorPolicy>): Finding[] {
    const now = new Date();
    const fraudShipment: FraudShipment = {
      trackingNumber: shipment.trackingNumber,
      carrier: shipment.carrier.slug,
      status: shipment.status,
      destination: shipment.destination,
      requireDeliveryEvidence: shipment.requireDeliveryEvidence,
      requireCounterSignedHandoffs: shipment.requireCounterSignedHandoffs,
      promisedDeliveryAt: shipment.promisedDeliveryAt,
      deliveredAt: shipment.deliveredAt,
    };
    const chain = detectFindings({
      shipment: fraudShipment,
      now,
      keys,
      policy,
      events: rows.map((r) => ({
        eventId: r.event_id,
        eventType: r.event_type,
        occurredAt: BigInt(r.occurred_at_ms),
        receivedAt: r.received_at,
        arrival: Number(r.id),
        latE6: r.lat_e6,
        lonE6: r.lon_e6,
        accuracyM: Number(r.accuracy_m),
        custodian: r.custodian,
        signer: r.signer,
        signerOrganization: r.signer_organization,
        counterSigner: r.counter_signer,
        dualAttested: r.dual_attested,
        evidenceHash: r.evidence_hash,
        flags: r.flags,
        correctedBy: r.corrected_by,
        correctsEventId: r.corrects_event_id,
      })),
    });
    const operations = detectShipmentIncidents({ shipment: { ...fraudShipment, lastEventAt: shipment.lastEventAt }, now, policy });
    return [...chain, ...operations].sort((a, b) => RANK[b.severity] - RANK[a.severity]);
  }

  private async keyWindows(rows: CustodyEventRow[]): Promise<Map<string, KeyWindow>> {
    const addresses = [...new Set(rows.flatMap((r) => [r.signer, r.counter_signer]).filter((a): a is string => a !== null))];
    if (addresses.length === 0) return new Map();
    const keys = await sqlRows<{ address: string; valid_from: Date; revoked_at: Date | null }>(
      this.runtime.dataSource,
      `SELECT address, valid_from, revoked_at FROM signing_keys WHERE address = ANY($1::text[])`,
      [addresses],
    );
    return new Map(keys.map((k) => [k.address, { validFrom: k.valid_from, revokedAt: k.revoked_at }]));
  }
}
