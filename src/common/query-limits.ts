import { GraphQLError, Kind, type ASTVisitor, type FieldNode, type FragmentDefinitionNode, type SelectionSetNode, type ValidationContext } from 'graphql';

export interface QueryLimits {
  maxDepth: number;
  maxAliases: number;
  /** every field costs 1, multiplied by the page size (`first`, default 50) of the lists around it */
  maxCost: number;
}

export const DEFAULT_QUERY_LIMITS: QueryLimits = { maxDepth: 12, maxAliases: 30, maxCost: 100_000 };
const DEFAULT_PAGE = 50;
/** Fields that return lists of unbounded length without a `first` argument. */
const UNPAGED_LISTS = new Set(['events', 'signingKeys', 'incidents']);

/**
 * One validation rule for depth, aliases and cost, run before any resolver: a deep, wide or
 * alias-flooded query is refused with a code, not executed. Fragments are expanded (and a
 * fragment cycle is GraphQL's own validation error).
 */
export function queryLimitsRule(limits: QueryLimits = DEFAULT_QUERY_LIMITS) {
  return (context: ValidationContext): ASTVisitor => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    let reported = false;
    const report = (code: string, message: string): void => {
      if (reported) return;
      reported = true;
      context.reportError(new GraphQLError(message, { extensions: { code } }));
    };

    const walk = (set: SelectionSetNode, depth: number, multiplier: number, seen: Set<string>, stats: { aliases: number; cost: number; depth: number }): void => {
      for (const sel of set.selections) {
        if (reported) return;
        if (sel.kind === Kind.FIELD) {
          if (sel.alias) stats.aliases++;
          const fieldDepth = depth + 1;
          stats.depth = Math.max(stats.depth, fieldDepth);
          stats.cost += multiplier;
          if (sel.selectionSet) walk(sel.selectionSet, fieldDepth, multiplier * pageSize(sel), seen, stats);
        } else if (sel.kind === Kind.INLINE_FRAGMENT) {
          walk(sel.selectionSet, depth, multiplier, seen, stats);
        } else {
          const fragment = fragments.get(sel.name.value);
          if (!fragment || seen.has(sel.name.value)) continue;
          walk(fragment.selectionSet, depth, multiplier, new Set([...seen, sel.name.value]), stats);
        }
      }
    };

    return {
      OperationDefinition(node) {
        const stats = { aliases: 0, cost: 0, depth: 0 };
        walk(node.selectionSet, 0, 1, new Set(), stats);
        if (stats.depth > limits.maxDepth) report('QUERY_TOO_DEEP', `the query is ${stats.depth} levels deep; at most ${limits.maxDepth} are allowed`);
        else if (stats.aliases > limits.maxAliases) report('TOO_MANY_ALIASES', `the query uses ${stats.aliases} aliases; at most ${limits.maxAliases} are allowed`);
        else if (stats.cost > limits.maxCost) report('QUERY_TOO_COMPLEX', `the query could return about ${stats.cost} values; at most ${limits.maxCost}: ask for fewer fields or smaller pages`);
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
