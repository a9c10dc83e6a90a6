import { Args, Field, ID, InputType, Mutation, ObjectType, Query, Resolver } from '@nestjs/graphql';
import { LedgerError } from '../common/errors';
import { Caller, Roles } from './decorators';
import { ApiKeysService, type ApiKeyRow } from './api-keys.service';
import type { Principal, Role } from './principal';

@ObjectType({ description: 'An API key as listed: never its secret.' })
export class ApiKey {
  @Field(() => ID) id: string;
  @Field({ description: 'the public part of the key (cl_<prefix>_…), to recognise it in lists' }) prefix: string;
  @Field() role: string;
  @Field(() => String, { nullable: true, description: 'organization slug; null for platform keys (ADMIN, platform-wide DISPUTE_ANALYST)' }) organization: string | null;
  @Field({ description: 'may create, rotate and revoke keys of its organization, and manage its webhook endpoints' }) manageKeys: boolean;
  @Field() label: string;
  @Field() createdAt: Date;
  @Field(() => Date, { nullable: true }) revokedAt: Date | null;
  @Field(() => Date, { nullable: true, description: 'to the minute' }) lastUsedAt: Date | null;
  @Field(() => ID, { nullable: true, description: 'the key that replaced it on rotation' }) replacedBy: string | null;
}

@ObjectType({ description: 'A new key. `key` is shown this once and stored only as a hash: keep it now.' })
export class CreatedApiKey {
  @Field() key: string;
  @Field(() => ApiKey) apiKey: ApiKey;
}

@InputType()
export class CreateApiKeyInput {
  @Field(() => String, { nullable: true, description: 'organization slug; omit for an ADMIN key, or (platform admin only) for a platform-wide DISPUTE_ANALYST key that reads every tenant' }) organization?: string | null;
  @Field({ description: 'ADMIN, CARRIER, MERCHANT, DISPUTE_ANALYST or AUDITOR' }) role: string;
  @Field({ defaultValue: '' }) label: string;
  @Field({ defaultValue: false }) manageKeys: boolean;
}

@ObjectType({ description: 'The caller: who the API key of this request is (the pages use it for sign-in and navigation).' })
export class Viewer {
  @Field() role: string;
  @Field(() => String, { nullable: true, description: 'organization slug; null for platform keys' }) organization: string | null;
  @Field(() => String, { nullable: true, description: 'CARRIER, MERCHANT, HUB, …; null for platform keys' }) organizationKind: string | null;
  @Field({ description: 'may create, rotate and revoke keys of its organization, and manage its webhook endpoints' }) manageKeys: boolean;
}

const toApiKey = (r: ApiKeyRow): ApiKey => ({
  id: r.id,
  prefix: r.prefix,
  role: r.role,
  organization: r.organization,
  manageKeys: r.manage_keys,
  label: r.label,
  createdAt: r.created_at,
  revokedAt: r.revoked_at,
  lastUsedAt: r.last_used_at,
  replacedBy: r.replaced_by,
});

const ANY = ['ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR'] as const;

/** Keys are managed by the platform admin, or by an organization's own keys with manageKeys. */
@Resolver(() => ApiKey)
export class ApiKeysResolver {
  constructor(private readonly keys: ApiKeysService) {}

  @Query(() => Viewer, { description: "The calling key's role and organization." })
  @Roles(...ANY)
  viewer(@Caller() caller: Principal): Viewer {
    return { role: caller.role, organization: caller.organizationSlug, organizationKind: caller.organizationKind, manageKeys: caller.manageKeys };
  }

  @Query(() => [ApiKey])
  @Roles(...ANY)
  async apiKeys(@Args('organization', { type: () => String, nullable: true }) organization: string | null, @Caller() caller: Principal): Promise<ApiKey[]> {
    return (await this.keys.list(caller, organization)).map(toApiKey);
  }

  @Mutation(() => CreatedApiKey)
  @Roles(...ANY)
  async createApiKey(@Args('input') input: CreateApiKeyInput, @Caller() caller: Principal): Promise<CreatedApiKey> {
    const role = input.role as Role;
    if (!ANY.includes(role)) throw new LedgerError('VALIDATION_FAILED', `role must be one of ${ANY.join(', ')}`, 'role');
    const { key, row } = await this.keys.create(caller, { organization: input.organization ?? null, role, label: input.label, manageKeys: input.manageKeys });
    return { key, apiKey: toApiKey(row) };
  }

  @Mutation(() => CreatedApiKey, { description: 'A new key with the same role and rights; the old one stops working at once.' })
  @Roles(...ANY)
  async rotateApiKey(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<CreatedApiKey> {
    const { key, row } = await this.keys.rotate(caller, id);
    return { key, apiKey: toApiKey(row) };
  }

  @Mutation(() => ApiKey)
  @Roles(...ANY)
  async revokeApiKey(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<ApiKey> {
    return toApiKey(await this.keys.revoke(caller, id));
  }
}
