// The packed produce path must carry every record unchanged from the capture thread to the
// broker: RecordPack packs what packEvent gives (texts or ready-made records), PackIndex and
// unpackRecords read it back, and PackedBatchEncoder writes the same record batch bytes as
// encodeRecordBatch (itself pinned against the Kafka client in kafka-record-batch.test.ts).
// Records here cover null keys and values, empty and multi-byte UTF-8 texts, several topics,
// explicit and absent partitions and timestamps, string and Buffer headers, and records larger
// than one 1 MiB pack buffer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32c, Reader, readRecordsBatch } from '../../../core/kafka/client.ts';
import {
  PackIndex,
  RecordPack,
  recyclePackBuffers,
  unpackRecords,
} from '../../../core/kafka/record-pack.ts';
import type { PackedRecords } from '../../../core/kafka/record-pack.ts';
import { encodeRecordBatch, PackedBatchEncoder } from '../../../core/kafka/record-batch.ts';
import type { BatchMessage, BatchOptions } from '../../../core/kafka/record-batch.ts';
import type { OutgoingRecord } from '../../../core/kafka/records.ts';
import {
  encodeValue,
  packEvent,
  PRE_ENCODED,
  stringifyJson,
  toKafkaRecords,
  UNAVAILABLE_HEADER,
} from '../../../core/events/index.ts';
import type {
  ChangeEvent,
  EncodedRecord,
  Envelope,
  EventSchemas,
  JsonFormat,
  PreEncodedJson,
  RecordPacker,
  RowKey,
  SerdeOptions,
} from '../../../core/events/index.ts';
import { DELETE, INSERT, READ, TRUNCATE, UPDATE } from './events/sample-events.ts';
import { rng } from '../../rng.ts';

const CHUNK = 1024 * 1024;
const T0 = 1_700_000_000_000n;
/** Date.now() while batches are encoded: the timestamp of records that carry none. */
const NOW = 1_700_000_500_000;

/** What a test added to a pack: a record of texts (addText) or a ready-made one (add). */
type Added =
  | {
      text: true;
      topic: string;
      key: string;
      value: string | null;
      headers: Record<string, string>;
    }
  | { text: false; record: OutgoingRecord };

function add(pack: RecordPack, a: Added): void {
  if (a.text) pack.addText(a.topic, a.key, a.value, a.headers);
  else pack.add(a.record);
}

function packOf(added: Added[]): RecordPack {
  const pack = new RecordPack();
  for (const a of added) add(pack, a);
  return pack;
}

function bufferHeaders(h: Record<string, string | Buffer>): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(h)) out[k] = typeof v === 'string' ? Buffer.from(v) : v;
  return out;
}

/** The record unpackRecords must give back for `a` (texts as UTF-8, header values as bytes). */
function unpacked(a: Added): OutgoingRecord {
  if (a.text) {
    const r: OutgoingRecord = {
      topic: a.topic,
      key: Buffer.from(a.key),
      value: a.value === null ? null : Buffer.from(a.value),
    };
    if (Object.keys(a.headers).length > 0) r.headers = bufferHeaders(a.headers);
    return r;
  }
  const { topic, key, value, headers, partition, timestamp } = a.record;
  const r: OutgoingRecord = { topic, key, value };
  if (partition !== undefined) r.partition = partition;
  if (timestamp !== undefined) r.timestamp = timestamp;
  if (headers && Object.keys(headers).length > 0) r.headers = bufferHeaders(headers);
  return r;
}

/** A zigzag varint of a length (-1 = null), encoded here rather than by the shared helpers. */
function lengthBytes(n: number): number[] {
  let v = n < 0 ? 1 : n * 2;
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** A record's tail as a Kafka record batch holds it from the key on (see record-pack.ts). */
function tailOf(r: OutgoingRecord): Buffer {
  const field = (b: Buffer | null): Buffer[] =>
    b === null ? [Buffer.from(lengthBytes(-1))] : [Buffer.from(lengthBytes(b.length)), b];
  const headers = Object.entries(r.headers ?? {});
  return Buffer.concat([
    ...field(r.key),
    ...field(r.value),
    Buffer.from(lengthBytes(headers.length)),
    ...headers.flatMap(([k, v]) => [...field(Buffer.from(k)), ...field(v as Buffer)]),
  ]);
}

/** Exact packed size of a record, from the layout documented in record-pack.ts. */
function packedSize(r: OutgoingRecord): number {
  return 2 + 4 + 1 + (r.timestamp === undefined ? 0 : 8) + 4 + tailOf(r).length;
}

/**
 * The room the pack makes for a record before encoding it (3 bytes per UTF-16 unit, the widest
 * varint per length): it moves to a new buffer when less than this is free.
 */
function worstSize(a: Added): number {
  if (!a.text) {
    const r = a.record;
    let n =
      26 + (r.timestamp === undefined ? 0 : 8) + (r.key?.length ?? 0) + (r.value?.length ?? 0);
    for (const [k, v] of Object.entries(r.headers ?? {}))
      n += 10 + k.length * 3 + (typeof v === 'string' ? v.length * 3 : v.length);
    return n;
  }
  let n = 26 + (a.key.length + (a.value?.length ?? 0)) * 3;
  for (const [k, v] of Object.entries(a.headers)) n += 10 + (k.length + v.length) * 3;
  return n;
}

function randomBytes(r: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

// 1-, 2-, 3- and 4-byte UTF-8 characters (the emoji is a surrogate pair), quotes and NUL.
const CHARS = ['a', 'Z', '7', ' ', '"', '\\', '\u0000', 'é', 'ß', '€', '日', '😀'];

function randomText(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += r() < 0.7 ? 'x' : CHARS[(r() * CHARS.length) | 0]!;
  return s;
}

const TOPICS = ['shop.public.orders', 'shop.public.customers', 'shop.ünïcödé.€', 't'];

/**
 * Hand-picked edge cases, then `n` random records, with three larger than 1 MiB among them
 * unless `big` is false.
 */
function records(n: number, seed: number, big = true): Added[] {
  const added: Added[] = [
    { text: true, topic: 't', key: '', value: '', headers: {} },
    {
      text: true,
      topic: 't',
      key: '{"id":1}',
      value: null,
      headers: { 'tributary.version': '42' },
    },
    {
      text: true,
      topic: 'shop.ünïcödé.€',
      key: 'clé-€-😀',
      value: '{"name":"José","city":"東京","mood":"😀"}',
      headers: { 'nämé-€': 'välüe-😀', 'tributary.version': '7', empty: '' },
    },
    // A lone surrogate: written as U+FFFD (3 bytes), as Buffer.from writes it.
    { text: true, topic: 't', key: '\ud83d', value: 'x\udc00y', headers: { h: '\ud800' } },
    { text: false, record: { topic: 't', key: null, value: null, partition: 0, timestamp: T0 } },
    {
      text: false,
      record: { topic: 't', key: Buffer.alloc(0), value: Buffer.alloc(0), headers: {} },
    },
    {
      text: false,
      record: {
        topic: 'shop.public.orders',
        key: Buffer.from('{"id":2}'),
        value: Buffer.from('{"a":"é€😀"}'),
        partition: 5,
        timestamp: T0 - 3n,
        headers: {
          str: 'ünï',
          bytes: Buffer.from([0, 1, 2, 255]),
          emptyBytes: Buffer.alloc(0),
          emptyText: '',
        },
      },
    },
    { text: false, record: { topic: 't', key: Buffer.from('k'), value: null, partition: 0 } },
    // Header names and values of 64 bytes and more: multi-byte varint lengths in a batch.
    {
      text: false,
      record: {
        topic: 't',
        key: Buffer.from('long headers'),
        value: Buffer.from('v'),
        timestamp: T0 + 1n,
        headers: { ['n'.repeat(70)]: Buffer.alloc(10_000, 9), ['€'.repeat(30)]: 'é'.repeat(200) },
      },
    },
    {
      text: true,
      topic: 't',
      key: 'long text headers',
      value: 'v',
      headers: { ['ü'.repeat(40)]: '😀'.repeat(5000) },
    },
  ];
  const r = rng(seed);
  for (let i = 0; i < n; i++) {
    const topic = TOPICS[(r() * TOPICS.length) | 0]!;
    const size = r() < 0.05 ? 2000 + ((r() * 8000) | 0) : (r() * 1200) | 0;
    if (r() < 0.4) {
      const headers: Record<string, string> = {};
      const count = r() < 0.3 ? 0 : 1 + ((r() * 3) | 0);
      for (let h = 0; h < count; h++)
        headers[`h${h}-${randomText(r, 3)}`] = randomText(r, r() * 40);
      added.push({
        text: true,
        topic,
        key: r() < 0.05 ? '' : randomText(r, r() * 60),
        value: r() < 0.1 ? null : randomText(r, size / 2),
        headers,
      });
      continue;
    }
    const record: OutgoingRecord = {
      topic,
      key: r() < 0.1 ? null : randomBytes(r, r() * 64),
      value: r() < 0.1 ? null : randomBytes(r, size),
    };
    const p = r();
    if (p < 0.2) record.partition = 0;
    else if (p < 0.6) record.partition = 1 + ((r() * 11) | 0);
    // A few timestamps before the first, most after it; some records carry none.
    if (r() < 0.8) record.timestamp = T0 + BigInt(i) - (r() < 0.05 ? 50n : 0n);
    const h = r();
    if (h < 0.1) record.headers = {};
    else if (h < 0.6) {
      record.headers = { 'tributary.version': String(i) };
      if (r() < 0.5) record.headers['bin'] = randomBytes(r, r() * 30);
      if (r() < 0.3) record.headers['ünï-€'] = randomText(r, 10);
    }
    added.push({ text: false, record });
  }
  if (!big) return added;
  const at = (k: number) => Math.min(added.length, 8 + Math.floor((n * k) / 4));
  // Larger than a pack buffer: bytes, and text of 4- and 3-byte characters (~1.4 MB).
  added.splice(at(1), 0, {
    text: false,
    record: {
      topic: 'shop.public.orders',
      key: Buffer.from('{"id":"big"}'),
      value: randomBytes(r, 1_500_000),
      partition: 3,
      timestamp: T0 + 7n,
      headers: { 'tributary.version': '1', bin: Buffer.from('é') },
    },
  });
  added.splice(at(2), 0, {
    text: true,
    topic: 'shop.public.orders',
    key: '{"id":"emoji"}',
    value: '😀€'.repeat(200_000),
    headers: { 'tributary.version': '2' },
  });
  // Below a buffer once encoded, above it in the worst case (ASCII, 1 byte per character).
  added.splice(at(3), 0, {
    text: true,
    topic: 't',
    key: 'ascii',
    value: 'x'.repeat(400_000),
    headers: {},
  });
  return added;
}

/** First differing byte in the message, instead of two multi-megabyte dumps. */
function sameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let i = 0;
  while (i < actual.length && i < expected.length && actual[i] === expected[i]) i++;
  assert.fail(
    `${what}: ${actual.length} bytes, expected ${expected.length}; first difference at byte ${i}`,
  );
}

test('a pack gives back exactly the records added, in order, across several buffers', () => {
  const added = records(5000, 1);
  const pack = new RecordPack();
  let bytes = 0;
  added.forEach((a, i) => {
    add(pack, a);
    bytes += packedSize(unpacked(a));
    assert.equal(pack.count, i + 1);
  });
  assert.equal(pack.bytes, bytes);
  const packed = pack.finish();
  assert.equal(packed.count, added.length);
  assert.equal(packed.lengths.length, packed.buffers.length);
  assert.ok(packed.buffers.length >= 6, `${packed.buffers.length} buffers`);
  assert.equal(
    packed.lengths.reduce((s, n) => s + n, 0),
    bytes,
  );
  packed.lengths.forEach((n, b) => assert.ok(n > 0 && n <= packed.buffers[b]!.byteLength));
  // Topics are numbered in order of first use.
  assert.deepEqual(packed.topics, [
    ...new Set(added.map((a) => (a.text ? a.topic : a.record.topic))),
  ]);
  assert.deepEqual(unpackRecords(packed), added.map(unpacked));
});

test('the index locates every field of every record, records packed back to back', () => {
  const added = records(5000, 2);
  const packed = packOf(added).finish();
  const x = new PackIndex(packed);
  assert.equal(x.count, added.length);
  assert.equal(x.buffers.length, packed.buffers.length);
  x.buffers.forEach((b, i) => assert.equal(b.length, packed.lengths[i]));
  const firstOf: number[] = [];
  let end = 0; // where the previous record of the same buffer ended
  for (let i = 0; i < x.count; i++) {
    const want = unpacked(added[i]!);
    const b = x.buffer[i]!;
    const buf = x.buffers[b]!;
    if (i === 0 || b !== x.buffer[i - 1]) {
      assert.equal(b, i === 0 ? 0 : x.buffer[i - 1]! + 1, `record ${i}: buffer ${b}`);
      if (i > 0) assert.equal(end, packed.lengths[b - 1], `buffer ${b - 1} ends after its last`);
      firstOf.push(i);
      end = 0;
    }
    assert.equal(packed.topics[x.topic[i]!], want.topic, `record ${i}: topic`);
    assert.equal(x.partition[i], want.partition ?? -1, `record ${i}: partition`);
    if (want.timestamp === undefined) assert.ok(Number.isNaN(x.timestamp[i]), `record ${i}`);
    else assert.equal(x.timestamp[i], Number(want.timestamp), `record ${i}: timestamp`);
    assert.equal(x.keyLength[i], want.key === null ? -1 : want.key.length, `record ${i}: key`);
    if (want.key !== null)
      assert.deepEqual(buf.subarray(x.keyAt[i]!, x.keyAt[i]! + want.key.length), want.key);
    // The record starts where the previous one ended; its tail is the record batch's bytes
    // from the key on, and ends the record.
    const start = x.tailAt[i]! - 4 - (want.timestamp === undefined ? 0 : 8) - 7;
    assert.equal(start, end, `record ${i}: start`);
    const tail = buf.subarray(x.tailAt[i]!, x.tailAt[i]! + x.tailLength[i]!);
    assert.deepEqual(tail, tailOf(want), `record ${i}: tail`);
    end = x.tailAt[i]! + x.tailLength[i]!;
    assert.equal(end - start, packedSize(want), `record ${i}: size`);
  }
  assert.equal(end, packed.lengths.at(-1));
  // A buffer is given up only when the next record may not fit (never split across buffers),
  // and is 1 MiB (reusable) unless its first record may be larger.
  for (let b = 0; b < packed.buffers.length; b++) {
    const size = packed.buffers[b]!.byteLength;
    assert.ok(size === CHUNK || worstSize(added[firstOf[b]!]!) > CHUNK, `buffer ${b}: ${size}`);
    if (b + 1 < packed.buffers.length)
      assert.ok(packed.lengths[b]! + worstSize(added[firstOf[b + 1]!]!) > size, `buffer ${b}`);
  }
  assert.ok(firstOf.length >= 6);
});

test('a record at the end of a buffer is never split: it fits whole or moves on', () => {
  // The pack moves on when less than the record's worst case is free (3 bytes per UTF-16 unit,
  // the widest varints), so both sides of that edge are tried; texts of 3-byte characters
  // only are the worst case of UTF-8 per UTF-16 unit.
  const next: Added[] = [
    {
      text: false,
      record: {
        topic: 't',
        key: Buffer.from('key'),
        value: Buffer.alloc(300, 1),
        headers: { '': Buffer.alloc(20, 2) },
      },
    },
    { text: true, topic: 't', key: '€€', value: '€'.repeat(100), headers: { '€': '€日' } },
  ];
  for (const a of next) {
    const worst = worstSize(a);
    const size = packedSize(unpacked(a));
    assert.ok(size <= worst);
    for (const free of [worst - 1, worst, worst + 1]) {
      // A first record leaving exactly `free` bytes of a 1 MiB buffer (16 bytes besides its
      // value: head, null key, 3-byte value length, no headers).
      const fill: Added = {
        text: false,
        record: { topic: 't', key: null, value: Buffer.alloc(CHUNK - free - 16, 3) },
      };
      assert.equal(packedSize(unpacked(fill)), CHUNK - free);
      const added = [fill, a, fill];
      const packed = packOf(added).finish();
      assert.equal(packed.lengths[0], free < worst ? CHUNK - free : CHUNK - free + size);
      assert.deepEqual(unpackRecords(packed), added.map(unpacked), `${free} bytes free`);
    }
  }
});

test('an empty pack has no buffers, and a pack whose count is wrong is refused', () => {
  const empty = new RecordPack();
  assert.equal(empty.count, 0);
  assert.equal(empty.bytes, 0);
  assert.deepEqual(empty.finish(), { buffers: [], lengths: [], topics: [], count: 0 });
  assert.deepEqual(unpackRecords({ buffers: [], lengths: [], topics: [], count: 0 }), []);

  const packed = packOf(records(0, 3)).finish(); // the hand-picked records only
  const n = packed.count;
  assert.equal(unpackRecords(packed).length, n);
  const withCount = (count: number): PackedRecords => ({ ...packed, count });
  assert.throws(() => new PackIndex(withCount(n + 1)), {
    message: `record pack holds ${n} records, ${n + 1} expected`,
  });
  assert.throws(() => unpackRecords(withCount(n + 1)), /records, \d+ expected/);
  assert.throws(() => new PackIndex(withCount(n - 1)), {
    message: `record pack holds more than the ${n - 1} records it declares`,
  });
  assert.throws(() => unpackRecords(withCount(0)), /more than the 0 records/);
  // Buffers left out: fewer records than declared.
  assert.throws(() => new PackIndex({ ...packed, buffers: [], lengths: [] }), /holds 0 records/);
});

test('recycled 1 MiB buffers are reused by later packs; old bytes never show through', () => {
  const first = packOf(records(3000, 4)).finish();
  const recycled = first.buffers.filter((b) => b.byteLength === CHUNK);
  assert.ok(recycled.length >= 2);
  const oversized = first.buffers.filter((b) => b.byteLength !== CHUNK);
  assert.ok(oversized.length >= 1);
  recyclePackBuffers(first.buffers);
  // A buffer transferred to another thread is detached (0 bytes): never reused.
  const detached = new ArrayBuffer(CHUNK);
  structuredClone(detached, { transfer: [detached] });
  assert.equal(detached.byteLength, 0);
  recyclePackBuffers([detached]);

  const added = records(100, 5, false);
  const second = packOf(added).finish();
  assert.equal(second.buffers.length, 1);
  assert.ok(recycled.includes(second.buffers[0]!), 'a recycled buffer is reused');
  assert.deepEqual(unpackRecords(second), added.map(unpacked));
  const third = packOf(records(2000, 6)).finish();
  for (const b of third.buffers) {
    assert.ok(!oversized.includes(b) && b !== detached && b.byteLength >= CHUNK);
    assert.ok(!second.buffers.includes(b), 'a buffer is in one pack at a time');
  }
  assert.deepEqual(unpackRecords(third), records(2000, 6).map(unpacked));
});

/** The message encodeRecordBatch takes for a record (headers as a Map of bytes). */
function batchMessage(r: OutgoingRecord): BatchMessage {
  const m: BatchMessage = { topic: r.topic, key: r.key, value: r.value };
  if (r.partition !== undefined) m.partition = r.partition;
  if (r.timestamp !== undefined) m.timestamp = r.timestamp;
  if (r.headers)
    m.headers = new Map(
      Object.entries(bufferHeaders(r.headers)).map(([k, v]) => [Buffer.from(k), v]),
    );
  return m;
}

function packedBatch(
  encoder: PackedBatchEncoder,
  x: PackIndex,
  indexes: number[],
  options: BatchOptions,
): Buffer {
  const size = encoder.measure(x, indexes);
  const buf = Buffer.alloc(size);
  assert.equal(encoder.write(buf, 0, options), size, 'write() ends where measure() said');
  return buf;
}

const OPTIONS: BatchOptions[] = [
  {},
  {
    producerId: 98_765n,
    producerEpoch: 3,
    firstSequence: 1234,
    transactional: true,
    partitionLeaderEpoch: 7,
  },
];

test('packed batches are byte-identical to encodeRecordBatch for the same records', (t) => {
  t.mock.method(Date, 'now', () => NOW);
  const added = records(5000, 7);
  const want = added.map(unpacked);
  const x = new PackIndex(packOf(added).finish());
  // One batch per topic-partition (as the producer groups them), every record in one batch
  // (several buffers, records over 1 MiB, 2-4 byte varints), and every 7th record.
  const groups = new Map<string, number[]>();
  for (let i = 0; i < x.count; i++) {
    const k = `${x.topic[i]}:${x.partition[i]}`;
    groups.set(k, [...(groups.get(k) ?? []), i]);
  }
  const all = want.map((_, i) => i);
  const batches = [...groups.values(), all, all.filter((i) => i % 7 === 3), ...groups.values()];
  assert.ok(groups.size > 20);
  // One encoder for every batch: its scratch arrays grow for the big one and are reused.
  const encoder = new PackedBatchEncoder();
  for (const options of OPTIONS) {
    for (const indexes of batches) {
      const expected = encodeRecordBatch(
        indexes.map((i) => batchMessage(want[i]!)),
        options,
      );
      const what = `batch of ${indexes.length} from record ${indexes[0]}`;
      sameBytes(packedBatch(encoder, x, indexes, options), expected, what);
    }
  }
});

/** The records' timestamp deltas, decoded here (zigzag varlongs), not by the shared helpers. */
function timestampDeltas(batch: Buffer): bigint[] {
  let pos = 61;
  const varlong = (): bigint => {
    let v = 0n;
    let shift = 0n;
    let b: number;
    do {
      b = batch[pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      shift += 7n;
    } while (b & 0x80);
    return (v >> 1n) ^ -(v & 1n);
  };
  const out: bigint[] = [];
  for (let n = batch.readInt32BE(57); n > 0; n--) {
    const length = Number(varlong());
    const end = pos + length;
    pos++; // attributes
    out.push(varlong());
    pos = end;
  }
  assert.equal(pos, batch.length);
  return out;
}

test('timestamps far from the first one: multi-byte zigzag deltas, both signs', (t) => {
  t.mock.method(Date, 'now', () => NOW);
  const stamps = [T0, T0 + 40_000_000_000n, T0 - 3n, T0 + (1n << 40n), undefined, T0 - 1_000_000n];
  const added: Added[] = stamps.map((timestamp, i) => ({
    text: false,
    record: { topic: 't', key: Buffer.from(`k${i}`), value: Buffer.from('v'), timestamp },
  }));
  const want = added.map(unpacked);
  const x = new PackIndex(packOf(added).finish());
  const encoder = new PackedBatchEncoder();
  for (const indexes of [
    [0, 1, 2, 3, 4, 5],
    [4, 5, 0],
    [2, 3],
  ]) {
    const expected = encodeRecordBatch(
      indexes.map((i) => batchMessage(want[i]!)),
      {},
    );
    const batch = packedBatch(encoder, x, indexes, {});
    sameBytes(batch, expected, `records ${indexes}`);
    const times = indexes.map((i) => want[i]!.timestamp ?? BigInt(NOW));
    assert.equal(batch.readBigInt64BE(27), times[0]);
    assert.equal(
      batch.readBigInt64BE(35),
      times.reduce((m, s) => (s > m ? s : m)),
    );
    assert.deepEqual(
      timestampDeltas(batch),
      times.map((s) => s - times[0]!),
    );
  }
});

test('a batch written inside a larger buffer: same bytes there, nothing else touched, valid CRC', (t) => {
  t.mock.method(Date, 'now', () => NOW);
  const added = records(400, 8);
  const want = added.map(unpacked);
  const x = new PackIndex(packOf(added).finish());
  const encoder = new PackedBatchEncoder();
  assert.throws(() => encoder.write(Buffer.alloc(100), 0), /before measure/);
  // Two batches back to back at an odd position, as a Produce request holds them: the first
  // includes the record of 1.5 MB.
  const big = want.findIndex((r) => (r.value?.length ?? 0) > CHUNK);
  const first = [...Array(40).keys()].map((k) => big - 20 + k);
  const second = want.map((_, i) => i).filter((i) => i % 3 === 1 && i !== big);
  const at = 1001;
  const size2 = new PackedBatchEncoder().measure(x, second);
  const size1 = encoder.measure(x, first);
  const out = Buffer.alloc(at + size1 + size2 + 777, 0xab);
  const end1 = encoder.write(out, at, OPTIONS[1]);
  assert.equal(end1, at + size1);
  assert.throws(() => encoder.write(out, end1), /before measure/, 'one write per measure');
  assert.equal(encoder.measure(x, second), size2);
  const end2 = encoder.write(out, end1, OPTIONS[0]);
  assert.equal(end2, end1 + size2);
  assert.ok(
    out.subarray(0, at).every((b) => b === 0xab),
    'bytes before the batch untouched',
  );
  assert.ok(
    out.subarray(end2).every((b) => b === 0xab),
    'bytes after the batch untouched',
  );

  for (const [indexes, from, to, options] of [
    [first, at, end1, OPTIONS[1]!],
    [second, end1, end2, OPTIONS[0]!],
  ] as const) {
    const batch = out.subarray(from, to);
    const messages = indexes.map((i) => batchMessage(want[i]!));
    sameBytes(batch, encodeRecordBatch(messages, options), `batch at ${from}`);
    // Read back with the client's decoder and its own CRC-32C (what the broker checks).
    assert.equal(batch.readUInt32BE(17), crc32c(batch.subarray(21)));
    const read = readRecordsBatch(Reader.from(batch));
    assert.equal(read.length, batch.length - 12);
    assert.equal(read.producerId, options.producerId ?? -1n);
    assert.equal(read.firstSequence, options.firstSequence ?? 0);
    assert.equal(read.partitionLeaderEpoch, options.partitionLeaderEpoch ?? 0);
    assert.equal(read.records.length, indexes.length);
    const stamps = indexes.map((i) => want[i]!.timestamp ?? BigInt(NOW));
    assert.equal(read.firstTimestamp, stamps[0]);
    assert.equal(
      read.maxTimestamp,
      stamps.reduce((m, s) => (s > m ? s : m)),
    );
    read.records.forEach((r, j) => {
      const w = want[indexes[j]!]!;
      assert.equal(r.offsetDelta, j);
      assert.equal(BigInt(r.timestampDelta), stamps[j]! - stamps[0]!);
      assert.deepEqual(r.key, w.key);
      assert.deepEqual(r.value, w.value);
      const headers = r.headers.map(([k, v]) => [k?.toString(), v]);
      assert.deepEqual(headers, Object.entries(w.headers ?? {}));
    });
  }
});

/** An event carrying its JSON, as the PostgreSQL capture's events do (PRE_ENCODED). */
class PreEncodedEvent implements ChangeEvent {
  readonly topic: string;
  readonly key: RowKey;
  readonly value: Envelope;
  readonly version: bigint;
  readonly schemas?: EventSchemas;
  headers?: Record<string, string>;
  private readonly json: PreEncodedJson;

  constructor(event: ChangeEvent) {
    this.topic = event.topic;
    this.key = event.key;
    this.value = event.value;
    this.version = event.version;
    if (event.schemas) this.schemas = event.schemas;
    if (event.headers) this.headers = event.headers;
    this.json = {
      keyJson: stringifyJson(event.key),
      valueJson: encodeValue(event, 'json').toString('utf8'),
      versionText: event.version.toString(),
      op: event.value.op,
    };
  }

  [PRE_ENCODED](): PreEncodedJson {
    return this.json;
  }
}

const NON_ASCII: ChangeEvent = {
  ...INSERT,
  key: { id: 3 },
  value: {
    ...INSERT.value,
    after: { ...INSERT.value.after, id: 3, customer: 'José € 😀 東京', attrs: '{"ü":"ß"}' },
  },
  version: 1n,
};
const WITH_HEADERS: ChangeEvent = {
  ...UPDATE,
  headers: { [UNAVAILABLE_HEADER]: 'blob,attrs', 'x-trace': 'é€😀' },
};
const DELETE_WITH_HEADERS: ChangeEvent = { ...DELETE, headers: { [UNAVAILABLE_HEADER]: 'blob' } };
const EVENTS = [INSERT, UPDATE, DELETE, READ, NON_ASCII, WITH_HEADERS, DELETE_WITH_HEADERS];

function serdeOptions(): SerdeOptions[] {
  const out: SerdeOptions[] = [];
  for (const format of ['json', 'json-schema'] as JsonFormat[]) {
    out.push(
      { format },
      { format, tombstonesOnDelete: true },
      { format, tombstonesOnDelete: false },
    );
  }
  return out;
}

/** An EncodedRecord as unpackRecords gives it back (header values as bytes). */
function asUnpacked(r: EncodedRecord): OutgoingRecord {
  return { topic: r.topic, key: r.key, value: r.value, headers: bufferHeaders(r.headers) };
}

/** A packer counting which of its methods packEvent used. */
function counting(pack: RecordPack): {
  packer: RecordPacker;
  calls: { text: number; add: number };
} {
  const calls = { text: 0, add: 0 };
  const packer: RecordPacker = {
    add(record) {
      calls.add++;
      pack.add(record);
    },
    addVersioned(topic, key, value, name, version, extra) {
      calls.text++;
      pack.addVersioned(topic, key, value, name, version, extra);
    },
    addVersionedBytes(topic, key, value, start, end, name, version, extra) {
      calls.text++;
      pack.addVersionedBytes(topic, key, value, start, end, name, version, extra);
    },
  };
  return { packer, calls };
}

test('packEvent packs the same records as toKafkaRecords, both formats, with and without tombstones', () => {
  for (const options of serdeOptions()) {
    const events = options.format === 'json' ? [...EVENTS, TRUNCATE] : EVENTS;
    const pack = new RecordPack();
    for (const e of events) packEvent(pack, e, options);
    const expected = events.flatMap((e) => toKafkaRecords(e, options));
    const deletes = events.filter((e) => e.value.op === 'd').length;
    assert.equal(
      expected.length,
      events.length + (options.tombstonesOnDelete === false ? 0 : deletes),
    );
    assert.equal(pack.count, expected.length);
    assert.deepEqual(
      unpackRecords(pack.finish()),
      expected.map(asUnpacked),
      JSON.stringify(options),
    );
  }
});

test('packEvent writes PRE_ENCODED events as text, with the bytes toKafkaRecords gives', () => {
  for (const options of serdeOptions()) {
    const what = JSON.stringify(options);
    const plain = options.format === 'json' ? [...EVENTS, TRUNCATE] : EVENTS;
    const pre = plain.map((e) => new PreEncodedEvent(e));
    const expected = pre.flatMap((e) => toKafkaRecords(e, options));
    // The texts the fixture carries are what the events' own key and value encode to.
    assert.deepEqual(
      expected,
      plain.flatMap((e) => toKafkaRecords(e, options)),
      what,
    );

    const pack = new RecordPack();
    const { packer, calls } = counting(pack);
    for (const e of pre) packEvent(packer, e, options);
    assert.deepEqual(calls, { text: expected.length, add: 0 }, `${what}: the text path`);
    assert.deepEqual(unpackRecords(pack.finish()), expected.map(asUnpacked), what);

    // Both kinds in one pack, interleaved, keep their order.
    const mixed = new RecordPack();
    const both = plain.flatMap((e, i) => [e, pre[i]!]);
    for (const e of both) packEvent(mixed, e, options);
    assert.deepEqual(
      unpackRecords(mixed.finish()),
      both.flatMap((e) => toKafkaRecords(e, options)).map(asUnpacked),
      what,
    );
  }
});

test('an event that cannot be encoded throws and adds nothing to the pack', () => {
  // The schema form needs schemas, which a truncate does not carry.
  const options: SerdeOptions = { format: 'json-schema' };
  for (const event of [TRUNCATE, new PreEncodedEvent(TRUNCATE)]) {
    assert.throws(() => toKafkaRecords(event, options), { name: 'ChangeEventError' });
    const pack = new RecordPack();
    packEvent(pack, INSERT, options);
    assert.throws(() => packEvent(pack, event, options), { name: 'ChangeEventError' });
    assert.equal(pack.count, 1);
    assert.deepEqual(unpackRecords(pack.finish()), toKafkaRecords(INSERT, options).map(asUnpacked));
  }
});

test('addVersioned packs exactly what addText packs with the version header last (or in its place)', () => {
  const extras: Array<Record<string, string> | undefined> = [
    undefined,
    {},
    { 'tributary.unavailable': 'note,blob', b: '€ ✓ 😀' },
    { a: '1', 'tributary.version': 'old', z: '2' },
  ];
  for (const extra of extras) {
    for (const value of ['{"after":{"id":1}}', null, '']) {
      const direct = new RecordPack();
      const generic = new RecordPack();
      direct.addVersioned('t.x', '{"id":1}', value, 'tributary.version', '123456', extra);
      generic.addText('t.x', '{"id":1}', value, { ...extra, 'tributary.version': '123456' });
      // Byte for byte, so the order of the headers counts too.
      const bytes = (p: PackedRecords) => Buffer.from(p.buffers[0]!, 0, p.lengths[0]!);
      assert.deepEqual(
        bytes(direct.finish()),
        bytes(generic.finish()),
        JSON.stringify({ extra, value }),
      );
    }
  }
});

test('a version given as a number packs the bytes of its decimal text; a value given as bytes, the bytes of the text', () => {
  const bytes = (p: PackedRecords) => Buffer.from(p.buffers[0]!, 0, p.lengths[0]!);
  const value = '{"after":{"id":1,"note":"€ ✓"}}';
  const utf8 = Buffer.concat([Buffer.from('xx'), Buffer.from(value), Buffer.from('yy')]);
  for (const version of [0, 7, 10, 99, 123456, 2 ** 31, 2 ** 32 + 5, 9_007_199_254_740_991]) {
    for (const extra of [undefined, { 'tributary.unavailable': 'note' }]) {
      const byNumber = new RecordPack();
      const byText = new RecordPack();
      byNumber.addVersioned('t.x', '{"id":1}', value, 'tributary.version', version, extra);
      byText.addVersioned('t.x', '{"id":1}', value, 'tributary.version', String(version), extra);
      assert.deepEqual(bytes(byNumber.finish()), bytes(byText.finish()), String(version));
      const fromBytes = new RecordPack();
      fromBytes.addVersionedBytes(
        't.x',
        '{"id":1}',
        utf8,
        2,
        utf8.length - 2,
        'tributary.version',
        version,
        extra,
      );
      const fromText = new RecordPack();
      fromText.addVersioned('t.x', '{"id":1}', value, 'tributary.version', String(version), extra);
      assert.deepEqual(bytes(fromBytes.finish()), bytes(fromText.finish()), String(version));
    }
  }
});

test('text lengths at every varint width edge: written in place or moved back, bytes exact', () => {
  // UTF-8 length n lies in [units, 3 × units]; the length's varint is 1 byte up to 63, 2 up to
  // 8,191, 3 up to 1,048,575. Texts whose bounds straddle an edge are written after the
  // widest prefix and moved back.
  const texts: string[] = [];
  for (const units of [0, 1, 21, 22, 63, 64, 2730, 2731, 8191, 8192, 349_525, 349_526])
    for (const ch of ['a', 'é', '€', '😀'])
      texts.push(ch.repeat(Math.ceil(units / ch.length)).slice(0, units));
  const added: Added[] = texts.map((t, i) => ({
    text: true,
    topic: 'edges',
    key: t.slice(0, 70),
    value: t,
    headers: { [`h${i}`]: t.slice(0, 100) },
  }));
  const packed = packOf(added).finish();
  assert.deepEqual(unpackRecords(packed), added.map(unpacked));
  const x = new PackIndex(packed);
  for (let i = 0; i < x.count; i++) {
    const buf = x.buffers[x.buffer[i]!]!;
    const tail = buf.subarray(x.tailAt[i]!, x.tailAt[i]! + x.tailLength[i]!);
    assert.deepEqual(tail, tailOf(unpacked(added[i]!)), `text ${i}`);
  }
});
