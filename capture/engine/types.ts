/**
 * The contract between the capture engine and a database connector.
 *
 * The engine owns the hard parts — snapshot↔stream coordination (DBLog watermarks), offsets,
 * Kafka transactions, acknowledgements, heartbeats and backpressure. A connector implements
 * small interfaces: it opens its change stream and reports what it sees through a StreamSink,
 * and (optionally) reads snapshot chunks and writes watermarks.
 *
 * Ordering model: every event the stream delivers has a StreamPosition (order, index).
 * `order` increases in stream order (PostgreSQL: the commit LSN of the transaction, or the LSN
 * of a non-transactional message); `index` numbers the events inside one `order` unit from 0.
 * The stored offset is the position of the last event committed to Kafka; on restart every
 * event at or before it is skipped.
 */
import type { ChangeEvent, RowKey } from '../../core/events/index.ts';
import type { OutgoingRecord } from '../../core/kafka/index.ts';

export interface StreamPosition {
  order: number;
  index: number;
}

/** What the connector tells the engine, in stream order. All calls are synchronous. */
export interface StreamSink {
  /**
   * A change event. Returns false when the engine's in-flight buffer is full: the connector
   * must stop reading (pause its socket) until `resume()` is called on it.
   */
  event(event: ChangeEvent, position: StreamPosition, table: string): boolean;
  /**
   * The unit `order` is complete (PostgreSQL: the transaction committed). `ack` is the source
   * position to confirm once everything up to here is durable in Kafka (PostgreSQL: end LSN).
   */
  unitEnd(order: number, ack: number): void;
  /**
   * A record that is not a change event (e.g. a transaction BEGIN/END on the transaction
   * metadata topic). Positioned, deduplicated and published like events.
   */
  record(record: OutgoingRecord, position: StreamPosition): boolean;
  /** A snapshot watermark written by the engine came back through the stream. */
  watermark(id: string, kind: WatermarkKind, order: number): void;
  /**
   * A signal written into the source's change stream (PostgreSQL: a logical decoding message
   * with prefix `tributary.signal`), e.g. an ad-hoc snapshot request. `payload` is its JSON
   * text, unparsed; `order` is its unit's order and `seq` grows inside one unit (PostgreSQL: the
   * message's LSN), so (order, seq) identifies a signal when it is replayed after a restart.
   */
  signal(payload: string, order: number, seq: number): void;
  /**
   * The stream is idle at `ack` (e.g. a heartbeat message came back and no unit is open):
   * the engine may confirm it after recording it in Kafka.
   */
  idle(ack: number): void;
  /** A fatal stream error (connection lost, protocol error). The engine stops. */
  fail(err: Error): void;
}

/** A running change stream. */
export interface ChangeStream {
  /** Confirms that everything up to `ack` is durable downstream (e.g. PostgreSQL flush LSN). */
  acknowledge(ack: number): void;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** A table the snapshot reads, by its stream name (e.g. "public.orders"). */
export interface SnapshotTable {
  name: string;
}

/** One keyset chunk: rows in key order, already converted to events by the connector. */
export interface SnapshotChunk {
  /** Events with op "r"; `version`/`source` are finalised by the engine at the high watermark. */
  rows: Array<{ key: RowKey; build: (ctx: SnapshotRowContext) => ChangeEvent }>;
  /** Key of the last row read (to continue after), or null when the table was empty. */
  lastKey: unknown[] | null;
  /** True when the table has no rows after this chunk. */
  last: boolean;
  /**
   * Whether a streamed change is already reflected in the chunk (its transaction was visible to
   * the chunk's read snapshot). When given, the engine drops a chunk row if any change of its
   * key seen since the window opened is NOT visible — wherever it fell relative to the low
   * watermark, which closes the gap of transactions that committed in WAL before the low
   * watermark but became visible only after the read snapshot was taken. Without it, the plain
   * DBLog rule applies: drop keys changed between the low and the high watermark.
   */
  visible?: (event: ChangeEvent) => boolean;
}

export interface SnapshotRowContext {
  /**
   * Debezium source.snapshot marker: true, first, first_in_data_collection,
   * last_in_data_collection, last; `incremental` for every row of an ad-hoc (signalled) snapshot.
   */
  marker:
    | 'true'
    | 'first'
    | 'first_in_data_collection'
    | 'last_in_data_collection'
    | 'last'
    | 'incremental';
  /**
   * The snapshot row's per-key version: the high watermark's position, which is after every
   * change the chunk reflects and before every change it does not (those keys are dropped).
   */
  version: bigint;
}

/** low/high: the DBLog window; release: after the high, once older transactions ended. */
export type WatermarkKind = 'low' | 'high' | 'release';

/** Optional capability: a connector that can snapshot tables. */
export interface SnapshotReader {
  tables(): SnapshotTable[];
  /** Reads up to `limit` rows of `table` with key greater than `afterKey` (null: from the start). */
  readChunk(table: string, afterKey: unknown[] | null, limit: number): Promise<SnapshotChunk>;
  /** Writes a watermark into the change stream (PostgreSQL: pg_logical_emit_message). */
  writeWatermark(id: string, kind: WatermarkKind): Promise<void>;
  /**
   * Optional: resolves once every transaction that was running when it was called has ended
   * (or as soon as `stopped()` is true).
   * A source whose changes can carry positions before the high watermark yet commit after it
   * (PostgreSQL: a change's LSN is where it was written, not where it committed) implements it;
   * the coordinator then waits for it after the high watermark and writes a `release`
   * watermark, and the chunk is decided when the release comes through the stream.
   */
  awaitRunningTransactions?(stopped: () => boolean): Promise<void>;
  /** Writes a heartbeat into the change stream so an idle source still advances. */
  writeHeartbeat?(): Promise<void>;
}

/** Snapshot progress stored with the offsets after every chunk. */
export interface SnapshotProgress {
  /** Tables fully read. */
  done: string[];
  /** Last key read per table in progress. */
  lastKey: Record<string, unknown[] | null>;
  /** Tables still to read, in order (including the one in progress). */
  pending: string[];
  /** Set when every table is done. */
  completed: boolean;
  /**
   * Set when a signal requested (part of) this snapshot: it is then resumed after a restart
   * whatever the snapshot mode, and its rows are marked `incremental`.
   */
  adhoc?: boolean;
  /** The last signal applied (its stream order and seq), so a replayed signal is not re-applied. */
  signal?: { order: number; seq: number };
}

/** The stored offset of a source (versioned; only ever extended). */
export interface StoredOffset {
  v: 1;
  source: string;
  /** Position of the last event committed to Kafka (null before the first event). */
  position: StreamPosition | null;
  /** Last source position confirmed to the database (PostgreSQL: flush LSN). */
  ack: number;
  snapshot: SnapshotProgress | null;
  /** Connector-specific facts to check on resume (PostgreSQL: slot name, system id). */
  connector: Record<string, unknown>;
  /** Wall-clock time of the write (ms), for operators. */
  ts_ms: number;
}
