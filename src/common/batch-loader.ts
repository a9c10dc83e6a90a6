/**
 * Collects the keys asked for within one tick and loads them with one call: a field resolver on
 * a list (events of 100 shipments) becomes one SQL statement instead of 100.
 */
export class BatchLoader<K, V> {
  private pending: Array<{ key: K; resolve: (v: V) => void; reject: (e: unknown) => void }> = [];

  constructor(private readonly loadMany: (keys: K[]) => Promise<Map<K, V>>, private readonly missing: V) {}

  load(key: K): Promise<V> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) process.nextTick(() => void this.flush());
      this.pending.push({ key, resolve, reject });
    });
  }

  private async flush(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    try {
      const values = await this.loadMany([...new Set(batch.map((b) => b.key))]);
      for (const b of batch) b.resolve(values.get(b.key) ?? this.missing);
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}

const perRequest = new WeakMap<object, Map<string, BatchLoader<unknown, unknown>>>();

/** One loader per GraphQL request (context object) and name. */
export function requestLoader<K, V>(context: object, name: string, create: () => BatchLoader<K, V>): BatchLoader<K, V> {
  let loaders = perRequest.get(context);
  if (!loaders) perRequest.set(context, (loaders = new Map()));
  let loader = loaders.get(name) as BatchLoader<K, V> | undefined;
  if (!loader) loaders.set(name, (loader = create()) as BatchLoader<unknown, unknown>);
  return loader;
}
