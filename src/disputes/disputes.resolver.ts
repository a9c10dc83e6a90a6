import { UseGuards } from '@nestjs/common';
import { Args, ID, Mutation, Query, Resolver } from '@nestjs/graphql';
import { AdminKeyGuard } from '../common/auth.guard';
import { Dispute, DisputeClaimEnum, DisputeConnection, DisputeOutcomeEnum, DisputesArgs } from './dispute.models';
import { DisputesService } from './disputes.service';

@Resolver(() => Dispute)
export class DisputesResolver {
  constructor(private readonly service: DisputesService) {}

  @Mutation(() => Dispute, { description: 'Opens a dispute: gathers the proof bundle and findings, verifies against the chain, and gives a verdict with reasons.' })
  @UseGuards(AdminKeyGuard)
  async openDispute(
    @Args('trackingNumber') trackingNumber: string,
    @Args('carrier') carrier: string,
    @Args('claim', { type: () => DisputeClaimEnum }) claim: DisputeClaimEnum,
    @Args('note', { defaultValue: '' }) note: string,
  ): Promise<Dispute> {
    return this.service.open(trackingNumber, carrier, claim, note);
  }

  @Mutation(() => Dispute, { description: 'Records how a dispute ended.' })
  @UseGuards(AdminKeyGuard)
  async resolveDispute(@Args('id', { type: () => ID }) id: string, @Args('outcome', { type: () => DisputeOutcomeEnum }) outcome: DisputeOutcomeEnum, @Args('note') note: string): Promise<Dispute> {
    return this.service.resolve(id, outcome, note);
  }

  @Query(() => Dispute)
  async dispute(@Args('id', { type: () => ID }) id: string): Promise<Dispute> {
    return this.service.get(id);
  }

  @Query(() => DisputeConnection, { description: 'Disputes, oldest first, filterable by status, verdict, claim, carrier, tracking number.' })
  async disputes(@Args() args: DisputesArgs): Promise<DisputeConnection> {
    return this.service.list(args);
  }
}
