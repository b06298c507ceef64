// Tributary's fetch-side record batch decoder must return what the client's decoder returns
// for the same bytes: every batch field, every record's offset and timestamp deltas, keys,
// values (null = tombstone) and headers; compressed batches go through the client's decoder;
// a partial batch at the end of a fetch (the broker cuts at the size limit) is left out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRecordsBatch, Reader, readRecordsBatch } from '../../../core/kafka/client.ts';
import { readRecordBatches } from '../../../core/kafka/fetch-api.ts';
import type { DecodedRecord } from '../../../core/kafka/fetch-api.ts';
import type { BatchMessage } from '../../../core/kafka/record-batch.ts';

const T0 = 1_764_000_000_000n;

function batch(ms: BatchMessage[], options: Record<string, unknown> = {}): Buffer {
  type Args = Parameters<typeof createRecordsBatch>;
  return createRecordsBatch(ms as unknown as Args[0], options as Args[1]).buffer;
}

function sample(n: number, seed: number): BatchMessage[] {
  return Array.from({ length: n }, (_, i) => ({
    topic: 't',
    partition: 0,
    key: i % 13 === 5 ? null : Buffer.from(`{"id":${seed * 1000 + i}}`),
    value: i % 7 === 3 ? null : Buffer.alloc((i * 37) % 900, i % 256),
    timestamp: T0 + BigInt((i * 3) % 17) - 4n,
    headers:
      i % 4 === 0
        ? new Map()
        : new Map([
            [Buffer.from('tributary.version'), Buffer.from(String(123456789 + i))],
            [Buffer.from('h'), Buffer.alloc(i % 3)],
          ]),
  }));
}

/** The client's decoding of every complete batch in `data`. */
function clientDecode(data: Buffer) {
  const reader = Reader.from(data);
  const out = [];
  while (reader.remaining >= 12 && reader.remaining - 12 >= reader.peekInt32(reader.position + 8))
    out.push(readRecordsBatch(reader));
  return out;
}

type AnyRecord = {
  offset?: bigint;
  timestamp?: bigint;
  offsetDelta?: number;
  timestampDelta?: number | bigint;
  key?: Buffer | null;
  value?: Buffer | null;
  headers: Record<string, Buffer> | [Buffer | null, Buffer | null][];
};
type AnyBatch = { firstOffset: bigint; firstTimestamp: bigint; records: unknown[] };

/**
 * Both decoders' output in one comparable form: batch fields, then per record the absolute
 * offset and timestamp, key, value and headers by name (what consumers get).
 */
function normalise(batches: AnyBatch[]) {
  return batches.map((b) => {
    const { records, ...fields } = b as AnyBatch & { decoded?: boolean };
    delete fields.decoded;
    return {
      ...fields,
      records: (records as AnyRecord[]).map((r) => ({
        offset: r.offset ?? b.firstOffset + BigInt(r.offsetDelta!),
        timestamp: r.timestamp ?? b.firstTimestamp + BigInt(r.timestampDelta!),
        key: r.key ?? null,
        value: r.value ?? null,
        headers: Array.isArray(r.headers)
          ? Object.fromEntries(r.headers.map(([k, v]) => [k!.toString(), v ?? Buffer.alloc(0)]))
          : { ...r.headers },
      })),
    };
  });
}

test('uncompressed batches decode exactly as the client decodes them', () => {
  const data = Buffer.concat([
    batch(sample(1, 1)),
    batch(sample(500, 2), { producerId: 42n, producerEpoch: 3, transactionalId: 'x' }),
    batch(sample(3000, 3)),
  ]);
  const ours = readRecordBatches(data);
  assert.equal(ours.length, 3);
  assert.equal(ours[2]!.records.length, 3000);
  assert.deepEqual(normalise(ours), normalise(clientDecode(data)));
  // Spot-check against the source messages, independently of the client.
  const src = sample(3000, 3);
  assert.equal(ours[2]!.decoded, true);
  const first = ours[2]!.firstOffset;
  (ours[2]!.records as DecodedRecord[]).forEach((r, i) => {
    assert.equal(r.offset, first + BigInt(i));
    assert.deepEqual(r.key, src[i]!.key ?? null);
    assert.deepEqual(r.value, src[i]!.value ?? null);
    assert.equal(r.timestamp, src[i]!.timestamp);
    const h = src[i]!.headers!;
    assert.deepEqual(r.headers, Object.fromEntries([...h].map(([k, v]) => [k.toString(), v])));
  });
});

test('a compressed batch between plain ones goes through the client decoder', () => {
  const data = Buffer.concat([
    batch(sample(10, 4)),
    batch(sample(50, 5), { compression: 'gzip' }),
    batch(sample(10, 6)),
  ]);
  const ours = readRecordBatches(data);
  assert.deepEqual(
    ours.map((b) => b.records.length),
    [10, 50, 10],
  );
  assert.deepEqual(normalise(ours), normalise(clientDecode(data)));
  assert.deepEqual(
    ours.map((b) => b.decoded),
    [true, false, true],
  );
  assert.deepEqual(ours[1]!.records[7]!.value, sample(50, 5)[7]!.value);
});

test('a partial trailing batch is left out; an empty records field gives no batches', () => {
  const full = batch(sample(20, 7));
  const data = Buffer.concat([full, full.subarray(0, full.length - 10)]);
  assert.equal(readRecordBatches(data).length, 1);
  assert.equal(readRecordBatches(full.subarray(0, 11)).length, 0);
  assert.equal(readRecordBatches(Buffer.alloc(0)).length, 0);
});
