/** The event types an endpoint can subscribe to (README "Webhooks"). */
export const WEBHOOK_EVENT_TYPES = ['shipment.event_recorded', 'batch.anchored'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
