/**
 * Where a store's committed entries live. Values are the JSON text of the stored value.
 * Contract: write() applies all entries atomically (null deletes); iterate() yields entries in
 * UTF-8 byte order of the key within [gte, lt). Calls may overlap; close() once at the end.
 */
export interface StoreBackend {
  get(key: string): Promise<string | undefined>;
  /** get() without a promise when the answer is in memory; `miss` when it is not. */
  peek?<M>(key: string, miss: M): string | undefined | M;
  write(entries: Iterable<[string, string | null]>): Promise<void>;
  iterate(gte?: string, lt?: string): AsyncIterable<[string, string]>;
  close(): Promise<void>;
}

export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** In-memory backend: the test kit's store and the fallback for stateless runs. */
export class MemoryBackend implements StoreBackend {
  readonly entries = new Map<string, string>();

  async get(key: string): Promise<string | undefined> {
    return this.entries.get(key);
  }

  peek<M>(key: string): string | undefined | M {
    return this.entries.get(key);
  }

  async write(entries: Iterable<[string, string | null]>): Promise<void> {
    for (const [k, v] of entries) {
      if (v === null) this.entries.delete(k);
      else this.entries.set(k, v);
    }
  }

  async *iterate(gte?: string, lt?: string): AsyncIterable<[string, string]> {
    const keys = [...this.entries.keys()]
      .filter(
        (k) =>
          (gte === undefined || compareKeys(k, gte) >= 0) &&
          (lt === undefined || compareKeys(k, lt) < 0),
      )
      .sort(compareKeys);
    for (const k of keys) {
      const v = this.entries.get(k);
      if (v !== undefined) yield [k, v];
    }
  }

  async close(): Promise<void> {}
}

/**
 * A read-through cache in front of a backend (for global stores, whose lookups dominate
 * joins). Writes go through it, so it is never stale, and fill it while it has room; it holds
 * at most `maxEntries` keys.
 */
export class CachedBackend implements StoreBackend {
  private readonly cache = new Map<string, string | undefined>();
  /** Counts write() starts and ends, so a get() can tell that one overlapped it. */
  private writes = 0;

  constructor(
    private readonly inner: StoreBackend,
    private readonly maxEntries = 200_000,
  ) {}

  async get(key: string): Promise<string | undefined> {
    if (this.cache.has(key)) return this.cache.get(key);
    const writes = this.writes;
    const v = await this.inner.get(key);
    // A write that started or ended while the read was under way may have stored a newer value
    // (and cached it): the value read is not cached then, or it would hide that one.
    if (writes !== this.writes || this.cache.has(key))
      return this.cache.has(key) ? this.cache.get(key) : v;
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, v);
    return v;
  }

  peek<M>(key: string, miss: M): string | undefined | M {
    const v = this.cache.get(key);
    return v !== undefined || this.cache.has(key) ? v : miss;
  }

  async write(entries: Iterable<[string, string | null]>): Promise<void> {
    const list = [...entries];
    this.writes++;
    try {
      await this.inner.write(list);
    } finally {
      this.writes++;
    }
    // Written keys are cached while there is room (a restored global store starts warm).
    for (const [k, v] of list)
      if (this.cache.size < this.maxEntries || this.cache.has(k)) this.cache.set(k, v ?? undefined);
  }

  iterate(gte?: string, lt?: string): AsyncIterable<[string, string]> {
    return this.inner.iterate(gte, lt);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
