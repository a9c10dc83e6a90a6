import { Args, Mutation, Parent, ResolveField, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { Organization } from '../organizations/models/organization.model';
import { Delegation, RegisterDelegationInput, RevokeDelegationInput, toDelegation } from './delegation.model';
import { DelegationsService } from './delegations.service';

@Resolver(() => Organization)
export class DelegationsResolver {
  constructor(private readonly service: DelegationsService) {}

  @Mutation(() => Delegation, { description: 'Registers a custody-delegation/1 statement signed by a key of the delegator; by the delegator itself (or the platform admin).' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async registerDelegation(@Args('input') input: RegisterDelegationInput, @Caller() caller: Principal): Promise<Delegation> {
    return toDelegation(await this.service.register(input, caller));
  }

  @Mutation(() => Delegation, { description: 'By the delegator (or the platform admin). Transfers already made under it stay valid.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async revokeDelegation(@Args('input') input: RevokeDelegationInput, @Caller() caller: Principal): Promise<Delegation> {
    return toDelegation(await this.service.revoke(input, caller));
  }

  @ResolveField(() => [Delegation], { description: 'Delegations the organization gave or holds; a non-platform caller sees those its own organization is a party to (delegator, delegate or carrier).' })
  async delegations(@Parent() org: Organization, @Caller() caller: Principal): Promise<Delegation[]> {
    return (await this.service.ofOrganization(org.id, caller)).map(toDelegation);
  }
}
