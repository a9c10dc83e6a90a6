import { Field, ID, InputType, Int, ObjectType } from '@nestjs/graphql';

@ObjectType({ description: "An organization's webhook receiver. Its secret is shown only by createWebhookEndpoint and rotateWebhookSecret." })
export class WebhookEndpoint {
  @Field(() => ID) id: string;
  @Field({ description: 'slug of the organization whose events it receives' }) organization: string;
  @Field() url: string;
  @Field(() => [String], { description: 'shipment.event_recorded, batch.anchored' }) eventTypes: string[];
  @Field() description: string;
  @Field({ description: 'false: disabled by disableWebhookEndpoint or automatically (see disabledReason)' }) enabled: boolean;
  @Field(() => String, { nullable: true, description: 'why it was disabled (automatic: after consecutive failed attempts); null when enabled' }) disabledReason: string | null;
  @Field(() => Date, { nullable: true }) disabledAt: Date | null;
  @Field(() => Int, { description: 'failed attempts since the last success' }) consecutiveFailures: number;
  @Field(() => Date, { nullable: true, description: 'until then the previous secret signs too (after a rotation)' }) previousSecretUntil: Date | null;
  @Field() createdAt: Date;
}

@ObjectType()
export class CreatedWebhookEndpoint {
  @Field({ description: 'whsec_<base64>: shown this once (and again only by rotateWebhookSecret); verify deliveries with it' }) secret: string;
  @Field(() => WebhookEndpoint) endpoint: WebhookEndpoint;
}

@InputType()
export class CreateWebhookEndpointInput {
  @Field({ description: 'https:// URL of the receiver (http:// and private addresses only outside production or for WEBHOOK_ALLOWED_HOSTS)' }) url: string;
  @Field(() => [String], { description: 'event types to receive: shipment.event_recorded, batch.anchored' }) eventTypes: string[];
  @Field(() => String, { nullable: true }) description?: string | null;
  @Field(() => String, { nullable: true, description: "organization slug; only the platform admin may name one other than the key's own" }) organization?: string | null;
}

@ObjectType({ description: 'One HTTP attempt of a delivery.' })
export class WebhookAttempt {
  @Field(() => Int) attempt: number;
  @Field() attemptedAt: Date;
  @Field(() => Int, { nullable: true, description: "the receiver's HTTP status; null when no answer came (see error)" }) httpStatus: number | null;
  @Field(() => String, { nullable: true, description: 'network error, timeout or refused address; never a secret' }) error: string | null;
  @Field(() => Int) durationMs: number;
}

@ObjectType({ description: 'One message to one endpoint, with every attempt.' })
export class WebhookDelivery {
  @Field(() => ID) id: string;
  @Field({ description: 'the webhook-id header: the same on every attempt and on replays' }) webhookId: string;
  @Field() eventType: string;
  @Field({ description: 'PENDING, DELIVERED or FAILED (given up)' }) status: string;
  @Field() createdAt: Date;
  @Field(() => Date, { nullable: true }) finishedAt: Date | null;
  @Field({ description: 'the JSON body as sent' }) payload: string;
  @Field(() => [WebhookAttempt]) attempts: WebhookAttempt[];
}
