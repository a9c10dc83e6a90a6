import { Field, ID, Int, ObjectType, registerEnumType } from '@nestjs/graphql';
import { Organization } from '../../organizations/models/organization.model';
import { SHIPMENT_STATUSES, type ShipmentStatus } from '../../custody/event-types';

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
  @Field() createdAt: Date;
  @Field() updatedAt: Date;
}
