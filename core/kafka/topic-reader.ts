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

  /** Positions every partition of the topics at its earliest offset. */
  async open(): Promise<void> {
    const counts = await this.consumer.partitionCounts(this.topics);
    const partitions = this.topics.flatMap((topic) =>
      Array.from({ length: counts.get(topic) ?? 0 }, (_, partition) => ({ topic, partition })),
    );
    const earliest = await this.consumer.offsets(partitions, 'earliest');
    this.positions = partitions.map((p) => ({
      ...p,
      offset: earliest.get(`${p.topic}\u0000${p.partition}`) ?? 0n,
    }));
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

  async close(): Promise<void> {
    await this.consumer.close();
  }
}
