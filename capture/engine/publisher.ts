/**
 * Writes change events to Kafka in transactions, each carrying one offsets record with the
 * exact position of its last event, and reports the source position that may be acknowledged
 * once a transaction has committed.
 *
 * Batching: a transaction is cut at `batchSize` events or after `lingerMs`; a large source
 * transaction simply spans several Kafka transactions (the stored position says where).
 * Backpressure: `add` returns false once `maxBuffered` events wait; the caller pauses its
 * source and resumes when `onDrain` fires. One flush runs at a time.
 */
import { toTributaryError } from '../../core/errors/index.ts';
import type { TributaryError } from '../../core/errors/index.ts';
import { packEvent } from '../../core/events/index.ts';
import type { ChangeEvent, JsonFormat } from '../../core/events/index.ts';
import { RecordPack } from '../../core/kafka/index.ts';
import type { OutgoingRecord, ThreadedTransactionalProducer } from '../../core/kafka/index.ts';
import { offsetRecord } from './offsets.ts';
import type { SnapshotProgress, StoredOffset, StreamPosition } from './types.ts';

/**
 * Packed bytes handed to the producer thread at a time, within a transaction: just under the
 * pack's 1 MiB buffers, so a pack is mostly one buffer.
 */
const STREAM_BYTES = 1000 * 1024;

export interface PublisherOptions {
  source: string;
  offsetsTopic: string;
  format: JsonFormat;
  tombstonesOnDelete: boolean;
  batchSize: number;
  lingerMs: number;
  maxBuffered: number;
  /** Connector facts stored with every offset. */
  connector: Record<string, unknown>;
}

export interface PublisherHooks {
  /** A transaction committed; everything up to `ack` may be confirmed to the source. */
  committed(offset: StoredOffset, events: number): void;
  /** Buffered events fell below half of maxBuffered: the source may resume. */
  drained(): void;
  /** A flush failed: the engine must stop (the transaction was aborted or the producer fenced). */
  failed(err: TributaryError): void;
}

interface Batch {
  /** The batch's records, packed for the producer thread. */
  pack: RecordPack;
  events: number;
  lastPosition: StreamPosition | null;
}

export class TransactionalPublisher {
  private batch: Batch = { pack: new RecordPack(), events: 0, lastPosition: null };
  private inFlightEvents = 0;
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private blocked = false;
  private failure: TributaryError | null = null;
  /** State as of everything added so far (what the next offset record will say). */
  private position: StreamPosition | null;
  private ack: number;
  private snapshot: SnapshotProgress | null;
  private dirty = false;
  private readonly serdeOptions: { format: JsonFormat; tombstonesOnDelete: boolean };

  constructor(
    private readonly producer: ThreadedTransactionalProducer,
    private readonly options: PublisherOptions,
    private readonly hooks: PublisherHooks,
    initial: StoredOffset,
  ) {
    this.serdeOptions = { format: options.format, tombstonesOnDelete: options.tombstonesOnDelete };
    this.position = initial.position;
    this.ack = initial.ack;
    this.snapshot = initial.snapshot;
  }

  get buffered(): number {
    return this.batch.events + this.inFlightEvents;
  }

  /** Adds an event; false means "stop reading until drained()". */
  add(event: ChangeEvent, position: StreamPosition): boolean {
    this.checkFailed();
    packEvent(this.batch.pack, event, this.serdeOptions);
    return this.added(position);
  }

  /** Adds ready-made records (not change events) at `position`. */
  addRecords(records: OutgoingRecord[], position: StreamPosition): boolean {
    this.checkFailed();
    for (let i = 0; i < records.length; i++) this.batch.pack.add(records[i]!);
    return this.added(position);
  }

  private added(position: StreamPosition): boolean {
    if (this.batch.pack.bytes >= STREAM_BYTES) this.stream();
    this.batch.events++;
    this.batch.lastPosition = position;
    this.position = position;
    this.dirty = true;
    if (this.batch.events >= this.options.batchSize) this.kick();
    else this.arm();
    if (this.buffered >= this.options.maxBuffered) this.blocked = true;
    return !this.blocked;
  }

  /**
   * Hands the records packed so far to the producer, which sends them in the open transaction
   * right away: the broker writes them while later events are read.
   */
  private stream(): void {
    const pack = this.batch.pack;
    this.batch.pack = new RecordPack();
    this.producer.send(pack).catch((err: unknown) => this.failed(err));
  }

  /** Records that the source may be acknowledged up to `ack` once what was added is durable. */
  advanceAck(ack: number): void {
    if (ack <= this.ack) return;
    this.ack = ack;
    this.dirty = true;
    this.arm();
  }

  setSnapshotProgress(progress: SnapshotProgress | null): void {
    this.snapshot = progress;
    this.dirty = true;
    this.arm();
  }

  /** Flushes everything added so far and resolves once it is committed. */
  async flush(): Promise<void> {
    this.checkFailed();
    while (this.flushing) await this.flushing;
    if (this.dirty) {
      this.kick();
      while (this.flushing) await this.flushing;
    }
    this.checkFailed();
  }

  /** Stops timers; pending events are flushed by the caller with flush() first if wanted. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer || this.flushing) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.kick();
    }, this.options.lingerMs);
  }

  private kick(): void {
    if (this.flushing || this.failure || !this.dirty) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const batch = this.batch;
    this.batch = { pack: new RecordPack(), events: 0, lastPosition: null };
    this.inFlightEvents = batch.events;
    this.dirty = false;
    const offset: StoredOffset = {
      v: 1,
      source: this.options.source,
      position: this.position,
      ack: this.ack,
      snapshot: this.snapshot,
      connector: this.options.connector,
      ts_ms: Date.now(),
    };
    this.flushing = this.commit(batch, offset).finally(() => {
      this.flushing = null;
      this.inFlightEvents = 0;
      if (this.failure) return;
      if (this.dirty && (this.batch.events >= this.options.batchSize || this.timer === null)) {
        if (this.batch.events >= this.options.batchSize) this.kick();
        else this.arm();
      }
      if (this.blocked && this.buffered < this.options.maxBuffered / 2) {
        this.blocked = false;
        this.hooks.drained();
      }
    });
  }

  private async commit(batch: Batch, offset: StoredOffset): Promise<void> {
    try {
      batch.pack.add(offsetRecord(this.options.offsetsTopic, offset));
      await this.producer.commit(batch.pack); // aborted if anything in it failed
    } catch (err) {
      this.failed(err);
      return;
    }
    this.hooks.committed(offset, batch.events);
  }

  /** The first failure stops the publisher; the engine is told once. */
  private failed(err: unknown): void {
    if (this.failure) return;
    this.failure = toTributaryError(err, 'PUBLISH_FAILED');
    this.hooks.failed(this.failure);
  }

  private checkFailed(): void {
    if (this.failure) throw this.failure;
  }
}
