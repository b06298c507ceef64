// Tributary's record batch encoder must write exactly the bytes the Kafka client writes (the
// broker validates the CRC and every reader decodes them), for every shape of record the
// platform produces: null keys and values (tombstones), headers, empty and large fields,
// multi-byte varints, timestamps before and after the first one, and the producer fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crc32c,
  createRecordsBatch,
  produceV11,
  Reader,
  readRecordsBatch,
} from '../../../core/kafka/client.ts';
import { encodeRecordBatch } from '../../../core/kafka/record-batch.ts';
import type { BatchMessage } from '../../../core/kafka/record-batch.ts';
import { createProduceRequest } from '../../../core/kafka/produce-api.ts';
import { batchesUnderLimit } from '../../../core/kafka/producer.ts';

const T0 = 1_764_000_000_000n;

function messages(): BatchMessage[] {
  const headers = (n: number) =>
    new Map(
      Array.from({ length: n }, (_, i) => [
        Buffer.from(`tributary.h${i}`),
        Buffer.from('v'.repeat(i * 40)),
      ]),
    );
  return [
    {
      topic: 't',
      partition: 0,
      key: Buffer.from('{"id":1}'),
      value: Buffer.from('{"a":1}'),
      timestamp: T0,
    },
    {
      topic: 't',
      partition: 0,
      key: Buffer.from('{"id":2}'),
      value: null,
      timestamp: T0,
      headers: headers(1),
    },
    { topic: 't', partition: 0, key: null, value: Buffer.alloc(200, 120), timestamp: T0 + 5n },
    {
      topic: 't',
      partition: 0,
      key: Buffer.alloc(0),
      value: Buffer.alloc(0),
      timestamp: T0 - 3n,
      headers: new Map(),
    },
    {
      topic: 't',
      partition: 0,
      key: Buffer.from('ключ'),
      value: Buffer.alloc(70_000, 7),
      timestamp: T0 + 86_400_000n,
      headers: headers(4),
    },
    {
      topic: 't',
      partition: 0,
      key: Buffer.from('k'),
      value: Buffer.from('v'),
      timestamp: T0 + 40_000_000_000n,
    },
  ];
}

function clientBatch(ms: BatchMessage[], options: Record<string, unknown>): Buffer {
  type Args = Parameters<typeof createRecordsBatch>;
  return createRecordsBatch(ms as unknown as Args[0], options as Args[1]).buffer;
}

// The last message's timestamp is 40,000,000,000 ms after the first: the client's varlong
// encoding writes that delta as bytes its own reader decodes to 40,000,000,009, so the
// byte-for-byte comparisons leave it out (the read-back test below checks it decodes exactly).
const comparable = () => messages().slice(0, -1);

test('record batches are byte-identical to the client encoding', () => {
  const sequences = { getWithDefault: () => 1234 };
  for (const options of [
    {},
    { producerId: 98_765n, producerEpoch: 3, sequences, transactionalId: 'txn-a' },
  ]) {
    const ours = encodeRecordBatch(comparable(), {
      producerId: (options as { producerId?: bigint }).producerId ?? -1n,
      producerEpoch: (options as { producerEpoch?: number }).producerEpoch ?? 0,
      firstSequence: 'sequences' in options ? 1234 : 0,
      transactional: 'transactionalId' in options,
    });
    assert.deepEqual(ours, clientBatch(comparable(), options));
  }
  // Many records: offset deltas and record lengths with multi-byte varints.
  const many: BatchMessage[] = Array.from({ length: 3000 }, (_, i) => ({
    topic: 't',
    partition: 0,
    key: Buffer.from(`{"id":${i}}`),
    value: i % 7 === 0 ? null : Buffer.alloc(i % 300, i % 256),
    timestamp: T0 + BigInt(i % 11),
  }));
  const copy = () => many.map((m) => ({ ...m }));
  assert.deepEqual(encodeRecordBatch(copy()), clientBatch(copy(), {}));
});

test('a batch reads back with the client decoder: fields, records and a valid CRC', () => {
  const ms = messages();
  const batch = encodeRecordBatch(ms, {
    producerId: 7n,
    producerEpoch: 1,
    firstSequence: 9,
    transactional: true,
  });
  const read = readRecordsBatch(Reader.from(batch));
  assert.equal(read.magic, 2);
  assert.equal(read.length, batch.length - 12);
  assert.equal(read.producerId, 7n);
  assert.equal(read.firstSequence, 9);
  assert.equal(read.attributes & 0x10, 0x10);
  assert.equal(read.lastOffsetDelta, ms.length - 1);
  assert.equal(read.maxTimestamp, T0 + 40_000_000_000n);
  assert.equal(read.records.length, ms.length);
  read.records.forEach((r, i) => {
    assert.equal(r.offsetDelta, i);
    assert.deepEqual(r.value ?? null, ms[i]!.value ?? null);
    assert.equal(BigInt(r.timestampDelta), (ms[i]!.timestamp as bigint) - T0);
  });
  // The CRC the broker checks, recomputed by the client's own CRC-32C over attributes..end.
  assert.equal(batch.readUInt32BE(17), crc32c(batch.subarray(21)));
});

test('the Produce v11 request is byte-identical to the client request', () => {
  const topicData = () => [
    ...comparable().map((m) => ({ ...m, topic: 'orders', partition: 0 })),
    ...comparable().map((m) => ({ ...m, topic: 'orders', partition: 2 })),
    ...comparable().map((m) => ({ ...m, topic: 'customers', partition: 1 })),
  ];
  const options = {
    producerId: 11n,
    producerEpoch: 2,
    transactionalId: 'src-1',
    sequences: { getWithDefault: (k: string) => k.length },
  };
  type Args = Parameters<typeof produceV11.createRequest>;
  const theirs = produceV11.createRequest(
    -1,
    30_000,
    topicData() as unknown as Args[2],
    options as unknown as Args[3],
  );
  const ours = createProduceRequest(-1, 30_000, topicData(), options);
  assert.deepEqual(ours.buffer, theirs.buffer);
});

test('sends are split so that no partition carries more than the limit in one send', () => {
  const records = Array.from({ length: 300 }, (_, i) => ({
    topic: i % 5 === 0 ? 'b' : 'a',
    partition: i % 3,
    key: Buffer.from(`k${i}`),
    value: Buffer.alloc(900 + (i % 200)),
    headers: { 'tributary.version': String(i) },
  }));
  const limit = 20_000;
  const sends = batchesUnderLimit(records, limit);
  assert.ok(sends.length > 1);
  assert.deepEqual(sends.flat(), records); // nothing lost, order kept
  for (const send of sends) {
    const perPartition = new Map<string, number>();
    for (const r of send) {
      const k = `${r.topic}/${r.partition}`;
      perPartition.set(
        k,
        (perPartition.get(k) ?? 0) + 64 + (r.key?.length ?? 0) + (r.value?.length ?? 0),
      );
    }
    for (const bytes of perPartition.values()) assert.ok(bytes <= limit);
  }
  // Under the limit: one send with every record.
  assert.deepEqual(batchesUnderLimit(records.slice(0, 5), limit), [records.slice(0, 5)]);
  assert.deepEqual(batchesUnderLimit([], limit), []);
});
