import { Field, InputType } from '@nestjs/graphql';
import { OrganizationKindEnum } from '../models/organization.model';

@InputType()
export class RegisterOrganizationInput {
  @Field({ description: '2-64 characters: lower-case letters, digits, "-" (not at either end)' }) slug: string;
  @Field({ description: '1-200 characters' }) name: string;
  @Field(() => OrganizationKindEnum) kind: OrganizationKindEnum;
}

@InputType()
export class RegisterSigningKeyInput {
  @Field({ description: 'slug of the organization that owns the device' }) organization: string;
  @Field({ description: '0x address of the device key (checksummed or lower-case)' }) address: string;
  @Field({ defaultValue: '', description: 'up to 200 characters, e.g. "scanner 17, Berlin hub"' }) label: string;
  @Field(() => Date, { nullable: true, description: 'default: now. Events that occurred before are refused.' }) validFrom?: Date | null;
}

@InputType()
export class RevokeSigningKeyInput {
  @Field() address: string;
  @Field({ description: 'why, for the audit trail (1-500 characters)' }) reason: string;
  @Field(() => Date, { nullable: true, description: 'default: now. Events that occurred from then on are refused; earlier ones stay valid.' }) revokedAt?: Date | null;
}

@InputType({ description: 'Branding on public tracking pages. A field left out stays as it is; null clears it.' })
export class UpdateOrganizationBrandingInput {
  @Field(() => String, { nullable: true, description: "slug of the organization; default: the key's own. Only the platform admin may name another" }) organization?: string | null;
  @Field(() => String, { nullable: true, description: '1-80 characters; null: show the organization\'s name' }) displayName?: string | null;
  @Field(() => String, { nullable: true, description: 'https:// URL (http://127.0.0.1 or localhost outside production), or data:image/png|svg+xml|jpeg;base64,… of at most 64 KB' }) logoUrl?: string | null;
  @Field(() => String, { nullable: true, description: '#rrggbb' }) brandColor?: string | null;
  @Field(() => String, { nullable: true, description: '#rrggbb' }) accentColor?: string | null;
}
