import { Inject, Injectable } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { LedgerError } from '../common/errors';
import { decodeCursor } from '../common/cursor';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import type { CustodyEventsArgs } from './dto/custody-events.args';
import { EVENT_FROM_SQL, eventColumnsSql, type CustodyEventRow } from './custody-event.row';
import { eventScopeSql, personalDataScopeSql, type Scope } from '../auth/principal';

/** Reads events; `db` is the primary unless the caller's read was routed to the read replica (ReadRouter). */
@Injectable()
export class CustodyQueryService {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  /** An event the scope may not see is NOT_FOUND, exactly like a missing one. */
  async byEventId(eventId: string, scope: Scope, db: DataSource = this.runtime.dataSource): Promise<CustodyEventRow> {
    const id = eventId.toLowerCase();
    const params: unknown[] = [id];
    const [row] = /^0x[0-9a-f]{64}$/.test(id)
      ? await sqlRows<CustodyEventRow>(
          db,
          `SELECT ${eventColumnsSql(personalDataScopeSql(scope, params))} FROM ${EVENT_FROM_SQL} WHERE e.event_id = $1 AND ${eventScopeSql(scope, params)}`,
          params,
        )
      : [];
    if (!row) throw new LedgerError('NOT_FOUND', `no custody event ${eventId}`, 'eventId');
    return row;
  }

  /** One page of events in device-clock order, filtered by signer key, organization, type and time. */
  async list(args: CustodyEventsArgs, scope: Scope, db: DataSource = this.runtime.dataSource): Promise<{ rows: CustodyEventRow[]; hasNextPage: boolean }> {
    const { first, after } = args;
    const f = args.filter ?? {};
    if (!Number.isInteger(first) || first < 1 || first > 500) throw new LedgerError('VALIDATION_FAILED', 'first must be from 1 to 500', 'first');
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown): void => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    const columns = eventColumnsSql(personalDataScopeSql(scope, params));
    where.push(eventScopeSql(scope, params));
    if (f.signer) add('e.signer = ?', f.signer.toLowerCase());
    if (f.organization) add('(so.slug = ? OR e.custodian = $' + (params.length + 1) + ')', f.organization);
    if (f.eventType) add('e.event_type = ?', f.eventType);
    if (f.trackingNumber) add('e.tracking_number = ?', f.trackingNumber);
    if (f.carrier) add('e.carrier = ?', f.carrier);
    if (f.occurredFrom) add('e.occurred_at_ms >= ?', String(f.occurredFrom.getTime()));
    if (f.occurredTo) add('e.occurred_at_ms < ?', String(f.occurredTo.getTime()));
    if (after) {
      params.push(...decodeCursor(after, 'event', ['bigint', 'bigint'], 'custodyEvents'));
      where.push(`(e.occurred_at_ms, e.id) > ($${params.length - 1}::bigint, $${params.length}::bigint)`);
    }
    params.push(first + 1);
    const rows = await sqlRows<CustodyEventRow>(
      db,
      `SELECT ${columns} FROM ${EVENT_FROM_SQL} WHERE ${where.join(' AND ')} ORDER BY e.occurred_at_ms, e.id LIMIT $${params.length}`,
      params,
    );
    return { rows: rows.slice(0, first), hasNextPage: rows.length > first };
  }

  /** Events of many shipments in one statement, each shipment's timeline in device-clock order. */
  async forShipments(shipmentIds: string[], scope: Scope, db: DataSource = this.runtime.dataSource): Promise<Map<string, CustodyEventRow[]>> {
    const params: unknown[] = [shipmentIds];
    const rows = await sqlRows<CustodyEventRow>(
      db,
      `SELECT ${eventColumnsSql(personalDataScopeSql(scope, params))} FROM ${EVENT_FROM_SQL}
        WHERE e.shipment_id = ANY($1::uuid[]) AND ${eventScopeSql(scope, params)} ORDER BY e.shipment_id, e.occurred_at_ms, e.id`,
      params,
    );
    const by = new Map<string, CustodyEventRow[]>(shipmentIds.map((id) => [id, []]));
    for (const row of rows) by.get(row.shipment_id)!.push(row);
    return by;
  }
}
