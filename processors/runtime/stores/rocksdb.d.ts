// Minimal types for the `rocksdb` package (leveldown API), which ships none.
declare module 'rocksdb' {
  export type Callback<T = void> = (err: Error | undefined | null, value?: T) => void;
  export interface RocksIterator {
    next(cb: (err: Error | undefined | null, key?: string, value?: string) => void): void;
    end(cb: Callback): void;
  }
  export interface RocksDB {
    open(options: { createIfMissing?: boolean }, cb: Callback): void;
    close(cb: Callback): void;
    get(key: string, options: { asBuffer: boolean }, cb: Callback<string>): void;
    batch(ops: Array<{ type: 'put' | 'del'; key: string; value?: string }>, cb: Callback): void;
    iterator(options: {
      gte?: string;
      lt?: string;
      keyAsBuffer: boolean;
      valueAsBuffer: boolean;
    }): RocksIterator;
  }
  const rocksdb: ((location: string) => RocksDB) & {
    destroy(location: string, cb: Callback): void;
  };
  export default rocksdb;
}
