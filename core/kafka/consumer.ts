import type { KafkaConfig } from './config.ts';
import { KafkaPartitionConsumer } from './partition-consumer.ts';
import type {
  FetchedPartition,
  GroupAssignment,
  GroupGeneration,
  TopicPartition,
} from './partition-consumer.ts';
import type { IncomingRecord, TopicPartitionOffset } from './records.ts';
import { TributaryError } from '../errors/index.ts';

export interface ConsumerOptions {
  groupId: string;
  /** read_committed (default) hides aborted and open transactions. */
  isolation?: 'read_committed' | 'read_uncommitted';
  /** Where to start when the group has no committed offset (default earliest). */
  startFrom?: 'earliest' | 'latest';
  /** Longest time the broker holds a fetch open waiting for data (ms, default 500). */
  maxWaitMs?: number;
  sessionTimeoutMs?: number;
  /**
   * Called with every new assignment before fetching starts; the positions it returns override
   * the committed offsets (for consumers whose output records its own progress). Partitions it
   * leaves out start at the committed offset.
   */
  startPositions?: (partitions: TopicPartition[]) => Promise<TopicPartitionOffset[]>;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

interface Prefetch {
  epoch: number;
  settled: boolean;
  result: Promise<FetchedPartition[] | Error>;
}

/**
 * A consumer-group member that reads from its assigned partitions, starting at the group's
 * committed offsets. Offsets are never committed automatically: call commit() after the
 * records are durable downstream, or hand them to KafkaTransaction.sendOffsets().
 *
 * It fetches with explicit positions (KafkaPartitionConsumer) rather than the client's
 * message stream, which was seen to stall on topics written by fenced transactional producers.
 * On a rebalance, positions restart from the committed offsets of the new assignment and
 * records buffered for partitions no longer assigned are dropped.
 * Lifecycle: subscribe() once, then poll() repeatedly from one caller, then close().
 */
export class KafkaConsumer {
  private readonly consumer: KafkaPartitionConsumer;
  private positions: TopicPartitionOffset[] = [];
  private buffer: IncomingRecord[] = [];
  private assignment: GroupAssignment | undefined;
  private pending: GroupAssignment | undefined;
  private subscribed = false;
  /** The fetch sent ahead of the caller, and the positions epoch it was sent from. */
  private prefetch: Prefetch | undefined;
  private epoch = 0;

  constructor(
    config: KafkaConfig,
    private readonly options: ConsumerOptions,
  ) {
    this.consumer = new KafkaPartitionConsumer(config, {
      groupId: options.groupId,
      isolation: options.isolation ?? 'read_committed',
      sessionTimeoutMs: options.sessionTimeoutMs ?? 10_000,
      assignor: 'round-robin',
    });
    this.consumer.onAssignment((a) => (this.pending = a));
  }

  /** The group generation the current positions belong to (for transactional offsets). */
  get generation(): GroupGeneration {
    if (!this.assignment) throw new TributaryError('NOT_SUBSCRIBED', 'call subscribe() first');
    return this.assignment.generation;
  }

  async subscribe(topics: string[]): Promise<void> {
    if (this.subscribed)
      throw new TributaryError('ALREADY_SUBSCRIBED', 'subscribe() may be called once per consumer');
    this.subscribed = true;
    this.pending = await this.consumer.join(topics);
    await this.applyAssignment();
  }

  /**
   * Returns up to `maxRecords` records, waiting at most `maxWaitMs` for the first one;
   * an empty array when nothing arrived in time.
   *
   * One fetch is kept in flight ahead of the caller: as soon as a fetch returns, the next one
   * (from the positions after it) is sent, so the broker reads and sends while the caller works
   * on the buffered records. At most one fetch response (maxBytes) waits beyond the buffer.
   */
  async poll(maxRecords = 10_000, maxWaitMs = 1_000): Promise<IncomingRecord[]> {
    if (!this.subscribed)
      throw new TributaryError('NOT_SUBSCRIBED', 'call subscribe() before poll()');
    this.consumer.throwIfFailed();
    if (this.pending) {
      await this.dropPrefetch(); // fetched for the old assignment; fetches must not overlap
      await this.applyAssignment();
    }
    if (this.buffer.length === 0 && this.positions.length > 0) {
      const deadline = Date.now() + maxWaitMs;
      do {
        const f = this.prefetch ?? this.startFetch(maxWaitMs);
        if (!f.settled) {
          // (With no time left this still yields to the event loop once, so a caller polling
          // with maxWaitMs 0 in a loop lets the response in.)
          const left = Math.max(0, deadline - Date.now());
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([f.result, new Promise((r) => (timer = setTimeout(r, left)))]);
          clearTimeout(timer);
        }
        if (!f.settled) break; // still waiting at the broker: it stays in flight for next time
        this.prefetch = undefined;
        const fetched = await f.result;
        if (fetched instanceof Error) throw fetched;
        if (this.pending) break; // rebalanced meanwhile: these records belong to an old generation
        if (f.epoch !== this.epoch) continue;
        for (const x of fetched) {
          const pos = this.positions.find(
            (p) => p.topic === x.topic && p.partition === x.partition,
          );
          if (pos && x.nextOffset > pos.offset) pos.offset = x.nextOffset;
          for (const r of x.records) this.buffer.push(r);
        }
        this.startFetch(this.options.maxWaitMs ?? 500);
      } while (this.buffer.length === 0 && Date.now() < deadline);
    } else if (this.positions.length === 0 && maxWaitMs > 0) {
      await new Promise((r) => setTimeout(r, Math.min(maxWaitMs, 200)));
    }
    if (this.buffer.length <= maxRecords) {
      const out = this.buffer;
      this.buffer = [];
      return out;
    }
    return this.buffer.splice(0, maxRecords);
  }

  /** Sends a fetch from the current positions (the only one in flight). */
  private startFetch(maxWaitMs: number): Prefetch {
    const f: Prefetch = {
      epoch: this.epoch,
      settled: false,
      result: this.consumer
        .fetch(
          this.positions.map((p) => ({ ...p })),
          Math.max(0, Math.min(maxWaitMs, this.options.maxWaitMs ?? 500)),
        )
        .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))
        .finally(() => (f.settled = true)),
    };
    this.prefetch = f;
    return f;
  }

  /** Waits for the fetch in flight (if any) and forgets its records. */
  private async dropPrefetch(): Promise<void> {
    const f = this.prefetch;
    this.prefetch = undefined;
    if (f) await f.result;
  }

  /** Commits, for each partition, the position after the highest offset among `records`. */
  async commit(records: IncomingRecord[]): Promise<void> {
    await this.consumer.commit(nextPositions(records));
  }

  /** Commits the given positions (the next offset to read per partition). */
  async commitPositions(positions: TopicPartitionOffset[]): Promise<void> {
    if (positions.length > 0) await this.consumer.commit(positions);
  }

  /**
   * End offsets per partition of `topic` as this consumer's isolation level sees them
   * (read_committed: the last stable offset, i.e. after the last decided transaction).
   */
  async endOffsets(topic: string): Promise<bigint[]> {
    const count = (await this.consumer.partitionCounts([topic])).get(topic) ?? 0;
    const partitions = Array.from({ length: count }, (_, partition) => ({ topic, partition }));
    const ends = await this.consumer.offsets(partitions, 'latest');
    return partitions.map((p) => ends.get(tpKey(p.topic, p.partition)) ?? 0n);
  }

  async close(): Promise<void> {
    this.prefetch = undefined; // closing the connections ends it (its result is never thrown)
    await this.consumer.close();
  }

  private async applyAssignment(): Promise<void> {
    const a = this.pending!;
    this.pending = undefined;
    const committed = await this.consumer.committed(a.partitions);
    const missing = a.partitions.filter(
      (p) => committed.get(tpKey(p.topic, p.partition)) === undefined,
    );
    const fallback =
      missing.length > 0
        ? await this.consumer.offsets(missing, this.options.startFrom ?? 'earliest')
        : new Map<string, bigint>();
    const chosen = new Map<string, bigint>();
    for (const p of (await this.options.startPositions?.(a.partitions)) ?? [])
      chosen.set(tpKey(p.topic, p.partition), p.offset);
    this.positions = a.partitions.map((p) => {
      const k = tpKey(p.topic, p.partition);
      return { ...p, offset: chosen.get(k) ?? committed.get(k) ?? fallback.get(k) ?? 0n };
    });
    this.buffer = []; // buffered records are fetched again from the committed offsets
    this.epoch++;
    this.assignment = a;
  }
}

/** For each partition, the position after the highest offset among `records`. */
export function nextPositions(records: IncomingRecord[]): TopicPartitionOffset[] {
  const last = new Map<string, TopicPartitionOffset>();
  for (const r of records) {
    const k = tpKey(r.topic, r.partition);
    const prev = last.get(k);
    if (!prev || prev.offset <= r.offset)
      last.set(k, { topic: r.topic, partition: r.partition, offset: r.offset + 1n });
  }
  return [...last.values()];
}
