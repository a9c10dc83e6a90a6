import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';

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

function checkDocument(document: DocumentNode): void {
  visit(document, {
    StringValue(node) {
      if (UNREPRESENTABLE.test(node.value)) throw badText('a string in the query');
    },
  });
}

/**
 * Refuses, before any resolver runs, what no resolver can handle: text PostgreSQL cannot store
 * (in the query or its variables) and subscriptions (this API has none). Both are client errors
 * with a code, never an internal error.
 */
export const inputGuardPlugin: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didResolveOperation(ctx: GraphQLRequestContext<Record<string, unknown>>) {
        if (ctx.operation?.operation === 'subscription') {
          throw new GraphQLError('this API has no subscriptions; use queries (poll) instead', { extensions: { code: 'BAD_REQUEST', http: { status: 400 } } });
        }
        if (ctx.document) checkDocument(ctx.document);
        checkValue(ctx.request.variables ?? {}, 'variables');
      },
    };
  },
};

