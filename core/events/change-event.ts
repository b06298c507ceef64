/**
 * The ChangeEvent contract: the one envelope type that flows through capture, processors,
 * sinks and the test kit. It is Debezium-compatible on the wire:
 *
 *   Kafka key   = the primary-key columns as an object, e.g. {"id": 42}
 *   Kafka value = {before, after, source, transaction, op, ts_ms, ts_us, ts_ns}  (null = tombstone)
 *                 (Debezium 2.x/3.x field order; the serde always writes this order)
 *   header      = `tributary.version`: the per-key monotonic version (decimal uint64)
 *
 * The per-key version is derived from the source position (PostgreSQL: the change's WAL LSN;
 * snapshot reads take the low watermark's LSN; MySQL: binlog file index, position, row index).
 * It rides in a header so the value stays byte-for-byte what Debezium consumers expect, and
 * sinks use it to refuse stale writes.
 */
import type { ConnectSchema } from './connect-schema.ts';

/** c = create, u = update, d = delete, r = snapshot read, t = truncate. */
export type Op = 'c' | 'u' | 'd' | 'r' | 't';
export const OPS: readonly Op[] = ['c', 'u', 'd', 'r', 't'];

/** A row as it appears in `before`/`after`: column name -> value in Debezium's JSON form. */
export type Row = Record<string, unknown>;
/** The Kafka key: the primary-key columns of the row. */
export type RowKey = Record<string, unknown>;

/**
 * `source` block. The common fields are typed; connector-specific ones (PostgreSQL: sequence,
 * schema, table, txId, lsn, xmin; MySQL: file, pos, row, gtid, server_id, thread, ...) are
 * carried as extra properties in the order the connector puts them, which is Debezium's order.
 */
export interface SourceInfo {
  version: string;
  connector: string;
  name: string;
  ts_ms: number;
  snapshot?:
    | 'true'
    | 'false'
    | 'first'
    | 'last'
    | 'first_in_data_collection'
    | 'last_in_data_collection'
    | 'incremental';
  db: string;
  [field: string]: unknown;
}

/** Debezium's transaction metadata block (present when transaction metadata is enabled). */
export interface TransactionBlock {
  id: string;
  total_order: number;
  data_collection_order: number;
}

/** The Kafka value of a change event. */
export interface Envelope {
  before: Row | null;
  after: Row | null;
  source: SourceInfo;
  transaction: TransactionBlock | null;
  op: Op;
  ts_ms: number;
  /** Debezium 2.6+ also carries microsecond and nanosecond processing times. */
  ts_us?: number;
  ts_ns?: number | bigint;
}

/** Connect schemas describing an event, needed only for the `{schema, payload}` JSON form. */
export interface EventSchemas {
  /** Struct schema of the key, e.g. name "server.public.orders.Key". */
  key: ConnectSchema;
  /** Struct schema of a row (before/after), e.g. name "server.public.orders.Value". */
  row: ConnectSchema;
  /** Struct schema of the source block, e.g. name "io.debezium.connector.postgresql.Source". */
  source: ConnectSchema;
  /** Envelope name, e.g. "server.public.orders.Envelope". */
  envelopeName: string;
}

/** One change event, in memory. */
export interface ChangeEvent {
  /** Kafka topic the event belongs to: <prefix>.<schema>.<table>. */
  topic: string;
  key: RowKey;
  value: Envelope;
  /** Per-key monotonic version (unsigned 64-bit). */
  version: bigint;
  /** Present when the connector knows the column types; required for the schema JSON form. */
  schemas?: EventSchemas;
  /**
   * Extra Kafka headers, e.g. `tributary.unavailable` (columns whose unchanged TOAST value was
   * replaced by the placeholder). The version header is added by the serde.
   */
  headers?: Record<string, string>;
}

/** Header listing the columns (comma-separated) that carry the unavailable-value placeholder. */
export const UNAVAILABLE_HEADER = 'tributary.unavailable';

export const VERSION_HEADER = 'tributary.version';
export const MAX_VERSION = (1n << 64n) - 1n;
