import { join } from 'node:path';
import { fromKafkaRecord, stringifyJson } from '../../core/events/index.ts';
import type { KafkaConfig, KafkaPartitionConsumer } from '../../core/kafka/index.ts';
import { KafkaPartitionConsumer as Reader } from '../../core/kafka/index.ts';
import { keyString } from '../api/index.ts';
import { emptyCheckpoint, readCheckpoint, writeCheckpoint } from './checkpoint.ts';
import type { Checkpoint } from './checkpoint.ts';
import { RocksBackend } from './stores/rocksdb-backend.ts';
import { StagedStore } from './stores/staged-store.ts';
import { CachedBackend } from './stores/backend.ts';
import type { IncomingRecord } from '../../core/kafka/index.ts';

/**
 * A global store: every instance materializes the whole topic of a table's change events
 * (key: keyString(row key), value: the after-row; deletes and tombstones remove the key).
 * The topic is its own changelog: the checkpoint holds the next offset per partition.
 * Lifecycle: open() -> restore() (to the end, before any task runs) -> poll()* -> close().
 */
export class GlobalStore {
  readonly store: StagedStore;
  private positions = new Map<number, bigint>();
  private readonly reader: KafkaPartitionConsumer;
  private readonly checkpointFile: string;
  /** Lookups go through a read cache; every write goes through it too, so it is never stale. */
  private readonly cached: CachedBackend;
  skippedRecords = 0;
  /** Told about every record that is skipped (not a change event), with the reason. */
  onSkip: ((message: string) => void) | undefined;

  private constructor(
    readonly name: string,
    readonly topic: string,
    private readonly backend: RocksBackend,
    dir: string,
    config: KafkaConfig,
  ) {
    this.cached = new CachedBackend(backend);
    this.store = new StagedStore(name, this.cached, true);
    this.reader = new Reader(config);
    this.checkpointFile = join(dir, 'checkpoint.json');
  }

  static async open(
    name: string,
    topic: string,
    dir: string,
    config: KafkaConfig,
  ): Promise<GlobalStore> {
    const backend = await RocksBackend.open(join(dir, 'rocksdb'));
    return new GlobalStore(name, topic, backend, dir, config);
  }

  /** Catches up to the end of the topic. */
  async restore(): Promise<void> {
    const count = (await this.reader.partitionCounts([this.topic])).get(this.topic) ?? 0;
    if (count === 0)
      throw new Error(`global store "${this.name}": topic "${this.topic}" does not exist`);
    const tps = Array.from({ length: count }, (_, partition) => ({ topic: this.topic, partition }));
    const cp = readCheckpoint(this.checkpointFile) ?? emptyCheckpoint();
    const earliest = await this.reader.offsets(tps, 'earliest');
    for (const tp of tps) {
      const saved = cp.offsets[this.topic]?.[String(tp.partition)];
      const start = earliest.get(`${tp.topic}\u0000${tp.partition}`) ?? 0n;
      this.positions.set(tp.partition, saved !== undefined && saved > start ? saved : start);
    }
    const end = await this.reader.offsets(tps, 'latest');
    for (;;) {
      const behind = tps.filter(
        (tp) => this.positions.get(tp.partition)! < end.get(`${tp.topic}\u0000${tp.partition}`)!,
      );
      if (behind.length === 0) break;
      await this.fetchOnce(
        behind.map((tp) => tp.partition),
        200,
      );
    }
  }

  /** Applies whatever arrived since the last call (waits at most maxWaitMs). */
  async poll(maxWaitMs = 0): Promise<void> {
    await this.fetchOnce([...this.positions.keys()], maxWaitMs);
  }

  async close(): Promise<void> {
    await this.reader.close();
    await this.backend.close();
  }

  private async fetchOnce(partitions: number[], maxWaitMs: number): Promise<void> {
    const fetched = await this.reader.fetch(
      partitions.map((partition) => ({
        topic: this.topic,
        partition,
        offset: this.positions.get(partition)!,
      })),
      maxWaitMs,
    );
    const writes: Array<[string, string | null]> = [];
    for (const f of fetched) for (const r of f.records) this.addWrite(r, writes);
    if (writes.length > 0) await this.cached.write(writes);
    // Positions move only once the rows are stored: a failed write is fetched again.
    for (const f of fetched) this.positions.set(f.partition, f.nextOffset);
    if (fetched.some((f) => f.records.length > 0 || f.nextOffset > 0n)) this.saveCheckpoint();
  }

  private addWrite(r: IncomingRecord, writes: Array<[string, string | null]>): void {
    try {
      const d = fromKafkaRecord(r);
      if (d.kind === 'tombstone') {
        writes.push([keyString(d.tombstone.key), null]);
        return;
      }
      const e = d.event;
      writes.push([
        keyString(e.key),
        e.value.op === 'd' || !e.value.after ? null : stringifyJson(e.value.after),
      ]);
    } catch (err) {
      this.skippedRecords++;
      this.onSkip?.(
        `global store "${this.name}": skipped ${r.topic}[${r.partition}]@${r.offset}, not a change event: ${(err as Error).message}`,
      );
    }
  }

  private saveCheckpoint(): void {
    const cp: Checkpoint = { version: 1, offsets: { [this.topic]: {} } };
    for (const [p, o] of this.positions) cp.offsets[this.topic]![String(p)] = o;
    writeCheckpoint(this.checkpointFile, cp);
  }
}
