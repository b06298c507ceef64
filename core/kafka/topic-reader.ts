/**
 * A group-less reader over whole topics: starts at the earliest offsets and fetches forward,
 * owning its positions (no consumer group, nothing committed). Used for offsets and state
 * topics read back at start-up and for independent verifiers in tests.
 * Lifecycle: open() → poll()* / readToEnd() → close(). Calls must not overlap.
 */
import type { KafkaConfig } from './config.ts';
import { KafkaPartitionConsumer } from './partition-consumer.ts';
import type { IncomingRecord, TopicPartitionOffset } from './records.ts';

export class TopicReader {
  private readonly consumer: KafkaPartitionConsumer;
  private positions: TopicPartitionOffset[] = [];

  constructor(
    config: KafkaConfig,
    private readonly topics: string[],
    isolation: 'read_committed' | 'read_uncommitted' = 'read_committed',
  ) {
    this.consumer = new KafkaPartitionConsumer(config, { isolation });
  }

  /** Positions every partition of the topics at its earliest offset; returns how many. */
  async open(): Promise<number> {
    const counts = await this.consumer.partitionCounts(this.topics);
    const partitions = this.topics.flatMap((topic) =>
      Array.from({ length: counts.get(topic) ?? 0 }, (_, partition) => ({ topic, partition })),
    );
    const earliest = await this.consumer.offsets(partitions, 'earliest');
    this.positions = partitions.map((p) => ({
      ...p,
      offset: earliest.get(`${p.topic}\u0000${p.partition}`) ?? 0n,
    }));
    return partitions.length;
  }

  /** Next records (possibly none), waiting at most `maxWaitMs` for data. */
  async poll(maxWaitMs = 500): Promise<IncomingRecord[]> {
    const fetched = await this.consumer.fetch(this.positions, maxWaitMs);
    const out: IncomingRecord[] = [];
    for (const f of fetched) {
      const pos = this.positions.find((p) => p.topic === f.topic && p.partition === f.partition);
      if (pos && f.nextOffset > pos.offset) pos.offset = f.nextOffset;
      out.push(...f.records);
    }
    return out;
  }

  /** Reads until every partition reached the end offset seen when this call started. */
  async readToEnd(onRecords: (records: IncomingRecord[]) => void): Promise<void> {
    const ends = await this.consumer.offsets(this.positions, 'latest');
    const done = () =>
      this.positions.every((p) => p.offset >= (ends.get(`${p.topic}\u0000${p.partition}`) ?? 0n));
    while (!done()) onRecords(await this.poll(200));
  }

  /**
   * Reads the topics' last records first: the last `window` offsets of each partition (as the
   * partition ends when this call starts), then the `16 × window` before those, and so on back
   * to the earliest offset (where open() positioned the reader). Each window's records (in
   * offset order, across partitions) go to `onWindow`; reading stops when it returns true. For
   * finding the latest record of a key in a topic that holds many other keys (offsets topics)
   * without reading all of it.
   */
  async readBackwards(
    window: number,
    onWindow: (records: IncomingRecord[]) => boolean,
  ): Promise<void> {
    const key = (p: { topic: string; partition: number }) => `${p.topic}\u0000${p.partition}`;
    const earliest = new Map(this.positions.map((p) => [key(p), p.offset]));
    let ends = await this.consumer.offsets(this.positions, 'latest');
    for (let size = BigInt(window); ; size *= 16n) {
      const starts = new Map<string, bigint>();
      for (const p of this.positions) {
        const first = earliest.get(key(p)) ?? 0n;
        const end = ends.get(key(p)) ?? 0n;
        starts.set(key(p), end - size > first ? end - size : first);
      }
      if (this.positions.every((p) => starts.get(key(p))! >= (ends.get(key(p)) ?? 0n))) return;
      for (const p of this.positions) p.offset = starts.get(key(p))!;
      const records: IncomingRecord[] = [];
      const before = (r: { topic: string; partition: number; offset: bigint }) =>
        r.offset < (ends.get(key(r)) ?? 0n);
      while (!this.positions.every((p) => !before(p)))
        for (const r of await this.poll(200)) if (before(r)) records.push(r);
      records.sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
      if (onWindow(records)) return;
      ends = starts;
    }
  }

  async close(): Promise<void> {
    await this.consumer.close();
  }
}
