/**
 * The S3 Parquet sink: change history as Parquet files in an S3-compatible bucket or a local
 * directory, one writer per topic partition (writer.ts), exactly once through deterministic
 * files rather than upserts.
 *
 * - A file is uploaded once it is complete (roll limits, all functions of the records); its
 *   key carries its start offset and its metadata (object and Parquet footer) its end offset.
 * - On every assignment the sink lists each partition's objects and resumes just after the
 *   highest end offset (onAssigned); Kafka group offsets, committed after uploads, are a hint.
 * - A crash or failed upload before the next file is durable only loses work in memory: the
 *   partition is read again from that file's start offset and the same key is written with the
 *   same bytes. An open file is never uploaded early (not even on shutdown), because an early
 *   cut would make the next attempt produce different files.
 */
import type { Sink, SinkRecord, WriteResult, RejectedRecord } from '../runtime/sink.ts';
import type { PartitionPosition, PositionedSink } from '../runtime/sink.ts';
import type { S3ParquetSinkConfig } from './config.ts';
import { compressorsFor } from './file-builder.ts';
import type { FileBuilderOptions } from './file-builder.ts';
import { parseObjectKey, topicPrefix } from './keys.ts';
import { createObjectStore } from './storage.ts';
import type { ObjectStore } from './storage.ts';
import { PartitionWriter } from './writer.ts';

const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const rejectionId = (r: SinkRecord) => `${r.topic}\u0000${r.partition}\u0000${r.offset}`;

/**
 * Fault injection for crash tests: with TRIBUTARY_CRASH_AFTER_UPLOADS=N the process kills
 * itself (SIGKILL) right after its N-th upload, before the runtime commits any offset.
 */
const CRASH_AFTER_UPLOADS = Number(process.env.TRIBUTARY_CRASH_AFTER_UPLOADS ?? 0);

export interface S3ParquetSinkMetrics {
  uploads: number;
  uploadedRows: number;
  uploadedBytes: number;
  failedUploads: number;
}

export class S3ParquetSink implements Sink, PositionedSink {
  private store: ObjectStore | undefined;
  private fileOptions: FileBuilderOptions | undefined;
  private readonly writers = new Map<string, PartitionWriter>();
  /** Why records were rejected, by partition and offset, until the batch succeeds (a retried batch reports them again). */
  private readonly rejections = new Map<string, Error>();
  readonly counters: S3ParquetSinkMetrics = {
    uploads: 0,
    uploadedRows: 0,
    uploadedBytes: 0,
    failedUploads: 0,
  };

  constructor(
    readonly name: string,
    private readonly config: S3ParquetSinkConfig,
    store?: ObjectStore,
  ) {
    this.store = store;
  }

  async open(): Promise<void> {
    this.store ??= createObjectStore(this.config);
    this.fileOptions = {
      codec: this.config.compression,
      compressors: await compressorsFor(this.config.compression),
      rowGroupRows: this.config.rowGroupRows,
    };
  }

  async onAssigned(
    partitions: Array<{ topic: string; partition: number }>,
  ): Promise<PartitionPosition[]> {
    const store = this.store!;
    this.writers.clear();
    this.rejections.clear();
    const positions: PartitionPosition[] = [];
    for (const topic of new Set(partitions.map((p) => p.topic))) {
      const wanted = new Set(partitions.filter((p) => p.topic === topic).map((p) => p.partition));
      // The newest file of each partition: the one with the highest start offset.
      const newest = new Map<number, { key: string; start: bigint }>();
      for (const key of await store.list(topicPrefix(store.prefix, topic))) {
        const k = parseObjectKey(key);
        if (!k || k.topic !== topic || !wanted.has(k.partition)) continue;
        const prev = newest.get(k.partition);
        if (!prev || prev.start < k.startOffset)
          newest.set(k.partition, { key, start: k.startOffset });
      }
      for (const partition of wanted) {
        const f = newest.get(partition);
        const position = f ? (await store.endOffset(f.key)) + 1n : undefined;
        this.writerFor(topic, partition).reset(position);
        if (position !== undefined) positions.push({ topic, partition, offset: position });
      }
    }
    return positions;
  }

  durablePositions(): PartitionPosition[] {
    const out: PartitionPosition[] = [];
    for (const w of this.writers.values())
      if (w.durable !== undefined)
        out.push({ topic: w.topic, partition: w.partition, offset: w.durable });
    return out;
  }

  async writeBatch(records: SinkRecord[]): Promise<WriteResult> {
    const rejected: RejectedRecord[] = [];
    /** Per partition, the first offset rejected in this call: files covering it wait for the dead letter. */
    const holdFrom = new Map<PartitionWriter, bigint>();
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      const w = this.writerFor(r.topic, r.partition);
      if (w.next !== undefined && r.offset < w.next) {
        const earlier = this.rejections.size > 0 ? this.rejections.get(rejectionId(r)) : undefined;
        if (earlier) {
          rejected.push({ index: i, error: earlier });
          if (!holdFrom.has(w)) holdFrom.set(w, r.offset);
        }
        continue;
      }
      w.next = r.offset + 1n;
      if (r.kind === 'tombstone') {
        w.skipTombstone(r.offset);
        continue;
      }
      const error = w.append(r.event, r.offset);
      if (error) {
        this.rejections.set(rejectionId(r), error);
        rejected.push({ index: i, error });
        if (!holdFrom.has(w)) holdFrom.set(w, r.offset);
      }
    }
    await this.uploadPending(holdFrom);
    this.rejections.clear();
    return { rejected };
  }

  /** Closing drops open files on purpose: they are rebuilt identically from Kafka later. */
  async close(): Promise<void> {
    this.writers.clear();
    await this.store?.close();
  }

  /** Open writers (tests, metrics). */
  partitionWriters(): PartitionWriter[] {
    return [...this.writers.values()];
  }

  private writerFor(topic: string, partition: number): PartitionWriter {
    const k = tp(topic, partition);
    let w = this.writers.get(k);
    if (!w) {
      w = new PartitionWriter(topic, partition, this.store!.prefix, this.config, this.fileOptions!);
      this.writers.set(k, w);
    }
    return w;
  }

  /**
   * Uploads closed files: partitions in parallel, each partition's files in order. A file that
   * covers an offset rejected in this call waits for the next call (by then its dead letter is
   * in Kafka). Throws the first failure after every partition stopped; failed files stay
   * pending and are uploaded again, whole, on the retry.
   */
  private async uploadPending(holdFrom: Map<PartitionWriter, bigint>): Promise<void> {
    const store = this.store!;
    const results = await Promise.allSettled(
      [...this.writers.values()]
        .filter((w) => w.pending.length > 0)
        .map(async (w) => {
          const hold = holdFrom.get(w);
          while (w.pending.length > 0) {
            const f = w.pending[0]!;
            if (hold !== undefined && f.endOffset >= hold) return;
            try {
              await store.put(f.key, f.body, f.metadata);
            } catch (err) {
              this.counters.failedUploads++;
              throw err;
            }
            w.pending.shift();
            w.durable = f.commitTo;
            this.counters.uploads++;
            this.counters.uploadedRows += f.rows;
            this.counters.uploadedBytes += f.body.length;
            if (CRASH_AFTER_UPLOADS > 0 && this.counters.uploads >= CRASH_AFTER_UPLOADS)
              process.kill(process.pid, 'SIGKILL');
          }
        }),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
