import { ArgsType, Field, InputType, Int } from '@nestjs/graphql';

@InputType()
export class CustodyEventFilter {
  @Field(() => String, { nullable: true, description: 'signing key address' }) signer?: string | null;
  @Field(() => String, { nullable: true, description: 'organization slug: events it signed or that left the parcel with it' }) organization?: string | null;
  @Field(() => String, { nullable: true }) eventType?: string | null;
  @Field(() => String, { nullable: true }) trackingNumber?: string | null;
  @Field(() => String, { nullable: true, description: 'carrier slug' }) carrier?: string | null;
  @Field(() => Date, { nullable: true, description: 'occurredAt at or after' }) occurredFrom?: Date | null;
  @Field(() => Date, { nullable: true, description: 'occurredAt before' }) occurredTo?: Date | null;
}

@ArgsType()
export class CustodyEventsArgs {
  @Field(() => CustodyEventFilter, { nullable: true }) filter?: CustodyEventFilter | null;
  @Field(() => Int, { defaultValue: 100, description: '1-500' }) first: number;
  @Field(() => String, { nullable: true }) after?: string | null;
}
