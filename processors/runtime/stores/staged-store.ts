import type { KeyValueStore } from '../../api/index.ts';
import { parseJson, stringifyJson } from '../../../core/events/index.ts';
import { TributaryError } from '../../../core/errors/index.ts';
import { compareKeys } from './backend.ts';
import type { StoreBackend } from './backend.ts';

const DELETED = Symbol('deleted');
type Staged = unknown | typeof DELETED;

/**
 * A KeyValueStore over a backend with two levels of staged writes: the current record's and
 * the current transaction's. A record that fails is rolled back alone (skip/DLQ policies);
 * the transaction's writes reach the backend only after the Kafka transaction that carries
 * their changelog records committed, so the backend never holds uncommitted state.
 */
export class StagedStore<V = unknown> implements KeyValueStore<V> {
  private readonly txn = new Map<string, Staged>();
  private readonly rec = new Map<string, Staged>();

  constructor(
    readonly name: string,
    readonly backend: StoreBackend,
    private readonly readOnly = false,
  ) {}

  async get(key: string): Promise<V | undefined> {
    const staged = this.rec.has(key) ? this.rec.get(key) : this.txn.get(key);
    if (staged !== undefined || this.rec.has(key) || this.txn.has(key))
      return staged === DELETED ? undefined : (staged as V);
    const raw = await this.backend.get(key);
    return raw === undefined ? undefined : (parseJson(raw) as V);
  }

  /**
   * get() without a promise when the value is staged or the backend has it in memory (a
   * global store's read cache); `miss` when only the asynchronous get() can answer.
   */
  getNow<M>(key: string, miss: M): V | undefined | M {
    if (this.rec.size !== 0 && this.rec.has(key)) return this.staged(this.rec.get(key));
    if (this.txn.size !== 0 && this.txn.has(key)) return this.staged(this.txn.get(key));
    if (!this.backend.peek) return miss;
    const raw = this.backend.peek(key, miss);
    if (raw === miss) return miss;
    return raw === undefined ? undefined : (parseJson(raw as string) as V);
  }

  private staged(v: Staged): V | undefined {
    return v === DELETED ? undefined : (v as V);
  }

  put(key: string, value: V): void {
    this.checkWritable();
    if (typeof key !== 'string') throw new TypeError(`store "${this.name}": keys must be strings`);
    if (value === undefined)
      throw new TypeError(`store "${this.name}": value must not be undefined`);
    this.rec.set(key, value);
  }

  delete(key: string): void {
    this.checkWritable();
    this.rec.set(key, DELETED);
  }

  async *range(
    options: { gte?: string; lt?: string; prefix?: string } = {},
  ): AsyncIterable<[string, V]> {
    let { gte, lt } = options;
    if (options.prefix !== undefined) {
      gte = options.prefix;
      lt = prefixEnd(options.prefix);
    }
    const inRange = (k: string) =>
      (gte === undefined || compareKeys(k, gte) >= 0) &&
      (lt === undefined || compareKeys(k, lt) < 0);
    const overlay = new Map<string, Staged>();
    for (const [k, v] of this.txn) if (inRange(k)) overlay.set(k, v);
    for (const [k, v] of this.rec) if (inRange(k)) overlay.set(k, v);
    const staged = [...overlay.keys()].sort(compareKeys);
    let i = 0;
    for await (const [k, raw] of this.backend.iterate(gte, lt)) {
      while (i < staged.length && compareKeys(staged[i]!, k) < 0) {
        const v = overlay.get(staged[i]!);
        if (v !== DELETED) yield [staged[i]!, v as V];
        i++;
      }
      if (i < staged.length && staged[i] === k) {
        const v = overlay.get(k);
        if (v !== DELETED) yield [k, v as V];
        i++;
        continue;
      }
      yield [k, parseJson(raw) as V];
    }
    for (; i < staged.length; i++) {
      const v = overlay.get(staged[i]!);
      if (v !== DELETED) yield [staged[i]!, v as V];
    }
  }

  /** The current record succeeded: its writes join the transaction. */
  commitRecord(): void {
    if (this.rec.size === 0) return;
    for (const [k, v] of this.rec) this.txn.set(k, v);
    this.rec.clear();
  }

  /** The current record failed: forget its writes. */
  rollbackRecord(): void {
    if (this.rec.size !== 0) this.rec.clear();
  }

  /** The transaction's writes as JSON text (null = delete), in write order. */
  pendingWrites(): Array<[string, string | null]> {
    return [...this.txn].map(([k, v]) => [k, v === DELETED ? null : stringifyJson(v)]);
  }

  hasPending(): boolean {
    return this.txn.size > 0;
  }

  /** After the Kafka transaction committed: apply to the backend. */
  async flush(writes = this.pendingWrites()): Promise<void> {
    await this.backend.write(writes);
    this.txn.clear();
  }

  /** The transaction aborted: forget everything staged. */
  discard(): void {
    this.txn.clear();
    this.rec.clear();
  }

  private checkWritable(): void {
    if (this.readOnly)
      throw new TributaryError(
        'STORE_READ_ONLY',
        `store "${this.name}" is a global store, filled from its topic; processors can only read it`,
      );
  }
}

function prefixEnd(prefix: string): string {
  // U+10FFFF is the largest code point: its UTF-8 bytes sort after any other continuation.
  return prefix + '\u{10FFFF}';
}
