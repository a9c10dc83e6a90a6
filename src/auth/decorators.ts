import { SetMetadata, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { Principal, Role } from './principal';

export const ROLES_KEY = 'custody:roles';
export const PUBLIC_KEY = 'custody:public';

/** The roles that may call this operation at all; finer checks (own organization) live in the services. */
export const Roles = (...roles: Role[]) => SetMetadata(ROLES_KEY, roles);

/** Needs no API key (the signing spec devices fetch). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

export interface AuthedRequest {
  headers: Record<string, string | string[] | undefined>;
  ip?: string;
  principal?: Principal;
}

export function requestOf(context: ExecutionContext): AuthedRequest {
  return context.getType<string>() === 'graphql' ? GqlExecutionContext.create(context).getContext<{ req: AuthedRequest }>().req : context.switchToHttp().getRequest<AuthedRequest>();
}

/** The authenticated caller, set by the AuthGuard. */
export const Caller = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = requestOf(context).principal;
  if (!principal) throw new Error('Caller used on an operation without authentication');
  return principal;
});
