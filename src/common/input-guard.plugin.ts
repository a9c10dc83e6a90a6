import type { ApolloServerPlugin, GraphQLRequestContext } from '@apollo/server';
import { GraphQLError, Kind, visit, type DocumentNode } from 'graphql';

/** NUL cannot be stored by PostgreSQL; a lone surrogate is not UTF-8. Neither is text anyone meant. */
const UNREPRESENTABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badText(where: string): GraphQLError {
  return new GraphQLError(`${where} contains a NUL character or an unpaired UTF-16 surrogate; send valid UTF-8 text`, { extensions: { code: 'BAD_USER_INPUT', http: { status: 400 } } });
}

function checkValue(value: unknown, path: string): void {
  if (typeof value === 'string') {
    if (UNREPRESENTABLE.test(value)) throw badText(path);
  } else if (Array.isArray(value)) value.forEach((v, i) => checkValue(v, `${path}[${i}]`));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) checkValue(v, `${path}.${k}`);
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

