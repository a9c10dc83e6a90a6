import { GraphQLError, GraphQLScalarType, Kind, type ValueNode } from 'graphql';

function literal(ast: ValueNode): unknown {
  switch (ast.kind) {
    case Kind.STRING:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.INT:
    case Kind.FLOAT:
      return Number(ast.value);
    case Kind.NULL:
      return null;
    case Kind.LIST:
      return ast.values.map(literal);
    case Kind.OBJECT:
      return Object.fromEntries(ast.fields.map((f) => [f.name.value, literal(f.value)]));
    default:
      throw new GraphQLError('JSON literal cannot contain variables here; pass the document as a variable', { extensions: { code: 'BAD_USER_INPUT' } });
  }
}

/** A JSON value, as is: standard documents (EPCIS 2.0, proof-of-delivery bundles). */
export const JsonScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'An arbitrary JSON value (EPCIS 2.0 JSON-LD documents, custody-pod/1 bundles).',
  serialize: (value: unknown) => value,
  parseValue: (value: unknown) => value,
  parseLiteral: literal,
});
