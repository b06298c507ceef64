import { once } from 'node:events';
import { baseOptions, Consumer, FetchIsolationLevels } from './client.ts';
import type { Message, MessagesStream } from './client.ts';
import type { KafkaConfig } from './config.ts';
import { toKafkaError } from './errors.ts';
import { installReadCommittedFilter } from './read-committed.ts';
import type { IncomingRecord } from './records.ts';
import { TributaryError } from '../errors/index.ts';

type RawConsumer = Consumer<Buffer, Buffer, string, Buffer>;
type RawMessage = Message<Buffer, Buffer, string, Buffer>;

export interface ConsumerOptions {
  groupId: string;
  /** read_committed (default) hides aborted and open transactions. */
  isolation?: 'read_committed' | 'read_uncommitted';
  /** Where to start when the group has no committed offset (default earliest). */
  startFrom?: 'earliest' | 'latest';
  /** Longest time the broker holds a fetch open waiting for data (ms, default 500). */
  maxWaitMs?: number;
  sessionTimeoutMs?: number;
}

/**
 * A consumer-group member. Offsets are never committed automatically: call commit() after the
 * records are durable downstream, or hand them to KafkaTransaction.sendOffsets().
 * Lifecycle: subscribe() once, then poll() repeatedly from one caller, then close().
 */
export class KafkaConsumer {
  private readonly consumer: RawConsumer;
  private stream: MessagesStream<Buffer, Buffer, string, Buffer> | undefined;
  private readonly rawByRecord = new WeakMap<IncomingRecord, RawMessage>();
  private streamError: unknown;
  private ended = false;

  constructor(
    config: KafkaConfig,
    private readonly options: ConsumerOptions,
  ) {
    this.consumer = new Consumer<Buffer, Buffer, string, Buffer>({
      ...baseOptions(config, `consumer-${options.groupId}`),
      groupId: options.groupId,
      autocommit: false,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: 1_000,
      maxWaitTime: options.maxWaitMs ?? 500,
      isolationLevel:
        options.isolation === 'read_uncommitted'
          ? FetchIsolationLevels.READ_UNCOMMITTED
          : FetchIsolationLevels.READ_COMMITTED,
      deserializers: { headerKey: (k?: Buffer) => (k === undefined ? '' : k.toString()) },
    });
    // The client's own aborted-transaction filter misses some aborted records (see
    // read-committed.ts); every fetch response is re-filtered before the stream sees it.
    installReadCommittedFilter(this.consumer);
  }

  /** @internal for KafkaTransaction.sendOffsets */
  get raw(): RawConsumer {
    return this.consumer;
  }

  /** @internal the client message behind a record (carries the group generation). */
  rawMessage(record: IncomingRecord): RawMessage {
    const m = this.rawByRecord.get(record);
    if (!m)
      throw new TributaryError(
        'RECORD_NOT_FROM_CONSUMER',
        `record ${record.topic}[${record.partition}]@${record.offset} was not returned by this consumer's poll()`,
      );
    return m;
  }

  async subscribe(topics: string[]): Promise<void> {
    if (this.stream)
      throw new TributaryError('ALREADY_SUBSCRIBED', 'subscribe() may be called once per consumer');
    try {
      this.stream = await this.consumer.consume({
        topics,
        mode: 'committed',
        fallbackMode: this.options.startFrom ?? 'earliest',
        autocommit: false,
      });
    } catch (err) {
      throw toKafkaError(
        err,
        `subscribing group "${this.options.groupId}" to ${topics.join(', ')}`,
      );
    }
    this.stream.on('error', (err) => (this.streamError ??= err));
    this.stream.on('end', () => (this.ended = true));
    this.stream.on('close', () => (this.ended = true));
  }

  /**
   * Returns up to `maxRecords` records, waiting at most `maxWaitMs` for the first one;
   * an empty array when nothing arrived in time.
   */
  async poll(maxRecords = 10_000, maxWaitMs = 1_000): Promise<IncomingRecord[]> {
    const stream = this.stream;
    if (!stream) throw new TributaryError('NOT_SUBSCRIBED', 'call subscribe() before poll()');
    const batch: IncomingRecord[] = [];
    const deadline = Date.now() + maxWaitMs;
    for (;;) {
      this.throwIfFailed();
      let m: RawMessage | null;
      while (batch.length < maxRecords && (m = stream.read() as RawMessage | null) !== null)
        batch.push(this.convert(m));
      if (batch.length > 0 || this.ended) return batch;
      const remaining = deadline - Date.now();
      if (remaining <= 0) return batch;
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), remaining);
      try {
        await Promise.race([
          once(stream, 'readable', { signal: ac.signal }),
          once(stream, 'close', { signal: ac.signal }),
        ]);
      } catch {
        // timed out
      } finally {
        clearTimeout(timer);
        ac.abort();
      }
    }
  }

  /**
   * End offsets per partition of `topic` as this consumer's isolation level sees them
   * (read_committed: the last stable offset, i.e. after the last decided transaction).
   */
  async endOffsets(topic: string): Promise<bigint[]> {
    try {
      const offsets = await this.consumer.listOffsets({ topics: [topic] });
      return offsets.get(topic) ?? [];
    } catch (err) {
      throw toKafkaError(err, `listing end offsets of "${topic}"`);
    }
  }

  /** Commits, for each partition, the position after the highest offset among `records`. */
  async commit(records: IncomingRecord[]): Promise<void> {
    const last = new Map<string, RawMessage>();
    for (const r of records) {
      const k = `${r.topic}\u0000${r.partition}`;
      const prev = last.get(k);
      if (!prev || prev.offset < r.offset) last.set(k, this.rawMessage(r));
    }
    if (last.size === 0) return;
    try {
      await this.consumer.commit({
        offsets: [...last.values()].map((m) => ({
          topic: m.topic,
          partition: m.partition,
          offset: m.offset + 1n,
          leaderEpoch: -1,
        })),
      });
    } catch (err) {
      throw toKafkaError(err, `committing offsets of group "${this.options.groupId}"`);
    }
  }

  async close(): Promise<void> {
    try {
      if (this.stream) await this.stream.close();
    } finally {
      await Promise.resolve(this.consumer.close(true)).catch(() => undefined);
    }
  }

  private convert(m: RawMessage): IncomingRecord {
    const headers: Record<string, Buffer> = {};
    for (const [k, v] of m.headers) headers[k] = v;
    const r: IncomingRecord = {
      topic: m.topic,
      partition: m.partition,
      offset: m.offset,
      key: m.key ?? null,
      value: m.value ?? null,
      headers,
      timestamp: m.timestamp,
    };
    this.rawByRecord.set(r, m);
    return r;
  }

  private throwIfFailed(): void {
    if (this.streamError !== undefined)
      throw toKafkaError(this.streamError, `consuming as group "${this.options.groupId}"`);
  }
}
