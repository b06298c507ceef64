/**
 * The Fetch response (v17) with Tributary's record batch decoder.
 *
 * The client decodes each record through its generic reader: a small array per varint, a
 * bigint per timestamp delta and an object per record and header. Here the record batches of a
 * partition are read straight from the response bytes with plain integer reads; keys, values
 * and header fields stay views into the response (no copies), as they are in the client.
 * Compressed batches and the old message formats (magic < 2) keep the client's decoder. The
 * result has the shape of the client's (pinned by test/unit/core/kafka-fetch-decode.test.ts).
 */
import { createAPI, fetchV17, Reader, readRecordsBatch, ResponseError } from './client.ts';

/**
 * A record as this decoder returns it: already in IncomingRecord's shape, with the absolute
 * offset and timestamp, and headers by name; `topic` and `partition` are filled in by the
 * caller (the response names topics by id). The client's decoder (compressed batches) returns
 * its own shape instead; `decoded` on the batch tells them apart.
 */
export interface DecodedRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  timestamp: bigint;
}

/** A record as the client's decoder returns it. */
export interface ClientRecord {
  timestampDelta: number | bigint;
  offsetDelta: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: [Buffer | null, Buffer | null][];
}

export interface RawBatch {
  firstOffset: bigint;
  length: number;
  partitionLeaderEpoch: number;
  magic: number;
  crc: number;
  attributes: number;
  lastOffsetDelta: number;
  firstTimestamp: bigint;
  maxTimestamp: bigint;
  producerId: bigint;
  producerEpoch: number;
  firstSequence: number;
  /** True when the records are DecodedRecords (this decoder), false for ClientRecords. */
  decoded: boolean;
  records: (DecodedRecord | ClientRecord)[];
}

const BATCH_HEAD = 12; // baseOffset + batchLength
const COMPRESSION = 0b111;

// Cursor of the batch being decoded (decoding is synchronous, one batch at a time).
let buf: Buffer = Buffer.alloc(0);
let pos = 0;

/** A zigzag varint (up to 64 bits; values beyond 2^53 lose precision, none occur in records). */
function varint(): number {
  let b = buf[pos++]!;
  let v = b & 0x7f;
  if (b & 0x80) {
    b = buf[pos++]!;
    v |= (b & 0x7f) << 7;
    if (b & 0x80) {
      b = buf[pos++]!;
      v |= (b & 0x7f) << 14;
      if (b & 0x80) {
        b = buf[pos++]!;
        v |= (b & 0x7f) << 21;
        if (b & 0x80) {
          // Beyond 28 bits: continue in floating point.
          let mul = 0x10000000;
          v >>>= 0;
          do {
            b = buf[pos++]!;
            v += (b & 0x7f) * mul;
            mul *= 0x80;
          } while (b & 0x80);
          return v % 2 === 0 ? v / 2 : -(v + 1) / 2;
        }
      }
    }
  }
  return (v >>> 1) ^ -(v & 1);
}

function bytes(): Buffer | null {
  const n = varint();
  if (n < 0) return null;
  const out = buf.subarray(pos, pos + n);
  pos += n;
  return out;
}

const EMPTY = Buffer.alloc(0);

/** Decodes one uncompressed v2 batch whose first byte is at `start`. */
function readBatch(start: number): RawBatch {
  const firstOffset = buf.readBigInt64BE(start);
  const firstTimestamp = buf.readBigInt64BE(start + 27);
  const batch: RawBatch = {
    firstOffset,
    length: buf.readInt32BE(start + 8),
    partitionLeaderEpoch: buf.readInt32BE(start + 12),
    magic: buf[start + 16]!,
    crc: buf.readUInt32BE(start + 17),
    attributes: buf.readInt16BE(start + 21),
    lastOffsetDelta: buf.readInt32BE(start + 23),
    firstTimestamp,
    maxTimestamp: buf.readBigInt64BE(start + 35),
    producerId: buf.readBigInt64BE(start + 43),
    producerEpoch: buf.readInt16BE(start + 51),
    firstSequence: buf.readInt32BE(start + 53),
    decoded: true,
    records: [],
  };
  const count = buf.readInt32BE(start + 57);
  pos = start + 61;
  const records = batch.records;
  for (let i = 0; i < count; i++) {
    varint(); // record length
    pos++; // record attributes (unused)
    const timestampDelta = varint();
    const offsetDelta = varint();
    const key = bytes();
    const value = bytes();
    const headerCount = varint();
    const headers: Record<string, Buffer> = {};
    for (let h = 0; h < headerCount; h++) {
      const k = bytes();
      const v = bytes();
      if (k) headers[k.toString()] = v ?? EMPTY;
    }
    records.push({
      topic: '',
      partition: -1,
      offset: offsetDelta === 0 ? firstOffset : firstOffset + BigInt(offsetDelta),
      key,
      value,
      headers,
      timestamp: timestampDelta === 0 ? firstTimestamp : firstTimestamp + BigInt(timestampDelta),
    });
  }
  return batch;
}

/**
 * The complete record batches in `data` (a partition's records field), in order; a trailing
 * partial batch (the broker cuts at the size limit) is left out, as the client does.
 */
export function readRecordBatches(data: Buffer): RawBatch[] {
  const batches: RawBatch[] = [];
  let start = 0;
  while (data.length - start >= BATCH_HEAD) {
    const end = start + BATCH_HEAD + data.readInt32BE(start + 8);
    if (end > data.length) break;
    const magic = data[start + 16];
    if (magic !== 2 || data.readInt16BE(start + 21) & COMPRESSION) {
      const reader = Reader.from(data.subarray(start, end));
      const batch = readRecordsBatch(reader) as unknown as RawBatch;
      batch.decoded = false;
      batches.push(batch);
    } else {
      buf = data;
      batches.push(readBatch(start));
      buf = Buffer.alloc(0);
    }
    start = end;
  }
  return batches;
}

type ClientReader = ReturnType<typeof Reader.from>;

/*
  Fetch Response (Version: 17) => throttle_time_ms error_code session_id [responses] TAG_BUFFER
    responses => topic_id [partitions] TAG_BUFFER
      partitions => partition_index error_code high_watermark last_stable_offset log_start_offset
        [aborted_transactions] preferred_read_replica records TAG_BUFFER
          aborted_transactions => producer_id first_offset TAG_BUFFER
*/
function parseFetchResponse(
  _correlationId: number,
  apiKey: number,
  apiVersion: number,
  reader: ClientReader,
) {
  const errors: [string, [number, null]][] = [];
  const throttleTimeMs = reader.readInt32();
  const errorCode = reader.readInt16();
  if (errorCode !== 0) errors.push(['', [errorCode, null]]);
  const response = {
    throttleTimeMs,
    errorCode,
    sessionId: reader.readInt32(),
    responses: reader.readArray((r, i) => ({
      topicId: r.readUUID(),
      partitions: r.readArray((r, j) => {
        const partition: Record<string, unknown> = {
          partitionIndex: r.readInt32(),
          errorCode: r.readInt16(),
          highWatermark: r.readInt64(),
          lastStableOffset: r.readInt64(),
          logStartOffset: r.readInt64(),
          abortedTransactions: r.readArray((r) => ({
            producerId: r.readInt64(),
            firstOffset: r.readInt64(),
          })),
          preferredReadReplica: r.readInt32(),
        };
        if (partition.errorCode !== 0)
          errors.push([`/responses/${i}/partitions/${j}`, [partition.errorCode as number, null]]);
        const recordsSize = r.readUnsignedVarInt() - 1; // COMPACT_RECORDS: length + 1
        if (recordsSize > 0) {
          partition.records = readRecordBatches(
            r.buffer.subarray(r.position, r.position + recordsSize).buffer,
          );
          r.skip(recordsSize);
        }
        return partition;
      }),
    })),
  };
  if (errors.length) {
    throw new ResponseError(apiKey, apiVersion, Object.fromEntries(errors), response);
  }
  return response;
}

/** Fetch v17: the client's request, Tributary's response decoding. */
export const fetchV17Api = createAPI(1, 17, fetchV17.createRequest, parseFetchResponse);
