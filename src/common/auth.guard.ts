import { timingSafeEqual, createHash } from 'node:crypto';
import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { GqlExecutionContext } from '@nestjs/graphql';
import { LedgerError } from './errors';
import { RUNTIME, type Runtime } from './runtime';

const digestOf = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Mutations need `Authorization: Bearer <key>`; until organization keys exist, the admin key. */
@Injectable()
export class AdminKeyGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(@Inject(RUNTIME) runtime: Runtime) {
    this.expected = digestOf(runtime.adminApiKey);
  }

  canActivate(context: ExecutionContext): boolean {
    const req = GqlExecutionContext.create(context).getContext<{ req: { headers: { authorization?: string } } }>().req;
    const header = req.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) throw new LedgerError('UNAUTHENTICATED', 'this mutation needs an API key: send the header `Authorization: Bearer <key>`');
    // compare fixed-length digests so the comparison time says nothing about the key
    if (!timingSafeEqual(digestOf(match[1]), this.expected)) throw new LedgerError('UNAUTHENTICATED', 'the API key is not valid');
    return true;
  }
}
