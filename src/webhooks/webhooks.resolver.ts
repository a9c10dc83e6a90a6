import { Args, ID, Int, Mutation, Query, Resolver } from '@nestjs/graphql';
import { Caller, Roles } from '../auth/decorators';
import type { Principal } from '../auth/principal';
import { CreatedWebhookEndpoint, CreateWebhookEndpointInput, WebhookDelivery, WebhookEndpoint } from './webhook.models';
import { WebhooksService } from './webhooks.service';

/** Who may change endpoints and replay deliveries; every key of the organization reads them and the delivery log. */
const MANAGERS = ' Takes the platform admin or a key of the organization with manageKeys.';

/**
 * Webhook endpoints of the caller's organization (the platform admin: any organization's). Its keys
 * read them; only keys with manageKeys (and the admin) change them (WebhooksService, mustManage).
 */
@Resolver(() => WebhookEndpoint)
export class WebhooksResolver {
  constructor(private readonly webhooks: WebhooksService) {}

  @Mutation(() => CreatedWebhookEndpoint, { description: 'Registers a receiver; the answer holds its whsec_ secret, shown this once.' + MANAGERS })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async createWebhookEndpoint(@Args('input') input: CreateWebhookEndpointInput, @Caller() caller: Principal): Promise<CreatedWebhookEndpoint> {
    return this.webhooks.create(input, caller);
  }

  @Query(() => [WebhookEndpoint], { description: "The caller's organization's endpoints (the platform admin: all), never a secret." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async webhookEndpoints(@Caller() caller: Principal): Promise<WebhookEndpoint[]> {
    return this.webhooks.list(caller);
  }

  @Mutation(() => CreatedWebhookEndpoint, { description: 'A new secret, shown this once; the previous one keeps signing too (a second v1 signature) for WEBHOOK_SECRET_GRACE_MS.' + MANAGERS })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async rotateWebhookSecret(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<CreatedWebhookEndpoint> {
    return this.webhooks.rotateSecret(id, caller);
  }

  @Mutation(() => WebhookEndpoint, { description: 'Stops deliveries; they wait (PENDING) until the endpoint is enabled again.' + MANAGERS })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async disableWebhookEndpoint(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<WebhookEndpoint> {
    return this.webhooks.setEnabled(id, false, caller);
  }

  @Mutation(() => WebhookEndpoint, { description: 'Resumes deliveries (also after an automatic disable); the waiting ones go out, oldest of each shipment first.' + MANAGERS })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async enableWebhookEndpoint(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<WebhookEndpoint> {
    return this.webhooks.setEnabled(id, true, caller);
  }

  @Mutation(() => Boolean, { description: 'Deletes the endpoint with its pending deliveries and its delivery log.' + MANAGERS })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async deleteWebhookEndpoint(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<boolean> {
    return this.webhooks.delete(id, caller);
  }

  @Query(() => [WebhookDelivery], { description: "An endpoint's deliveries, newest first, each with its attempts." })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async webhookDeliveries(
    @Args('endpointId', { type: () => ID }) endpointId: string,
    @Caller() caller: Principal,
    @Args('first', { type: () => Int, nullable: true, defaultValue: 50, description: 'at most this many (1-500)' }) first: number | null,
  ): Promise<WebhookDelivery[]> {
    return this.webhooks.deliveries(endpointId, caller, Math.min(Math.max(first ?? 50, 1), 500));
  }

  @Mutation(() => WebhookDelivery, { description: 'Sends a delivery again with the same webhook-id and a fresh signature (a new retry window).' + MANAGERS })
  @Roles('ADMIN', 'CARRIER', 'MERCHANT')
  async replayWebhookDelivery(@Args('id', { type: () => ID }) id: string, @Caller() caller: Principal): Promise<WebhookDelivery> {
    return this.webhooks.replay(id, caller);
  }
}
