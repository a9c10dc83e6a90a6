/** An event's status follows its batch; it is derived in SQL, never stored twice. */
export const CUSTODY_EVENT_STATUSES = ['PENDING', 'BATCHED', 'ANCHORED', 'FINAL'] as const;
export type CustodyEventStatus = (typeof CUSTODY_EVENT_STATUSES)[number];

/** Needs `custody_events e LEFT JOIN anchor_batches b ON b.seq = e.batch_seq`. */
export const EVENT_STATUS_SQL = `CASE WHEN e.batch_seq IS NULL THEN 'PENDING' WHEN b.status IN ('SEALED','SUBMITTED') THEN 'BATCHED' ELSE b.status END`;

export const EVENT_COLUMNS_SQL = `e.id, e.event_id, e.shipment_id, e.tracking_number, e.carrier, e.event_type, e.custodian, e.occurred_at_ms, e.lat_e6, e.lon_e6,
  e.accuracy_m, e.location_code, e.scan_method, e.evidence_hash, e.data_hash, e.signature, e.counter_signature, e.signer,
  e.counter_signer, e.digest, e.signatures_hash, e.previous_leaf, e.leaf, e.batch_seq, e.received_at, ${EVENT_STATUS_SQL} AS status`;

export interface CustodyEventRow {
  id: string;
  event_id: string;
  shipment_id: string;
  tracking_number: string;
  carrier: string;
  event_type: string;
  custodian: string;
  occurred_at_ms: string;
  lat_e6: number;
  lon_e6: number;
  accuracy_m: string;
  location_code: string;
  scan_method: string;
  evidence_hash: string;
  data_hash: string;
  signature: string;
  counter_signature: string | null;
  signer: string;
  counter_signer: string | null;
  digest: string;
  signatures_hash: string;
  previous_leaf: string;
  leaf: string;
  batch_seq: string | null;
  received_at: Date;
  status: CustodyEventStatus;
}
