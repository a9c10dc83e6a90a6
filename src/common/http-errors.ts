import { HttpException } from '@nestjs/common';
import { LedgerError } from './errors';
import { httpStatusOf } from './graphql-errors';

/** Domain errors on plain HTTP routes: the same code and message, with the matching status. */
export function toHttp(err: unknown): unknown {
  if (err instanceof LedgerError) return new HttpException({ code: err.code, message: err.message }, httpStatusOf(err.code));
  return err;
}
