import { Field, InputType, Int } from '@nestjs/graphql';

@InputType({ description: 'Where the parcel should be delivered; delivery scans are checked against it.' })
export class DestinationInput {
  @Field(() => Int, { description: 'latitude × 1e6' }) latE6: number;
  @Field(() => Int, { description: 'longitude × 1e6' }) lonE6: number;
  @Field(() => Int, { description: 'radius in metres (1-100000) within which a delivery counts as at the destination' }) radiusM: number;
}

@InputType()
export class CreateShipmentInput {
  @Field({ description: 'as issued by the carrier: 3-64 letters, digits, ".", "_", "/", "-"' }) trackingNumber: string;
  @Field({ description: 'slug of the carrier organization that issued the tracking number' }) carrier: string;
  @Field(() => String, { nullable: true, description: 'slug of the merchant organization that shipped it' }) merchant?: string | null;
  @Field(() => DestinationInput, { nullable: true }) destination?: DestinationInput | null;
}
