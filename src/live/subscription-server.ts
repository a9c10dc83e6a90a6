import { addressKey } from '../auth/rate-limit.middleware';
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { GraphQLError, getOperationAST, parse, specifiedRules, validate, type DocumentNode, type ExecutionArgs, type GraphQLSchema } from 'graphql';
import type { Disposable } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ApiKeysService } from '../auth/api-keys.service';
import type { Principal } from '../auth/principal';
import { RateLimitedError, type RateLimits } from '../auth/rate-limiter';
import { LedgerError, type ErrorCode } from '../common/errors';
import { graphQLErrorFormatter } from '../common/graphql-errors';
import { checkOperationInput } from '../common/input-guard.plugin';
import { documentTooLarge, queryLimitsRule } from '../common/query-limits';
import type { AppConfig } from '../config/config';
import type { LiveUpdatesService } from './live-updates.service';

/** WebSocket close codes (4000-4999 are the application's; graphql-ws' client treats these as final, without retrying). */
export const CLOSE_UNAUTHENTICATED = 4401;
export const CLOSE_SUSPENDED = 4403;
export const CLOSE_TOO_MANY_CONNECTIONS = 4429;
/** How long shutdown waits for clients to answer the 1001 close frame before cutting them. */
const CLOSE_GRACE_MS = 1_000;

/** What one connection carries between graphql-ws' callbacks. */
interface ConnectionState {
  token: string;
  who: string;
  subscriptions: Set<string>;
}
type Extra = { socket: WebSocket; request: IncomingMessage; state?: ConnectionState };

const bearer = (params: Readonly<Record<string, unknown>> | undefined): string | undefined => {
  const value = params?.authorization ?? params?.Authorization;
  return typeof value === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1] : undefined;
};

/** A refusal as the one error formatter maps it: domain codes through LedgerError, GraphQL's request codes as they are. */
const failure = (code: ErrorCode | 'QUERY_TOO_LARGE' | 'BAD_REQUEST' | 'GRAPHQL_PARSE_FAILED', message: string): GraphQLError =>
  new GraphQLError(message, { originalError: code === 'QUERY_TOO_LARGE' || code === 'BAD_REQUEST' || code === 'GRAPHQL_PARSE_FAILED' ? undefined : new LedgerError(code, message), extensions: { code } });

export interface SubscriptionServerParts {
  config: AppConfig;
  schema: GraphQLSchema;
  keys: ApiKeysService;
  limits: RateLimits;
  live: LiveUpdatesService;
}

/**
 * GraphQL subscriptions over graphql-ws on the HTTP server's `/graphql` (the WebSocket upgrade
 * never passes Express, so the HTTP middleware does not see it; the same checks run here):
 * - the handshake: one token of the client address' request budget (HTTP 429 when over);
 * - connecting: the API key from `connectionParams.authorization` ("Bearer <key>"), authenticated
 *   by the API key service (unknown or revoked: close 4401; suspended organization: 4403), one
 *   token of the key's request budget, and at most WS_CONNECTIONS_PER_KEY connections per key
 *   and WS_CONNECTIONS_PER_ORGANIZATION per organization (over all its keys; the platform's keys
 *   have none) on this replica (4429);
 * - each subscription start: the key authenticated again, one request token (RATE_LIMITED), at
 *   most SUBSCRIPTIONS_PER_CONNECTION open (TOO_MANY_SUBSCRIPTIONS), the document's size and
 *   tokens (QUERY_TOO_LARGE), GraphQL's validation with the depth/alias/cost rule, the input
 *   checks, and subscriptions only (queries and mutations go over HTTP);
 * - then the resolver, behind the same guard (roles) as every operation;
 * - before each update is sent: the key once more (revoked: close 4401; suspended: 4403).
 * Closing disposes the server: every socket is closed with 1001 (going away).
 */
export function startSubscriptionServer(httpServer: Server, parts: SubscriptionServerParts): { close(): Promise<void> } {
  const { config, schema, keys, limits, live } = parts;
  const format = graphQLErrorFormatter(config.production);
  const wss = new WebSocketServer({ noServer: true, maxPayload: config.maxBodyBytes });
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/graphql') {
      socket.destroy();
      return;
    }
    // the HTTP rate limit never sees an upgrade: every WebSocket handshake takes one token of its
    // address' budget here (the key is known only after the handshake, and is charged then); the
    // TCP peer's address, IPv6 by its /64: X-Forwarded-For is not read on an upgrade
    limits.request(`ip:${addressKey(req.socket.remoteAddress ?? 'unknown')}`).then(
      (wait) => {
        if (wait === 0) wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
        else {
          socket.end(`HTTP/1.1 429 Too Many Requests\r\nRetry-After: ${Math.ceil(wait / 1000)}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        }
      },
      () => socket.destroy(),
    );
  };
  httpServer.on('upgrade', onUpgrade);

  /** The key again (a revocation or suspension since connecting takes effect at the next start). */
  const authenticate = async (token: string): Promise<Principal | GraphQLError> => {
    try {
      return (await keys.authenticate(token)) ?? failure('UNAUTHENTICATED', 'the API key is not valid (unknown or revoked)');
    } catch (err) {
      if (err instanceof LedgerError) return failure(err.code, err.message);
      throw err;
    }
  };

  const disposable: Disposable = useServer<Record<string, unknown>, Extra>(
    {
      schema,
      // an unexpected failure closes the socket with 4500 and this generic reason, never the error's text
      isProd: true,
      onConnect: async (ctx) => {
        const socket = ctx.extra.socket;
        const token = bearer(ctx.connectionParams);
        if (!token) {
          socket.close(CLOSE_UNAUTHENTICATED, 'UNAUTHENTICATED: send connectionParams { authorization: "Bearer <api key>" }');
          return false;
        }
        const principal = await keys.authenticate(token).catch((err: unknown) => {
          if (err instanceof LedgerError && err.code === 'ORGANIZATION_SUSPENDED') {
            socket.close(CLOSE_SUSPENDED, 'ORGANIZATION_SUSPENDED: the organization of this API key is suspended');
            return false as const;
          }
          throw err;
        });
        if (principal === false) return false;
        if (!principal) {
          socket.close(CLOSE_UNAUTHENTICATED, 'UNAUTHENTICATED: the API key is not valid (unknown or revoked)');
          return false;
        }
        const who = principal.keyId ? `key:${principal.keyId}` : 'key:bootstrap-admin';
        const wait = await limits.request(who);
        if (wait > 0) {
          socket.close(CLOSE_TOO_MANY_CONNECTIONS, `RATE_LIMITED: too many requests for this API key; retry in ${Math.ceil(wait / 1000)} s`);
          return false;
        }
        // the client may have gone while its key and budget were checked: its close has been seen
        // already, so a slot counted now would never be given back
        if (socket.readyState !== socket.OPEN) return false;
        const release = live.openConnection(principal.keyId ?? 'bootstrap-admin', principal.organizationId, { perKey: config.wsConnectionsPerKey, perOrganization: config.wsConnectionsPerOrganization });
        if (release === 'KEY') {
          socket.close(CLOSE_TOO_MANY_CONNECTIONS, `TOO_MANY_CONNECTIONS: at most ${config.wsConnectionsPerKey} WebSocket connections per API key (WS_CONNECTIONS_PER_KEY)`);
          return false;
        }
        if (release === 'ORGANIZATION') {
          // a close reason is at most 123 bytes (ws throws beyond, and the client gets 4500): this one is 121 with 10000
          socket.close(CLOSE_TOO_MANY_CONNECTIONS, `TOO_MANY_CONNECTIONS: at most ${config.wsConnectionsPerOrganization} connections per organization, over all its API keys (WS_CONNECTIONS_PER_ORGANIZATION)`);
          return false;
        }
        socket.once('close', release);
        ctx.extra.state = { token, who, subscriptions: new Set() };
        return true;
      },
      onSubscribe: async (ctx, id, payload): Promise<ExecutionArgs | readonly GraphQLError[]> => {
        const state = ctx.extra.state!;
        const principal = await authenticate(state.token);
        if (principal instanceof GraphQLError) return [principal];
        const wait = await limits.request(state.who);
        if (wait > 0) {
          const limited = new RateLimitedError(`too many requests (${limits.requestsPerMinute} a minute for this API key); retry in ${Math.ceil(wait / 1000)} s`, wait);
          return [new GraphQLError(limited.message, { originalError: limited, extensions: { code: limited.code } })];
        }
        if (state.subscriptions.size >= config.subscriptionsPerConnection) {
          return [failure('TOO_MANY_SUBSCRIPTIONS', `this connection holds ${state.subscriptions.size} subscriptions, the most allowed (SUBSCRIPTIONS_PER_CONNECTION); complete one or open another connection`)];
        }
        const tooLarge = documentTooLarge(payload.query, { maxBytes: config.maxQueryBytes, maxTokens: config.maxQueryTokens });
        if (tooLarge) return [failure('QUERY_TOO_LARGE', tooLarge)];
        let document: DocumentNode;
        try {
          document = parse(payload.query, { maxTokens: config.maxQueryTokens });
        } catch (err) {
          return [failure('GRAPHQL_PARSE_FAILED', (err as Error).message)];
        }
        const invalid = validate(schema, document, [...specifiedRules, queryLimitsRule()]);
        if (invalid.length > 0) return invalid.map((e) => (e.extensions.code ? e : new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } })));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) return [failure('BAD_REQUEST', 'name the operation to run (operationName): the document has none or several')];
        if (operation.operation !== 'subscription') return [failure('BAD_REQUEST', `over WebSocket this API serves subscriptions only; send ${operation.operation === 'query' ? 'queries' : 'mutations'} over HTTP POST /graphql`)];
        const variables = payload.variables ?? {};
        try {
          checkOperationInput(document, variables);
        } catch (err) {
          if (err instanceof GraphQLError) return [err];
          throw err;
        }
        state.subscriptions.add(id);
        // the guard finds the authenticated key on the request, as on HTTP
        return { schema, document, operationName: payload.operationName, variableValues: variables, contextValue: { req: { headers: {}, principal } } };
      },
      onNext: async (ctx, _id, _payload, _args, result) => {
        // before every delivery: a key revoked (or an organization suspended) since the start ends
        // its connections at the next update (the key's row is cached at most API_KEY_CACHE_MS)
        const state = ctx.extra.state;
        const principal = state ? await authenticate(state.token) : null;
        if (principal instanceof GraphQLError) {
          const suspended = principal.extensions.code === 'ORGANIZATION_SUSPENDED';
          ctx.extra.socket.close(suspended ? CLOSE_SUSPENDED : CLOSE_UNAUTHENTICATED, suspended ? 'ORGANIZATION_SUSPENDED: the organization of this API key is suspended' : 'UNAUTHENTICATED: the API key is not valid any more (revoked)');
          // nothing more goes out on a closing socket (graphql-ws sends only on an open one), and
          // the close ends every subscription of the connection; a revocation is no internal error
          return undefined;
        }
        return result.errors ? { ...result, errors: result.errors.map((e) => format(e.toJSON(), e)) } : undefined;
      },
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => format(e.toJSON(), e)),
      onComplete: (ctx, id) => {
        ctx.extra.state?.subscriptions.delete(id);
      },
    },
    wss,
  );

  let closing: Promise<void> | undefined;
  return {
    // once: graceful shutdown closes the subscriptions before draining HTTP, and close() again after
    close: () => (closing ??= closeAll()),
  };

  async function closeAll(): Promise<void> {
    httpServer.off('upgrade', onUpgrade);
    const sockets = [...wss.clients];
    const closed = Promise.all(sockets.map((ws) => (ws.readyState === ws.CLOSED ? undefined : new Promise((resolve) => ws.once('close', resolve)))));
    // 1001 to every client; resolves once every connection has closed
    const disposed = disposable.dispose();
    // a client that does not answer the close frame is cut after CLOSE_GRACE_MS (ws would wait 30 s)
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([closed, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS)))]);
    clearTimeout(timer);
    for (const ws of sockets) if (ws.readyState !== ws.CLOSED) ws.terminate();
    await disposed;
  }
}

