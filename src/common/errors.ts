/**
 * One domain error type for everything a caller can cause. The code is stable API (clients
 * branch on it); the message says what to fix. Mapped to GraphQL errors in one place
 * (graphql-errors.ts) and reused verbatim for per-event rejections in receipts.
 */
export const ERROR_CODES = {
  UNAUTHENTICATED: 'send `Authorization: Bearer <api key>`',
  FORBIDDEN: 'the key is valid but may not do this',
  RATE_LIMITED: 'too many requests for this key; slow down',
  TOO_MANY_SUBSCRIPTIONS: 'the WebSocket connection holds as many subscriptions as allowed (SUBSCRIPTIONS_PER_CONNECTION): complete one, or open another connection',
  TOO_MANY_CONNECTIONS: 'the API key (WS_CONNECTIONS_PER_KEY) or its organization (WS_CONNECTIONS_PER_ORGANIZATION) holds as many WebSocket connections as allowed: close one, or run several subscriptions on one connection',
  SIGNER_OF_OTHER_ORGANIZATION: 'the event is signed by a key of another organization than the caller',
  VALIDATION_FAILED: 'an argument is malformed',
  NOT_FOUND: 'no such object',
  ALREADY_EXISTS: 'the object exists already',
  TOO_MANY_EVENTS: 'too many events in one call',
  KEY_ALREADY_REVOKED: 'the signing key is revoked already',
  REVOCATION_BEFORE_USE: 'revokedAt is not after the last event the key signed, or the last transfer under a delegation it signed: a revocation cannot void accepted events',
  NO_CARRIER_CONTRACT: 'the merchant has no active contract with the carrier: the carrier (or the platform admin) registers it with registerCarrierContract',
  TRACKING_NUMBER_UNAVAILABLE: 'this tracking number cannot be used for a new shipment of this carrier: use the number the carrier issued for the parcel',
  SHARE_LINK_NOT_FOUND: 'no tracking page for this link: it was never issued, was revoked or has expired; ask the sender for a new link',
  INVALID_DISPLAY_NAME: 'displayName must be 1-80 characters of printable text',
  INVALID_COLOR: 'a colour must be #rrggbb (six hex digits)',
  INVALID_LOGO_URL: 'logoUrl must be an https:// URL or a data:image/png, image/svg+xml or image/jpeg base64 URL of at most 64 KB',
  ORGANIZATION_SUSPENDED: 'the organization is suspended: its API keys do not work until the platform admin reinstates it',
  INVALID_PERIOD: 'the period is empty or reversed: `to` must be after `from`',
  INVALID_WEBHOOK_URL: 'url must be an absolute http(s) URL without user name or password, at most 2048 characters',
  UNKNOWN_WEBHOOK_EVENT_TYPE: 'eventTypes must name one or more of shipment.event_recorded, batch.anchored',
  WEBHOOK_URL_REFUSED: 'in production a webhook URL must be https:// and its host must not be or resolve to a loopback, private, link-local, CGNAT or unique-local address (unless listed in WEBHOOK_ALLOWED_HOSTS)',
  PERIOD_TOO_LONG: 'the period spans more than 366 days: ask for a year or less at a time',
  // per-event rejections of recordCustodyEvents
  INVALID_FIELD: 'a signed field is malformed',
  INVALID_SIGNATURE: 'the signature is malformed or cannot be recovered',
  UNKNOWN_SIGNER: 'the signature recovers to an address that is not a registered signing key',
  SIGNER_REVOKED: 'the signing key was revoked before the event occurred',
  SIGNER_NOT_YET_VALID: 'the event occurred before the signing key became valid',
  SIGNER_NOT_AUTHORIZED: 'custody continuity: the signing key belongs to an organization that may not sign this event now',
  INVALID_COUNTER_SIGNATURE: 'the counter-signature is malformed, unknown or not valid at the event time',
  TRANSFER_NOT_CONSENTED: 'custody transfer without the consent of the releasing custodian: neither its signature, its counter-signature nor a delegation covering the shipment and time',
  INVALID_DELEGATION: 'the delegation is malformed, or its signature is not by a valid key of the delegating organization',
  DELEGATION_ALREADY_REVOKED: 'the delegation is revoked already',
  UNKNOWN_CARRIER: 'no carrier organization has this slug',
  UNKNOWN_CUSTODIAN: 'no organization has this custodian slug',
  UNKNOWN_SHIPMENT: 'the carrier has no shipment with this tracking number',
  CUSTODY_NOT_ESTABLISHED: 'the shipment has no custody yet; its first event must be LABEL_CREATED or PICKED_UP',
  CUSTODIAN_MISMATCH: 'the custodian named by the event does not fit the custody rules',
  INVALID_TRANSITION: 'the event type is not possible in the shipment\'s current state',
  AFTER_TERMINAL_STATE: 'the shipment reached a terminal state; only CORRECTION or EXCEPTION are accepted',
  INVALID_CORRECTION: 'the CORRECTION does not reference a correctable event of this shipment',
  DATA_HASH_MISMATCH: 'extraData is not canonical JSON whose keccak256 is dataHash',
  INVALID_EXTRA_DATA: 'extraData does not follow the extra-data format',
  EVIDENCE_MISMATCH: 'evidence metadata does not match evidenceHash',
  PERSONAL_DATA_MISMATCH: 'a personal value and salt do not open the commitment in extraData',
  EVENT_ID_CONFLICT: 'the event id was used before for different content',
  OCCURRED_IN_FUTURE: 'occurredAt is further in the future than the allowed clock skew',
  CHAIN_UNAVAILABLE: 'the anchor chain cannot be reached right now',
  DATABASE_BUSY: 'the database did not answer in time (a lock held elsewhere, or a long statement); nothing was written: retry',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class LedgerError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'LedgerError';
  }
}
