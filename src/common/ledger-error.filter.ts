import { Catch } from '@nestjs/common';
import type { GqlExceptionFilter } from '@nestjs/graphql';
import { LedgerError } from './errors';

/**
 * Domain errors are answers, not incidents: hand them to GraphQL (formatGraphQLError maps
 * them) without Nest logging a stack trace for every caller's mistake.
 */
@Catch(LedgerError)
export class LedgerErrorFilter implements GqlExceptionFilter {
  catch(error: LedgerError): LedgerError {
    return error;
  }
}
