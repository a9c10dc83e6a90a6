import { UseGuards } from '@nestjs/common';
import { Args, Context, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { BatchLoader, requestLoader } from '../common/batch-loader';
import { CustodyPeriod } from '../shipments/models/shipment.model';
import type { CustodyEventRow } from './custody-event.row';
import { CustodyEventsArgs } from './dto/custody-events.args';
import { custodyPeriods } from './custody-periods';
import { AdminKeyGuard } from '../common/auth.guard';
import { Shipment } from '../shipments/models/shipment.model';
import { CustodyIngestionService } from './custody-ingestion.service';
import { CustodyQueryService } from './custody-query.service';
import { SignedCustodyEventInput } from './dto/signed-custody-event.input';
import { CustodyEvent, CustodyEventConnection, RecordOutcomeEnum, RecordResult, eventCursor, toCustodyEvent } from './models/custody-event.model';

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

  @Query(() => CustodyEventConnection, { description: 'Events across shipments, in occurredAt order.' })
  async custodyEvents(@Args() args: CustodyEventsArgs): Promise<CustodyEventConnection> {
    const { rows, hasNextPage } = await this.query.list(args);
    return {
      edges: rows.map((row) => ({ cursor: eventCursor(row), node: toCustodyEvent(row) })),
      pageInfo: { hasNextPage, endCursor: rows.length ? eventCursor(rows[rows.length - 1]) : null },
    };
  }

  private timeline(shipment: Shipment, context: object): Promise<CustodyEventRow[]> {
    return requestLoader(context, 'shipmentEvents', () => new BatchLoader<string, CustodyEventRow[]>((ids) => this.query.forShipments(ids), [])).load(shipment.id);
  }

  @ResolveField(() => [CustodyEvent], { description: 'the timeline, ordered by occurredAt (device clock), then by arrival; corrected events stay, marked correctedBy' })
  async events(@Parent() shipment: Shipment, @Context() context: object): Promise<CustodyEvent[]> {
    return (await this.timeline(shipment, context)).map(toCustodyEvent);
  }

  @ResolveField(() => [CustodyPeriod], { description: 'who held the parcel from when to when' })
  async custodyPeriods(@Parent() shipment: Shipment, @Context() context: object): Promise<CustodyPeriod[]> {
    return custodyPeriods(await this.timeline(shipment, context));
  }
}
