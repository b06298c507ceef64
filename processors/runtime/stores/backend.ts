/**
 * Where a store's committed entries live. Values are the JSON text of the stored value.
 * Contract: write() applies all entries atomically (null deletes); iterate() yields entries in
 * UTF-8 byte order of the key within [gte, lt). Calls may overlap; close() once at the end.
 */
export interface StoreBackend {
  get(key: string): Promise<string | undefined>;
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
