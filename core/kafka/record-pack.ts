/**
 * A batch of records to produce, packed into a few large transferable buffers, so it can move
 * to the producer thread (threaded-producer.ts) without copying and without one object per
 * record. Keys and values given as JSON text are UTF-8 encoded straight into the pack, so the
 * capture thread never makes a Buffer per record; ready-made records are copied in.
 *
 * Layout of one record (little endian), never split across buffers:
 *   u16 topic index | i32 partition (-1 = by key) | u8 flags (1 = timestamp follows)
 *   [i64 timestamp] | i32 tail length | tail
 * The tail is the record exactly as a Kafka record batch holds it from the key on (zigzag
 * varint lengths, -1 = null): key length | key | value length | value | header count |
 * per header: name length | name | value length | value. The producer thread copies it into a
 * batch whole, after the record's batch-dependent prefix (record-batch.ts PackedBatchEncoder).
 */
import { digitsOf, writeDigits } from '../decimal.ts';
import { uvarintSize, writeUvarint } from './record-batch.ts';
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
/**
 * Bytes of a record without timestamp, besides its keys, values and headers: topic,
 * partition, flags, tail length, and the widest key length, value length and header count.
 */
const FIXED = 2 + 4 + 1 + 4 + 3 * 5;
/** The widest varint of a header's two lengths. */
const HEADER_FIXED = 2 * 5;

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
    let worst = textsWorst(key, value);
    for (const k in headers) worst += HEADER_FIXED + (k.length + headers[k]!.length) * 3;
    const buf = this.room(worst);
    const at = this.head(buf, topic, -1, undefined);
    const o = writeHeaders(buf, writeTexts(buf, at + 4, key, value), headers);
    this.end(buf, at, o);
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
    version: string | number,
    extra: Record<string, string> | undefined,
  ): void {
    if (extra !== undefined && name in extra) {
      this.addText(topic, key, value, { ...extra, [name]: String(version) });
      return;
    }
    const buf = this.room(textsWorst(key, value) + versionedWorst(name, version, extra));
    const at = this.head(buf, topic, -1, undefined);
    this.endVersioned(buf, at, writeTexts(buf, at + 4, key, value), name, version, extra);
  }

  /** addVersioned with the value given as UTF-8 bytes, value[start..end) (copied). */
  addVersionedBytes(
    topic: string,
    key: string,
    value: Buffer,
    start: number,
    end: number,
    name: string,
    version: string | number,
    extra: Record<string, string> | undefined,
  ): void {
    if (extra !== undefined && name in extra) {
      const text = value.toString('utf8', start, end);
      this.addText(topic, key, text, { ...extra, [name]: String(version) });
      return;
    }
    const worst = textsWorst(key, null) + end - start + versionedWorst(name, version, extra);
    const buf = this.room(worst);
    const at = this.head(buf, topic, -1, undefined);
    let o = writeText(buf, at + 4, key);
    o = writeUvarint(buf, o, (end - start) * 2);
    o += value.copy(buf, o, start, end);
    this.endVersioned(buf, at, o, name, version, extra);
  }

  /** The headers of addVersioned after the tail's key and value (ending at `o`); ends the record. */
  private endVersioned(
    buf: Buffer,
    at: number,
    o: number,
    name: string,
    version: string | number,
    extra: Record<string, string> | undefined,
  ): void {
    o = writeUvarint(buf, o, ((extra === undefined ? 0 : countOf(extra)) + 1) * 2);
    if (extra !== undefined)
      for (const k in extra) {
        o = writeText(buf, o, k);
        o = writeText(buf, o, extra[k]!);
      }
    const nameField = headerName(name);
    buf.set(nameField, o);
    o += nameField.length;
    o = typeof version === 'number' ? writeDecimal(buf, o, version) : writeText(buf, o, version);
    this.end(buf, at, o);
  }

  /** A ready-made record (its bytes are copied). */
  add(r: OutgoingRecord): void {
    let worst = FIXED + (r.timestamp === undefined ? 0 : 8);
    worst += (r.key?.length ?? 0) + (r.value?.length ?? 0);
    const h = r.headers;
    if (h)
      for (const k in h) {
        const v = h[k]!;
        worst += HEADER_FIXED + k.length * 3 + (typeof v === 'string' ? v.length * 3 : v.length);
      }
    const buf = this.room(worst);
    const at = this.head(buf, r.topic, r.partition ?? -1, r.timestamp);
    let o = writeBytes(buf, at + 4, r.key);
    o = writeBytes(buf, o, r.value);
    o = h ? writeHeaders(buf, o, h) : writeUvarint(buf, o, 0);
    this.end(buf, at, o);
  }

  /** Ends the record whose tail length lies at `at` and whose tail ends at `o`. */
  private end(buf: Buffer, at: number, o: number): void {
    buf.writeInt32LE(o - at - 4, at);
    this.pos = o;
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

  /** Writes the record's head; returns where its tail length goes (the tail follows it). */
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
/** A header name as a tail holds it (its length, then its UTF-8 bytes), made once per name. */
function headerName(name: string): Buffer {
  let b = headerNames.get(name);
  if (!b) {
    const bytes = Buffer.from(name);
    b = Buffer.alloc(uvarintSize(bytes.length * 2) + bytes.length);
    bytes.copy(b, writeUvarint(b, 0, bytes.length * 2));
    if (headerNames.size < 100) headerNames.set(name, b);
  }
  return b;
}

/** Bytes of the zigzag varint of a length. */
function lengthSize(n: number): number {
  return uvarintSize(n * 2);
}

/**
 * A text as a length-prefixed UTF-8 field at buf[o..]; returns the position after it. Its
 * UTF-8 length lies between text.length and 3 × text.length: when both give the same varint
 * width (nearly always), the text is written once in place; otherwise it is written after the
 * widest prefix and moved back if its length turned out to need fewer bytes.
 */
function writeText(buf: Buffer, o: number, text: string): number {
  const n = text.length;
  if (n < 32) {
    // Short texts (keys, versions, header names) are mostly ASCII: written by a loop, which
    // costs less than a native utf8Write call.
    const at = writeUvarint(buf, o, n * 2);
    let i = 0;
    for (; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c > 0x7f) break;
      buf[at + i] = c;
    }
    if (i === n) return at + n;
  }
  const width = lengthSize(n * 3);
  const bytes = (buf as unknown as Utf8Write).utf8Write(text, o + width);
  const fits = lengthSize(bytes);
  if (fits !== width) buf.copyWithin(o + fits, o + width, o + width + bytes);
  return writeUvarint(buf, o, bytes * 2) + bytes;
}

/**
 * A non-negative safe integer as a length-prefixed decimal text (the same bytes writeText
 * writes for String(v)), without making the string: a number above 2^31 is not a small
 * integer to V8, and String() of it costs ~250 ns.
 */
function writeDecimal(buf: Buffer, o: number, v: number): number {
  buf[o] = digitsOf(v) * 2; // zigzag varint of the length: at most 16 digits, one byte
  return writeDigits(buf, o + 1, v);
}

/** The number of headers in `headers` (what `for…in` visits). */
function countOf(headers: Record<string, string>): number {
  let n = 0;
  for (const k in headers) if (k !== undefined) n++;
  return n;
}

/** The room addVersioned's headers may take. */
function versionedWorst(
  name: string,
  version: string | number,
  extra: Record<string, string> | undefined,
): number {
  const text = typeof version === 'number' ? 21 : version.length * 3;
  let worst = HEADER_FIXED + headerName(name).length + text;
  if (extra !== undefined)
    for (const k in extra) worst += HEADER_FIXED + (k.length + extra[k]!.length) * 3;
  return worst;
}

/** The room a text key and value may take (before headers), with the fixed bytes. */
function textsWorst(key: string, value: string | null): number {
  return FIXED + (key.length + (value === null ? 0 : value.length)) * 3;
}

/** A text key and value (null: a tombstone) as the tail's first two fields. */
function writeTexts(buf: Buffer, o: number, key: string, value: string | null): number {
  o = writeText(buf, o, key);
  return value === null ? writeNull(buf, o) : writeText(buf, o, value);
}

function writeNull(buf: Buffer, o: number): number {
  buf[o] = 1; // zigzag(-1)
  return o + 1;
}

function writeBytes(buf: Buffer, o: number, b: Buffer | null): number {
  if (b === null) return writeNull(buf, o);
  o = writeUvarint(buf, o, b.length * 2);
  return o + b.copy(buf, o);
}

function writeHeaders(buf: Buffer, o: number, headers: Record<string, string | Buffer>): number {
  const names = Object.keys(headers); // the count and the loop see the same names
  o = writeUvarint(buf, o, names.length * 2);
  for (const k of names) {
    o = writeText(buf, o, k);
    const v = headers[k]!;
    o = typeof v === 'string' ? writeText(buf, o, v) : writeBytes(buf, o, v);
  }
  return o;
}

/** Reads the zigzag varint at buf[o..] (a length, -1 = null); `next` gets the position after. */
function readLength(buf: Buffer, o: number, next: { at: number }): number {
  let v = 0;
  let scale = 1; // 2 ** (7 × bytes read): a multiplication, not Math.pow, per byte
  let b: number;
  do {
    b = buf[o++]!;
    v += (b & 0x7f) * scale;
    scale *= 128;
  } while (b & 0x80);
  next.at = o;
  return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
}

/**
 * Where every record lies in a pack's buffers, parsed once into typed arrays (no object per
 * record). Positions are byte offsets into `buffers[buffer[i]]`; a key length of -1 is null.
 * read() parses another pack into the same arrays (grown when a pack has more records), so the
 * producer thread allocates them once, not per pack; entries from `count` on are stale.
 */
export class PackIndex {
  count = 0;
  buffers: Buffer[] = [];
  buffer = new Uint16Array(0);
  topic = new Uint16Array(0);
  /** -1: by key. */
  partition = new Int32Array(0);
  /** Milliseconds; NaN when the record has none (the producer's clock is used). */
  timestamp = new Float64Array(0);
  /** The key (for the partitioner). */
  keyAt = new Int32Array(0);
  keyLength = new Int32Array(0);
  /** The record's tail: its bytes in a record batch from the key length on. */
  tailAt = new Int32Array(0);
  tailLength = new Int32Array(0);

  constructor(packed?: PackedRecords) {
    if (packed) this.read(packed);
  }

  /** Parses `packed` (the index then describes it, and no longer the pack before). */
  read(packed: PackedRecords): this {
    const n = packed.count;
    this.count = n;
    this.buffers = packed.buffers.map((b, i) => Buffer.from(b, 0, packed.lengths[i]!));
    if (this.buffer.length < n) {
      const size = Math.max(n, 2 * this.buffer.length);
      this.buffer = new Uint16Array(size);
      this.topic = new Uint16Array(size);
      this.partition = new Int32Array(size);
      this.timestamp = new Float64Array(size);
      this.keyAt = new Int32Array(size);
      this.keyLength = new Int32Array(size);
      this.tailAt = new Int32Array(size);
      this.tailLength = new Int32Array(size);
    }
    const next = { at: 0 };
    let i = 0;
    for (let b = 0; b < this.buffers.length; b++) {
      const buf = this.buffers[b]!;
      let o = 0;
      while (o < buf.length) {
        if (i >= n) throw new Error(`record pack holds more than the ${n} records it declares`);
        this.buffer[i] = b;
        this.topic[i] = buf.readUInt16LE(o);
        this.partition[i] = buf.readInt32LE(o + 2);
        const flags = buf[o + 6]!;
        o += 7;
        if (flags & 1) {
          this.timestamp[i] = Number(buf.readBigInt64LE(o));
          o += 8;
        } else this.timestamp[i] = NaN;
        const tail = buf.readInt32LE(o);
        o += 4;
        this.tailAt[i] = o;
        this.tailLength[i] = tail;
        this.keyLength[i] = readLength(buf, o, next);
        this.keyAt[i] = next.at;
        o += tail;
        i++;
      }
    }
    if (i !== n) throw new Error(`record pack holds ${i} records, ${n} expected`);
    return this;
  }
}

/** The records of a pack, in order; keys, values and header values are views into it. */
export function unpackRecords(packed: PackedRecords): OutgoingRecord[] {
  const x = new PackIndex(packed);
  const out: OutgoingRecord[] = new Array(x.count);
  const next = { at: 0 };
  for (let i = 0; i < x.count; i++) {
    const buf = x.buffers[x.buffer[i]!]!;
    /** The length-prefixed field at `o` (null for -1); next.at is after it. */
    const field = (o: number): Buffer | null => {
      const length = readLength(buf, o, next);
      const at = next.at;
      if (length < 0) return null;
      next.at = at + length;
      return buf.subarray(at, at + length);
    };
    const key = field(x.tailAt[i]!);
    const value = field(next.at);
    const r: OutgoingRecord = { topic: packed.topics[x.topic[i]!]!, key, value };
    if (x.partition[i]! >= 0) r.partition = x.partition[i]!;
    if (!Number.isNaN(x.timestamp[i]!)) r.timestamp = BigInt(x.timestamp[i]!);
    const count = readLength(buf, next.at, next);
    if (count > 0) {
      const headers: Record<string, Buffer> = {};
      for (let h = 0; h < count; h++) {
        const name = field(next.at)!.toString();
        headers[name] = field(next.at) ?? Buffer.alloc(0);
      }
      r.headers = headers;
    }
    if (next.at !== x.tailAt[i]! + x.tailLength[i]!)
      throw new Error(`record ${i} of the pack does not end where its tail length says`);
    out[i] = r;
  }
  return out;
}
