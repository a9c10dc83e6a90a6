import { Field, ID, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: "A share link of a shipment's public tracking page, as listed: never its token." })
export class ShareLink {
  @Field(() => ID) id: string;
  @Field({ description: 'the page shows personal data: the destination, extra data, evidence metadata, recipient values' }) grantsPersonalData: boolean;
  @Field(() => Date, { nullable: true, description: 'the link stops working then; null: never' }) expiresAt: Date | null;
  @Field(() => Date, { nullable: true, description: 'set by revokeShareLink: the link stops working at once' }) revokedAt: Date | null;
  @Field() createdAt: Date;
  @Field(() => String, { nullable: true, description: 'slug of the organization whose key made it; null for a platform key' }) createdByOrganization: string | null;
  @Field({ description: 'the API key that made it (key:<id>, or bootstrap-admin)' }) createdBy: string;
  @Field({ description: 'neither revoked nor expired' }) active: boolean;
}

@ObjectType({ description: 'A new share link. `token` (and `path`, which holds it) is shown this once and stored only as a SHA-256 hash: pass it on now.' })
export class CreatedShareLink {
  @Field(() => ID) id: string;
  @Field({ description: '32 random bytes, base64url (43 characters)' }) token: string;
  @Field({ description: '/t/<token>: the public page, relative to the service' }) path: string;
  @Field() grantsPersonalData: boolean;
  @Field(() => Date, { nullable: true }) expiresAt: Date | null;
  @Field() createdAt: Date;
}

export interface ShareLinkRow {
  id: string;
  grants_personal_data: boolean;
  expires_at: Date | null;
  revoked_at: Date | null;
  created_at: Date;
  created_by_organization: string | null;
  created_by_api_key_id: string | null;
}

export const toShareLink = (r: ShareLinkRow): ShareLink => ({
  id: r.id,
  grantsPersonalData: r.grants_personal_data,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
  createdAt: r.created_at,
  createdByOrganization: r.created_by_organization,
  createdBy: r.created_by_api_key_id ? `key:${r.created_by_api_key_id}` : 'bootstrap-admin',
  active: r.revoked_at === null && (r.expires_at === null || r.expires_at.getTime() > Date.now()),
});
