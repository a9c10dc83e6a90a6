import { Inject, Injectable } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { TRACKING_NUMBER_PATTERN } from '../custody/event-validation';
import { OrganizationsService } from '../organizations/organizations.service';
import { toOrganization } from '../organizations/models/organization.model';
import { ShipmentEntity } from './shipment.entity';
import type { CreateShipmentInput } from './dto/create-shipment.input';
import type { Shipment } from './models/shipment.model';

const UNIQUE_VIOLATION = '23505';

@Injectable()
export class ShipmentsService {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly organizations: OrganizationsService,
  ) {}

  private get repo() {
    return this.runtime.dataSource.getRepository(ShipmentEntity);
  }

  async create(input: CreateShipmentInput): Promise<Shipment> {
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
    if (merchant && merchant.kind !== 'MERCHANT') throw new LedgerError('VALIDATION_FAILED', `organization "${merchant.slug}" is a ${merchant.kind}, not a MERCHANT`, 'merchant');
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
        }),
      );
      return (await this.toModels([(await this.repo.findOneByOrFail({ id: saved.id }))]))[0];
    } catch (err) {
      if ((err as { driverError?: { code?: string } }).driverError?.code === UNIQUE_VIOLATION) {
        throw new LedgerError('ALREADY_EXISTS', `carrier "${carrier.slug}" has a shipment "${input.trackingNumber}" already`, 'trackingNumber');
      }
      throw err;
    }
  }

  async find(trackingNumber: string, carrierSlug: string): Promise<Shipment> {
    const entity = await this.repo
      .createQueryBuilder('s')
      .innerJoin('s.carrier', 'c')
      .where('s.tracking_number = :trackingNumber AND c.slug = :carrierSlug', { trackingNumber, carrierSlug })
      .getOne();
    if (!entity) throw new LedgerError('NOT_FOUND', `carrier "${carrierSlug}" has no shipment "${trackingNumber}"`, 'trackingNumber');
    return (await this.toModels([entity]))[0];
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
    }));
  }
}
