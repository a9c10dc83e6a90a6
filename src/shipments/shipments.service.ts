import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { LedgerError } from '../common/errors';
import { isUniqueViolation } from '../database/data-source';
import { decodeCursor, encodeCursor } from '../common/cursor';
import { RUNTIME, type Runtime } from '../common/runtime';
import { TRACKING_NUMBER_PATTERN } from '../custody/event-validation';
import { OrganizationsService } from '../organizations/organizations.service';
import { toOrganization } from '../organizations/models/organization.model';
import { ShipmentEntity } from './shipment.entity';
import { OUTCOME_SQL } from '../database/migrations/1764760000000-analytics';
import { shipmentScopeNamed, type Principal, type Scope } from '../auth/principal';
import type { CreateShipmentInput, UpdateShipmentInput } from './dto/create-shipment.input';
import type { Shipment, ShipmentConnection, ShipmentsArgs } from './models/shipment.model';


function isLate(e: ShipmentEntity, now: number): boolean {
  if (!e.promisedDeliveryAt) return false;
  const promised = e.promisedDeliveryAt.getTime();
  return e.deliveredAtMs !== null ? Number(e.deliveredAtMs) > promised : now > promised;
}

const encodeShipmentCursor = (e: ShipmentEntity): string => encodeCursor('shipment', e.updatedAt.toISOString(), e.id);

function decodeShipmentCursor(cursor: string): { updatedAt: Date; id: string } {
  const [at, id] = decodeCursor(cursor, 'shipment', ['timestamp', 'uuid'], 'shipments');
  return { updatedAt: new Date(at), id };
}

@Injectable()
export class ShipmentsService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly organizations: OrganizationsService,
  ) {}

  private get repo() {
    return this.runtime.dataSource.getRepository(ShipmentEntity);
  }

  /**
   * The platform admin, the carrier itself, or the merchant it ships for. A merchant needs an
   * active contract with the carrier, and so does a carrier naming a merchant (else it could put
   * shipments, and disputes, on any merchant's books); the admin needs none.
   */
  async create(input: CreateShipmentInput, caller: Principal): Promise<Shipment> {
    if (!TRACKING_NUMBER_PATTERN.test(input.trackingNumber)) {
      throw new LedgerError('VALIDATION_FAILED', 'trackingNumber must be 3-64 characters: letters, digits, ".", "_", "/", "-"', 'trackingNumber');
    }
    const d = input.destination;
    if (d) {
      if (d.latE6 < -90_000_000 || d.latE6 > 90_000_000) throw new LedgerError('VALIDATION_FAILED', 'destination.latE6 must be from -90000000 to 90000000', 'destination.latE6');
      if (d.lonE6 < -180_000_000 || d.lonE6 > 180_000_000) throw new LedgerError('VALIDATION_FAILED', 'destination.lonE6 must be from -180000000 to 180000000', 'destination.lonE6');
      if (d.radiusM < 1 || d.radiusM > 100_000) throw new LedgerError('VALIDATION_FAILED', 'destination.radiusM must be from 1 to 100000 metres', 'destination.radiusM');
    }
    const carrier = await this.organizations.bySlug(input.carrier, 'carrier');
    if (carrier.kind !== 'CARRIER') throw new LedgerError('VALIDATION_FAILED', `organization "${carrier.slug}" is a ${carrier.kind}, not a CARRIER`, 'carrier');
    const merchant = input.merchant ? await this.organizations.bySlug(input.merchant, 'merchant') : null;
    if (caller.role === 'CARRIER' && caller.organizationId !== carrier.id) throw new LedgerError('FORBIDDEN', `a CARRIER key of "${caller.organizationSlug}" can only create shipments of its own`, 'carrier');
    if (caller.role === 'MERCHANT' && caller.organizationId !== merchant?.id) throw new LedgerError('FORBIDDEN', `a MERCHANT key of "${caller.organizationSlug}" can only create shipments with itself as merchant`, 'merchant');
    if (merchant && merchant.kind !== 'MERCHANT') throw new LedgerError('VALIDATION_FAILED', `organization "${merchant.slug}" is a ${merchant.kind}, not a MERCHANT`, 'merchant');
    for (const [org, field] of [[carrier, 'carrier'], [merchant, 'merchant']] as const) {
      if (org?.suspendedAt) throw new LedgerError('ORGANIZATION_SUSPENDED', `organization "${org.slug}" is suspended: no new shipments with it until the platform admin reinstates it`, field);
    }
    if (merchant && caller.role !== 'ADMIN' && !(await this.organizations.hasActiveContract(carrier.id, merchant.id))) {
      const how = `registerCarrierContract(carrier: "${carrier.slug}", merchant: "${merchant.slug}")`;
      throw caller.role === 'MERCHANT'
        ? new LedgerError('NO_CARRIER_CONTRACT', `merchant "${merchant.slug}" has no contract with carrier "${carrier.slug}": ask the carrier (or the platform admin) to accept you as customer with ${how}, then create the shipment`, 'carrier')
        : new LedgerError('NO_CARRIER_CONTRACT', `carrier "${carrier.slug}" has no contract with merchant "${merchant.slug}": register it first with ${how}, or create the shipment without merchant`, 'merchant');
    }
    try {
      const saved = await this.repo.save(
        this.repo.create({
          carrierId: carrier.id,
          trackingNumber: input.trackingNumber,
          merchantId: merchant?.id ?? null,
          destinationLatE6: d?.latE6 ?? null,
          destinationLonE6: d?.lonE6 ?? null,
          destinationRadiusM: d?.radiusM ?? null,
          status: 'PRE_TRANSIT',
          promisedDeliveryAt: input.promisedDeliveryAt ?? null,
          carrierEstimatedDeliveryAt: input.estimatedDeliveryAt ?? null,
          // until the first scan: the carrier's estimate, else the promise (README "Estimated delivery")
          estimatedDeliveryAt: input.estimatedDeliveryAt ?? input.promisedDeliveryAt ?? null,
          estimateBasis: input.estimatedDeliveryAt ? 'CARRIER_PROVIDED' : input.promisedDeliveryAt ? 'PROMISED_DATE' : null,
          requireDeliveryEvidence: input.requireDeliveryEvidence ?? false,
          requireCounterSignedHandoffs: input.requireCounterSignedHandoffs ?? false,
        }),
      );
      return (await this.toModels([(await this.repo.findOneByOrFail({ id: saved.id }))]))[0];
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      // only who may see the existing shipment learns that it exists; anyone else gets one answer
      // that names no merchant and is the same whoever's shipment it is
      if (await this.visible(input.trackingNumber, carrier.slug, caller)) {
        throw new LedgerError('ALREADY_EXISTS', `carrier "${carrier.slug}" has a shipment "${input.trackingNumber}" already`, 'trackingNumber');
      }
      throw new LedgerError('TRACKING_NUMBER_UNAVAILABLE', `tracking number "${input.trackingNumber}" cannot be used for a new shipment of carrier "${carrier.slug}": use the tracking number the carrier issued for this parcel (ask the carrier if in doubt)`, 'trackingNumber');
    }
  }

  private async visible(trackingNumber: string, carrierSlug: string, scope: Scope): Promise<boolean> {
    return this.find(trackingNumber, carrierSlug, scope).then(
      () => true,
      (err: unknown) => {
        if (err instanceof LedgerError && err.code === 'NOT_FOUND') return false;
        throw err;
      },
    );
  }

  /**
   * A shipment the scope may not see is NOT_FOUND, exactly like a missing one. `db` is the primary
   * unless the caller's read was routed to the read replica (ReadRouter).
   */
  async find(trackingNumber: string, carrierSlug: string, scope: Scope, db: DataSource = this.runtime.dataSource): Promise<Shipment> {
    const visible = shipmentScopeNamed(scope);
    const entity = await db
      .getRepository(ShipmentEntity)
      .createQueryBuilder('s')
      .innerJoin('s.carrier', 'c')
      .where('s.tracking_number = :trackingNumber AND c.slug = :carrierSlug', { trackingNumber, carrierSlug })
      .andWhere(visible.where, visible.params)
      .getOne();
    if (!entity) throw new LedgerError('NOT_FOUND', `carrier "${carrierSlug}" has no shipment "${trackingNumber}"`, 'trackingNumber');
    return (await this.toModels([entity]))[0];
  }

  /** A shipment by id, or null when missing or outside the scope (live updates re-read what a notice names). */
  async findById(id: string, scope: Scope, db: DataSource = this.runtime.dataSource): Promise<Shipment | null> {
    const visible = shipmentScopeNamed(scope);
    const entity = await db.getRepository(ShipmentEntity).createQueryBuilder('s').where('s.id = :id', { id }).andWhere(visible.where, visible.params).getOne();
    return entity ? (await this.toModels([entity]))[0] : null;
  }

  /** Organizations of a page of shipments in one query. */
  async toModels(entities: ShipmentEntity[]): Promise<Shipment[]> {
    const orgs = await this.organizations.byIds(entities.flatMap((e) => [e.carrierId, e.merchantId, e.currentCustodianId].filter((id): id is string => id !== null)));
    const org = (id: string | null) => (id ? toOrganization(orgs.get(id)!) : null);
    return entities.map((e) => ({
      id: e.id,
      trackingNumber: e.trackingNumber,
      carrier: org(e.carrierId)!,
      merchant: org(e.merchantId),
      destination: e.destinationLatE6 === null ? null : { latE6: e.destinationLatE6, lonE6: e.destinationLonE6!, radiusM: e.destinationRadiusM! },
      status: e.status,
      currentCustodian: org(e.currentCustodianId),
      eventCount: e.eventCount,
      headLeaf: e.headLeaf,
      createdAt: e.createdAt,
      updatedAt: e.updatedAt,
      subStatus: e.subStatus,
      requireDeliveryEvidence: e.requireDeliveryEvidence,
      requireCounterSignedHandoffs: e.requireCounterSignedHandoffs,
      promisedDeliveryAt: e.promisedDeliveryAt,
      estimatedDeliveryAt: e.deliveredAtMs !== null ? new Date(Number(e.deliveredAtMs)) : e.estimatedDeliveryAt ?? e.promisedDeliveryAt,
      estimateBasis: e.deliveredAtMs !== null ? null : e.estimatedDeliveryAt ? e.estimateBasis : e.promisedDeliveryAt ? 'PROMISED_DATE' : null,
      estimateSampleSize: e.deliveredAtMs !== null ? null : e.estimateSamples,
      carrierEstimatedDeliveryAt: e.carrierEstimatedDeliveryAt,
      deliveredAt: e.deliveredAtMs !== null ? new Date(Number(e.deliveredAtMs)) : null,
      late: isLate(e, Date.now()),
      lastEventAt: e.lastEventAtMs !== null ? new Date(Number(e.lastEventAtMs)) : null,
    }));
  }

  /** One page, Relay style, ordered by (updatedAt, id): a client syncing with updatedSince pages forward safely. */
  async list(args: ShipmentsArgs, scope: Scope, mostRecent?: number, db: DataSource = this.runtime.dataSource): Promise<ShipmentConnection> {
    const { after } = args;
    const first = mostRecent ?? args.first;
    const filter = args.filter ?? {};
    if (mostRecent === undefined && (!Number.isInteger(first) || first < 1 || first > 100)) throw new LedgerError('VALIDATION_FAILED', 'first must be from 1 to 100', 'first');
    const visible = shipmentScopeNamed(scope);
    const qb = db.getRepository(ShipmentEntity).createQueryBuilder('s').where(visible.where, visible.params);
    const slugs = [filter.carrier, filter.merchant, filter.custodian].filter((x): x is string => !!x);
    const orgs = slugs.length ? await this.organizations.bySlugs(slugs) : new Map<string, { id: string }>();
    const idOf = (slug: string): string => orgs.get(slug)?.id ?? '00000000-0000-0000-0000-000000000000';
    if (filter.carrier) qb.andWhere('s.carrier_id = :carrier', { carrier: idOf(filter.carrier) });
    if (filter.merchant) qb.andWhere('s.merchant_id = :merchant', { merchant: idOf(filter.merchant) });
    if (filter.custodian) qb.andWhere('s.current_custodian_id = :custodian', { custodian: idOf(filter.custodian) });
    if (filter.status) qb.andWhere('s.status = :status', { status: filter.status });
    if (filter.updatedSince) qb.andWhere('s.updated_at >= :since', { since: filter.updatedSince });
    if (filter.late !== undefined && filter.late !== null) {
      const late = `(s.promised_delivery_at IS NOT NULL AND (CASE WHEN s.delivered_at_ms IS NOT NULL THEN s.delivered_at_ms > (extract(epoch FROM s.promised_delivery_at) * 1000) ELSE now() > s.promised_delivery_at END))`;
      qb.andWhere(filter.late ? late : `NOT ${late}`);
    }
    if (after) {
      const cursor = decodeShipmentCursor(after);
      qb.andWhere(`(date_trunc('milliseconds', s.updated_at), s.id) > (:at, :id)`, { at: cursor.updatedAt, id: cursor.id });
    }
    // millisecond precision on both sides: the cursor carries a JavaScript Date
    // `mostRecent`: the latest changed shipments (operations scans), otherwise oldest change first for paging
    const direction = mostRecent === undefined ? 'ASC' : 'DESC';
    const rows = await qb.orderBy(`date_trunc('milliseconds', s.updated_at)`, direction).addOrderBy('s.id', direction).limit(first + 1).getMany();
    const page = rows.slice(0, first);
    const models = await this.toModels(page);
    return {
      edges: models.map((node, i) => ({ cursor: encodeShipmentCursor(page[i]), node })),
      pageInfo: { hasNextPage: rows.length > first, endCursor: page.length ? encodeShipmentCursor(page[page.length - 1]) : null },
    };
  }

  /** Merchants set what they promised and their evidence policy; carriers their estimate. */
  async update(input: UpdateShipmentInput, caller: Principal): Promise<Shipment> {
    const current = await this.find(input.trackingNumber, input.carrier, caller);
    const merchantFields = input.promisedDeliveryAt !== undefined || input.requireDeliveryEvidence != null || input.requireCounterSignedHandoffs != null;
    if (caller.role === 'CARRIER' && (current.carrier.id !== caller.organizationId || merchantFields)) {
      throw new LedgerError('FORBIDDEN', 'a carrier may only set estimatedDeliveryAt of shipments it carries', 'input');
    }
    if (caller.role === 'MERCHANT' && input.estimatedDeliveryAt !== undefined) throw new LedgerError('FORBIDDEN', "estimatedDeliveryAt is the carrier's to set", 'estimatedDeliveryAt');
    const changes: Partial<ShipmentEntity> = {};
    if (input.promisedDeliveryAt !== undefined) changes.promisedDeliveryAt = input.promisedDeliveryAt;
    if (input.estimatedDeliveryAt !== undefined) changes.carrierEstimatedDeliveryAt = input.estimatedDeliveryAt;
    // the estimate follows at once (scans recompute it later): the carrier's own while it is not in the past,
    // else the (new) promise where the estimate rested on the promise or on the carrier's withdrawn estimate
    const promised = input.promisedDeliveryAt !== undefined ? input.promisedDeliveryAt : current.promisedDeliveryAt;
    const entity = await this.repo.findOneByOrFail({ id: current.id });
    const carrierEstimate = input.estimatedDeliveryAt !== undefined ? input.estimatedDeliveryAt : entity.carrierEstimatedDeliveryAt;
    if (carrierEstimate && carrierEstimate.getTime() >= Date.now()) {
      if (current.deliveredAt === null) Object.assign(changes, { estimatedDeliveryAt: carrierEstimate, estimateBasis: 'CARRIER_PROVIDED', estimateSamples: null });
    } else if (current.deliveredAt === null && (input.estimatedDeliveryAt !== undefined || input.promisedDeliveryAt !== undefined) && (entity.estimateBasis === null || entity.estimateBasis === 'PROMISED_DATE' || entity.estimateBasis === 'CARRIER_PROVIDED')) {
      Object.assign(changes, { estimatedDeliveryAt: promised, estimateBasis: promised ? 'PROMISED_DATE' : null, estimateSamples: null });
    }
    if (input.requireDeliveryEvidence !== undefined && input.requireDeliveryEvidence !== null) changes.requireDeliveryEvidence = input.requireDeliveryEvidence;
    if (input.requireCounterSignedHandoffs !== undefined && input.requireCounterSignedHandoffs !== null) changes.requireCounterSignedHandoffs = input.requireCounterSignedHandoffs;
    if (Object.keys(changes).length === 0) throw new LedgerError('VALIDATION_FAILED', 'nothing to change: give promisedDeliveryAt, estimatedDeliveryAt, requireDeliveryEvidence or requireCounterSignedHandoffs', 'input');
    await this.runtime.dataSource.transaction(async (m) => {
      await m.getRepository(ShipmentEntity).update({ id: current.id }, { ...changes, updatedAt: new Date() });
      // on time or not follows the promise (carrier analytics)
      if (changes.promisedDeliveryAt !== undefined) {
        await m.query(`UPDATE shipments s SET ${OUTCOME_SQL('s.ended_at_ms', 's.end_kind', 's.estimate_first_scan_at', 's.estimate_out_for_delivery_at')} WHERE s.id = $1`, [current.id]);
      }
    });
    return this.find(input.trackingNumber, input.carrier, caller);
  }

  /**
   * Erases the personal values and salts of a shipment's events (a data-subject request). The
   * salted commitments stay, so the extra-data documents, their dataHash and every proof stay valid.
   */
  async erasePersonalData(trackingNumber: string, carrier: string, reason: string, caller: Principal): Promise<number> {
    if (reason.trim().length < 1 || reason.length > 500) throw new LedgerError('VALIDATION_FAILED', 'reason must be 1-500 characters', 'reason');
    const shipment = await this.find(trackingNumber, carrier, caller);
    return this.runtime.dataSource.transaction(async (m) => {
      const [, erased] = (await m.query(
        `UPDATE personal_data p SET value = NULL, salt = NULL, erased_at = now() FROM custody_events e
          WHERE e.event_id = p.event_id AND e.shipment_id = $1 AND p.erased_at IS NULL`,
        [shipment.id],
      )) as [unknown, number];
      await m.query(`INSERT INTO erasures (shipment_id, reason, fields_erased) VALUES ($1, $2, $3)`, [shipment.id, reason.trim(), erased]);
      return erased;
    });
  }
}
