import { Args, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import { seesInternalsOf, seesSigningKeysOf, type Principal } from '../auth/principal';
import { OrganizationsService } from './organizations.service';
import { RegisterOrganizationInput, RegisterSigningKeyInput, RevokeSigningKeyInput, UpdateOrganizationBrandingInput } from './dto/organization.inputs';
import { CarrierContract, Organization, SigningKey, toCarrierContract, toOrganization, toSigningKey } from './models/organization.model';

/**
 * Everyone with a key sees an organization's public identity (id, slug, name, kind). Its signing
 * keys: the organization itself and the platform roles (admin, auditors, platform-wide dispute
 * analysts). Its contracts and suspension: the organization itself and the admin. Hidden parts are null.
 */
@Resolver(() => Organization)
export class OrganizationsResolver {
  constructor(private readonly organizations: OrganizationsService) {}

  @Query(() => Organization, { description: 'An organization by slug.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async organization(@Args('slug') slug: string): Promise<Organization> {
    return toOrganization(await this.organizations.bySlug(slug, 'slug'));
  }

  @ResolveField(() => [SigningKey], { nullable: true, description: "null unless the caller belongs to the organization or is the admin, an auditor or a platform-wide dispute analyst" })
  async signingKeys(@Parent() org: Organization, @Caller() caller: Principal): Promise<SigningKey[] | null> {
    if (!seesSigningKeysOf(caller, org.id)) return null;
    return (await this.organizations.keysOf(org.id)).map((k) => toSigningKey(k, org.slug));
  }

  @ResolveField(() => [CarrierContract], { nullable: true, description: 'carrier–merchant contracts it is a party to (ended ones too); null unless the caller belongs to the organization or is the admin' })
  async contracts(@Parent() org: Organization, @Caller() caller: Principal): Promise<CarrierContract[] | null> {
    if (!seesInternalsOf(caller, org.id)) return null;
    return (await this.organizations.contractsOf(org.id)).map(toCarrierContract);
  }

  @ResolveField(() => Date, { nullable: true, description: 'when the platform admin suspended it (its API keys do not work); null if not suspended, or unless the caller belongs to the organization or is the admin' })
  suspendedAt(@Parent() org: Organization, @Caller() caller: Principal): Date | null {
    return seesInternalsOf(caller, org.id) ? org.suspendedAt : null;
  }

  @ResolveField(() => String, { nullable: true, description: 'why it is suspended; shown like suspendedAt' })
  suspensionReason(@Parent() org: Organization, @Caller() caller: Principal): string | null {
    return seesInternalsOf(caller, org.id) ? org.suspensionReason : null;
  }

  @Mutation(() => Organization)
  @Roles('ADMIN')
  async registerOrganization(@Args('input') input: RegisterOrganizationInput): Promise<Organization> {
    return toOrganization(await this.organizations.register(input));
  }

  @Mutation(() => Organization, { description: "Branding on public tracking pages (share links): a CARRIER or MERCHANT key sets its own organization's, the platform admin any. Invalid values are refused with INVALID_DISPLAY_NAME, INVALID_COLOR or INVALID_LOGO_URL and change nothing." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async updateOrganizationBranding(@Args('input') input: UpdateOrganizationBrandingInput, @Caller() caller: Principal): Promise<Organization> {
    return toOrganization(await this.organizations.updateBranding(input, caller));
  }

  @Mutation(() => Organization, { description: 'Platform admin only. Its API keys stop working at once (ORGANIZATION_SUSPENDED); its signing keys, events and proofs stay as they are.' })
  @Roles('ADMIN')
  async suspendOrganization(@Args('slug') slug: string, @Args('reason', { description: 'why, for the audit trail (1-500 characters)' }) reason: string): Promise<Organization> {
    return toOrganization(await this.organizations.suspend(slug, reason));
  }

  @Mutation(() => Organization, { description: 'Platform admin only. Its API keys work again.' })
  @Roles('ADMIN')
  async reinstateOrganization(@Args('slug') slug: string): Promise<Organization> {
    return toOrganization(await this.organizations.reinstate(slug));
  }

  @Mutation(() => CarrierContract, { description: 'The carrier accepts the merchant as customer: by the platform admin or a CARRIER key of that carrier. An ended contract is registered anew.' })
  @Roles('ADMIN', 'CARRIER')
  async registerCarrierContract(@Args('carrier') carrier: string, @Args('merchant') merchant: string, @Caller() caller: Principal): Promise<CarrierContract> {
    return toCarrierContract(await this.organizations.registerContract(carrier, merchant, caller));
  }

  @Mutation(() => CarrierContract, { description: 'No new shipments under the contract from now on; existing shipments stay. By the platform admin or a CARRIER key of that carrier.' })
  @Roles('ADMIN', 'CARRIER')
  async endCarrierContract(@Args('carrier') carrier: string, @Args('merchant') merchant: string, @Caller() caller: Principal): Promise<CarrierContract> {
    return toCarrierContract(await this.organizations.endContract(carrier, merchant, caller));
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
