import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

function toDate(value: unknown): Date {
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : typeof value === 'number' && Number.isFinite(value) ? new Date(value) : null;
  if (!date || Number.isNaN(date.getTime()) || date.getUTCFullYear() < 1970 || date.getUTCFullYear() > 9999) {
    throw new GraphQLError(`DateTime must be an ISO-8601 date-time such as "2026-11-25T12:00:00Z" (got ${JSON.stringify(value)})`, { extensions: { code: 'BAD_USER_INPUT' } });
  }
  return date;
}

/** Nest's DateTime, strict: an unparseable or absurd date is the client's error, not an Invalid Date deep inside. */
export const StrictDateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'A date-time string at UTC, such as 2019-12-03T09:54:33Z, compliant with the date-time format.',
  serialize: (value: unknown) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: toDate,
  parseLiteral: (ast: ValueNode) => toDate(ast.kind === Kind.STRING ? ast.value : ast.kind === Kind.INT ? Number(ast.value) : undefined),
});
