import { PageInfo } from '../../common/page-info.model';
import { ArgsType, Field, ID, InputType, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Organization } from '../../organizations/models/organization.model';
import { SHIPMENT_STATUSES, type ShipmentStatus } from '../../custody/event-types';
import type { EstimateBasis } from '../../analytics/shipment-facts';

export enum ShipmentStatusEnum {
  PRE_TRANSIT = 'PRE_TRANSIT',
  IN_TRANSIT = 'IN_TRANSIT',
  OUT_FOR_DELIVERY = 'OUT_FOR_DELIVERY',
  AVAILABLE_FOR_PICKUP = 'AVAILABLE_FOR_PICKUP',
  DELIVERY_FAILED = 'DELIVERY_FAILED',
  DELIVERED = 'DELIVERED',
  EXCEPTION = 'EXCEPTION',
  RETURN_TO_SENDER = 'RETURN_TO_SENDER',
  LOST = 'LOST',
}
registerEnumType(ShipmentStatusEnum, { name: 'ShipmentStatus', description: `normalised status: ${SHIPMENT_STATUSES.join(', ')}` });

export enum EstimateBasisEnum {
  LANE_HISTORY = 'LANE_HISTORY',
  CARRIER_HISTORY = 'CARRIER_HISTORY',
  PROMISED_DATE = 'PROMISED_DATE',
  CARRIER_PROVIDED = 'CARRIER_PROVIDED',
}
registerEnumType(EstimateBasisEnum, {
  name: 'EstimateBasis',
  description: "LANE_HISTORY: the median hours from the shipment's stage to delivery on its carrier's lane (origin region → destination region); CARRIER_HISTORY: the same over all the carrier's lanes; PROMISED_DATE: the merchant's promise; CARRIER_PROVIDED: the carrier's own estimate",
});

@ObjectType()
export class Destination {
  @Field(() => Int) latE6: number;
  @Field(() => Int) lonE6: number;
  @Field(() => Int) radiusM: number;
}

@ObjectType()
export class Shipment {
  @Field(() => ID) id: string;
  @Field() trackingNumber: string;
  @Field(() => Organization) carrier: Organization;
  @Field(() => Organization, { nullable: true }) merchant: Organization | null;
  @Field(() => Destination, { nullable: true }) destination: Destination | null;
  @Field(() => ShipmentStatusEnum, { description: 'follows the latest event by occurredAt' }) status: ShipmentStatus;
  @Field(() => Organization, { nullable: true, description: 'who holds the parcel after the latest event by occurredAt' }) currentCustodian: Organization | null;
  @Field(() => Int) eventCount: number;
  @Field({ description: 'leaf of the last accepted event: the next event chains to it' }) headLeaf: string;
  @Field(() => String, { nullable: true, description: 'the event type behind the status, e.g. ARRIVED_AT_FACILITY under IN_TRANSIT, COLLECTED_FROM_LOCKER under DELIVERED' }) subStatus: string | null;
  @Field({ description: 'a DELIVERED without evidence is flagged MISSING_REQUIRED_EVIDENCE' }) requireDeliveryEvidence: boolean;
  @Field({ description: 'custody transfers without the counter-signature of the other party are reported' }) requireCounterSignedHandoffs: boolean;
  @Field(() => Date, { nullable: true, description: 'what the merchant promised the customer' }) promisedDeliveryAt: Date | null;
  @Field(() => Date, { nullable: true, description: 'delivery time if delivered; else the estimate kept up to date on every accepted scan (see estimateBasis), else the promised date' }) estimatedDeliveryAt: Date | null;
  @Field(() => EstimateBasisEnum, { nullable: true, description: 'what estimatedDeliveryAt rests on; null when delivered or when nothing is known' }) estimateBasis: EstimateBasis | null;
  @Field(() => Int, { nullable: true, description: 'deliveries of the lane (LANE_HISTORY) or carrier (CARRIER_HISTORY) behind the estimate' }) estimateSampleSize: number | null;
  @Field(() => Date, { nullable: true, description: "the carrier's own estimate, as it gave it (it wins while it is not in the past)" }) carrierEstimatedDeliveryAt: Date | null;
  @Field(() => Date, { nullable: true, description: 'occurredAt of the (uncorrected) delivery' }) deliveredAt: Date | null;
  @Field({ description: 'delivered after the promised date, or not delivered and the promised date has passed' }) late: boolean;
  @Field(() => Date, { nullable: true, description: 'occurredAt of the latest event' }) lastEventAt: Date | null;
  @Field() createdAt: Date;
  @Field() updatedAt: Date;
}

@ObjectType({ description: 'Who held the parcel from when to when (device clock), from the timeline with corrections applied.' })
export class CustodyPeriod {
  @Field({ description: 'organization slug' }) custodian: string;
  @Field() from: Date;
  @Field(() => Date, { nullable: true, description: 'null while it still holds the parcel' }) to: Date | null;
  @Field({ description: 'the event that started the period' }) fromEventId: string;
  @Field(() => String, { nullable: true }) toEventId: string | null;
}

@ObjectType()
export class ShipmentEdge {
  @Field() cursor: string;
  @Field(() => Shipment) node: Shipment;
}

@ObjectType()
export class ShipmentConnection {
  @Field(() => [ShipmentEdge]) edges: ShipmentEdge[];
  @Field(() => PageInfo) pageInfo: PageInfo;
}

@InputType()
export class ShipmentFilter {
  @Field(() => String, { nullable: true, description: 'carrier slug' }) carrier?: string | null;
  @Field(() => String, { nullable: true, description: 'merchant slug' }) merchant?: string | null;
  @Field(() => ShipmentStatusEnum, { nullable: true }) status?: ShipmentStatus | null;
  @Field(() => String, { nullable: true, description: 'slug of the current custodian' }) custodian?: string | null;
  @Field(() => Date, { nullable: true, description: 'only shipments changed at or after this time' }) updatedSince?: Date | null;
  @Field(() => Boolean, { nullable: true, description: 'only late (true) or on-time (false) shipments' }) late?: boolean | null;
}

@ArgsType()
export class ShipmentsArgs {
  @Field(() => ShipmentFilter, { nullable: true }) filter?: ShipmentFilter | null;
  @Field(() => Int, { defaultValue: 50, description: '1-100' }) first: number;
  @Field(() => String, { nullable: true, description: 'endCursor of the previous page' }) after?: string | null;
}
