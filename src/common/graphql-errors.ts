import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { LedgerError, type ErrorCode } from './errors';
import { isDatabaseTimeout } from '../database/data-source';

const logger = new Logger('GraphQL');

/** HTTP-ish classification, so clients that only look at `extensions.http` still behave. */
export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case 'UNAUTHENTICATED':
      return 401;
    case 'FORBIDDEN':
    case 'SIGNER_OF_OTHER_ORGANIZATION':
    case 'NO_CARRIER_CONTRACT':
    case 'ORGANIZATION_SUSPENDED':
      return 403;
    case 'RATE_LIMITED':
    case 'TOO_MANY_SUBSCRIPTIONS':
    case 'TOO_MANY_CONNECTIONS':
      return 429;
    case 'NOT_FOUND':
    case 'UNKNOWN_CARRIER':
    case 'UNKNOWN_CUSTODIAN':
    case 'UNKNOWN_SHIPMENT':
    case 'UNKNOWN_SIGNER':
    case 'SHARE_LINK_NOT_FOUND':
      return 404;
    case 'ALREADY_EXISTS':
    case 'EVENT_ID_CONFLICT':
    case 'KEY_ALREADY_REVOKED':
    case 'DELEGATION_ALREADY_REVOKED':
    case 'REVOCATION_BEFORE_USE':
    case 'TRACKING_NUMBER_UNAVAILABLE':
      return 409;
    case 'CHAIN_UNAVAILABLE':
    case 'DATABASE_BUSY':
      return 503;
    case 'INVALID_WEBHOOK_URL':
    case 'UNKNOWN_WEBHOOK_EVENT_TYPE':
    case 'WEBHOOK_URL_REFUSED':
    case 'TOO_MANY_EVENTS':
    case 'VALIDATION_FAILED':
    case 'INVALID_FIELD':
    case 'INVALID_SIGNATURE':
    case 'INVALID_COUNTER_SIGNATURE':
    case 'SIGNER_REVOKED':
    case 'SIGNER_NOT_YET_VALID':
    case 'SIGNER_NOT_AUTHORIZED':
    case 'TRANSFER_NOT_CONSENTED':
    case 'INVALID_DELEGATION':
    case 'OCCURRED_IN_FUTURE':
    case 'CUSTODY_NOT_ESTABLISHED':
    case 'CUSTODIAN_MISMATCH':
    case 'INVALID_TRANSITION':
    case 'AFTER_TERMINAL_STATE':
    case 'INVALID_CORRECTION':
    case 'DATA_HASH_MISMATCH':
    case 'INVALID_EXTRA_DATA':
    case 'EVIDENCE_MISMATCH':
    case 'PERSONAL_DATA_MISMATCH':
    case 'INVALID_DISPLAY_NAME':
    case 'INVALID_COLOR':
    case 'INVALID_LOGO_URL':
    case 'INVALID_PERIOD':
    case 'PERIOD_TOO_LONG':
      return 400;
  }
}

/** GraphQL's own request errors (parse, validation, variable coercion) keep their codes. */
const GRAPHQL_CODES = new Set(['QUERY_TOO_LARGE', 'INPUT_TOO_DEEP', 'QUERY_TOO_DEEP', 'QUERY_TOO_COMPLEX', 'TOO_MANY_ALIASES', 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'PERSISTED_QUERY_NOT_FOUND', 'BAD_REQUEST', 'OPERATION_RESOLUTION_FAILURE']);

/** graphql-js's suggestions name schema fields, types and enum values ("Did you mean …?"). */
const SUGGESTION = / ?Did you mean [^?]*\?/g;

/**
 * The error formatter for a server: in production, GraphQL's own request errors lose their
 * suggestions (Apollo's hideSchemaDetailsFromClientErrors does that for validation errors only,
 * not for variable coercion errors such as a misspelled enum value), so no schema name leaks.
 */
export function graphQLErrorFormatter(production: boolean): (formatted: GraphQLFormattedError, error: unknown) => GraphQLFormattedError {
  if (!production) return formatGraphQLError;
  return (formatted, error) => {
    const out = formatGraphQLError(formatted, error);
    const code = out.extensions?.code;
    return typeof code === 'string' && GRAPHQL_CODES.has(code) ? { ...out, message: out.message.replace(SUGGESTION, '') } : out;
  };
}

/**
 * The one mapping from errors to what a client sees. Domain errors keep code and message;
 * anything unexpected is logged with a correlation id and returned as that id only, so no
 * internal detail (SQL, stack, keys) leaves the process.
 */
export function formatGraphQLError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = (error as { originalError?: unknown })?.originalError ?? error;
  if (original instanceof LedgerError) {
    // RATE_LIMITED says how long to wait (RateLimitedError.retryAfterMs)
    const retryAfterMs = (original as { retryAfterMs?: unknown }).retryAfterMs;
    return {
      message: original.message,
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: original.code, ...(original.field ? { field: original.field } : {}), ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}), http: { status: httpStatusOf(original.code) } },
    };
  }
  const code = [(original as { extensions?: { code?: unknown } })?.extensions?.code, formatted.extensions?.code].find((c) => typeof c === 'string' && GRAPHQL_CODES.has(c)); // Apollo relabels validation-rule errors GRAPHQL_VALIDATION_FAILED: keep QUERY_TOO_DEEP etc.
  if (typeof code === 'string' && GRAPHQL_CODES.has(code)) {
    return { message: formatted.message, locations: formatted.locations, path: formatted.path, extensions: { code } };
  }
  // graphql-js stops coercing variables after 50 errors with a plain GraphQLError: still the caller's input
  if (original instanceof GraphQLError && !original.originalError && !formatted.path && /^Too many errors processing variables/.test(original.message)) {
    return { message: `${formatted.message} (fix the variables' types)`, extensions: { code: 'BAD_USER_INPUT' } };
  }
  if (isDatabaseTimeout(original)) {
    const busy = new LedgerError('DATABASE_BUSY', 'the database did not answer in time (a lock held by another request, or a statement over its time limit); nothing was written: retry in a moment');
    return { message: busy.message, path: formatted.path, locations: formatted.locations, extensions: { code: busy.code, http: { status: httpStatusOf(busy.code) } } };
  }
  const correlationId = randomUUID();
  logger.error(`internal error ${correlationId}: ${(original as Error)?.stack ?? String(original)}`);
  return {
    message: `internal error; quote correlation id ${correlationId} when reporting it`,
    path: formatted.path,
    extensions: { code: 'INTERNAL_SERVER_ERROR', correlationId },
  };
}
