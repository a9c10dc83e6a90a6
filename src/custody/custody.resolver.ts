import { Inject } from '@nestjs/common';
import { Args, Context, Mutation, Parent, Query, ResolveField, Resolver } from '@nestjs/graphql';
import { RUNTIME, type Runtime } from '../common/runtime';
import { BatchLoader, requestLoader } from '../common/batch-loader';
import { CustodyPeriod } from '../shipments/models/shipment.model';
import type { CustodyEventRow } from './custody-event.row';
import { CustodyEventsArgs } from './dto/custody-events.args';
import { custodyPeriods } from './custody-periods';
import { Caller, Roles, type AuthedRequest } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { Shipment } from '../shipments/models/shipment.model';
import { CustodyIngestionService } from './custody-ingestion.service';
import { CustodyQueryService } from './custody-query.service';
import { SignedCustodyEventInput } from './dto/signed-custody-event.input';
import { CustodyEvent, CustodyEventConnection, RecordOutcomeEnum, RecordResult, eventCursor, toCustodyEvent } from './models/custody-event.model';

@Resolver(() => Shipment)
export class CustodyResolver {
  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly ingestion: CustodyIngestionService,
    private readonly query: CustodyQueryService,
  ) {}

  @Mutation(() => [RecordResult], {
    description: 'Records signed custody events; one result per input, in input order. Each event is accepted or rejected on its own; a rejected event stores nothing.',
  })
  @Roles('ADMIN', 'CARRIER')
  async recordCustodyEvents(@Args('events', { type: () => [SignedCustodyEventInput] }) events: SignedCustodyEventInput[], @Caller() caller: Principal): Promise<RecordResult[]> {
    const outcomes = await this.ingestion.record(events, caller);
    return outcomes.map((o) =>
      o.outcome === 'REJECTED'
        ? { index: o.index, eventId: o.eventId, outcome: RecordOutcomeEnum.REJECTED, receipt: null, error: o.error }
        : { index: o.index, eventId: o.eventId, outcome: RecordOutcomeEnum[o.outcome], receipt: o.receipt, error: null },
    );
  }

  @Query(() => CustodyEvent)
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async custodyEvent(@Args('eventId') eventId: string, @Caller() caller: Principal): Promise<CustodyEvent> {
    return toCustodyEvent(await this.runtime.reads.run(caller, (db) => this.query.byEventId(eventId, caller, db)));
  }

  @Query(() => CustodyEventConnection, { description: 'Events across shipments, in occurredAt order.' })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async custodyEvents(@Args() args: CustodyEventsArgs, @Caller() caller: Principal): Promise<CustodyEventConnection> {
    const { rows, hasNextPage } = await this.runtime.reads.run(caller, (db) => this.query.list(args, caller, db));
    return {
      edges: rows.map((row) => ({ cursor: eventCursor(row), node: toCustodyEvent(row) })),
      pageInfo: { hasNextPage, endCursor: rows.length ? eventCursor(rows[rows.length - 1]) : null },
    };
  }

  /** Field resolvers run after the parent query's guard: the caller is on the request. */
  private timeline(shipment: Shipment, context: { req: AuthedRequest }): Promise<CustodyEventRow[]> {
    const scope = context.req.principal!;
    return requestLoader(context, 'shipmentEvents', () => new BatchLoader<string, CustodyEventRow[]>((ids) => this.runtime.reads.run(scope, (db) => this.query.forShipments(ids, scope, db)), [])).load(shipment.id);
  }

  @ResolveField(() => [CustodyEvent], { description: 'the timeline, ordered by occurredAt (device clock), then by arrival; corrected events stay, marked correctedBy' })
  async events(@Parent() shipment: Shipment, @Context() context: { req: AuthedRequest }): Promise<CustodyEvent[]> {
    return (await this.timeline(shipment, context)).map(toCustodyEvent);
  }

  @ResolveField(() => [CustodyPeriod], { description: 'who held the parcel from when to when' })
  async custodyPeriods(@Parent() shipment: Shipment, @Context() context: { req: AuthedRequest }): Promise<CustodyPeriod[]> {
    return custodyPeriods(await this.timeline(shipment, context));
  }
}
