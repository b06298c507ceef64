/**
 * The Sink behaviour: what a store adapter implements. The framework (SinkRuntime) owns
 * consumption, batching, retries, dead letters, metrics and offset commits; a sink only turns
 * a batch of decoded records into one durable, idempotent write.
 */
import type { ChangeEvent, Row, RowKey, Tombstone } from '../../core/events/index.ts';
import { fromKafkaRecord, stringifyJson } from '../../core/events/index.ts';
import type { DecodedRecord } from '../../core/events/index.ts';
import { TributaryError } from '../../core/errors/index.ts';
import type { IncomingRecord } from '../../core/kafka/index.ts';

/** Where a record came from; `raw` (set by the runtime) is the record as consumed. */
interface RecordOrigin {
  topic: string;
  partition: number;
  offset: bigint;
  /** Key and value bytes, all headers and the timestamp, exactly as read from Kafka. */
  raw?: IncomingRecord;
}

/** A decoded record with the Kafka coordinates it came from. */
export type SinkRecord = (
  { kind: 'change'; event: ChangeEvent } | { kind: 'tombstone'; tombstone: Tombstone }
) &
  RecordOrigin;

/** A record that is not a change event (other JSON, binary); `reason` says why it did not decode. */
export type UndecodedRecord = { kind: 'undecoded'; reason: Error } & RecordOrigin & {
    raw: IncomingRecord;
  };

/** A record the sink could not apply and that retrying cannot fix (goes to the dead-letter topic). */
export interface RejectedRecord {
  /** Index in the batch passed to writeBatch. */
  index: number;
  error: Error;
}

/** What writeBatch may return: the records it rejected one by one (the rest are durable). */
export interface WriteResult {
  rejected: RejectedRecord[];
}

/**
 * A store adapter.
 *
 * Lifecycle: open() once -> writeBatch()* -> close() once. writeBatch calls never overlap.
 * - writeBatch must be idempotent and version-guarded: applying a record whose per-key version
 *   is not newer than what the store holds for that key (including a delete's version) must
 *   change nothing, so replays and out-of-order redeliveries never regress the store.
 * - When writeBatch resolves, every record not listed in `rejected` is durable in the store;
 *   the framework commits the Kafka offsets right after.
 * - Throwing means nothing may be assumed durable. Throw an error with `retryable: true`
 *   (see RetryableSinkError) for transient trouble (connection refused, timeout, 429/503):
 *   the whole batch is retried with capped exponential backoff and consumption pauses.
 *   Throw RecordRejectedError when some record's data is unacceptable but the sink cannot say
 *   which: the framework bisects the batch down to the single record and dead-letters it.
 *   Any other error is fatal: the runtime stops without committing.
 * - Records of one partition arrive in offset order; a batch may mix partitions and topics.
 */
export interface Sink {
  readonly name: string;
  open(): Promise<void>;
  writeBatch(records: SinkRecord[]): Promise<WriteResult | void>;
  close(): Promise<void>;
  /** Optional counters of the sink itself, shown as `sink` in the runtime's metrics line. */
  metrics?(): Record<string, number>;
}

/** A topic partition and, with `offset`, a position in it (the next offset to read). */
export interface PartitionPosition {
  topic: string;
  partition: number;
  offset: bigint;
}

/**
 * Optional capability of a sink whose output records its own progress (e.g. files named by
 * their offsets): the store, not the consumer group, says where to resume, and records become
 * durable later than the writeBatch that delivered them (when a file is uploaded).
 * - onAssigned(partitions) runs for every assignment (the first one, after each rebalance and
 *   after the runtime rejoins), never concurrently with writeBatch. `partitions` is the whole
 *   new assignment: state kept for any other partition (revoked) must be dropped, and so must
 *   anything buffered and not yet durable (those records are read again). It returns where to
 *   start each partition; partitions it leaves out start at the group's committed offset.
 * - durablePositions() is read after each writeBatch: the runtime commits these positions (the
 *   next offset after what is durable, per partition) instead of the batch's last offsets, so
 *   group offsets trail the durable output. They are a hint for tools; onAssigned decides.
 */
export interface PositionedSink extends Sink {
  onAssigned(partitions: Array<{ topic: string; partition: number }>): Promise<PartitionPosition[]>;
  durablePositions(): PartitionPosition[];
}

export function isPositionedSink(sink: Sink): sink is PositionedSink {
  const s = sink as Partial<PositionedSink>;
  return typeof s.onAssigned === 'function' && typeof s.durablePositions === 'function';
}

/** A record passed on without decoding (RawRecordSink.takesBytes). */
export type CopiedRecord = { kind: 'copy' } & RecordOrigin & { raw: IncomingRecord };

/**
 * Optional capability of a sink that copies records as consumed (Kafka → Kafka forwarding).
 * Its writeBatch also receives what the runtime keeps from other sinks: truncate events (kind
 * 'change', op 't'), and records that are not change events (kind 'undecoded'), which would
 * otherwise be dead-lettered. A sink that cannot take one rejects it (dead letter, counted).
 * With `takesBytes` true the runtime skips decoding and passes every record as kind 'copy': the
 * sink copies them as consumed (format "same" forwarding) or reads them itself (the S3 Parquet
 * sink's direct reader, which decodes what it cannot read with decodeConsumed). Such a sink
 * rejects what it cannot take itself, truncates and undecodable records included.
 */
export interface RawRecordSink extends Sink {
  readonly rawRecords: true;
  readonly takesBytes?: boolean;
  writeBatch(
    records: Array<SinkRecord | UndecodedRecord | CopiedRecord>,
  ): Promise<WriteResult | void>;
}

export function isRawRecordSink(sink: Sink): sink is RawRecordSink {
  return (sink as Partial<RawRecordSink>).rawRecords === true;
}

/** A transient store failure: the batch is retried with backoff. */
export class RetryableSinkError extends TributaryError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('SINK_UNAVAILABLE', message, { ...options, retryable: true });
  }
}

/** The store refused the data itself (bad value, constraint); retrying cannot help. */
export class RecordRejectedError extends TributaryError {
  constructor(
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super('SINK_RECORD_REJECTED', message, { ...options, retryable: false });
  }
}

/** The effect of a record on its key: an upsert of `row` or a delete, at `version`. */
export interface KeyedWrite {
  topic: string;
  key: RowKey;
  /** Stable identity of the key within its topic (canonical JSON). */
  keyId: string;
  version: bigint;
  /** The after-row; null = the key is deleted. */
  row: Row | null;
  /** Columns whose value is the unchanged-TOAST placeholder (must not be written). */
  unavailable: string[];
  /** Index of the record in the batch. */
  index: number;
}

/** Canonical JSON of a key (columns sorted), the same whatever order the producer used. */
export function keyIdentity(key: RowKey): string {
  // Fast path (one column, or columns already in order): no copy, and no bigint replacer
  // unless a value holds a bigint (JSON.stringify throws then). Same text either way.
  let prev: string | undefined;
  for (const c in key) {
    if (prev !== undefined && !(prev < c))
      return stringifyJson(
        Object.fromEntries(Object.entries(key).sort(([a], [b]) => (a < b ? -1 : 1))),
      );
    prev = c;
  }
  try {
    return JSON.stringify(key);
  } catch {
    return stringifyJson(key);
  }
}

/**
 * What a record does to its key. A delete and the tombstone that follows it both delete at the
 * same version (the second is a no-op); a tombstone alone (compacted topic) deletes too.
 * Truncate events have no key effect and are refused by the runtime before they get here.
 */
export function keyedWrite(r: SinkRecord, index: number): KeyedWrite {
  if (r.kind === 'tombstone') {
    const t = r.tombstone;
    return {
      topic: r.topic,
      key: t.key,
      keyId: keyIdentity(t.key),
      version: t.version,
      row: null,
      unavailable: [],
      index,
    };
  }
  const e = r.event;
  const listed = e.headers?.['tributary.unavailable'];
  const unavailable = listed
    ? listed
        .split(',')
        .map((c) => c.trim())
        .filter(Boolean)
    : [];
  return {
    topic: r.topic,
    key: e.key,
    keyId: keyIdentity(e.key),
    version: e.version,
    row: e.value.op === 'd' ? null : e.value.after,
    unavailable,
    index,
  };
}

/**
 * The newest write per (topic, key) of a batch: older writes of the same key in one batch are
 * superseded (the store would refuse them anyway once the newer one landed), and stores such as
 * PostgreSQL cannot touch one row twice in one statement.
 */
export function latestPerKey(records: SinkRecord[]): KeyedWrite[] {
  const latest = new Map<string, KeyedWrite>();
  records.forEach((r, i) => {
    let w = keyedWrite(r, i);
    const id = `${w.topic}\u0000${w.keyId}`;
    const prev = latest.get(id);
    if (prev && prev.version > w.version) return;
    if (prev && prev.version === w.version && prev.row === null) return;
    if (prev?.row && w.row && w.unavailable.length > 0) {
      // The newer row lacks unchanged TOAST columns; the superseded row in this batch has them.
      const row = { ...w.row };
      const still: string[] = [];
      for (const c of w.unavailable)
        if (c in prev.row && !prev.unavailable.includes(c)) row[c] = prev.row[c];
        else still.push(c);
      w = { ...w, row, unavailable: still };
    }
    latest.set(id, w);
  });
  return [...latest.values()];
}

/**
 * For stores that write whole rows (Redis, ClickHouse): a row still carrying unchanged-TOAST
 * placeholders cannot be written without losing those columns, so it is refused with advice.
 */
export function partialRowError(w: KeyedWrite): RecordRejectedError {
  return new RecordRejectedError(
    `columns ${w.unavailable.join(', ')} carry the unchanged-TOAST placeholder and this store writes whole rows; set REPLICA IDENTITY FULL on the source table or put the toast-refill processor before this sink`,
  );
}

/** A consumed record decoded as the runtime decodes it for sinks (throws ChangeEventError). */
export function decodeConsumed(raw: IncomingRecord): DecodedRecord {
  return fromKafkaRecord(raw, { keepSchemas: mayCarrySchemas(raw.key) });
}

/**
 * Whether a key may be in the `{schema, payload}` form, whose Connect schemas the decoder then
 * keeps (looking for them costs about 0.5 us per record otherwise). Without the bytes
 * `"schema"` and without any backslash escape, the JSON text cannot have a "schema" member.
 */
function mayCarrySchemas(key: Buffer | null): boolean {
  if (key === null) return false;
  // A loop: keys are short, and two Buffer.includes calls cost 5x more (0.12 vs 0.025 us).
  for (let i = 0; i < key.length; i++) {
    const c = key[i];
    if (c === 0x5c) return true;
    if (c === 0x22 && key[i + 1] === 0x73 && key.toString('latin1', i, i + 8) === '"schema"')
      return true;
  }
  return false;
}

/** Why a truncate event is dead-lettered by sinks that do not apply it. */
export function truncateUnsupported(): TributaryError {
  return new TributaryError(
    'SINK_UNSUPPORTED_OP',
    'truncate events (op "t") are not applied by sinks; truncate the target yourself if needed',
  );
}
