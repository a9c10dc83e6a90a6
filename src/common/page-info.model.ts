import { Field, ObjectType } from '@nestjs/graphql';

/** Relay page info, shared by every connection. */
@ObjectType()
export class PageInfo {
  @Field() hasNextPage: boolean;
  @Field(() => String, { nullable: true, description: 'pass as `after` for the next page' }) endCursor: string | null;
}
