import { Logger } from '@nestjs/common';
import type { LiveNotice, LiveUpdatesService } from './live-updates.service';

/** Notices a slow subscriber may have waiting; beyond it the oldest are dropped (and logged). */
const MAX_QUEUED = 1_000;
const logger = new Logger('LiveUpdates');

/**
 * One subscriber's stream: the notices it wants are queued as they arrive and turned into
 * payloads one at a time by `load` (which re-reads with the subscriber's own scope, so what it
 * may not read yields nothing). Ends when graphql-ws calls return() (the client completed, or the
 * connection closed).
 */
export function liveFeed<T>(live: LiveUpdatesService, wants: (notice: LiveNotice) => boolean, load: (notice: LiveNotice) => Promise<T[]>): AsyncIterableIterator<T> {
  const queue: LiveNotice[] = [];
  const ready: T[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  const ended = live.subscriptionStarted();
  const off = live.onNotice((notice) => {
    if (done || !wants(notice)) return;
    if (queue.length >= MAX_QUEUED) {
      queue.shift();
      logger.warn(`a subscriber fell ${MAX_QUEUED} notices behind; the oldest was dropped`);
    }
    queue.push(notice);
    wake?.();
  });
  const finish = (): void => {
    if (done) return;
    done = true;
    off();
    ended();
    wake?.();
  };
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    async next(): Promise<IteratorResult<T>> {
      while (!done) {
        if (ready.length > 0) return { value: ready.shift()!, done: false };
        const notice = queue.shift();
        if (notice) {
          ready.push(
            ...(await load(notice).catch((err: unknown) => {
              logger.warn(`a live update could not be read: ${(err as Error).message}`);
              return [];
            })),
          );
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      return { value: undefined, done: true };
    },
    async return(): Promise<IteratorResult<T>> {
      finish();
      return { value: undefined, done: true };
    },
    async throw(err: unknown): Promise<IteratorResult<T>> {
      finish();
      throw err;
    },
  };
  return iterator;
}
