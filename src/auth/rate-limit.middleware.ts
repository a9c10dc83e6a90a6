import type { IncomingMessage, ServerResponse } from 'node:http';
import ipaddr from 'ipaddr.js';
import { sendError } from '../common/http-errors';
import type { ApiKeysService } from './api-keys.service';
import type { AuthedRequest } from './decorators';
import type { RateLimits } from './rate-limiter';

/** What the middleware leaves on the request for later stages (the event budget of recordCustodyEvents). */
export interface RateLimitedRequest extends AuthedRequest {
  rateLimit?: { who: string; events(count: number): Promise<void> };
}

/** Express' request as far as used here (express 5 ships no types, and this project has none). */
type HttpRequest = IncomingMessage & RateLimitedRequest;
export type Middleware = (req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void) => void;

/** The caller's identity for its budgets: its API key when the key is valid, else its address. */
async function identify(req: HttpRequest, keys: ApiKeysService): Promise<string> {
  const header = req.headers.authorization;
  const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
  if (token) {
    // the guard would authenticate the key anyway: done here once, and the guard reuses it.
    // A key that does not authenticate (unknown, revoked, suspended, or the database failing)
    // counts under the address, so made-up keys cannot open fresh budgets; the guard then
    // authenticates again and answers with the precise error.
    const principal = await keys.authenticate(token).catch(() => null);
    if (principal) {
      req.principal = principal;
      return principal.keyId ? `key:${principal.keyId}` : 'key:bootstrap-admin';
    }
  }
  // the client's address: Express' req.ip, which is the socket's unless TRUST_PROXY names the proxy it came through
  return `ip:${addressKey(req.ip ?? req.socket.remoteAddress ?? 'unknown')}`;
}

/**
 * The budget an address counts under: an IPv4 address (IPv4-mapped IPv6 included) itself, an IPv6
 * address its /64, the smallest network a subscriber is given; counting each IPv6 address on its
 * own would hand one visitor 2^64 budgets.
 */
export function addressKey(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const parsed = ipaddr.process(address);
  if (parsed.kind() === 'ipv4') return parsed.toString();
  const parts = (parsed as ipaddr.IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

/**
 * Every HTTP request, before its body is read and before GraphQL parses or validates anything:
 * one token of the caller's request budget, or HTTP 429 RATE_LIMITED with Retry-After. So a flood
 * of queries that fail validation is limited like any other.
 */
export function rateLimitMiddleware(limits: RateLimits, keys: ApiKeysService): Middleware {
  return (req, res, next) => {
    const run = async (): Promise<void> => {
      const request = req as HttpRequest;
      const who = await identify(request, keys);
      request.rateLimit = { who, events: (count) => limits.events(who, count) };
      const wait = await limits.request(who);
      if (wait === 0) return next();
      res.setHeader('Retry-After', String(Math.ceil(wait / 1000)));
      const whose = who.startsWith('ip:') ? 'this address without a valid API key' : 'this API key';
      sendError(res, 429, 'RATE_LIMITED', `too many requests (${limits.requestsPerMinute} a minute for ${whose}); retry in ${Math.ceil(wait / 1000)} s`, { retryAfterMs: wait });
    };
    run().catch(next);
  };
}
