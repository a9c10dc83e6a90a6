/** An event's status follows its batch; it is derived in SQL, never stored twice. */
export const CUSTODY_EVENT_STATUSES = ['PENDING', 'BATCHED', 'ANCHORED', 'FINAL'] as const;
export type CustodyEventStatus = (typeof CUSTODY_EVENT_STATUSES)[number];

/** Needs `custody_events e LEFT JOIN anchor_batches b ON b.seq = e.batch_seq`. */
export const EVENT_STATUS_SQL = `CASE WHEN e.batch_seq IS NULL THEN 'PENDING' WHEN b.status IN ('SEALED','SUBMITTED') THEN 'BATCHED' ELSE b.status END`;

/**
 * The columns of an event as the API shows it. `personalVisible` is a SQL condition (from
 * personalDataScopeSql) under which personal values appear; otherwise only commitments do.
 */
export const eventColumnsSql = (personalVisible: string): string => `e.id, e.event_id, e.shipment_id, e.tracking_number, e.carrier, e.event_type, e.custodian, e.occurred_at_ms, e.lat_e6, e.lon_e6,
  e.accuracy_m, e.location_code, e.scan_method, e.evidence_hash, e.data_hash, e.signature, e.counter_signature, e.signer,
  e.counter_signer, e.digest, e.signatures_hash, e.previous_leaf, e.leaf, e.batch_seq, e.received_at, ${EVENT_STATUS_SQL} AS status,
  e.flags, e.dual_attested, e.consent, e.delegation_id, e.corrects_event_id, e.correction_reason, so.slug AS signer_organization,
  (SELECT c.event_id FROM custody_events c WHERE c.corrects_event_id = e.event_id) AS corrected_by,
  ev.content_type AS evidence_content_type, ev.size_bytes AS evidence_size_bytes, d.document AS extra_data,
  (SELECT json_agg(json_build_object('path', p.path, 'commitment', p.commitment, 'value', CASE WHEN ${personalVisible} THEN p.value END, 'erasedAt', p.erased_at) ORDER BY p.path)
     FROM personal_data p WHERE p.event_id = e.event_id) AS personal_data`;

/** The FROM clause eventColumnsSql needs; `s` is the event's shipment, for scope predicates. */
export const EVENT_FROM_SQL = `custody_events e JOIN shipments s ON s.id = e.shipment_id LEFT JOIN anchor_batches b ON b.seq = e.batch_seq
  JOIN organizations so ON so.id = e.signer_organization_id
  LEFT JOIN event_evidence ev ON ev.event_id = e.event_id LEFT JOIN event_data d ON d.event_id = e.event_id`;

export interface CustodyEventRow {
  id: string;
  event_id: string;
  shipment_id: string;
  tracking_number: string;
  carrier: string;
  event_type: string;
  consent: string | null;
  delegation_id: string | null;
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
  flags: string[];
  dual_attested: boolean;
  corrects_event_id: string | null;
  correction_reason: string | null;
  signer_organization: string;
  corrected_by: string | null;
  evidence_content_type: string | null;
  evidence_size_bytes: string | null;
  extra_data: string | null;
  personal_data: Array<{ path: string; commitment: string; value: string | null; erasedAt: string | null }> | null;
}
