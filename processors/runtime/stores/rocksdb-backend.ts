import { mkdirSync } from 'node:fs';
import rocksdb from 'rocksdb';
import type { RocksDB } from 'rocksdb';
import type { StoreBackend } from './backend.ts';
import { TributaryError } from '../../../core/errors/index.ts';

/** A RocksDB directory holding one store's committed entries (npm `rocksdb`, leveldown API). */
export class RocksBackend implements StoreBackend {
  private constructor(
    private readonly db: RocksDB,
    readonly location: string,
  ) {}

  static async open(location: string): Promise<RocksBackend> {
    mkdirSync(location, { recursive: true });
    const db = rocksdb(location);
    await new Promise<void>((resolve, reject) =>
      db.open({ createIfMissing: true }, (err) =>
        err
          ? reject(
              new TributaryError(
                'STORE_OPEN_FAILED',
                `cannot open RocksDB store at ${location}: ${err.message}`,
                {
                  cause: err,
                },
              ),
            )
          : resolve(),
      ),
    );
    return new RocksBackend(db, location);
  }

  get(key: string): Promise<string | undefined> {
    return new Promise((resolve, reject) =>
      this.db.get(key, { asBuffer: false }, (err, value) => {
        if (err) {
          if (/NotFound/.test(err.message)) resolve(undefined);
          else reject(err);
        } else resolve(value);
      }),
    );
  }

  write(entries: Iterable<[string, string | null]>): Promise<void> {
    const ops: Array<{ type: 'put' | 'del'; key: string; value?: string }> = [];
    for (const [key, value] of entries)
      ops.push(value === null ? { type: 'del', key } : { type: 'put', key, value });
    if (ops.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.db.batch(ops, (err) => (err ? reject(err) : resolve())),
    );
  }

  async *iterate(gte?: string, lt?: string): AsyncIterable<[string, string]> {
    const it = this.db.iterator({
      ...(gte !== undefined ? { gte } : {}),
      ...(lt !== undefined ? { lt } : {}),
      keyAsBuffer: false,
      valueAsBuffer: false,
    });
    try {
      for (;;) {
        const entry = await new Promise<[string, string] | undefined>((resolve, reject) =>
          it.next((err, key, value) =>
            err ? reject(err) : resolve(key === undefined ? undefined : [key, value!]),
          ),
        );
        if (!entry) return;
        yield entry;
      }
    } finally {
      await new Promise<void>((resolve) => it.end(() => resolve()));
    }
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.db.close((err) => (err ? reject(err) : resolve())),
    );
  }
}
