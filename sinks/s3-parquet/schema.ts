/**
 * Parquet columns for change events: the row columns (from the event's Kafka Connect schema
 * when the topic uses the `json-schema` form, otherwise inferred from the values), optionally
 * the before-row as `__before_<column>`, then the metadata columns `__op`, `__ts_ms`,
 * `__source_ts_ms`, `__table`, `__topic`, `__partition`, `__offset`, `__version`.
 *
 * A file has one layout. A record that does not fit the open file's layout (new or dropped
 * column, changed type) makes the writer close the file and start a new one (see writer.ts).
 */
import type { SchemaElement } from 'hyparquet';
import type { ConnectSchema, Row } from '../../core/events/index.ts';
import { stringifyJson } from '../../core/events/index.ts';

/** What a value looks like, for layouts inferred from values (no Connect schema). */
export type ValueKind = 'int' | 'double' | 'bool' | 'string' | 'json';

export interface ParquetColumn {
  name: string;
  element: SchemaElement;
  /** Debezium JSON value -> the value the column writer encodes (null stays null). */
  convert: (v: unknown) => unknown;
  /** Inferred layouts only: the kind of value the column holds. */
  kind?: ValueKind;
}

/** The row layout of a file: its columns and what identifies it. */
export interface RowLayout {
  /** Equal for records that fit the same file. */
  id: string;
  columns: ParquetColumn[];
  /** Connect-schema layouts are compared by id; inferred ones value by value (fits()). */
  inferred: boolean;
}

const I64_MAX = (1n << 63n) - 1n;
const I64_MIN = -(1n << 63n);

const optional = (e: Omit<SchemaElement, 'repetition_type'>): SchemaElement => ({
  ...e,
  repetition_type: 'OPTIONAL',
});
const utf8 = (name: string): SchemaElement =>
  optional({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8' });
const timestamp = (name: string, unit: 'MILLIS' | 'MICROS' | 'NANOS', utc: boolean) =>
  optional({
    name,
    type: 'INT64',
    ...(unit === 'NANOS'
      ? {}
      : { converted_type: unit === 'MILLIS' ? 'TIMESTAMP_MILLIS' : 'TIMESTAMP_MICROS' }),
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: utc, unit },
  } as SchemaElement);

function toText(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : stringifyJson(v);
}
function toInt(v: unknown): unknown {
  return v === null || v === undefined ? null : Number(v);
}
/** INT64 values: a safe integer stays a number (no bigint per value), others become bigint. */
function toBigInt(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint' || Number.isSafeInteger(v)) return v;
  return BigInt(v as number);
}
function toFloat(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  return typeof v === 'number' ? v : Number(v); // "NaN", "Infinity", "-Infinity", bigint
}
function toBool(v: unknown): unknown {
  return v === null || v === undefined ? null : Boolean(v);
}
function toBytes(v: unknown): unknown {
  if (v === null || v === undefined) return null;
  return Buffer.from(String(v), 'base64');
}

/** Big-endian two's-complement bytes (Connect Decimal, base64) -> the unscaled bigint. */
export function unscaledDecimal(base64: string): bigint {
  const b = Buffer.from(base64, 'base64');
  if (b.length === 0) return 0n;
  let n = BigInt(`0x${b.toString('hex')}`);
  if (b[0]! & 0x80) n -= 1n << BigInt(b.length * 8);
  return n;
}

/** Decimal text of unscaled * 10^-scale. */
export function decimalText(unscaled: bigint, scale: number): string {
  const neg = unscaled < 0n;
  const digits = (neg ? -unscaled : unscaled).toString();
  if (scale <= 0) return (neg ? '-' : '') + digits + '0'.repeat(-scale);
  const padded = digits.padStart(scale + 1, '0');
  return `${neg ? '-' : ''}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

const ZONED = /^([+-]?\d{4,})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$/;

/** Debezium ZonedTimestamp text (UTC, e.g. "2024-01-02T03:04:05.123456Z") -> µs since epoch. */
export function zonedTimestampMicros(text: string): bigint {
  if (text === 'infinity') return I64_MAX;
  if (text === '-infinity') return I64_MIN;
  const m = ZONED.exec(text);
  if (!m) {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${JSON.stringify(text)}`);
    return BigInt(ms) * 1000n;
  }
  const d = new Date(0);
  d.setUTCFullYear(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  d.setUTCHours(Number(m[4]), Number(m[5]), Number(m[6]), 0);
  const fraction = (m[7] ?? '').padEnd(6, '0').slice(0, 6);
  return BigInt(d.getTime()) * 1000n + BigInt(fraction);
}

/** The Parquet column for a Connect field. */
export function connectColumn(name: string, s: ConnectSchema): ParquetColumn {
  switch (s.name) {
    case 'io.debezium.time.Date':
      return {
        name,
        element: optional({ name, type: 'INT32', converted_type: 'DATE' }),
        convert: toInt,
      };
    case 'io.debezium.time.Time':
      return {
        name,
        element: optional({
          name,
          type: 'INT32',
          converted_type: 'TIME_MILLIS',
          logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MILLIS' },
        }),
        convert: toInt,
      };
    case 'io.debezium.time.MicroTime':
      return {
        name,
        element: optional({
          name,
          type: 'INT64',
          converted_type: 'TIME_MICROS',
          logical_type: { type: 'TIME', isAdjustedToUTC: false, unit: 'MICROS' },
        }),
        convert: toBigInt,
      };
    case 'io.debezium.time.Timestamp':
      return { name, element: timestamp(name, 'MILLIS', false), convert: toBigInt };
    case 'io.debezium.time.MicroTimestamp':
      return { name, element: timestamp(name, 'MICROS', false), convert: toBigInt };
    case 'io.debezium.time.NanoTimestamp':
      return { name, element: timestamp(name, 'NANOS', false), convert: toBigInt };
    case 'io.debezium.time.ZonedTimestamp':
      return {
        name,
        element: timestamp(name, 'MICROS', true),
        convert: (v) => (v === null || v === undefined ? null : zonedTimestampMicros(String(v))),
      };
    case 'org.apache.kafka.connect.data.Decimal': {
      if (s.type !== 'bytes') break;
      const scale = Number(s.parameters?.scale ?? 0);
      const precision = Number(s.parameters?.['connect.decimal.precision'] ?? 38);
      if (precision > 38) break; // wider than Parquet readers take: decimal text
      const wide = precision > 18;
      return {
        name,
        element: optional({
          name,
          ...(wide
            ? { type: 'FIXED_LEN_BYTE_ARRAY', type_length: 16 }
            : { type: 'INT64' as const }),
          converted_type: 'DECIMAL',
          scale,
          precision,
          logical_type: { type: 'DECIMAL', precision, scale },
        } as SchemaElement),
        convert: (v) => (v === null || v === undefined ? null : unscaledDecimal(String(v))),
      };
    }
    case 'io.debezium.data.VariableScaleDecimal':
      return {
        name,
        element: utf8(name),
        convert: (v) => {
          if (v === null || v === undefined) return null;
          const d = v as { scale: number; value: string };
          return decimalText(unscaledDecimal(d.value), Number(d.scale));
        },
      };
  }
  switch (s.type) {
    case 'int8':
    case 'int16':
    case 'int32':
      return {
        name,
        element: optional({
          name,
          type: 'INT32',
          ...(s.type === 'int32' ? {} : { converted_type: s.type === 'int8' ? 'INT_8' : 'INT_16' }),
        }),
        convert: toInt,
      };
    case 'int64':
      return { name, element: optional({ name, type: 'INT64' }), convert: toBigInt };
    case 'float32':
      return { name, element: optional({ name, type: 'FLOAT' }), convert: toFloat };
    case 'float64':
      return { name, element: optional({ name, type: 'DOUBLE' }), convert: toFloat };
    case 'boolean':
      return { name, element: optional({ name, type: 'BOOLEAN' }), convert: toBool };
    case 'bytes':
      // Decimal wider than 38 digits lands here too: its text keeps every digit.
      if (s.name === 'org.apache.kafka.connect.data.Decimal') {
        const scale = Number(s.parameters?.scale ?? 0);
        return {
          name,
          element: utf8(name),
          convert: (v) =>
            v === null || v === undefined ? null : decimalText(unscaledDecimal(String(v)), scale),
        };
      }
      return { name, element: optional({ name, type: 'BYTE_ARRAY' }), convert: toBytes };
    default:
      // string (UUID, JSON, XML, enums, ZonedTime, ...) as text; arrays, maps, structs as JSON text.
      return { name, element: utf8(name), convert: toText };
  }
}

/**
 * The column for a value when there is no schema. Numbers are DOUBLE (JSON does not tell 12.0
 * from 12, so an integral first value says nothing), except in key columns and for integers
 * beyond 2^53 (which arrive as bigint), both INT64. A column first seen null is text.
 */
export function inferredColumn(name: string, v: unknown, isKey = false): ParquetColumn {
  switch (typeof v) {
    case 'bigint':
      return int64Column(name);
    case 'number':
      return isKey && Number.isInteger(v)
        ? int64Column(name)
        : { name, kind: 'double', element: optional({ name, type: 'DOUBLE' }), convert: toFloat };
    case 'boolean':
      return { name, kind: 'bool', element: optional({ name, type: 'BOOLEAN' }), convert: toBool };
    case 'object':
      if (v !== null) return { name, kind: 'json', element: utf8(name), convert: toText };
  }
  return { name, kind: 'string', element: utf8(name), convert: toText };
}

function int64Column(name: string): ParquetColumn {
  return { name, kind: 'int', element: optional({ name, type: 'INT64' }), convert: toBigInt };
}

/** Whether a value can go into an inferred column of `kind` without loss. */
export function fitsKind(kind: ValueKind | undefined, v: unknown): boolean {
  if (v === null || v === undefined) return true;
  switch (kind) {
    case 'int':
      return typeof v === 'bigint' || Number.isInteger(v);
    case 'double':
      return typeof v === 'number';
    case 'bool':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'json':
      return typeof v === 'object';
    default:
      return false;
  }
}

/** The metadata columns, after the row columns. */
export const META_COLUMNS: SchemaElement[] = [
  { name: '__op', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  {
    name: '__ts_ms',
    type: 'INT64',
    converted_type: 'TIMESTAMP_MILLIS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    repetition_type: 'REQUIRED',
  },
  {
    name: '__source_ts_ms',
    type: 'INT64',
    converted_type: 'TIMESTAMP_MILLIS',
    logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
    repetition_type: 'REQUIRED',
  },
  { name: '__table', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: '__topic', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: '__partition', type: 'INT32', repetition_type: 'REQUIRED' },
  { name: '__offset', type: 'INT64', repetition_type: 'REQUIRED' },
  {
    name: '__version',
    type: 'INT64',
    // Converted type only (DuckDB 1.5 rejected hyparquet-writer's INTEGER logical type; kept).
    converted_type: 'UINT_64',
    repetition_type: 'REQUIRED',
  },
];

/** Metadata text columns with few distinct values per file: dictionary-encoded. */
export const DICTIONARY_COLUMNS: ReadonlySet<string> = new Set(['__op', '__table', '__topic']);

const layoutIds = new WeakMap<ConnectSchema, string>();

/** Identity of the layout a Connect row schema gives (equal schemas, equal ids). */
export function connectLayoutId(rowSchema: ConnectSchema, includeBefore: boolean): string {
  let id = layoutIds.get(rowSchema);
  if (id === undefined) {
    id = `connect:${includeBefore}:${stringifyJson(rowSchema.fields)}`;
    layoutIds.set(rowSchema, id);
  }
  return id;
}

/**
 * The layout for a record: from the Connect row schema when there is one, else inferred from
 * `row` (the after-row, or the key columns of a delete) and `before`.
 */
export function layoutFor(
  rowSchema: ConnectSchema | undefined,
  row: Row,
  before: Row | null,
  includeBefore: boolean,
  key: Row = {},
): RowLayout {
  if (rowSchema?.type === 'struct' && rowSchema.fields) {
    const id = connectLayoutId(rowSchema, includeBefore);
    const columns = rowSchema.fields.map((f) => connectColumn(f.field!, f));
    if (includeBefore)
      for (const f of rowSchema.fields) columns.push(connectColumn(`__before_${f.field!}`, f));
    return { id, columns, inferred: false };
  }
  const columns = Object.keys(row).map((c) => inferredColumn(c, row[c], c in key));
  if (includeBefore) {
    // Typed like the row's columns, so an insert (no before-row) and an update share a file.
    for (const c of Object.keys(row))
      columns.push(inferredColumn(`__before_${c}`, before?.[c] ?? row[c], c in key));
  }
  return {
    id: `inferred:${columns.map((c) => `${c.name}:${c.kind}`).join(',')}`,
    columns,
    inferred: true,
  };
}

/** Whether a record fits an open file's inferred layout (same columns, values of fitting kinds). */
export function fitsInferred(
  layout: RowLayout,
  row: Row,
  before: Row | null,
  includeBefore: boolean,
  rowWidth: number,
): boolean {
  let n = 0;
  for (const c in row) {
    const col = layout.columns[n];
    if (!col || col.name !== c || !fitsKind(col.kind, row[c])) return false;
    n++;
  }
  if (n !== rowWidth) return false;
  if (!includeBefore || !before) return true;
  for (let i = 0; i < rowWidth; i++) {
    const col = layout.columns[rowWidth + i]!;
    if (!fitsKind(col.kind, before[col.name.slice(9)])) return false;
  }
  return true;
}
