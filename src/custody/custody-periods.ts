import type { CustodyEventRow } from './custody-event.row';

export interface CustodyPeriodData {
  custodian: string;
  from: Date;
  to: Date | null;
  fromEventId: string;
  toEventId: string | null;
}

/**
 * Custody periods from a timeline in occurredAt order: a new period starts whenever an
 * uncorrected event names another custodian. Corrections and corrected events are skipped, as
 * in the custody state; a terminal event closes the last period.
 */
export function custodyPeriods(timeline: readonly CustodyEventRow[]): CustodyPeriodData[] {
  const periods: CustodyPeriodData[] = [];
  for (const e of timeline) {
    if (e.corrected_by || e.event_type === 'CORRECTION') continue;
    const at = new Date(Number(e.occurred_at_ms));
    const open = periods[periods.length - 1];
    if (!open || open.custodian !== e.custodian || open.to !== null) {
      if (open && open.to === null) {
        open.to = at;
        open.toEventId = e.event_id;
      }
      if (!open || open.custodian !== e.custodian || open.to !== null) periods.push({ custodian: e.custodian, from: at, to: null, fromEventId: e.event_id, toEventId: null });
    }
    if (['DELIVERED', 'COLLECTED_FROM_LOCKER', 'LOST'].includes(e.event_type)) {
      const last = periods[periods.length - 1];
      last.to = at;
      last.toEventId = e.event_id;
      break;
    }
  }
  return periods;
}
