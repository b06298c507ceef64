/**
 * One Parquet column of the file being built: values are encoded as they are added (PLAIN
 * bytes, or dictionary indexes for the low-cardinality metadata columns), so the sink holds
 * bytes rather than JS values; a data page (v2) is compressed once its values reach PAGE_BYTES,
 * and the column chunk of a row group is its compressed pages, handed to the file builder.
 *
 * Statistics: null count for every column; min/max where they are cheap and exact (numbers,
 * booleans, UTF-8 text up to STATS_MAX_BYTES bytes; none for binary and fixed-length columns).
 */
import type { SchemaElement } from 'hyparquet';
import { ThriftWriter } from './thrift.ts';

export type Compressor = (input: Uint8Array) => Uint8Array;

const PAGE_BYTES = 1 << 20;
/** Text min/max longer than this are left out (a long text's bounds are of little use). */
const STATS_MAX_BYTES = 64;
const TWO_32 = 4294967296;
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;
const U64_LIMIT = 1n << 64n;
const I128_MIN = -(1n << 127n);
const I128_MAX = (1n << 127n) - 1n;

// Physical kinds, dispatched with a switch in one class (one shape for every column).
const BOOLEAN = 0;
const INT32 = 1;
const INT64 = 2;
const FLOAT = 3;
const DOUBLE = 4;
const BYTE_ARRAY = 5;
const FIXED = 6;

const KINDS: Record<string, number> = {
  BOOLEAN,
  INT32,
  INT64,
  FLOAT,
  DOUBLE,
  BYTE_ARRAY,
  FIXED_LEN_BYTE_ARRAY: FIXED,
};
const ENCODING = { PLAIN: 0, RLE: 3, RLE_DICTIONARY: 8 } as const;
const PAGE_TYPE = { DICTIONARY_PAGE: 2, DATA_PAGE_V2: 3 } as const;

/** A column chunk ready to be placed in the file. */
export interface ColumnChunk {
  /** Dictionary page (if any) then data pages, each header + levels + compressed values. */
  parts: Uint8Array[];
  compressedBytes: number;
  uncompressedBytes: number;
  /** Bytes of the dictionary page (0 without one): data pages start this far into the chunk. */
  dictionaryBytes: number;
  values: number;
  encodings: number[];
  nullCount: number;
  min: Uint8Array | undefined;
  max: Uint8Array | undefined;
}

/** Node's Buffer has a direct UTF-8 write below `buf.write(s, offset, 'utf8')` (no argument parsing). */
type Utf8Writable = Buffer & { utf8Write(s: string, offset: number): number };

/** Growable byte buffer (a Buffer, for its native UTF-8 writes). */
class Bytes {
  buf: Buffer;
  view: DataView;
  pos = 0;

  constructor(size = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  /** Length-prefixed UTF-8 (PLAIN BYTE_ARRAY); returns the byte length. */
  text(s: string): number {
    this.ensure(4 + s.length * 3);
    const n = (this.buf as Utf8Writable).utf8Write(s, this.pos + 4);
    this.view.setUint32(this.pos, n, true);
    this.pos += 4 + n;
    return n;
  }

  /** Length-prefixed bytes (PLAIN BYTE_ARRAY). */
  binary(b: Uint8Array): void {
    this.ensure(4 + b.length);
    this.view.setUint32(this.pos, b.length, true);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }

  /** A copy of the bytes so far. */
  copy(): Uint8Array {
    return Uint8Array.prototype.slice.call(this.buf, 0, this.pos);
  }
}

/**
 * RLE / bit-packed hybrid encoding of `n` small non-negative integers: runs of 8 or more equal
 * values as RLE runs, the rest bit-packed in groups of 8 (the last group padded with zeros).
 */
function writeRleHybrid(out: Bytes, values: ArrayLike<number>, n: number, bitWidth: number): void {
  const byteWidth = (bitWidth + 7) >> 3;
  let packedStart = 0;
  let packedGroups = 0;
  let i = 0;
  while (i < n) {
    const v = values[i]!;
    let run = 1;
    while (i + run < n && values[i + run] === v) run++;
    if (run >= 8) {
      if (packedGroups > 0) writeBitPacked(out, values, n, packedStart, packedGroups, bitWidth);
      packedGroups = 0;
      out.varint(run * 2);
      for (let b = 0; b < byteWidth; b++) out.byte((v >>> (b * 8)) & 0xff);
      i += run;
    } else {
      if (packedGroups === 0) packedStart = i;
      packedGroups++;
      i += 8;
    }
  }
  if (packedGroups > 0) writeBitPacked(out, values, n, packedStart, packedGroups, bitWidth);
}

function writeBitPacked(
  out: Bytes,
  values: ArrayLike<number>,
  n: number,
  start: number,
  groups: number,
  bitWidth: number,
): void {
  out.varint(groups * 2 + 1);
  let acc = 0;
  let bits = 0;
  const end = start + groups * 8;
  for (let i = start; i < end; i++) {
    acc |= (i < n ? values[i]! : 0) << bits;
    bits += bitWidth;
    while (bits >= 8) {
      out.byte(acc & 0xff);
      acc >>>= 8;
      bits -= 8;
    }
  }
  if (bits > 0) out.byte(acc & 0xff);
}

function bitWidthOf(max: number): number {
  let w = 1;
  while (max >= 2 ** w) w++;
  return w;
}

/** UTF-8 byte order of two strings (JS `<` is UTF-16 order, which differs beyond the BMP). */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

export class ColumnWriter {
  readonly kind: number;
  readonly optional: boolean;
  readonly dictionary: boolean;
  private readonly unsigned: boolean;
  private readonly utf8: boolean;
  private readonly fixedLength: number;

  /**
   * Values of the current data page (PLAIN), or nothing for a dictionary column. Small at first
   * (a wide table has many columns per open file), doubled as values come.
   */
  private readonly data = new Bytes(8 * 1024);
  private bit = 0;
  /** Definition levels of the current page (optional columns), one byte per row. */
  private defs = new Uint8Array(256);
  private pageRows = 0;
  private pageNulls = 0;

  // Dictionary columns: entry per distinct value, index per row of the chunk.
  private readonly dict = new Map<string, number>();
  private readonly dictValues: string[] = [];
  private indexes = new Int32Array(256);
  private indexCount = 0;

  // The column chunk of the open row group.
  private parts: Uint8Array[] = [];
  private compressedBytes = 0;
  private uncompressedBytes = 0;
  private chunkRows = 0;
  private chunkNulls = 0;

  // Statistics of the chunk.
  private statsOn: boolean;
  private min: number | bigint | string | boolean | undefined;
  private max: number | bigint | string | boolean | undefined;
  private minAscii = true;
  private maxAscii = true;

  constructor(
    readonly element: SchemaElement,
    private readonly compress: Compressor,
    dictionary: boolean,
  ) {
    const kind = KINDS[element.type ?? ''];
    if (kind === undefined)
      throw new Error(`column ${element.name}: unsupported type ${element.type}`);
    this.kind = kind;
    this.optional = element.repetition_type !== 'REQUIRED';
    this.utf8 = element.converted_type === 'UTF8';
    this.dictionary = dictionary && kind === BYTE_ARRAY && this.utf8;
    this.unsigned = element.converted_type === 'UINT_64';
    this.fixedLength = element.type_length ?? 0;
    this.statsOn = this.kind !== FIXED && (this.kind !== BYTE_ARRAY || this.utf8);
  }

  /** Throws when `v` cannot be written to this column (nothing is written then). */
  check(v: unknown): void {
    if (v === null || v === undefined) {
      if (!this.optional) throw new Error(`column ${this.element.name} is required`);
      return;
    }
    switch (this.kind) {
      case BOOLEAN:
        if (typeof v === 'boolean') return;
        break;
      case INT32:
        if (Number.isSafeInteger(v) && (v as number) >= -2147483648 && (v as number) <= 2147483647)
          return;
        break;
      case INT64:
        if (Number.isSafeInteger(v)) return;
        if (typeof v === 'bigint') {
          if (v >= I64_MIN && (this.unsigned ? v < U64_LIMIT : v <= I64_MAX)) return;
          throw new RangeError(`column ${this.element.name}: ${v} is out of the INT64 range`);
        }
        break;
      case FLOAT:
      case DOUBLE:
        if (typeof v === 'number') return;
        break;
      case BYTE_ARRAY:
        if (typeof v === 'string' || (!this.dictionary && v instanceof Uint8Array)) return;
        break;
      case FIXED:
        if (v instanceof Uint8Array && v.length === this.fixedLength) return;
        if (typeof v === 'bigint' && this.fixedLength === 16) {
          if (v >= I128_MIN && v <= I128_MAX) return;
          throw new RangeError(`column ${this.element.name}: ${v} does not fit 16 bytes`);
        }
        break;
    }
    throw new TypeError(
      `column ${this.element.name} (${this.element.type}) cannot hold ${typeof v} ${String(v).slice(0, 40)}`,
    );
  }

  /** Appends one value, already accepted by check(). */
  add(v: unknown): void {
    if (this.optional) {
      if (this.pageRows === this.defs.length) {
        const next = new Uint8Array(this.defs.length * 2);
        next.set(this.defs);
        this.defs = next;
      }
      if (v === null || v === undefined) {
        this.defs[this.pageRows++] = 0;
        this.pageNulls++;
        return;
      }
      this.defs[this.pageRows++] = 1;
    } else this.pageRows++;
    const d = this.data;
    switch (this.kind) {
      case BOOLEAN: {
        if (this.bit === 0) {
          d.ensure(1);
          d.buf[d.pos++] = 0;
        }
        if (v) d.buf[d.pos - 1]! |= 1 << this.bit;
        this.bit = (this.bit + 1) & 7;
        if (this.statsOn) this.stat(v as boolean);
        break;
      }
      case INT32:
        d.ensure(4);
        d.view.setInt32(d.pos, v as number, true);
        d.pos += 4;
        if (this.statsOn) this.stat(v as number);
        break;
      case INT64:
        d.ensure(8);
        if (typeof v === 'number') {
          const hi = Math.floor(v / TWO_32);
          d.view.setUint32(d.pos, v - hi * TWO_32, true);
          d.view.setInt32(d.pos + 4, hi, true);
          if (this.statsOn) this.stat(this.unsigned && v < 0 ? BigInt.asUintN(64, BigInt(v)) : v);
        } else {
          d.view.setBigInt64(d.pos, v as bigint, true);
          if (this.statsOn)
            this.stat(
              this.unsigned && (v as bigint) < 0n ? BigInt.asUintN(64, v as bigint) : (v as bigint),
            );
        }
        d.pos += 8;
        break;
      case FLOAT:
        d.ensure(4);
        d.view.setFloat32(d.pos, v as number, true);
        d.pos += 4;
        if (this.statsOn && !Number.isNaN(v)) this.stat(Math.fround(v as number));
        break;
      case DOUBLE:
        d.ensure(8);
        d.view.setFloat64(d.pos, v as number, true);
        d.pos += 8;
        if (this.statsOn && !Number.isNaN(v)) this.stat(v as number);
        break;
      case BYTE_ARRAY:
        if (this.dictionary) {
          this.addIndex(v as string);
          return;
        }
        if (typeof v === 'string') {
          const n = d.text(v);
          if (this.statsOn) {
            if (n > STATS_MAX_BYTES) this.statsOn = false;
            else this.statText(v, n === v.length);
          }
        } else d.binary(v as Uint8Array);
        break;
      case FIXED:
        d.ensure(this.fixedLength);
        if (typeof v === 'bigint') {
          // Big-endian two's complement, 16 bytes.
          let x = BigInt.asUintN(128, v);
          for (let i = 15; i >= 0; i--) {
            d.buf[d.pos + i] = Number(x & 0xffn);
            x >>= 8n;
          }
        } else d.buf.set(v as Uint8Array, d.pos);
        d.pos += this.fixedLength;
        break;
    }
    if (d.pos >= PAGE_BYTES) this.flushPage();
  }

  private addIndex(v: string): void {
    let idx = this.dict.get(v);
    if (idx === undefined) {
      idx = this.dictValues.length;
      this.dict.set(v, idx);
      this.dictValues.push(v);
      if (this.statsOn) {
        const n = Buffer.byteLength(v, 'utf8');
        if (n > STATS_MAX_BYTES) this.statsOn = false;
        else this.statText(v, n === v.length);
      }
    }
    if (this.indexCount === this.indexes.length) {
      const next = new Int32Array(this.indexes.length * 2);
      next.set(this.indexes);
      this.indexes = next;
    }
    this.indexes[this.indexCount++] = idx;
  }

  private stat(v: number | bigint | boolean): void {
    if (this.min === undefined) {
      this.min = this.max = v;
      return;
    }
    if (v < this.min!) this.min = v;
    else if (v > this.max!) this.max = v;
  }

  private statText(v: string, ascii: boolean): void {
    if (this.min === undefined) {
      this.min = this.max = v;
      this.minAscii = this.maxAscii = ascii;
      return;
    }
    const min = this.min as string;
    const max = this.max as string;
    if (ascii && this.minAscii ? v < min : compareUtf8(v, min) < 0) {
      this.min = v;
      this.minAscii = ascii;
    } else if (ascii && this.maxAscii ? v > max : compareUtf8(v, max) > 0) {
      this.max = v;
      this.maxAscii = ascii;
    }
  }

  /** Ends the column chunk of the row group: the pages to place in the file, and its metadata. */
  finishChunk(): ColumnChunk {
    let dictionaryBytes = 0;
    if (this.dictionary) {
      dictionaryBytes = this.writeDictionaryPage();
      this.writeIndexPage();
    } else if (this.pageRows > 0 || this.chunkRows === 0) this.flushPage();
    const chunk: ColumnChunk = {
      parts: this.parts,
      compressedBytes: this.compressedBytes,
      uncompressedBytes: this.uncompressedBytes,
      dictionaryBytes,
      values: this.chunkRows,
      encodings: this.dictionary
        ? [ENCODING.PLAIN, ENCODING.RLE, ENCODING.RLE_DICTIONARY]
        : this.optional
          ? [ENCODING.PLAIN, ENCODING.RLE]
          : [ENCODING.PLAIN],
      nullCount: this.chunkNulls,
      min: this.statBytes(this.min, false),
      max: this.statBytes(this.max, true),
    };
    this.parts = [];
    this.compressedBytes = this.uncompressedBytes = this.chunkRows = this.chunkNulls = 0;
    this.min = this.max = undefined;
    this.statsOn = this.kind !== FIXED && (this.kind !== BYTE_ARRAY || this.utf8);
    this.dict.clear();
    this.dictValues.length = 0;
    this.indexCount = 0;
    return chunk;
  }

  private statBytes(
    v: number | bigint | string | boolean | undefined,
    isMax: boolean,
  ): Uint8Array | undefined {
    if (v === undefined || !this.statsOn) return undefined;
    const b = new Uint8Array(this.kind === INT32 || this.kind === FLOAT ? 4 : 8);
    const view = new DataView(b.buffer);
    switch (this.kind) {
      case BOOLEAN:
        return new Uint8Array([v ? 1 : 0]);
      case INT32:
        view.setInt32(0, v as number, true);
        return b;
      case INT64:
        view.setBigInt64(0, BigInt(v as number | bigint), true);
        return b;
      case FLOAT:
        // Parquet: a zero min is -0, a zero max +0.
        view.setFloat32(0, v === 0 ? (isMax ? 0 : -0) : (v as number), true);
        return b;
      case DOUBLE:
        view.setFloat64(0, v === 0 ? (isMax ? 0 : -0) : (v as number), true);
        return b;
      default:
        return Buffer.from(v as string, 'utf8');
    }
  }

  /** Compresses the current page's values into a data page (v2) of the chunk. */
  private flushPage(): void {
    const levels = new Bytes(256);
    if (this.optional) {
      if (this.pageNulls === 0 || this.pageNulls === this.pageRows) {
        levels.varint(this.pageRows * 2);
        levels.byte(this.pageNulls === 0 ? 1 : 0);
      } else writeRleHybrid(levels, this.defs, this.pageRows, 1);
    }
    const values = this.data.buf.subarray(0, this.data.pos);
    this.writePage(ENCODING.PLAIN, levels, values);
    this.data.pos = 0;
    this.bit = 0;
  }

  private writeDictionaryPage(): number {
    const plain = new Bytes();
    for (const v of this.dictValues) plain.text(v);
    const raw = plain.buf.subarray(0, plain.pos);
    const compressed = this.compress(raw);
    const header = new ThriftWriter()
      .i32(1, PAGE_TYPE.DICTIONARY_PAGE)
      .i32(2, raw.length)
      .i32(3, compressed.length)
      .struct(7)
      .i32(1, this.dictValues.length)
      .i32(2, ENCODING.PLAIN)
      .end()
      .end()
      .bytes();
    this.parts.push(header, compressed);
    const size = header.length + compressed.length;
    this.compressedBytes += size;
    this.uncompressedBytes += header.length + raw.length;
    return size;
  }

  private writeIndexPage(): void {
    const levels = new Bytes(256);
    if (this.optional) writeRleHybrid(levels, this.defs, this.pageRows, 1);
    const values = new Bytes(256);
    const width = bitWidthOf(Math.max(0, this.dictValues.length - 1));
    values.byte(width);
    writeRleHybrid(values, this.indexes, this.indexCount, width);
    this.writePage(ENCODING.RLE_DICTIONARY, levels, values.buf.subarray(0, values.pos));
  }

  private writePage(encoding: number, levels: Bytes, values: Uint8Array): void {
    const compressed = this.compress(values);
    const header = new ThriftWriter()
      .i32(1, PAGE_TYPE.DATA_PAGE_V2)
      .i32(2, levels.pos + values.length)
      .i32(3, levels.pos + compressed.length)
      .struct(8)
      .i32(1, this.pageRows)
      .i32(2, this.pageNulls)
      .i32(3, this.pageRows)
      .i32(4, encoding)
      .i32(5, levels.pos)
      .i32(6, 0)
      .end()
      .end()
      .bytes();
    this.parts.push(header);
    if (levels.pos > 0) this.parts.push(levels.copy());
    this.parts.push(compressed);
    this.compressedBytes += header.length + levels.pos + compressed.length;
    this.uncompressedBytes += header.length + levels.pos + values.length;
    this.chunkRows += this.pageRows;
    this.chunkNulls += this.pageNulls;
    this.pageRows = 0;
    this.pageNulls = 0;
  }
}
