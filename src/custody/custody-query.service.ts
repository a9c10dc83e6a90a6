import { Inject, Injectable } from '@nestjs/common';
import { LedgerError } from '../common/errors';
import { RUNTIME, type Runtime } from '../common/runtime';
import { sqlRows } from '../database/data-source';
import { EVENT_COLUMNS_SQL, type CustodyEventRow } from './custody-event.row';

@Injectable()
export class CustodyQueryService {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  async byEventId(eventId: string): Promise<CustodyEventRow> {
    const id = eventId.toLowerCase();
    const [row] = /^0x[0-9a-f]{64}$/.test(id)
      ? await sqlRows<CustodyEventRow>(this.runtime.dataSource, `SELECT ${EVENT_COLUMNS_SQL} FROM custody_events e LEFT JOIN anchor_batches b ON b.seq = e.batch_seq WHERE e.event_id = $1`, [id])
      : [];
    if (!row) throw new LedgerError('NOT_FOUND', `no custody event ${eventId}`, 'eventId');
    return row;
  }

  /** Events of many shipments in one statement, each shipment's timeline in device-clock order. */
  async forShipments(shipmentIds: string[]): Promise<Map<string, CustodyEventRow[]>> {
    const rows = await sqlRows<CustodyEventRow>(
      this.runtime.dataSource,
      `SELECT ${EVENT_COLUMNS_SQL} FROM custody_events e LEFT JOIN anchor_batches b ON b.seq = e.batch_seq
        WHERE e.shipment_id = ANY($1::uuid[]) ORDER BY e.shipment_id, e.occurred_at_ms, e.id`,
      [shipmentIds],
    );
    const by = new Map<string, CustodyEventRow[]>(shipmentIds.map((id) => [id, []]));
    for (const row of rows) by.get(row.shipment_id)!.push(row);
    return by;
  }
}
