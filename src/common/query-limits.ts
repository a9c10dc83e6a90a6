import type { ServerResponse } from 'node:http';
import { GraphQLError, Kind, Lexer, Source, TokenKind, type ASTVisitor, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';
import { sendError } from './http-errors';

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  /** every field costs 1, multiplied by the page size (`first`, default 50) of the lists around it */
  maxCost: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxDepth: 12, maxAliases: 30, maxCost: 100_000 };
const DEFAULT_PAGE = 50;
/** Fields that return lists of unbounded length without a `first` argument. */
const UNPAGED_LISTS = new Set(['events', 'signingKeys', 'incidents', 'contracts', 'delegations']);

/**
 * One validation rule for depth, aliases and cost, run before any resolver: a deep, wide or
 * alias-flooded query is refused with a code, not executed. Fragments are expanded (and a
 * fragment cycle is GraphQL's own validation error).
 */
interface Stats {
  depth: number;
  aliases: number;
  cost: number;
}

export function queryLimitsRule(limits: QueryLimits = DEFAULT_QUERY_LIMITS) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    // each fragment is measured once (depth below it, aliases, cost per unit of page size) and
    // reused: spreading a fragment twice per level must not double the work (exponential blow-up)
    const measured = new Map<string, Stats>();
    const measuring = new Set<string>();

    const fragmentStats = (name: string): Stats => {
      const known = measured.get(name);
      if (known) return known;
      const fragment = fragments.get(name);
      // unknown fragments and cycles are GraphQL's own validation errors; count them as nothing
      if (!fragment || measuring.has(name)) return { depth: 0, aliases: 0, cost: 0 };
      measuring.add(name);
      const stats = measure(fragment.selectionSet);
      measuring.delete(name);
      measured.set(name, stats);
      return stats;
    };

    /** Stats of a selection set relative to its position: depth below it, cost at page size 1. */
    const measure = (set: SelectionSetNode): Stats => {
      const total: Stats = { depth: 0, aliases: 0, cost: 0 };
      for (const sel of set.selections) {
        let inner: Stats;
        if (sel.kind === Kind.FIELD) {
          const below = sel.selectionSet ? measure(sel.selectionSet) : { depth: 0, aliases: 0, cost: 0 };
          inner = { depth: below.depth + 1, aliases: below.aliases + (sel.alias ? 1 : 0), cost: 1 + pageSize(sel) * below.cost };
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          inner = measure(sel.selectionSet);
        } else {
          inner = fragmentStats(sel.name.value);
        }
        total.depth = Math.max(total.depth, inner.depth);
        total.aliases += inner.aliases;
        total.cost += inner.cost;
      }
      return total;
    };

    let reported = false;
    return {
      OperationDefinition(node) {
        if (reported) return;
        const stats = measure(node.selectionSet);
        const fail = (code: string, message: string): void => {
          reported = true;
          context.reportError(new GraphQLError(message, { extensions: { code } }));
        };
        if (stats.depth > limits.maxDepth) fail('QUERY_TOO_DEEP', `the query is ${stats.depth} levels deep; at most ${limits.maxDepth} are allowed`);
        else if (stats.aliases > limits.maxAliases) fail('TOO_MANY_ALIASES', `the query uses ${stats.aliases} aliases; at most ${limits.maxAliases} are allowed`);
        else if (stats.cost > limits.maxCost) fail('QUERY_TOO_COMPLEX', `the query could return about ${stats.cost > 1e12 ? 'more than 10^12' : Math.round(stats.cost)} values; at most ${limits.maxCost}: ask for fewer fields or smaller pages`);
      },
    };

    function pageSize(field: FieldNode): number {
      const first = field.arguments?.find((a) => a.name.value === 'first' || a.name.value === 'scanLimit');
      if (first && first.value.kind === Kind.INT) return Math.max(1, Number(first.value.value));
      if (first) return 100; // a variable: validation cannot see its value; assume a full page
      return UNPAGED_LISTS.has(field.name.value) ? DEFAULT_PAGE : 1;
    }
  };
}

export interface DocumentLimits {
  maxBytes: number;
  maxTokens: number;
}

/**
 * Why a query document is too large to parse, or null when it is not: its size in bytes (apart
 * from its variables, which only the body limit bounds) and its lexical tokens, counted by
 * graphql-js' own lexer and only up to the limit. The same count as parse's `maxTokens`; a
 * document the lexer rejects is left to the parser's own error.
 */
export function documentTooLarge(query: string, limits: DocumentLimits): string | null {
  if (query.length > limits.maxBytes || Buffer.byteLength(query, 'utf8') > limits.maxBytes) {
    return `the query document is ${Buffer.byteLength(query, 'utf8')} bytes; at most ${limits.maxBytes} are allowed (MAX_QUERY_BYTES): pass data as variables, not in the document`;
  }
  const lexer = new Lexer(new Source(query));
  let tokens = 0;
  try {
    while (lexer.advance().kind !== TokenKind.EOF) {
      if (++tokens > limits.maxTokens) return `the query document has more than ${limits.maxTokens} tokens (MAX_QUERY_TOKENS): ask for fewer fields, or pass data as variables`;
    }
  } catch {
    return null;
  }
  return null;
}

/** The documents of a GraphQL HTTP request: the `query` of a GET, or of each operation in a POST body. */
function documentsOf(req: { method?: string; query?: unknown; body?: unknown }): unknown[] {
  if (req.method === 'GET') return [(req.query as { query?: unknown } | undefined)?.query];
  const body = req.body;
  return (Array.isArray(body) ? body : [body]).map((op) => (op && typeof op === 'object' ? (op as { query?: unknown }).query : undefined));
}

/**
 * Express middleware on the GraphQL route, after the body is read and before Apollo parses:
 * a document over the limits is answered 400 QUERY_TOO_LARGE at once. Parsing and validating
 * take time in proportion to the document (200,000 directives blocked the process for seconds).
 */
export function queryDocumentGuard(limits: DocumentLimits) {
  return (req: { method?: string; query?: unknown; body?: unknown }, res: ServerResponse, next: () => void): void => {
    for (const query of documentsOf(req)) {
      const problem = typeof query === 'string' ? documentTooLarge(query, limits) : null;
      if (problem) {
        sendError(res, 400, 'QUERY_TOO_LARGE', problem);
        return;
      }
    }
    next();
  };
}
