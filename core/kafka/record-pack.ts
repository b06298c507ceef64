/**
 * A batch of records to produce, packed into a few large transferable buffers, so it can move
 * to the producer thread (threaded-producer.ts) without copying and without one object per
 * record. Keys and values given as JSON text are UTF-8 encoded straight into the pack, so the
 * capture thread never makes a Buffer per record; ready-made records are copied in.
 *
 * Layout of one record (little endian), never split across buffers:
 *   u16 topic index | i32 partition (-1 = by key) | u8 flags (1 = timestamp follows)
 *   [i64 timestamp] | i32 key length (-1 = null) | key | i32 value length (-1 = null) | value
 *   u16 header count | per header: u16 name length | name | i32 value length | value
 */
import type { OutgoingRecord } from './records.ts';

/** What crosses to the producer thread: `buffers[i]` holds `lengths[i]` bytes of records. */
export interface PackedRecords {
  buffers: ArrayBuffer[];
  lengths: number[];
  topics: string[];
  count: number;
}

/** Buffer's own utf8Write (what write(text, offset) ends in), returning the bytes written. */
interface Utf8Write {
  utf8Write(text: string, offset: number): number;
}

const CHUNK = 1024 * 1024;

/**
 * Pack buffers the producer thread gave back after sending their records (see
 * ThreadedTransactionalProducer): reused for new packs, so a steady capture allocates no new
 * buffers. Bounded: beyond POOL_LIMIT they are left to the garbage collector.
 */
const pool: ArrayBuffer[] = [];
const POOL_LIMIT = 64;

export function recyclePackBuffers(buffers: ArrayBuffer[]): void {
  for (const b of buffers) if (b.byteLength === CHUNK && pool.length < POOL_LIMIT) pool.push(b);
}
/** Fixed bytes of a record without timestamp: topic, partition, flags, two lengths, header count. */
const FIXED = 2 + 4 + 1 + 4 + 4 + 2;

export class RecordPack {
  private readonly topics: string[] = [];
  private readonly topicIds = new Map<string, number>();
  private readonly full: ArrayBuffer[] = [];
  private readonly fullLengths: number[] = [];
  private buf: Buffer | null = null;
  private pos = 0;
  private records = 0;
  private size = 0;

  /** Records added so far. */
  get count(): number {
    return this.records;
  }

  /** Bytes of packed records so far. */
  get bytes(): number {
    return this.size + this.pos;
  }

  /**
   * A record whose key and value are texts (written as UTF-8); a null value is a tombstone.
   * Header values are texts too.
   */
  addText(topic: string, key: string, value: string | null, headers: Record<string, string>): void {
    let worst = FIXED + (key.length + (value === null ? 0 : value.length)) * 3;
    for (const k in headers) worst += 6 + (k.length + headers[k]!.length) * 3;
    const buf = this.room(worst);
    let o = this.head(buf, topic, -1, undefined);
    o = writeText(buf, o, key);
    o = value === null ? buf.writeInt32LE(-1, o) : writeText(buf, o, value);
    this.pos = writeHeaders(buf, o, headers);
    this.records++;
  }

  /**
   * A change event's record: like addText with headers `{...extra, [name]: version}`, written
   * without building that object (the version header's name is encoded once). Falls back to
   * addText when `extra` has a header of that name itself.
   */
  addVersioned(
    topic: string,
    key: string,
    value: string | null,
    name: string,
    version: string,
    extra: Record<string, string> | undefined,
  ): void {
    if (extra !== undefined && name in extra) {
      this.addText(topic, key, value, { ...extra, [name]: version });
      return;
    }
    const nameBytes = headerName(name);
    let worst = FIXED + (key.length + (value === null ? 0 : value.length)) * 3;
    worst += 6 + nameBytes.length + version.length * 3;
    if (extra !== undefined) for (const k in extra) worst += 6 + (k.length + extra[k]!.length) * 3;
    const buf = this.room(worst);
    let o = this.head(buf, topic, -1, undefined);
    o = writeText(buf, o, key);
    o = value === null ? buf.writeInt32LE(-1, o) : writeText(buf, o, value);
    const countAt = o;
    let n = 0;
    if (extra === undefined) o += 2;
    else {
      o = writeHeaders(buf, o, extra);
      n = buf.readUInt16LE(countAt);
    }
    o = buf.writeUInt16LE(nameBytes.length, o);
    o += nameBytes.copy(buf, o);
    o = writeText(buf, o, version);
    buf.writeUInt16LE(n + 1, countAt);
    this.pos = o;
    this.records++;
  }

  /** A ready-made record (its bytes are copied). */
  add(r: OutgoingRecord): void {
    let worst = FIXED + (r.timestamp === undefined ? 0 : 8);
    worst += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    const h = r.headers;
    if (h)
      for (const k in h) {
        const v = h[k]!;
        worst += 6 + k.length * 3 + (typeof v === 'string' ? v.length * 3 : v.length);
      }
    const buf = this.room(worst);
    let o = this.head(buf, r.topic, r.partition ?? -1, r.timestamp);
    o = writeBytes(buf, o, r.key);
    o = writeBytes(buf, o, r.value);
    this.pos = h ? writeHeaders(buf, o, h) : buf.writeUInt16LE(0, o);
    this.records++;
  }

  /** The packed records; the pack must not be used afterwards (its buffers are handed over). */
  finish(): PackedRecords {
    if (this.buf && this.pos > 0) {
      this.full.push(this.buf.buffer as ArrayBuffer);
      this.fullLengths.push(this.pos);
    }
    this.buf = null;
    return {
      buffers: this.full,
      lengths: this.fullLengths,
      topics: this.topics,
      count: this.records,
    };
  }

  /** The current buffer, with at least `n` bytes free (a new one when needed). */
  private room(n: number): Buffer {
    const buf = this.buf;
    if (buf !== null && buf.length - this.pos >= n) return buf;
    if (buf !== null && this.pos > 0) {
      this.full.push(buf.buffer as ArrayBuffer);
      this.fullLengths.push(this.pos);
      this.size += this.pos;
    }
    // Not from Buffer's shared pool: each buffer is transferred to the other thread whole.
    const reused = n <= CHUNK ? pool.pop() : undefined;
    this.buf = reused ? Buffer.from(reused) : Buffer.allocUnsafeSlow(Math.max(CHUNK, n));
    this.pos = 0;
    return this.buf;
  }

  private head(buf: Buffer, topic: string, partition: number, timestamp?: bigint): number {
    let id = this.topicIds.get(topic);
    if (id === undefined) {
      id = this.topics.length;
      this.topics.push(topic);
      this.topicIds.set(topic, id);
    }
    let o = buf.writeUInt16LE(id, this.pos);
    o = buf.writeInt32LE(partition, o);
    if (timestamp === undefined) {
      buf[o] = 0;
      return o + 1;
    }
    buf[o] = 1;
    return buf.writeBigInt64LE(timestamp, o + 1);
  }
}

const headerNames = new Map<string, Buffer>();
/** A header name's UTF-8 bytes, made once per name. */
function headerName(name: string): Buffer {
  let b = headerNames.get(name);
  if (!b) {
    b = Buffer.from(name);
    if (headerNames.size < 100) headerNames.set(name, b);
  }
  return b;
}

function writeText(buf: Buffer, o: number, text: string): number {
  const n = (buf as unknown as Utf8Write).utf8Write(text, o + 4);
  buf.writeInt32LE(n, o);
  return o + 4 + n;
}

function writeBytes(buf: Buffer, o: number, b: Buffer | null): number {
  if (b === null) return buf.writeInt32LE(-1, o);
  o = buf.writeInt32LE(b.length, o);
  return o + b.copy(buf, o);
}

function writeHeaders(buf: Buffer, o: number, headers: Record<string, string | Buffer>): number {
  const countAt = o;
  o += 2;
  let n = 0;
  for (const k in headers) {
    const name = (buf as unknown as Utf8Write).utf8Write(k, o + 2);
    buf.writeUInt16LE(name, o);
    o += 2 + name;
    const v = headers[k]!;
    o = typeof v === 'string' ? writeText(buf, o, v) : writeBytes(buf, o, v);
    n++;
  }
  buf.writeUInt16LE(n, countAt);
  return o;
}

/**
 * Where every record's fields lie in a pack's buffers, parsed once into typed arrays (no object
 * per record). Positions are byte offsets into `buffers[buffer[i]]`; a length of -1 is null.
 */
export class PackIndex {
  readonly count: number;
  readonly buffers: Buffer[];
  readonly buffer: Uint16Array;
  readonly topic: Uint16Array;
  /** -1: by key. */
  readonly partition: Int32Array;
  /** Milliseconds; NaN when the record has none (the producer's clock is used). */
  readonly timestamp: Float64Array;
  readonly keyAt: Int32Array;
  readonly keyLength: Int32Array;
  readonly valueAt: Int32Array;
  readonly valueLength: Int32Array;
  /** Position of the first header (after the count). */
  readonly headersAt: Int32Array;
  readonly headerCount: Uint16Array;
  /** Bytes the record takes in the pack (about what it takes in a record batch). */
  readonly size: Int32Array;

  constructor(packed: PackedRecords) {
    const n = packed.count;
    this.count = n;
    this.buffers = packed.buffers.map((b, i) => Buffer.from(b, 0, packed.lengths[i]!));
    this.buffer = new Uint16Array(n);
    this.topic = new Uint16Array(n);
    this.partition = new Int32Array(n);
    this.timestamp = new Float64Array(n);
    this.keyAt = new Int32Array(n);
    this.keyLength = new Int32Array(n);
    this.valueAt = new Int32Array(n);
    this.valueLength = new Int32Array(n);
    this.headersAt = new Int32Array(n);
    this.headerCount = new Uint16Array(n);
    this.size = new Int32Array(n);
    let i = 0;
    for (let b = 0; b < this.buffers.length; b++) {
      const buf = this.buffers[b]!;
      let o = 0;
      while (o < buf.length) {
        if (i >= n) throw new Error(`record pack holds more than the ${n} records it declares`);
        const start = o;
        this.buffer[i] = b;
        this.topic[i] = buf.readUInt16LE(o);
        this.partition[i] = buf.readInt32LE(o + 2);
        const flags = buf[o + 6]!;
        o += 7;
        if (flags & 1) {
          this.timestamp[i] = Number(buf.readBigInt64LE(o));
          o += 8;
        } else this.timestamp[i] = NaN;
        let len = buf.readInt32LE(o);
        this.keyAt[i] = o + 4;
        this.keyLength[i] = len;
        o += 4 + Math.max(len, 0);
        len = buf.readInt32LE(o);
        this.valueAt[i] = o + 4;
        this.valueLength[i] = len;
        o += 4 + Math.max(len, 0);
        const headers = buf.readUInt16LE(o);
        o += 2;
        this.headersAt[i] = o;
        this.headerCount[i] = headers;
        for (let h = 0; h < headers; h++) {
          o += 2 + buf.readUInt16LE(o);
          o += 4 + Math.max(buf.readInt32LE(o), 0);
        }
        this.size[i] = o - start;
        i++;
      }
    }
    if (i !== n) throw new Error(`record pack holds ${i} records, ${n} expected`);
  }
}

/** The records of a pack, in order; keys, values and header values are views into it. */
export function unpackRecords(packed: PackedRecords): OutgoingRecord[] {
  const x = new PackIndex(packed);
  const out: OutgoingRecord[] = new Array(x.count);
  for (let i = 0; i < x.count; i++) {
    const buf = x.buffers[x.buffer[i]!]!;
    const bytes = (at: number, length: number) =>
      length < 0 ? null : buf.subarray(at, at + length);
    const r: OutgoingRecord = {
      topic: packed.topics[x.topic[i]!]!,
      key: bytes(x.keyAt[i]!, x.keyLength[i]!),
      value: bytes(x.valueAt[i]!, x.valueLength[i]!),
    };
    if (x.partition[i]! >= 0) r.partition = x.partition[i]!;
    if (!Number.isNaN(x.timestamp[i]!)) r.timestamp = BigInt(x.timestamp[i]!);
    if (x.headerCount[i]! > 0) {
      const headers: Record<string, Buffer> = {};
      let o = x.headersAt[i]!;
      for (let h = 0; h < x.headerCount[i]!; h++) {
        const nameLength = buf.readUInt16LE(o);
        const name = buf.toString('utf8', o + 2, o + 2 + nameLength);
        o += 2 + nameLength;
        const length = buf.readInt32LE(o);
        headers[name] = buf.subarray(o + 4, o + 4 + Math.max(length, 0));
        o += 4 + Math.max(length, 0);
      }
      r.headers = headers;
    }
    out[i] = r;
  }
  return out;
}
