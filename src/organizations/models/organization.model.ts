import { Field, ID, ObjectType, registerEnumType } from '@nestjs/graphql';
import type { OrganizationEntity } from '../organization.entity';
import type { SigningKeyEntity } from '../signing-key.entity';

export enum OrganizationKindEnum {
  CARRIER = 'CARRIER',
  MERCHANT = 'MERCHANT',
  HUB = 'HUB',
  LOCKER_OPERATOR = 'LOCKER_OPERATOR',
  AUDITOR = 'AUDITOR',
}
registerEnumType(OrganizationKindEnum, { name: 'OrganizationKind' });

@ObjectType()
export class Organization {
  @Field(() => ID) id: string;
  @Field({ description: 'stable identifier used in signed events: lower-case letters, digits and "-"' }) slug: string;
  @Field() name: string;
  @Field(() => OrganizationKindEnum) kind: OrganizationKindEnum;
  @Field() createdAt: Date;
}

export const toOrganization = (e: OrganizationEntity): Organization => ({ id: e.id, slug: e.slug, name: e.name, kind: e.kind as OrganizationKindEnum, createdAt: e.createdAt });

@ObjectType({ description: 'A device key whose EIP-712 signatures the ledger accepts for its organization.' })
export class SigningKey {
  @Field({ description: 'lower-case 0x address' }) address: string;
  @Field({ description: 'slug of the owning organization' }) organization: string;
  @Field() label: string;
  @Field({ description: 'events that occurred before this time are refused' }) validFrom: Date;
  @Field(() => Date, { nullable: true, description: 'events that occurred at or after this time are refused; earlier ones stay valid' }) revokedAt: Date | null;
  @Field(() => String, { nullable: true }) revocationReason: string | null;
  @Field() active: boolean;
}

export const toSigningKey = (e: SigningKeyEntity, organizationSlug: string): SigningKey => ({
  address: e.address,
  organization: organizationSlug,
  label: e.label,
  validFrom: e.validFrom,
  revokedAt: e.revokedAt,
  revocationReason: e.revocationReason,
  active: e.revokedAt === null || e.revokedAt.getTime() > Date.now(),
});
