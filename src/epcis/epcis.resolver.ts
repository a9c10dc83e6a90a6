import { Args, Query, Resolver } from '@nestjs/graphql';
import { JsonScalar } from '../common/json.scalar';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { CustodyQueryService } from '../custody/custody-query.service';
import { ShipmentsService } from '../shipments/shipments.service';
import type { ExtraDataV1 } from '../custody/extra-data';
import { toEpcisDocument, type EpcisDocument, type EpcisSensorType } from './epcis.mapper';

@Resolver()
export class EpcisResolver {
  constructor(
    private readonly shipments: ShipmentsService,
    private readonly events: CustodyQueryService,
  ) {}

  @Query(() => JsonScalar, { description: "The shipment's custody events as an EPCIS 2.0 JSON-LD document (GS1 CBV bizStep/disposition, readPoint/bizLocation, sensor elements, error declarations for corrections)." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async epcisEvents(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Caller() caller: Principal): Promise<EpcisDocument> {
    const shipment = await this.shipments.find(trackingNumber, carrier, caller);
    const rows = (await this.events.forShipments([shipment.id], caller)).get(shipment.id) ?? [];
    let previous: string | null = null;
    return toEpcisDocument({
      shipment: { trackingNumber, carrier, merchant: shipment.merchant?.slug ?? null },
      createdAt: new Date(),
      events: rows.map((row) => {
        const doc = row.extra_data ? (JSON.parse(row.extra_data) as ExtraDataV1) : null;
        const event = {
          eventId: row.event_id,
          eventType: row.event_type,
          occurredAt: BigInt(row.occurred_at_ms),
          latE6: row.lat_e6,
          lonE6: row.lon_e6,
          accuracyM: Number(row.accuracy_m),
          locationCode: row.location_code,
          custodian: row.custodian,
          previousCustodian: previous,
          signer: row.signer,
          digest: row.digest,
          leaf: row.leaf,
          status: row.status,
          batchSeq: row.batch_seq,
          sensors: (doc?.sensors ?? []).map((s) => ({ type: s.type as EpcisSensorType, value: s.value, unit: s.unit, ...(s.at ? { at: BigInt(s.at) } : {}) })),
          corrects: row.corrects_event_id ? { eventId: row.corrects_event_id, reason: row.correction_reason ?? '' } : null,
        };
        if (row.event_type !== 'CORRECTION' && !row.corrected_by) previous = row.custodian;
        return event;
      }),
    });
  }
}
