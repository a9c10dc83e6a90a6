import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

const UINT64_MAX = (1n << 64n) - 1n;

function toUint64(value: unknown): bigint {
  if (typeof value === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(value)) {
    const n = BigInt(value);
    if (n <= UINT64_MAX) return n;
  }
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return BigInt(value);
  throw new GraphQLError(`Uint64 must be a decimal string of an unsigned 64-bit integer, e.g. "1764000000000" (got ${JSON.stringify(value)})`, {
    extensions: { code: 'BAD_USER_INPUT' },
  });
}

/**
 * GraphQL's Int is 32-bit; unix milliseconds are not. Uint64 travels as a decimal string
 * (a JSON number is accepted on input when it is a safe integer) and is always returned as a string.
 */
export const Uint64Scalar = new GraphQLScalarType<bigint, string>({
  name: 'Uint64',
  description: 'Unsigned 64-bit integer as a decimal string (e.g. unix milliseconds "1764000000000"). Inputs also accept a JSON number up to 2^53-1.',
  parseValue: toUint64,
  serialize: (value: unknown): string => (typeof value === 'bigint' ? value : BigInt(value as string)).toString(),
  parseLiteral(ast: ValueNode): bigint {
    if (ast.kind === Kind.STRING) return toUint64(ast.value);
    if (ast.kind === Kind.INT) return toUint64(Number(ast.value) <= Number.MAX_SAFE_INTEGER ? Number(ast.value) : ast.value);
    throw new GraphQLError('Uint64 must be a decimal string', { extensions: { code: 'BAD_USER_INPUT' } });
  },
});
