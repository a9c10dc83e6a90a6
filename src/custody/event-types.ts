/**
 * The custody vocabulary. `eventType` and `scanMethod` are signed strings (signing spec v1),
 * so these names are part of the protocol: add new ones, never rename.
 */
export const EVENT_TYPE_NAMES = [
  'LABEL_CREATED',
  'PICKED_UP',
  'HANDOFF',
  'ARRIVED_AT_FACILITY',
  'DEPARTED_FACILITY',
  'OUT_FOR_DELIVERY',
  'DELIVERY_ATTEMPTED',
  'DELIVERED',
  'LOCKER_DEPOSITED',
  'COLLECTED_FROM_LOCKER',
  'EXCEPTION',
  'RETURNED_TO_SENDER',
  'LOST',
  'CORRECTION',
] as const;
export type CustodyEventType = (typeof EVENT_TYPE_NAMES)[number];

export const SCAN_METHODS = ['BARCODE', 'RFID', 'NFC', 'GPS', 'MANUAL', 'OCR'] as const;
export type ScanMethod = (typeof SCAN_METHODS)[number];

/** Normalised shipment statuses, as merchants know them from AfterShip and EasyPost. */
export const SHIPMENT_STATUSES = [
  'PRE_TRANSIT',
  'IN_TRANSIT',
  'OUT_FOR_DELIVERY',
  'AVAILABLE_FOR_PICKUP',
  'DELIVERY_FAILED',
  'DELIVERED',
  'EXCEPTION',
  'RETURN_TO_SENDER',
  'LOST',
] as const;
export type ShipmentStatus = (typeof SHIPMENT_STATUSES)[number];

/** The shipment status that follows each event type; null keeps the current status. */
export const STATUS_AFTER: Record<CustodyEventType, ShipmentStatus | null> = {
  LABEL_CREATED: 'PRE_TRANSIT',
  PICKED_UP: 'IN_TRANSIT',
  HANDOFF: 'IN_TRANSIT',
  ARRIVED_AT_FACILITY: 'IN_TRANSIT',
  DEPARTED_FACILITY: 'IN_TRANSIT',
  OUT_FOR_DELIVERY: 'OUT_FOR_DELIVERY',
  DELIVERY_ATTEMPTED: 'DELIVERY_FAILED',
  DELIVERED: 'DELIVERED',
  LOCKER_DEPOSITED: 'AVAILABLE_FOR_PICKUP',
  COLLECTED_FROM_LOCKER: 'DELIVERED',
  EXCEPTION: 'EXCEPTION',
  RETURNED_TO_SENDER: 'RETURN_TO_SENDER',
  LOST: 'LOST',
  CORRECTION: null,
};
