/**
 * One Parquet file being built in memory by the sink's own encoder (column.ts, thrift.ts): each
 * row's values are encoded into their columns as it is added, a row group is closed every
 * `rowGroupRows` rows, and the file (row groups, then the footer) is assembled on finish.
 * Output is a function of the rows and the options only (no timestamps, no random ids), which
 * the exactly-once design depends on. See docs/decisions/0004-parquet-writer.md.
 */
import type { LogicalType, SchemaElement } from 'hyparquet';
import { ColumnWriter } from './column.ts';
import type { ColumnChunk, Compressor } from './column.ts';
import { deterministicSnappy } from './snappy.ts';
import { ThriftWriter } from './thrift.ts';

export type Compression = 'snappy' | 'zstd';

let zstd: Compressor | undefined;
let snappy: Compressor | undefined;

/** The compressor for `codec` (its wasm module is loaded on first use; see snappy.ts). */
export async function compressorFor(codec: Compression): Promise<Compressor> {
  if (codec === 'snappy') return (snappy ??= deterministicSnappy());
  if (!zstd) {
    const z = await import('@bokuweb/zstd-wasm');
    await z.init();
    zstd = (b) => z.compress(b, 3);
  }
  return zstd;
}

export interface FileBuilderOptions {
  codec: Compression;
  compress: Compressor;
  rowGroupRows: number;
}

const MAGIC = Uint8Array.from([0x50, 0x41, 0x52, 0x31]); // PAR1
const CODEC = { snappy: 1, zstd: 6 } as const;
const TYPES = [
  'BOOLEAN',
  'INT32',
  'INT64',
  'INT96',
  'FLOAT',
  'DOUBLE',
  'BYTE_ARRAY',
  'FIXED_LEN_BYTE_ARRAY',
];
const CONVERTED = [
  'UTF8',
  'MAP',
  'MAP_KEY_VALUE',
  'LIST',
  'ENUM',
  'DECIMAL',
  'DATE',
  'TIME_MILLIS',
  'TIME_MICROS',
  'TIMESTAMP_MILLIS',
  'TIMESTAMP_MICROS',
  'UINT_8',
  'UINT_16',
  'UINT_32',
  'UINT_64',
  'INT_8',
  'INT_16',
  'INT_32',
  'INT_64',
  'JSON',
  'BSON',
  'INTERVAL',
];
const REPETITION = ['REQUIRED', 'OPTIONAL', 'REPEATED'];

interface RowGroup {
  offset: number;
  rows: number;
  compressedBytes: number;
  uncompressedBytes: number;
  columns: Array<{ chunk: ColumnChunk; offset: number }>;
}

export class ParquetFileBuilder {
  private readonly columns: ColumnWriter[];
  private readonly parts: Uint8Array[] = [MAGIC];
  private offset = MAGIC.length;
  private readonly rowGroups: RowGroup[] = [];
  private buffered = 0;
  /** Rows in the file so far. */
  rows = 0;

  /** `dictionary`: names of text columns to dictionary-encode (few distinct values). */
  constructor(
    private readonly schema: SchemaElement[],
    private readonly options: FileBuilderOptions,
    dictionary: ReadonlySet<string> = new Set(),
  ) {
    this.columns = schema.map((e) => new ColumnWriter(e, options.compress, dictionary.has(e.name)));
  }

  /**
   * Appends one row: one value per schema column, already converted. Throws (and adds nothing)
   * when a value does not fit its column.
   */
  add(values: readonly unknown[]): void {
    const columns = this.columns;
    for (let i = 0; i < columns.length; i++) columns[i]!.check(values[i]);
    for (let i = 0; i < columns.length; i++) columns[i]!.add(values[i]);
    this.buffered++;
    this.rows++;
    if (this.buffered >= this.options.rowGroupRows) this.closeRowGroup();
  }

  /** Bytes of the closed row groups so far. */
  get encodedBytes(): number {
    return this.offset;
  }

  /** Closes the last row group, writes the footer with `kv` and returns the file. */
  finish(kv: Record<string, string>): Uint8Array {
    this.closeRowGroup();
    const footer = this.footer(kv);
    const tail = new Uint8Array(8);
    new DataView(tail.buffer).setUint32(0, footer.length, true);
    tail.set(MAGIC, 4);
    this.parts.push(footer, tail);
    return Buffer.concat(this.parts, this.offset + footer.length + 8);
  }

  private closeRowGroup(): void {
    if (this.buffered === 0) return;
    const group: RowGroup = {
      offset: this.offset,
      rows: this.buffered,
      compressedBytes: 0,
      uncompressedBytes: 0,
      columns: [],
    };
    for (const c of this.columns) {
      const chunk = c.finishChunk();
      group.columns.push({ chunk, offset: this.offset });
      for (const p of chunk.parts) this.parts.push(p);
      this.offset += chunk.compressedBytes;
      group.compressedBytes += chunk.compressedBytes;
      group.uncompressedBytes += chunk.uncompressedBytes;
    }
    this.rowGroups.push(group);
    this.buffered = 0;
  }

  /** FileMetaData (Thrift compact). */
  private footer(kv: Record<string, string>): Uint8Array {
    const t = new ThriftWriter();
    t.i32(1, 2); // version
    t.list(2, 'struct', this.schema.length + 1);
    t.listStruct().binary(4, 'root').i32(5, this.schema.length).end();
    for (const e of this.schema) schemaElement(t, e);
    t.i64(3, this.rows);
    t.list(4, 'struct', this.rowGroups.length);
    for (const g of this.rowGroups) {
      t.listStruct().list(1, 'struct', g.columns.length);
      g.columns.forEach(({ chunk, offset }, i) => {
        const e = this.schema[i]!;
        t.listStruct().i64(2, offset).struct(3);
        t.i32(1, TYPES.indexOf(e.type!));
        t.list(2, 'i32', chunk.encodings.length);
        for (const x of chunk.encodings) t.listI32(x);
        t.list(3, 'binary', 1).listBinary(e.name);
        t.i32(4, CODEC[this.options.codec]);
        t.i64(5, chunk.values);
        t.i64(6, chunk.uncompressedBytes);
        t.i64(7, chunk.compressedBytes);
        t.i64(9, offset + chunk.dictionaryBytes);
        if (chunk.dictionaryBytes > 0) t.i64(11, offset);
        t.struct(12).i64(3, chunk.nullCount);
        if (chunk.max && chunk.min) t.binary(5, chunk.max).binary(6, chunk.min);
        t.end(); // statistics
        t.end(); // meta_data
        t.end(); // column chunk
      });
      t.i64(2, g.uncompressedBytes).i64(3, g.rows).i64(5, g.offset).i64(6, g.compressedBytes);
      t.end();
    }
    const pairs = Object.entries(kv);
    t.list(5, 'struct', pairs.length);
    for (const [key, value] of pairs) t.listStruct().binary(1, key).binary(2, value).end();
    t.binary(6, 'tributary s3-parquet sink');
    // column_orders: TypeDefinedOrder for every column (min/max are in the type's order).
    t.list(7, 'struct', this.schema.length);
    for (let i = 0; i < this.schema.length; i++) t.listStruct().emptyStruct(1).end();
    t.end();
    return t.bytes();
  }
}

function schemaElement(t: ThriftWriter, e: SchemaElement): void {
  t.listStruct().i32(1, TYPES.indexOf(e.type!));
  if (e.type_length !== undefined) t.i32(2, e.type_length);
  t.i32(3, REPETITION.indexOf(e.repetition_type ?? 'OPTIONAL'));
  t.binary(4, e.name);
  if (e.converted_type !== undefined) t.i32(6, CONVERTED.indexOf(e.converted_type));
  if (e.scale !== undefined) t.i32(7, e.scale);
  if (e.precision !== undefined) t.i32(8, e.precision);
  if (e.logical_type) logicalType(t, e.logical_type);
  t.end();
}

/** LogicalType union (field 10 of SchemaElement). */
function logicalType(t: ThriftWriter, l: LogicalType): void {
  t.struct(10);
  const unit = (u: string) => {
    t.struct(2);
    t.emptyStruct(u === 'MILLIS' ? 1 : u === 'MICROS' ? 2 : 3);
    t.end();
  };
  switch (l.type) {
    case 'STRING':
      t.emptyStruct(1);
      break;
    case 'DECIMAL':
      t.struct(5).i32(1, l.scale).i32(2, l.precision).end();
      break;
    case 'DATE':
      t.emptyStruct(6);
      break;
    case 'TIME':
      t.struct(7).bool(1, l.isAdjustedToUTC);
      unit(l.unit);
      t.end();
      break;
    case 'TIMESTAMP':
      t.struct(8).bool(1, l.isAdjustedToUTC);
      unit(l.unit);
      t.end();
      break;
    case 'INTEGER':
      t.struct(10).i8(1, l.bitWidth).bool(2, l.isSigned).end();
      break;
    case 'JSON':
      t.emptyStruct(12);
      break;
    case 'UUID':
      t.emptyStruct(14);
      break;
    default:
      throw new Error(`logical type ${l.type} is not supported by the sink's Parquet writer`);
  }
  t.end();
}
