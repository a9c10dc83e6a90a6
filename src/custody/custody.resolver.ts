import { UseGuards } from '@nestjs/common';
import { Args, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { AdminKeyGuard } from '../common/auth.guard';
import { Shipment } from '../shipments/models/shipment.model';
import { CustodyIngestionService } from './custody-ingestion.service';
import { CustodyQueryService } from './custody-query.service';
import { SignedCustodyEventInput } from './dto/signed-custody-event.input';
import { CustodyEvent, RecordOutcomeEnum, RecordResult, toCustodyEvent } from './models/custody-event.model';

@Resolver(() => Shipment)
export class CustodyResolver {
  constructor(
    private readonly ingestion: CustodyIngestionService,
    private readonly query: CustodyQueryService,
  ) {}

  @Mutation(() => [RecordResult], {
    description: 'Records signed custody events; one result per input, in input order. Each event is accepted or rejected on its own; a rejected event stores nothing.',
  })
  @UseGuards(AdminKeyGuard)
  async recordCustodyEvents(@Args('events', { type: () => [SignedCustodyEventInput] }) events: SignedCustodyEventInput[]): Promise<RecordResult[]> {
    const outcomes = await this.ingestion.record(events);
    return outcomes.map((o) =>
      o.outcome === 'REJECTED'
        ? { index: o.index, eventId: o.eventId, outcome: RecordOutcomeEnum.REJECTED, receipt: null, error: o.error }
        : { index: o.index, eventId: o.eventId, outcome: RecordOutcomeEnum[o.outcome], receipt: o.receipt, error: null },
    );
  }

  @Query(() => CustodyEvent)
  async custodyEvent(@Args('eventId') eventId: string): Promise<CustodyEvent> {
    return toCustodyEvent(await this.query.byEventId(eventId));
  }

  @ResolveField(() => [CustodyEvent], { description: 'the timeline, ordered by occurredAt (device clock), then by arrival' })
  async events(@Parent() shipment: Shipment): Promise<CustodyEvent[]> {
    return ((await this.query.forShipments([shipment.id])).get(shipment.id) ?? []).map(toCustodyEvent);
  }
}
