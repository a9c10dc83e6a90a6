import { GraphQLError, GraphQLScalarType } from 'graphql';

/** A JSON value returned as is (documents such as EPCIS exports). Output only. */
export const JsonScalar = new GraphQLScalarType({
  name: 'JSON',
  description: 'An arbitrary JSON value (used for standard documents such as EPCIS 2.0 JSON-LD).',
  serialize: (value: unknown) => value,
  parseValue: () => {
    throw new GraphQLError('JSON is an output type', { extensions: { code: 'BAD_USER_INPUT' } });
  },
});
