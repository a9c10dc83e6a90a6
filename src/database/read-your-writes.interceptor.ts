import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { GqlExecutionContext } from '@nestjs/graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { catchError, from, mergeMap, throwError, type Observable } from 'rxjs';
import { requestOf } from '../auth/decorators';
import { RUNTIME, type Runtime } from '../common/runtime';

/**
 * Read-your-writes with a read replica: a mutation reads only from the primary, and when it is
 * done (committed, or failed after writing part) the primary's WAL position is remembered for the
 * caller before the answer leaves, so the caller's next reads wait for the replica to reach it.
 */
@Injectable()
export class ReadYourWritesInterceptor implements NestInterceptor {
  constructor(@Inject(RUNTIME) private readonly runtime: Runtime) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const reads = this.runtime.reads;
    const caller = requestOf(context).principal;
    if (!reads.enabled || !caller || !isWrite(context)) return next.handle();
    reads.pin(caller);
    const noted = (): Observable<void> => from(reads.noteWrite(caller));
    return next.handle().pipe(
      mergeMap((value: unknown) => noted().pipe(mergeMap(() => [value]))),
      catchError((err: unknown) => noted().pipe(mergeMap(() => throwError(() => err)))),
    );
  }
}

function isWrite(context: ExecutionContext): boolean {
  if (context.getType<string>() === 'graphql') return GqlExecutionContext.create(context).getInfo<GraphQLResolveInfo>().parentType.name === 'Mutation';
  return !['GET', 'HEAD', 'OPTIONS'].includes(context.switchToHttp().getRequest<{ method: string }>().method);
}
