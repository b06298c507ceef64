/**
 * Kafka record batch (magic v2) encoding in one pass into one buffer, and the Produce request
 * built on it.
 *
 * The client encodes every record through a chain of small buffers (one per varint, key, value
 * and header) that are concatenated at the end; for the change events Tributary produces that
 * cost ~3–5 µs per record plus the garbage. Here the batch size is computed first, then every
 * field is written straight into a single allocation, and the CRC-32C is taken over it with
 * the native implementation. The bytes are identical to the client's encoding (pinned by
 * test/unit/core/kafka-record-batch.test.ts), so the broker and every reader see no difference.
 *
 * Layout (https://kafka.apache.org/documentation/#recordbatch):
 *   baseOffset int64 | batchLength int32 | partitionLeaderEpoch int32 | magic int8 | crc uint32 |
 *   attributes int16 | lastOffsetDelta int32 | baseTimestamp int64 | maxTimestamp int64 |
 *   producerId int64 | producerEpoch int16 | baseSequence int32 | records count int32 | records
 * Record: length varint | attributes int8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength varint | key | valueLength varint | value | headers count varint |
 *   (headerKeyLength varint | headerKey | headerValueLength varint | headerValue)*
 */
import { crc32c } from '@node-rs/crc32';
import type { PackIndex } from './record-pack.ts';

/** A message as the client hands it to the Produce API (already serialised). */
export interface BatchMessage {
  topic: string;
  partition?: number | string;
  key?: Buffer | null;
  value?: Buffer | null;
  headers?: Map<Buffer, Buffer | null | undefined> | null;
  timestamp?: bigint | number;
}

export interface BatchOptions {
  producerId?: bigint;
  producerEpoch?: number;
  /** Sequence of the batch's first record (idempotent producers); 0 otherwise. */
  firstSequence?: number;
  transactional?: boolean;
  partitionLeaderEpoch?: number;
}

const BATCH_HEADER = 61;
const CRC_FROM = 21; // the CRC covers attributes .. end
const TRANSACTIONAL = 1 << 4;

/** Bytes of an unsigned varint. */
function uvarintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  let n = 5;
  for (v = Math.floor(v / 0x800000000); v > 0; v = Math.floor(v / 0x80)) n++;
  return n;
}

/** Zigzag of a (safe) integer as a non-negative number: 0,-1,1,-2 -> 0,1,2,3. */
function zigzag(v: number): number {
  return v >= 0 ? v * 2 : -v * 2 - 1;
}

function writeUvarint(buf: Buffer, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = v < 0x100000000 ? v >>> 7 : Math.floor(v / 0x80);
  }
  buf[pos++] = v;
  return pos;
}

/** Size of a length-prefixed byte field (null is length -1). */
function bytesFieldSize(b: Buffer | null | undefined): number {
  return b == null ? 1 : uvarintSize(b.length * 2) + b.length;
}

function writeBytesField(buf: Buffer, pos: number, b: Buffer | null | undefined): number {
  if (b == null) {
    buf[pos] = 1; // zigzag(-1)
    return pos + 1;
  }
  pos = writeUvarint(buf, pos, b.length * 2);
  return pos + b.copy(buf, pos);
}

function toBigInt(t: bigint | number | undefined, now: bigint): bigint {
  return t === undefined ? now : typeof t === 'bigint' ? t : BigInt(t);
}

/** The batch header (everything before the records) at buf[at..]; the CRC is written last. */
function writeBatchHeader(
  buf: Buffer,
  at: number,
  total: number,
  count: number,
  firstTimestamp: bigint,
  maxTimestamp: bigint,
  options: BatchOptions,
): void {
  buf.writeBigInt64BE(0n, at); // baseOffset: the broker assigns offsets
  buf.writeInt32BE(total - 12, at + 8);
  buf.writeInt32BE(options.partitionLeaderEpoch ?? 0, at + 12);
  buf[at + 16] = 2; // magic
  buf.writeInt16BE(options.transactional ? TRANSACTIONAL : 0, at + 21);
  buf.writeInt32BE(count - 1, at + 23);
  buf.writeBigInt64BE(firstTimestamp, at + 27);
  buf.writeBigInt64BE(maxTimestamp, at + 35);
  buf.writeBigInt64BE(options.producerId ?? -1n, at + 43);
  buf.writeInt16BE(options.producerEpoch ?? 0, at + 51);
  buf.writeInt32BE(options.firstSequence ?? 0, at + 53);
  buf.writeInt32BE(count, at + 57);
}

/** Encodes `messages` (one topic-partition, in order) as one uncompressed record batch. */
export function encodeRecordBatch(messages: BatchMessage[], options: BatchOptions = {}): Buffer {
  const count = messages.length;
  const now = BigInt(Date.now());
  const firstTimestamp = toBigInt(messages[0]!.timestamp, now);
  let maxTimestamp = firstTimestamp;
  const deltas = new Float64Array(count);
  const bodySizes = new Int32Array(count);
  let total = BATCH_HEADER;
  for (let i = 0; i < count; i++) {
    const m = messages[i]!;
    const ts = toBigInt(m.timestamp, now);
    if (ts > maxTimestamp) maxTimestamp = ts;
    const delta = ts === firstTimestamp ? 0 : Number(ts - firstTimestamp);
    deltas[i] = delta;
    let size =
      1 +
      uvarintSize(zigzag(delta)) +
      uvarintSize(i * 2) +
      bytesFieldSize(m.key) +
      bytesFieldSize(m.value);
    const headers = m.headers;
    if (headers && headers.size > 0) {
      size += uvarintSize(headers.size * 2);
      for (const [k, v] of headers) size += bytesFieldSize(k) + bytesFieldSize(v);
    } else size += 1;
    bodySizes[i] = size;
    total += uvarintSize(size * 2) + size;
  }

  const buf = Buffer.allocUnsafe(total);
  writeBatchHeader(buf, 0, total, count, firstTimestamp, maxTimestamp, options);
  let pos = BATCH_HEADER;
  for (let i = 0; i < count; i++) {
    const m = messages[i]!;
    pos = writeUvarint(buf, pos, bodySizes[i]! * 2);
    buf[pos++] = 0; // record attributes (unused)
    pos = writeUvarint(buf, pos, zigzag(deltas[i]!));
    pos = writeUvarint(buf, pos, i * 2);
    pos = writeBytesField(buf, pos, m.key);
    pos = writeBytesField(buf, pos, m.value);
    const headers = m.headers;
    if (headers && headers.size > 0) {
      pos = writeUvarint(buf, pos, headers.size * 2);
      for (const [k, v] of headers) {
        pos = writeBytesField(buf, pos, k);
        pos = writeBytesField(buf, pos, v);
      }
    } else buf[pos++] = 0;
  }
  buf.writeUInt32BE(crc32c(buf.subarray(CRC_FROM)) >>> 0, 17);
  return buf;
}

/**
 * Encodes records of a pack (indexes into it, one topic-partition, in order) as one
 * uncompressed record batch. Each record is its batch-dependent prefix (length, attributes,
 * timestamp delta, offset delta) followed by its tail copied whole from the pack, where it was
 * written in the batch's own format (record-pack.ts): one copy per record. measure() gives the
 * batch's size, write() writes it. The bytes are the same as encodeRecordBatch gives for the
 * same records. One encoder is reused for every batch (its scratch arrays grow as needed).
 */
export class PackedBatchEncoder {
  private deltas = new Float64Array(1024);
  private bodySizes = new Int32Array(1024);
  private pack: PackIndex | null = null;
  private records: number[] = [];
  private firstTimestamp = 0;
  private maxTimestamp = 0;
  private total = 0;

  /** Size in bytes of the batch of `records`; write() then writes exactly that. */
  measure(pack: PackIndex, records: number[]): number {
    const count = records.length;
    if (this.deltas.length < count) {
      this.deltas = new Float64Array(count * 2);
      this.bodySizes = new Int32Array(count * 2);
    }
    const { deltas, bodySizes } = this;
    const now = Date.now();
    const first = pack.timestamp[records[0]!]!;
    const firstTimestamp = Number.isNaN(first) ? now : first;
    let maxTimestamp = firstTimestamp;
    let total = BATCH_HEADER;
    for (let j = 0; j < count; j++) {
      const i = records[j]!;
      const t = pack.timestamp[i]!;
      const ts = Number.isNaN(t) ? now : t;
      if (ts > maxTimestamp) maxTimestamp = ts;
      deltas[j] = ts - firstTimestamp;
      const size = 1 + uvarintSize(zigzag(deltas[j]!)) + uvarintSize(j * 2) + pack.tailLength[i]!;
      bodySizes[j] = size;
      total += uvarintSize(size * 2) + size;
    }
    this.pack = pack;
    this.records = records;
    this.firstTimestamp = firstTimestamp;
    this.maxTimestamp = maxTimestamp;
    this.total = total;
    return total;
  }

  /** Writes the measured batch at buf[at..]; returns the position after it. */
  write(buf: Buffer, at: number, options: BatchOptions = {}): number {
    const { pack, records, deltas, bodySizes, total } = this;
    if (!pack) throw new Error('PackedBatchEncoder.write() before measure()');
    const count = records.length;
    const first = BigInt(this.firstTimestamp);
    writeBatchHeader(buf, at, total, count, first, BigInt(this.maxTimestamp), options);
    let pos = at + BATCH_HEADER;
    for (let j = 0; j < count; j++) {
      const i = records[j]!;
      pos = writeUvarint(buf, pos, bodySizes[j]! * 2);
      buf[pos++] = 0; // record attributes (unused)
      pos = writeUvarint(buf, pos, zigzag(deltas[j]!));
      pos = writeUvarint(buf, pos, j * 2);
      const tailAt = pack.tailAt[i]!;
      pos += pack.buffers[pack.buffer[i]!]!.copy(buf, pos, tailAt, tailAt + pack.tailLength[i]!);
    }
    buf.writeUInt32BE(crc32c(buf.subarray(at + CRC_FROM, pos)) >>> 0, at + 17);
    this.pack = null;
    return pos;
  }
}

/** Unsigned varints: the pack's tails and the Produce request framing (pack-producer.ts). */
export { uvarintSize, writeUvarint };
