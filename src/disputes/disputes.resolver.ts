import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { Dispute, DisputeClaimEnum, DisputeConnection, DisputeOutcomeEnum, DisputesArgs } from './dispute.models';
import { DisputesService } from './disputes.service';

@Resolver(() => Dispute)
export class DisputesResolver {
  constructor(private readonly service: DisputesService) {}

  @Mutation(() => Dispute, { description: 'Opens a dispute: gathers the proof bundle and findings, verifies against the chain, and gives a verdict with reasons.' })
  @Roles('ADMIN', 'MERCHANT', 'DISPUTE_ANALYST')
  async openDispute(
    @Args('trackingNumber') trackingNumber: string,
    @Args('carrier') carrier: string,
    @Args('claim', { type: () => DisputeClaimEnum }) claim: DisputeClaimEnum,
    @Args('note', { defaultValue: '' }) note: string,
    @Caller() caller: Principal,
  ): Promise<Dispute> {
    return this.service.open(trackingNumber, carrier, claim, note, caller);
  }

  @Mutation(() => Dispute, { description: 'Records how a dispute ended: the platform admin or a platform-wide DISPUTE_ANALYST (a key without organization).' })
  @Roles('ADMIN', 'DISPUTE_ANALYST')
  async resolveDispute(@Args('id', { type: () => ID }) id: string, @Args('outcome', { type: () => DisputeOutcomeEnum }) outcome: DisputeOutcomeEnum, @Args('note') note: string, @Caller() caller: Principal): Promise<Dispute> {
    return this.service.resolve(id, outcome, note, caller);
  }

  @Query(() => Dispute)
  @Roles('ADMIN', 'MERCHANT', 'DISPUTE_ANALYST')
  async dispute(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<Dispute> {
    return this.service.get(id, caller);
  }

  @Query(() => DisputeConnection, { description: 'Disputes, oldest first, filterable by status, verdict, claim, carrier, tracking number.' })
  @Roles('ADMIN', 'MERCHANT', 'DISPUTE_ANALYST')
  async disputes(@Args() args: DisputesArgs, @Caller() caller: Principal): Promise<DisputeConnection> {
    return this.service.list(args, caller);
  }
}
