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
  @Field(() => Date, { nullable: true, description: 'the delivery date promised to the customer' }) promisedDeliveryAt?: Date | null;
  @Field(() => Date, { nullable: true, description: "the carrier's estimate" }) estimatedDeliveryAt?: Date | null;
  @Field({ defaultValue: false, description: 'flag deliveries without evidence (photo, signature, PIN)' }) requireDeliveryEvidence: boolean;
  @Field({ defaultValue: false, description: 'report custody transfers without the other party\'s counter-signature' }) requireCounterSignedHandoffs: boolean;
}

@InputType({ description: 'Change what a merchant or carrier may change after creation; omitted fields stay as they are.' })
export class UpdateShipmentInput {
  @Field() trackingNumber: string;
  @Field({ description: 'carrier slug' }) carrier: string;
  @Field(() => Date, { nullable: true }) promisedDeliveryAt?: Date | null;
  @Field(() => Date, { nullable: true }) estimatedDeliveryAt?: Date | null;
  @Field(() => Boolean, { nullable: true }) requireDeliveryEvidence?: boolean | null;
  @Field(() => Boolean, { nullable: true }) requireCounterSignedHandoffs?: boolean | null;
}
