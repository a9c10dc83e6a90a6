import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { LedgerError } from '../common/errors';
import { ApiKeysService } from './api-keys.service';
import { PUBLIC_KEY, ROLES_KEY, requestOf } from './decorators';
import type { Role } from './principal';

/**
 * Every operation passes here: the key is authenticated (UNAUTHENTICATED when missing, unknown
 * or revoked; ORGANIZATION_SUSPENDED for a key of a suspended organization), the role checked
 * (FORBIDDEN). An operation without @Roles or @Public is refused: access is opt-in. The rate
 * limit is not here: it runs before GraphQL parses anything (rate-limit.middleware.ts), and the
 * key it authenticated there is reused here.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeysService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    const req = requestOf(context);
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets) === true;
    const header = req.headers.authorization;
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (!req.principal && token) {
      // a key of a suspended organization is refused (ORGANIZATION_SUSPENDED); on a public operation it counts as no key
      const principal = await this.keys.authenticate(token).catch((err: unknown) => {
        if (isPublic && err instanceof LedgerError) return null;
        throw err;
      });
      if (!principal && !isPublic) throw new LedgerError('UNAUTHENTICATED', 'the API key is not valid (unknown or revoked)');
      if (principal) req.principal = principal;
    }
    if (isPublic) return true;
    if (!req.principal) throw new LedgerError('UNAUTHENTICATED', 'this operation needs an API key: send the header `Authorization: Bearer <key>`');
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles) throw new LedgerError('FORBIDDEN', 'this operation is not open to any API key');
    if (!roles.includes(req.principal.role)) throw new LedgerError('FORBIDDEN', `a ${req.principal.role} key may not do this (allowed: ${roles.join(', ')})`);
    return true;
  }
}
