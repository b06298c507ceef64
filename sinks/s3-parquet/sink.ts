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
import { TributaryError } from '../../core/errors/index.ts';
import { KafkaPartitionConsumer, defaultKafkaConfig } from '../../core/kafka/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { DecodedRecord } from '../../core/events/index.ts';
import type { IncomingRecord } from '../../core/kafka/index.ts';
import { decodeConsumed, truncateUnsupported } from '../runtime/sink.ts';
import type {
  CopiedRecord,
  RawRecordSink,
  RejectedRecord,
  SinkRecord,
  UndecodedRecord,
  WriteResult,
} from '../runtime/sink.ts';
import type { PartitionPosition, PositionedSink } from '../runtime/sink.ts';
import type { S3ParquetSinkConfig } from './config.ts';
import { compressorFor } from './file-builder.ts';
import type { FileBuilderOptions } from './file-builder.ts';
import { parseObjectKey, topicPrefix } from './keys.ts';
import { createObjectStore } from './storage.ts';
import type { ObjectStore } from './storage.ts';
import { DirectReader } from './direct.ts';
import { PartitionWriter } from './writer.ts';

const tp = (topic: string, partition: number) => `${topic}\u0000${partition}`;
const rejectionId = (r: { topic: string; partition: number; offset: bigint }) =>
  `${r.topic}\u0000${r.partition}\u0000${r.offset}`;

/**
 * Fault injection for crash tests: with TRIBUTARY_CRASH_AFTER_UPLOADS=N the process kills
 * itself (SIGKILL) right after its N-th upload, before the runtime commits any offset.
 */
const CRASH_AFTER_UPLOADS = Number(process.env.TRIBUTARY_CRASH_AFTER_UPLOADS ?? 0);

/**
 * The sink's counters (the `sink` object of the runtime's metrics line). The runtime's `written`
 * counts records the sink accepted into a file in memory; only `rowsUploaded` are durable.
 */
export type S3ParquetSinkMetrics = {
  /** Files stored (uploaded to S3 or renamed into place on the filesystem). */
  filesUploaded: number;
  /** Rows in the stored files. */
  rowsUploaded: number;
  /** Parquet bytes in the stored files. */
  bytesUploaded: number;
  /** Upload attempts that failed (the file is uploaded again, whole, on the retry). */
  uploadFailures: number;
  /** Rows written into files not uploaded yet (open files and closed ones waiting). */
  rowsNotUploaded: number;
  /** Partitions whose retention gap was skipped (`onGap: skip`). */
  gapsSkipped: number;
  /** Rows the direct reader read from the record bytes (the others were decoded in full). */
  rowsReadDirect: number;
};

export interface S3ParquetSinkOptions {
  /** The cluster the records come from (default: TRIBUTARY_KAFKA_BROKERS, as the runtime). */
  kafka?: KafkaConfig;
  /** Where retention gaps skipped with `onGap: skip` are logged (default stderr). */
  log?: (msg: string) => void;
  /**
   * Earliest offset per partition, keyed `topic\u0000partition` (default: asked from Kafka).
   * Tests without a broker pass their own.
   */
  earliestOffsets?: (
    partitions: Array<{ topic: string; partition: number }>,
  ) => Promise<Map<string, bigint>>;
}

export class S3ParquetSink implements RawRecordSink, PositionedSink {
  readonly rawRecords = true;
  /** The runtime passes records undecoded: the direct reader reads most of them (direct.ts). */
  readonly takesBytes = true;
  private readonly reader = new DirectReader();
  private store: ObjectStore | undefined;
  /** Reads the partitions' earliest offsets (retention gaps); group-less. */
  private offsets: KafkaPartitionConsumer | undefined;
  private readonly kafka: KafkaConfig;
  private readonly log: (msg: string) => void;
  private readonly earliestOffsets: NonNullable<S3ParquetSinkOptions['earliestOffsets']>;
  private fileOptions: FileBuilderOptions | undefined;
  private readonly writers = new Map<string, PartitionWriter>();
  /** Why records were rejected, by partition and offset, until the batch succeeds (a retried batch reports them again). */
  private readonly rejections = new Map<string, Error>();
  private readonly counters = {
    filesUploaded: 0,
    rowsUploaded: 0,
    bytesUploaded: 0,
    uploadFailures: 0,
    gapsSkipped: 0,
    rowsReadDirect: 0,
  };

  constructor(
    readonly name: string,
    private readonly config: S3ParquetSinkConfig,
    store?: ObjectStore,
    options: S3ParquetSinkOptions = {},
  ) {
    this.store = store;
    this.kafka = options.kafka ?? defaultKafkaConfig(`tributary-sink-${name}`);
    this.log = options.log ?? ((m) => process.stderr.write(`[sink ${name}] ${m}\n`));
    this.earliestOffsets = options.earliestOffsets ?? ((p) => this.kafkaEarliestOffsets(p));
  }

  async open(): Promise<void> {
    this.store ??= createObjectStore(this.config);
    this.fileOptions = {
      codec: this.config.compression,
      compress: await compressorFor(this.config.compression),
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
        if (position !== undefined) positions.push({ topic, partition, offset: position });
      }
    }
    await this.checkRetentionGaps(positions);
    for (const p of positions) this.writerFor(p.topic, p.partition).reset(p.offset);
    for (const p of partitions)
      if (!positions.some((x) => x.topic === p.topic && x.partition === p.partition))
        this.writerFor(p.topic, p.partition).reset(undefined);
    return positions;
  }

  /**
   * A partition whose earliest offset is past the offset after its newest stored file lost
   * records to Kafka retention before the sink wrote them. Reading on would leave a hole in
   * the output (and a fetch below the earliest offset returns nothing), so by default the sink
   * stops and says so; with `onGap: skip` it logs the gap and moves the position forward.
   */
  private async checkRetentionGaps(positions: PartitionPosition[]): Promise<void> {
    if (positions.length === 0) return;
    const earliest = await this.earliestOffsets(positions);
    for (const p of positions) {
      const first = earliest.get(tp(p.topic, p.partition)) ?? 0n;
      if (first <= p.offset) continue;
      const where = `${p.topic}[${p.partition}]`;
      const lost = `offsets ${p.offset}..${first - 1n} (${first - p.offset} records)`;
      if (this.config.onGap === 'skip') {
        this.log(
          `retention gap on ${where}: the next offset after the stored files is ${p.offset} but the earliest available offset is ${first}; ${lost} were deleted by Kafka retention and are missing from the output (onGap: skip), continuing at ${first}`,
        );
        this.counters.gapsSkipped++;
        p.offset = first;
        continue;
      }
      throw new TributaryError(
        'SINK_RETENTION_GAP',
        `retention gap on ${where}: the next offset after the stored files is ${p.offset} but the earliest available offset is ${first}; ${lost} were deleted by Kafka retention before this sink wrote them. They cannot be written any more: re-create them upstream (e.g. a new snapshot of the source) or, to accept the gap, set onGap: skip in the sink config and restart (the sink then continues at offset ${first} and logs the gap)`,
        {
          retryable: false,
          details: {
            topic: p.topic,
            partition: p.partition,
            expected: p.offset.toString(),
            earliest: first.toString(),
          },
        },
      );
    }
  }

  durablePositions(): PartitionPosition[] {
    const out: PartitionPosition[] = [];
    for (const w of this.writers.values())
      if (w.durable !== undefined)
        out.push({ topic: w.topic, partition: w.partition, offset: w.durable });
    return out;
  }

  async writeBatch(
    records: Array<SinkRecord | UndecodedRecord | CopiedRecord>,
  ): Promise<WriteResult> {
    const rejected: RejectedRecord[] = [];
    /** Per partition, the first offset rejected in this call: files covering it wait for the dead letter. */
    const holdFrom = new Map<PartitionWriter, bigint>();
    const reader = this.reader;
    let w: PartitionWriter | undefined;
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!;
      // Consecutive records mostly share their partition: no key string per record.
      if (w?.partition !== r.partition || w.topic !== r.topic)
        w = this.writerFor(r.topic, r.partition);
      if (w.last !== undefined && r.offset <= w.last) {
        const earlier = this.rejections.size > 0 ? this.rejections.get(rejectionId(r)) : undefined;
        if (earlier) {
          rejected.push({ index: i, error: earlier });
          if (!holdFrom.has(w)) holdFrom.set(w, r.offset);
        }
        continue;
      }
      w.last = r.offset;
      let error: Error | undefined;
      if (r.kind === 'copy') {
        // Read straight into the open file when the direct reader takes the record; else decode
        // it as the runtime would have.
        const direct = r.raw.value === null ? false : w.appendDirect(r.raw, r.offset, reader);
        if (direct === false) error = this.appendDecoded(w, r.raw, r.offset);
        else {
          error = direct;
          if (!error) this.counters.rowsReadDirect++;
        }
      } else if (r.kind === 'tombstone') w.skipTombstone(r.offset);
      else if (r.kind === 'undecoded') error = r.reason;
      else if (r.event.value.op === 't') error = truncateUnsupported();
      else error = w.append(r.event, r.offset);
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

  /** A consumed record through the full decoder: the reason when it cannot be written. */
  private appendDecoded(
    w: PartitionWriter,
    raw: IncomingRecord,
    offset: bigint,
  ): Error | undefined {
    let d: DecodedRecord;
    try {
      d = decodeConsumed(raw);
    } catch (err) {
      return err as Error;
    }
    if (d.kind === 'tombstone') {
      w.skipTombstone(offset);
      return undefined;
    }
    if (d.event.value.op === 't') return truncateUnsupported();
    return w.append(d.event, offset);
  }

  /** Closing drops open files on purpose: they are rebuilt identically from Kafka later. */
  private async kafkaEarliestOffsets(
    partitions: Array<{ topic: string; partition: number }>,
  ): Promise<Map<string, bigint>> {
    this.offsets ??= new KafkaPartitionConsumer(this.kafka, { isolation: 'read_committed' });
    return this.offsets.offsets(partitions, 'earliest');
  }

  async close(): Promise<void> {
    this.writers.clear();
    await this.offsets?.close().catch(() => undefined);
    this.offsets = undefined;
    await this.store?.close();
  }

  metrics(): S3ParquetSinkMetrics {
    let rowsNotUploaded = 0;
    for (const w of this.writers.values()) rowsNotUploaded += w.rowsNotUploaded;
    return { ...this.counters, rowsNotUploaded };
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
              this.counters.uploadFailures++;
              throw err;
            }
            w.pending.shift();
            w.durable = f.commitTo;
            this.counters.filesUploaded++;
            this.counters.rowsUploaded += f.rows;
            this.counters.bytesUploaded += f.body.length;
            if (CRASH_AFTER_UPLOADS > 0 && this.counters.filesUploaded >= CRASH_AFTER_UPLOADS)
              process.kill(process.pid, 'SIGKILL');
          }
        }),
    );
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }
}
