import { createHmac, randomBytes } from 'node:crypto';

/** A new Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The `webhook-signature` header per Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
 * keyed with the base64-decoded part of each whsec_ secret, space-separated when several secrets
 * sign (the current one and, during the grace period after a rotation, the previous one).
 */
export function signatureHeader(secrets: string[], webhookId: string, timestampSeconds: number, body: string): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
      return `v1,${createHmac('sha256', key).update(`${webhookId}.${timestampSeconds}.${body}`).digest('base64')}`;
    })
    .join(' ');
}
