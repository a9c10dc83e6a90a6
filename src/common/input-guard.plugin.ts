import { HeaderMap, type ApolloServerPlugin, type GraphQLRequestContext } from '@apollo/server';
import { GraphQLError, Kind, visit, type DocumentNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';
import type { RateLimitedRequest } from '../auth/rate-limit.middleware';
import { RateLimitedError } from '../auth/rate-limiter';

/** NUL cannot be stored by PostgreSQL; a lone surrogate is not UTF-8. Neither is text anyone meant. */
const UNREPRESENTABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badText(where: string): GraphQLError {
  return new GraphQLError(`${where} contains a NUL character or an unpaired UTF-16 surrogate; send valid UTF-8 text`, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

/** How deep variables may nest: a custody-pod bundle needs about 6 levels; nothing needs 64. */
export const MAX_INPUT_DEPTH = 64;

/** Without recursion (a value nested 100,000 levels deep must not overflow the stack): depth first, with the path. */
function checkValue(root: unknown, rootPath: string): void {
  const stack: Array<{ value: unknown; path: string; depth: number }> = [{ value: root, path: rootPath, depth: 0 }];
  while (stack.length > 0) {
    const { value, path, depth } = stack.pop()!;
    if (typeof value === 'string') {
      if (UNREPRESENTABLE.test(value)) throw badText(path);
      continue;
    }
    if (!value || typeof value !== 'object') continue;
    if (depth > MAX_INPUT_DEPTH) {
      throw new GraphQLError(`${path.split(/[.[]/).slice(0, 4).join('.')}… is nested more than ${MAX_INPUT_DEPTH} levels deep; send flatter input`, { extensions: { code: 'INPUT_TOO_DEEP', http: { status: 400 } } });
    }
    if (Array.isArray(value)) value.forEach((v, i) => stack.push({ value: v, path: `${path}[${i}]`, depth: depth + 1 }));
    else for (const [k, v] of Object.entries(value)) stack.push({ value: v, path: `${path}.${k}`, depth: depth + 1 });
  }
}

/** The text checks of a request (its document's strings, its variables' strings and depth), for the WebSocket path too. */
export function checkOperationInput(document: DocumentNode, variables: Record<string, unknown>): void {
  checkDocument(document);
  checkValue(variables, 'variables');
}

function checkDocument(document: DocumentNode): void {
  visit(document, {
    StringValue(node) {
      if (UNREPRESENTABLE.test(node.value)) throw badText('a string in the query');
    },
  });
}

/**
 * The custody events an operation would record: the `events` of every recordCustodyEvents at its
 * root (aliases and fragments included), from the document or from the variables.
 */
export function eventsOf(document: DocumentNode, operation: OperationDefinitionNode, variables: Record<string, unknown>): number {
  if (operation.operation !== 'mutation') return 0;
  const fragments = new Map(document.definitions.flatMap((d) => (d.kind === Kind.FRAGMENT_DEFINITION ? [[d.name.value, d.selectionSet] as const] : [])));
  const seen = new Set<string>();
  const count = (set: SelectionSetNode): number => {
    let n = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.INLINE_FRAGMENT) n += count(sel.selectionSet);
      else if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const fragment = fragments.get(sel.name.value);
        if (fragment && !seen.has(sel.name.value)) {
          seen.add(sel.name.value);
          n += count(fragment);
        }
      } else if (sel.name.value === 'recordCustodyEvents') {
        const value = sel.arguments?.find((a) => a.name.value === 'events')?.value;
        if (value?.kind === Kind.LIST) n += value.values.length;
        else if (value?.kind === Kind.VARIABLE) {
          const given = variables[value.name.value];
          n += Array.isArray(given) ? given.length : given === undefined || given === null ? 0 : 1;
        } else if (value) n += 1; // a single object: GraphQL coerces it to a list of one
      }
    }
    return n;
  };
  return count(operation.selectionSet);
}

/** RATE_LIMITED from a plugin: Apollo takes the HTTP status and headers from the error's extensions. */
function rateLimited(err: RateLimitedError): GraphQLError {
  const headers = new HeaderMap();
  if (err.retryAfterMs !== undefined) headers.set('retry-after', String(Math.ceil(err.retryAfterMs / 1000)));
  return new GraphQLError(err.message, { originalError: err, extensions: { code: err.code, http: { status: 429, headers } } });
}

/**
 * Refuses, before any resolver runs, what no resolver can handle: text PostgreSQL cannot store
 * (in the query or its variables) and subscriptions over HTTP (they are served over WebSocket,
 * live/subscription-server.ts). Both are client errors
 * with a code, never an internal error. Then charges the custody events the operation would
 * record to the caller's event budget (RATE_LIMITED, nothing recorded, when they are over it).
 */
export const inputGuardPlugin: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didResolveOperation(ctx: GraphQLRequestContext<Record<string, unknown>>) {
        if (ctx.operation?.operation === 'subscription') {
          throw new GraphQLError('subscriptions are served over WebSocket (the graphql-ws protocol, graphql-transport-ws) at this same path, not over HTTP POST', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (ctx.document) checkOperationInput(ctx.document, ctx.request.variables ?? {});
        else checkValue(ctx.request.variables ?? {}, 'variables');
        const limit = (ctx.contextValue as { req?: RateLimitedRequest }).req?.rateLimit;
        if (limit && ctx.document && ctx.operation) {
          await limit.events(eventsOf(ctx.document, ctx.operation, ctx.request.variables ?? {})).catch((err: unknown) => {
            throw err instanceof RateLimitedError ? rateLimited(err) : err;
          });
        }
      },
    };
  },
};

