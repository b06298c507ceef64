// The S3 Parquet sink's direct reader (sinks/s3-parquet/direct.ts) against the full decoder:
// the same consumed records, written once decoded as the runtime decodes them and once read
// straight from their bytes, must give the same files byte for byte and the same dead letters
// with the same reasons. The records mix well-formed events of every value shape, hand-written
// variants (whitespace, member order, escapes, schemas, transactions, deletes, truncates) and
// randomly damaged JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toKafkaRecords } from '../../../core/events/index.ts';
import type { ChangeEvent, Row } from '../../../core/events/index.ts';
import type { IncomingRecord } from '../../../core/kafka/index.ts';
import { decodeConsumed, truncateUnsupported } from '../../../sinks/runtime/sink.ts';
import type { CopiedRecord, SinkRecord } from '../../../sinks/runtime/sink.ts';
import { s3ParquetSinkConfigSchema } from '../../../sinks/s3-parquet/config.ts';
import type { S3ParquetSinkConfigInput } from '../../../sinks/s3-parquet/config.ts';
import { S3ParquetSink } from '../../../sinks/s3-parquet/sink.ts';
import { rng } from '../../integration/sinks/harness.ts';
import { listing } from './files.ts';

const TOPIC = 'shop.public.orders';
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

const LONG = 'order shipped to the warehouse, parcel express; '.repeat(8);
const STRINGS = [
  '',
  'plain',
  'é à ü',
  'emoji 😀 here',
  'quote " inside',
  'back\\slash',
  'line\nbreak\ttab',
  'control \u0001 char',
  LONG,
  `${LONG.slice(0, 100)}"${LONG.slice(100)}`,
  `${LONG.slice(0, 40)}\n${LONG}`,
  `${LONG}ü€😀`,
  '\u2028 separators \u2029',
];
const DOUBLES = [
  0,
  -0,
  1,
  -1,
  0.1 + 0.2,
  123.456,
  1e21,
  1e-7,
  5e-324,
  1.7976931348623157e308,
  12.5,
  -99.99,
  2 ** 53 - 1,
  1234567890.12345,
  1767261600000000, // epoch microseconds: 16 digits, still exact as a number
  -1767261600000001,
];
const INTS: Array<number | bigint> = [
  0,
  1,
  -1,
  42,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  2n ** 53n + 1n,
  123456789012345,
];

function event(
  i: number,
  rand: () => number,
  after: Row | null,
  op = after ? 'c' : 'd',
): ChangeEvent {
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  return {
    topic: TOPIC,
    key: { id: i },
    version: BigInt(1000 + i),
    value: {
      before: rand() < 0.2 ? { id: i, name: 'old', price: 1, flag: false, note: null } : null,
      after,
      source: {
        version: '3.0.0',
        connector: 'postgresql',
        name: 'shop',
        ts_ms: rand() < 0.05 ? 0 : T0 + i * 60_000,
        db: 'shop',
        schema: rand() < 0.1 ? pick(['public', 'sales']) : 'public',
        table: rand() < 0.05 ? 'customers' : 'orders',
        lsn: 1_000_000 + i,
      },
      transaction: rand() < 0.1 ? { id: `tx${i}`, total_order: i, data_collection_order: 1 } : null,
      op: op as ChangeEvent['value']['op'],
      ts_ms: T0 + i * 60_000 + 5,
    },
  };
}

function raw(
  offset: number,
  key: string | null,
  value: string | null,
  version: string | null,
  topic = TOPIC,
): IncomingRecord {
  return {
    topic,
    partition: 0,
    offset: BigInt(offset),
    key: key === null ? null : Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
    headers: version === null ? {} : { 'tributary.version': Buffer.from(version) },
    timestamp: 0n,
  };
}

function encoded(e: ChangeEvent, offset: number): IncomingRecord[] {
  return toKafkaRecords(e, { format: 'json' }).map((r, k) => ({
    topic: r.topic,
    partition: 0,
    offset: BigInt(offset + k),
    key: r.key,
    value: r.value,
    headers: Object.fromEntries(Object.entries(r.headers).map(([h, v]) => [h, Buffer.from(v)])),
    timestamp: 0n,
  }));
}

/** The record time of variant `i`, one minute apart, as the generated events. */
const ts = (i: number) => T0 + i * 60_000;
/** The usual source block of a hand-written variant. */
const source = (i: number) =>
  `{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":"public","table":"orders"}`;

const VARIANTS: Array<(i: number) => [string | null, string | null, string | null]> = [
  // whitespace everywhere, members reordered
  (i) => [
    ` { "id" : ${i} } `,
    `\n{ "op" : "u" ,\t"ts_ms" : ${T0 + i} , "source" : { "ts_ms" : ${T0 + i}, "table":"orders", "db":"shop", "schema":"public", "name":"shop", "connector":"postgresql", "version":"3" }, "after" : { "id" : ${i} , "name" : "w" , "price" : 1.5 , "flag" : true , "note" : null } , "before" : null }\r\n`,
    `${2000 + i}`,
  ],
  (i) => [
    `{"id":${i}}`,
    `{"before":null,"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"after":{"id":${i},"name":"b","price":3,"flag":false,"note":"y"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"r","ts_ms":${ts(i)},"extra":1}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","table":"orders"},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":null,"table":"orders"},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":"","table":"orders"},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"","schema":"","table":""},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":"public","table":7},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"schema":"public","table":"orders"},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"r","ts_ms":${ts(i)}.5}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"r","ts_ms":${ts(i)},"ts_us":${ts(i)}000,"ts_ns":${ts(i)}000000}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"r","ts_ms":${ts(i)},"ts_us":1.5}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"transaction":{"id":"t","total_order":1.0,"data_collection_order":2},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"transaction":{"id":"t","total_order":1},"op":"r","ts_ms":${ts(i)}}`,
    '1',
  ],
  // escapes in names and values
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"na\\u006de":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"\\u00e9\\ud83d\\ude00\\/","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"sh\\u006fp","schema":"public","table":"orders"},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":${source(i)},"op":"\\u0063","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":2,"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":"public","t\\u0061ble":"customers"},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  // numbers at the edges of the grammar and of 2^53
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":-0.0,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1E2,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":0.30000000000000004,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":9007199254740993,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1234567890123456,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}.0}`,
    `{"after":{"id":${i}.0,"name":"a","price":01,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i}.0,"name":"a","price":1.,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i}.5,"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  // numbers longer than any fixed window (both read them whole)
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":0.${'1'.repeat(420)},"flag":false,"note":"x"},"source":{"version":"3","connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":"public","table":"orders","lsn":${'7'.repeat(450)}},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  // shapes the full decoder refuses or treats differently
  (i) => [
    `{"id":${i}}`,
    `{"before":[1],"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"u","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"${LONG.slice(0, 60)}\u0002${LONG.slice(0, 20)}","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a\u0001","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a\\x","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"x","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c"}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":{"version":3,"connector":"c","name":"n","ts_ms":${ts(i)},"db":"shop","schema":"public","table":"orders"},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}} x`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}]`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"],"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '18446744073709551616',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    null,
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '-1',
  ],
  (i) => [
    `[${i}]`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"schema":{"type":"struct"},"payload":{"id":${i}}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"schema":null,"payload":7}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"sch\\u0065ma":null,"payload":7}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"schema":null,"payload":{"after":{"id":${i},"name":"a","price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"before":null,"after":null,"source":${source(i)},"op":"t","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [`{"id":${i}}`, null, '1'],
  (_i) => [null, null, '1'],
  // a different row shape: a new file either way
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":false},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"price":1,"name":"a","flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":5,"price":1,"flag":false,"note":"x"},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
  (i) => [
    `{"id":${i}}`,
    `{"after":{"id":${i},"name":"a","price":1,"flag":1,"note":{"x":[1,2,{"y":null}]}},"source":${source(i)},"op":"c","ts_ms":${ts(i)}}`,
    '1',
  ],
];

/** A copy of `text` with 1-3 random edits (a byte replaced, removed or repeated). */
function damaged(text: string, rand: () => number): string {
  const CHARS = '{}[]":,\\ 0123456789.-+eEtruefalsn\u0001é';
  let s = text;
  const edits = 1 + Math.floor(rand() * 3);
  for (let k = 0; k < edits; k++) {
    const at = Math.floor(rand() * s.length);
    const r = rand();
    if (r < 0.4) s = s.slice(0, at) + CHARS[Math.floor(rand() * CHARS.length)] + s.slice(at + 1);
    else if (r < 0.7) s = s.slice(0, at) + s.slice(at + 1);
    else s = s.slice(0, at) + s[at] + s.slice(at);
  }
  return s;
}

function corpus(seed: number, count: number): IncomingRecord[] {
  const rand = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const out: IncomingRecord[] = [];
  for (let i = 0; out.length < count; i++) {
    const r = rand();
    const offset = out.length;
    if (r < 0.12) {
      const [key, value, version] = pick(VARIANTS)(i);
      out.push(raw(offset, key, value, version));
    } else if (r < 0.27) {
      const good = encoded(
        event(i, rand, { id: i, name: pick(STRINGS), price: 1, flag: true, note: 'n' }),
        0,
      )[0]!;
      out.push(raw(offset, good.key!.toString(), damaged(good.value!.toString(), rand), `${i}`));
    } else if (r < 0.31) {
      for (const rec of encoded(event(i, rand, null), offset)) out.push(rec);
    } else {
      // Mostly one row shape, its kinds kept, so most rows land in open files.
      const after: Row = {
        id: rand() < 0.97 ? i : pick(INTS),
        name: rand() < 0.9 ? pick(STRINGS) : null,
        price:
          rand() < 0.6
            ? pick(DOUBLES)
            : rand() < 0.9
              ? (rand() - 0.5) * 10 ** Math.floor(rand() * 12)
              : null,
        flag: rand() < 0.9 ? rand() < 0.5 : null,
        note: rand() < 0.97 ? pick(STRINGS) : pick([null, 7, true]),
      };
      out.push(
        ...encoded(event(i, rand, after, rand() < 0.1 ? 'u' : rand() < 0.1 ? 'r' : 'c'), offset),
      );
    }
  }
  return out.slice(0, count);
}

async function openSink(
  dir: string,
  extra: Partial<S3ParquetSinkConfigInput>,
): Promise<S3ParquetSink> {
  const config = s3ParquetSinkConfigSchema.parse({
    type: 's3-parquet',
    url: `file://${dir}`,
    ...extra,
  });
  const sink = new S3ParquetSink('unit', config, undefined, {
    earliestOffsets: async (ps) => new Map(ps.map((p) => [`${p.topic}\u0000${p.partition}`, 0n])),
  });
  await sink.open();
  await sink.onAssigned([{ topic: TOPIC, partition: 0 }]);
  return sink;
}

type Dead = Array<{ offset: bigint; reason: string }>;

/** The runtime's decoding before the sink: what fails to decode, and truncates, are dead letters. */
async function writeDecoded(
  sink: S3ParquetSink,
  records: IncomingRecord[],
  batch: number,
): Promise<Dead> {
  const dead: Dead = [];
  for (let from = 0; from < records.length; from += batch) {
    const decoded: SinkRecord[] = [];
    for (const r of records.slice(from, from + batch)) {
      const origin = { topic: r.topic, partition: r.partition, offset: r.offset, raw: r };
      try {
        const d = decodeConsumed(r);
        if (d.kind === 'tombstone')
          decoded.push({ kind: 'tombstone', tombstone: d.tombstone, ...origin });
        else if (d.event.value.op === 't')
          dead.push({ offset: r.offset, reason: truncateUnsupported().message });
        else decoded.push({ kind: 'change', event: d.event, ...origin });
      } catch (err) {
        dead.push({ offset: r.offset, reason: (err as Error).message });
      }
    }
    const { rejected } = await sink.writeBatch(decoded);
    for (const x of rejected)
      dead.push({ offset: decoded[x.index]!.offset, reason: x.error.message });
  }
  await sink.writeBatch([]); // files held for a dead letter go now
  return dead.sort((a, b) => Number(a.offset - b.offset));
}

/** The records as the runtime now passes them to this sink: undecoded. */
async function writeCopied(
  sink: S3ParquetSink,
  records: IncomingRecord[],
  batch: number,
): Promise<Dead> {
  const dead: Dead = [];
  for (let from = 0; from < records.length; from += batch) {
    const copies: CopiedRecord[] = records.slice(from, from + batch).map((r) => ({
      kind: 'copy',
      topic: r.topic,
      partition: r.partition,
      offset: r.offset,
      raw: r,
    }));
    const { rejected } = await sink.writeBatch(copies);
    for (const x of rejected)
      dead.push({ offset: copies[x.index]!.offset, reason: x.error.message });
  }
  await sink.writeBatch([]);
  return dead.sort((a, b) => Number(a.offset - b.offset));
}

const CONFIGS: Array<[string, Partial<S3ParquetSinkConfigInput>]> = [
  ['default', { roll: { maxRecords: 9 } }],
  ['source-hour paths', { roll: { maxRecords: 50 }, partitionBy: 'source-hour' }],
  [
    'table paths, record-time windows',
    { roll: { maxRecords: 50, intervalMs: 600_000 }, partitionBy: 'table' },
  ],
  ['small maxRecordBytes', { roll: { maxRecords: 20 }, maxRecordBytes: 300 }],
  ['before-row columns', { roll: { maxRecords: 20 }, includeBefore: true }],
];

for (const [name, extra] of CONFIGS) {
  test(`direct reader = full decoder: same files, same dead letters (${name})`, async () => {
    const records = corpus(name.length * 7919, 1500);
    const a = mkdtempSync(join(tmpdir(), 's3p-direct-a-'));
    const b = mkdtempSync(join(tmpdir(), 's3p-direct-b-'));
    try {
      const decodedSink = await openSink(a, extra);
      const copiedSink = await openSink(b, extra);
      const deadA = await writeDecoded(decodedSink, records, 64);
      const deadB = await writeCopied(copiedSink, records, 64);
      assert.deepEqual(deadB, deadA);
      const filesA = listing(a);
      assert.deepEqual(listing(b), filesA);
      const files = Object.keys(filesA).length;
      const direct = copiedSink.metrics().rowsReadDirect;
      const rows = copiedSink.metrics().rowsUploaded;
      assert.equal(rows, decodedSink.metrics().rowsUploaded);
      assert.equal(decodedSink.metrics().rowsReadDirect, 0);
      // The corpus really exercises both paths: dead letters, many files, rows read directly
      // (none with before-row columns, which the direct reader leaves to the full decoder).
      assert.ok(deadA.length > 150, `dead letters: ${deadA.length}`);
      assert.ok(files > 10, `files: ${files}`);
      if (extra.includeBefore) assert.equal(direct, 0);
      else assert.ok(direct > rows * 0.3, `direct ${direct} of ${rows} rows`);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });
}
