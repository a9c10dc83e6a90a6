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
  @Field(() => String, { nullable: true, description: 'branding: the name public tracking pages show (1-80 characters); null: name' }) displayName: string | null;
  @Field(() => String, { nullable: true, description: 'branding: logo, an https:// URL or a data:image/png|svg+xml|jpeg;base64 URL (at most 64 KB)' }) logoUrl: string | null;
  @Field(() => String, { nullable: true, description: 'branding: main colour, #rrggbb' }) brandColor: string | null;
  @Field(() => String, { nullable: true, description: 'branding: accent colour, #rrggbb' }) accentColor: string | null;
  /** shown through OrganizationsResolver, to the organization itself and the platform admin only */
  suspendedAt: Date | null;
  suspensionReason: string | null;
}

export const toOrganization = (e: OrganizationEntity): Organization => ({
  id: e.id,
  slug: e.slug,
  name: e.name,
  kind: e.kind as OrganizationKindEnum,
  createdAt: e.createdAt,
  displayName: e.displayName ?? null,
  logoUrl: e.logoUrl ?? null,
  brandColor: e.brandColor ?? null,
  accentColor: e.accentColor ?? null,
  suspendedAt: e.suspendedAt ?? null,
  suspensionReason: e.suspensionReason ?? null,
});

@ObjectType({ description: 'A carrier accepts a merchant as customer: then the merchant creates shipments for that carrier (and the carrier may name it).' })
export class CarrierContract {
  @Field({ description: 'carrier slug' }) carrier: string;
  @Field({ description: 'merchant slug' }) merchant: string;
  @Field({ description: 'when it was registered (again, if it had ended before)' }) createdAt: Date;
  @Field({ description: 'the API key that registered it (key:<id>, or bootstrap-admin)' }) createdBy: string;
  @Field(() => Date, { nullable: true, description: 'set by endCarrierContract: no new shipments from then on; existing ones stay' }) endedAt: Date | null;
  @Field() active: boolean;
}

export interface CarrierContractRow {
  carrier: string;
  merchant: string;
  created_at: Date;
  created_by: string;
  ended_at: Date | null;
}

export const toCarrierContract = (r: CarrierContractRow): CarrierContract => ({ carrier: r.carrier, merchant: r.merchant, createdAt: r.created_at, createdBy: r.created_by, endedAt: r.ended_at, active: r.ended_at === null });

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
