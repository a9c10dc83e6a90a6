import { Args, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { OrganizationsService } from './organizations.service';
import { RegisterOrganizationInput, RegisterSigningKeyInput, RevokeSigningKeyInput } from './dto/organization.inputs';
import { Organization, SigningKey, toOrganization, toSigningKey } from './models/organization.model';

@Resolver(() => Organization)
export class OrganizationsResolver {
  constructor(private readonly organizations: OrganizationsService) {}

  @Query(() => Organization, { description: 'An organization by slug.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async organization(@Args('slug') slug: string): Promise<Organization> {
    return toOrganization(await this.organizations.bySlug(slug, 'slug'));
  }

  @ResolveField(() => [SigningKey])
  async signingKeys(@Parent() org: Organization): Promise<SigningKey[]> {
    return (await this.organizations.keysOf(org.id)).map((k) => toSigningKey(k, org.slug));
  }

  @Mutation(() => Organization)
  @Roles('ADMIN')
  async registerOrganization(@Args('input') input: RegisterOrganizationInput): Promise<Organization> {
    return toOrganization(await this.organizations.register(input));
  }

  @Mutation(() => SigningKey, { description: 'Only by the organization itself (or the platform admin).' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async registerSigningKey(@Args('input') input: RegisterSigningKeyInput, @Caller() caller: Principal): Promise<SigningKey> {
    const { key, organization } = await this.organizations.registerKey(input, caller);
    return toSigningKey(key, organization.slug);
  }

  @Mutation(() => SigningKey, { description: 'Only by the organization itself (or the platform admin).' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async revokeSigningKey(@Args('input') input: RevokeSigningKeyInput, @Caller() caller: Principal): Promise<SigningKey> {
    const { key, organization } = await this.organizations.revokeKey(input, caller);
    return toSigningKey(key, organization.slug);
  }
}
