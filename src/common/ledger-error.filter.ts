import { Catch, type ArgumentsHost } from '@nestjs/common';
import type { GqlExceptionFilter } from '@nestjs/graphql';
import { LedgerError } from './errors';
import { httpStatusOf } from './graphql-errors';

/**
 * Domain errors are answers, not incidents: GraphQL gets them back (formatGraphQLError maps
 * them), plain HTTP routes the same `{ errors: [{ message, extensions: { code } }] }` with the matching status; no stack traces logged.
 */
@Catch(LedgerError)
export class LedgerErrorFilter implements GqlExceptionFilter {
  catch(error: LedgerError, host: ArgumentsHost): LedgerError | void {
    if (host.getType<string>() !== 'http') return error;
    const res = host.switchToHttp().getResponse<{ status(code: number): { json(body: unknown): void } }>();
    res.status(httpStatusOf(error.code)).json({ errors: [{ message: error.message, extensions: { code: error.code, ...(error.field ? { field: error.field } : {}) } }] });
  }
}
