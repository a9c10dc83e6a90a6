import { UseGuards } from '@nestjs/common';
import { Args, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { AdminKeyGuard } from '../common/auth.guard';
import { OrganizationsService } from './organizations.service';
import { RegisterOrganizationInput, RegisterSigningKeyInput, RevokeSigningKeyInput } from './dto/organization.inputs';
import { Organization, SigningKey, toOrganization, toSigningKey } from './models/organization.model';

@Resolver(() => Organization)
export class OrganizationsResolver {
  constructor(private readonly organizations: OrganizationsService) {}

  @Query(() => Organization, { description: 'An organization by slug.' })
  async organization(@Args('slug') slug: string): Promise<Organization> {
    return toOrganization(await this.organizations.bySlug(slug, 'slug'));
  }

  @ResolveField(() => [SigningKey])
  async signingKeys(@Parent() org: Organization): Promise<SigningKey[]> {
    return (await this.organizations.keysOf(org.id)).map((k) => toSigningKey(k, org.slug));
  }

  @Mutation(() => Organization)
  @UseGuards(AdminKeyGuard)
  async registerOrganization(@Args('input') input: RegisterOrganizationInput): Promise<Organization> {
    return toOrganization(await this.organizations.register(input));
  }

  @Mutation(() => SigningKey)
  @UseGuards(AdminKeyGuard)
  async registerSigningKey(@Args('input') input: RegisterSigningKeyInput): Promise<SigningKey> {
    const { key, organization } = await this.organizations.registerKey(input);
    return toSigningKey(key, organization.slug);
  }

  @Mutation(() => SigningKey)
  @UseGuards(AdminKeyGuard)
  async revokeSigningKey(@Args('input') input: RevokeSigningKeyInput): Promise<SigningKey> {
    const { key, organization } = await this.organizations.revokeKey(input);
    return toSigningKey(key, organization.slug);
  }
}
