import type { ServerResponse } from 'node:http';
import { HttpException } from '@nestjs/common';
import { LedgerError } from './errors';
import { httpStatusOf } from './graphql-errors';

/** Domain errors on plain HTTP routes: the same code and message, with the matching status. */
export function toHttp(err: unknown): unknown {
  if (err instanceof LedgerError) return new HttpException({ code: err.code, message: err.message }, httpStatusOf(err.code));
  return err;
}

/** A GraphQL-shaped error answer written straight to the response, by middleware that runs before any framework part. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, extensions: Record<string, unknown> = {}): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  // a refusal is about this moment and this caller: never kept by a cache (a tracking link's 429 included)
  res.setHeader('cache-control', 'no-store');
  res.end(JSON.stringify({ errors: [{ message, extensions: { code, ...extensions } }] }));
}
