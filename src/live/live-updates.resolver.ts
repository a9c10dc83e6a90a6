import { Inject } from '@nestjs/common';
import { Args, Resolver, Subscription } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { Batch, toBatch, type BatchRow } from '../batching/models/batch.model';
import { CustodyQueryService } from '../custody/custody-query.service';
import { toCustodyEvent } from '../custody/models/custody-event.model';
import { Incident, IncidentFilterInput } from '../fraud/fraud.models';
import { FraudService } from '../fraud/fraud.service';
import { ShipmentsService } from '../shipments/shipments.service';
import { liveFeed } from './live-feed';
import { ShipmentUpdate } from './live-updates.models';
import { LiveUpdatesService, type LiveNotice } from './live-updates.service';

/**
 * GraphQL subscriptions (served over graphql-ws, subscription-server.ts). Each is scoped exactly
 * like the matching query: the start is checked with the caller's key (the guard) and scope, and
 * every update is re-read with that scope, so a subscriber receives only what it could query.
 */
@Resolver()
export class LiveUpdatesResolver {
  /**
   * Work shared by the subscribers of one notice (the same object reaches every listener of this
   * replica): the anchored batch, and the fresh findings per scope and detector policy. So the cost
   * of a notice grows with the distinct organizations subscribed, not with their subscriptions.
   */
  private readonly shared = new WeakMap<LiveNotice, Map<string, Promise<unknown>>>();

  private once<T>(notice: LiveNotice, key: string, compute: () => Promise<T>): Promise<T> {
    let byKey = this.shared.get(notice);
    if (!byKey) this.shared.set(notice, (byKey = new Map()));
    let result = byKey.get(key) as Promise<T> | undefined;
    if (!result) byKey.set(key, (result = compute()));
    return result;
  }

  constructor(
    @Inject(RUNTIME) private readonly runtime: Runtime,
    private readonly live: LiveUpdatesService,
    private readonly shipments: ShipmentsService,
    private readonly events: CustodyQueryService,
    private readonly fraud: FraudService,
  ) {}

  @Subscription(() => ShipmentUpdate, {
    description: "Each custody event recorded on a shipment from now on, with the shipment after it. A shipment the key may not read is refused like a missing one (NOT_FOUND); a hub or locker receives the events from its first custody on, like the shipment query's timeline.",
    resolve: (payload: ShipmentUpdate) => payload,
  })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  async shipmentUpdated(@Args('trackingNumber') trackingNumber: string, @Args('carrier') carrier: string, @Caller() caller: Principal): Promise<AsyncIterableIterator<ShipmentUpdate>> {
    const shipment = await this.shipments.find(trackingNumber, carrier, caller);
    return liveFeed(this.live, (n) => n.k === 'events' && n.s === shipment.id, async (n) => {
      if (n.k !== 'events') return [];
      const out: ShipmentUpdate[] = [];
      for (const eventId of n.e) {
        const row = await this.events.byEventId(eventId, caller).catch((err: unknown) => {
          if (err instanceof LedgerError && err.code === 'NOT_FOUND') return null;
          throw err;
        });
        // read after the event: the shipment may have left the caller's scope meanwhile
        const now = row ? await this.shipments.findById(shipment.id, caller) : null;
        if (row && now) out.push({ shipment: now, event: toCustodyEvent(row) });
      }
      return out;
    });
  }

  @Subscription(() => Batch, { description: 'Each batch once its root is anchored on chain (status ANCHORED, or FINAL if it already is).', resolve: (payload: Batch) => payload })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST', 'AUDITOR')
  batchAnchored(): AsyncIterableIterator<Batch> {
    return liveFeed(this.live, (n) => n.k === 'batch', async (n) => {
      if (n.k !== 'batch') return [];
      const rows = await this.once(n, 'batch', () => sqlRows<BatchRow>(this.runtime.dataSource, `SELECT * FROM anchor_batches WHERE seq = $1`, [n.seq]));
      return rows.map(toBatch);
    });
  }

  @Subscription(() => Incident, {
    description: "Each finding raised by an event recorded from now on (fraud and incident checks), filtered like the incidents query, on the shipments the key may read.",
    resolve: (payload: Incident) => payload,
  })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT', 'DISPUTE_ANALYST')
  incidentRaised(@Args('filter', { type: () => IncidentFilterInput, nullable: true }) filter: IncidentFilterInput | null, @Caller() caller: Principal): AsyncIterableIterator<Incident> {
    const f = filter ?? {};
    FraudService.checkFilter(f);
    return liveFeed(this.live, (n) => n.k === 'events', async (n) => {
      if (n.k !== 'events') return [];
      const scopeKey = `${caller.role}:${caller.organizationId ?? '-'}:${caller.organizationKind ?? '-'}:${f.staleAfterHours ?? '-'}`;
      const raised = await this.once(n, scopeKey, () => this.fraud.raisedBy(n.s, n.e, f.staleAfterHours, caller));
      if (!raised) return [];
      const { shipment } = raised;
      return raised.findings.filter((finding) => FraudService.matchesFilter(shipment, finding, f)).map((finding) => ({ trackingNumber: shipment.trackingNumber, carrier: shipment.carrier.slug, shipmentStatus: shipment.status, finding }));
    });
  }
}
