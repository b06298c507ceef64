// S3 Parquet sink against the real broker, s3rver and the local filesystem, read back by DuckDB
// (the independent reader): exactly-once files through 10 kill -9s, a multipart upload broken
// in the middle, logical types, a schema change inside a file window and a too-large record.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toKafkaRecords } from '../../../core/events/index.ts';
import type { ChangeEvent, ConnectSchema, Row } from '../../../core/events/index.ts';
import { defaultKafkaConfig } from '../../../core/kafka/index.ts';
import type { OutgoingRecord } from '../../../core/kafka/index.ts';
import type { SinkRuntimeConfigInput } from '../../../sinks/runtime/config.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { REPO, ensureServices, uniqueName } from '../helpers.ts';
import {
  SinkProcess,
  changeEvent,
  createTopic,
  produce,
  readAll,
  rng,
  sleep,
  waitCaughtUp,
} from './harness.ts';
import {
  FailingS3Proxy,
  S3_ENDPOINT,
  deleteRecordsBefore,
  S3_ENV,
  downloadAll,
  duckdb,
  parquetFiles,
  s3Client,
} from './s3-parquet-helpers.ts';

const kafka = defaultKafkaConfig('sink-s3p-test');
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

/** An insert from shop.public.orders committed at `tsMs`. */
function event(topic: string, id: number, version: bigint, row: Row, tsMs: number): ChangeEvent {
  const e = changeEvent(topic, id, version, 'c', row);
  const source = { ...e.value.source, ts_ms: tsMs, db: 'shop', schema: 'public', table: 'orders' };
  e.value = { ...e.value, source, ts_ms: tsMs + 5 };
  return e;
}

/** `p`, or a rejection with `what()` after `ms` (the timer is cleared: nothing lingers). */
async function within<T>(p: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(what())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs an in-process sink until its group has committed the whole topic, then stops it. */
async function runToEnd(config: SinkRuntimeConfigInput, timeoutMs = 60_000): Promise<SinkRuntime> {
  const runtime = new SinkRuntime(config, { kafka, log: () => undefined });
  await runtime.start();
  try {
    await waitCaughtUp(kafka, runtime.config.name, config.topics[0]!, timeoutMs);
  } finally {
    await runtime.stop();
  }
  return runtime;
}

/** A sink process with extra environment (the fault hook); harness.SinkProcess passes process.env. */
function spawnWith(config: SinkRuntimeConfigInput, dir: string, env: Record<string, string>) {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return SinkProcess.spawn(config, dir);
  } finally {
    for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
  }
}

function s3Sink(prefix: string, extra: Record<string, unknown> = {}) {
  return {
    type: 's3-parquet' as const,
    url: `s3://tributary/${prefix}`,
    endpoint: S3_ENDPOINT,
    forcePathStyle: true,
    ...extra,
  };
}

describe('s3-parquet sink', { timeout: 240_000 }, () => {
  let dir: string;
  before(() => {
    ensureServices('kafka', 's3');
    dir = mkdtempSync(join(tmpdir(), 's3p-test-'));
    Object.assign(process.env, S3_ENV);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('killed with SIGKILL 10 times (5 of them right after an upload, before the commit), every (partition, offset) is in exactly one file, offsets contiguous, files identical to an uninterrupted run', async () => {
    const PARTITIONS = 4;
    const PER_PARTITION = 50_000;
    const topic = uniqueName('s3p-crash');
    await createTopic(kafka, topic, PARTITIONS);
    const records: OutgoingRecord[] = [];
    for (let i = 0; i < PARTITIONS * PER_PARTITION; i++) {
      const row = { id: i, name: `customer-${i}`, qty: i % 1000, price: (i % 10000) / 100 };
      const [r] = toKafkaRecords(event(topic, i, BigInt(1000 + i), row, T0 + Math.floor(i / 100)), {
        format: 'json',
      });
      records.push({ ...r!, partition: i % PARTITIONS });
    }

    const prefix = uniqueName('crash');
    const config: SinkRuntimeConfigInput = {
      name: uniqueName('s3p-crash'),
      topics: [topic],
      sessionTimeoutMs: 6000, // a killed member leaves the group sooner
      sink: s3Sink(prefix, { roll: { maxRecords: 2500 } }),
    };
    const rand = rng(42);
    const kills: string[] = [];
    for (let k = 0; k < 10; k++) {
      // The stream arrives in 10 slices, one before each run, so every run has work when it
      // is killed (the sink is faster than ten short runs).
      await produce(kafka, records.slice(k * 20_000, (k + 1) * 20_000));
      if (k % 2 === 0) {
        // The fault hook: SIGKILL right after the n-th upload, before any offset commit.
        const n = 1 + Math.floor(rand() * 3);
        const proc = spawnWith(config, dir, { TRIBUTARY_CRASH_AFTER_UPLOADS: String(n) });
        await within(proc.exited, 60_000, () => `the crash hook did not fire:\n${proc.output}`);
        assert.equal(proc.child.signalCode, 'SIGKILL', proc.output.slice(-2000));
        kills.push(`after upload ${n}`);
      } else {
        const proc = SinkProcess.spawn(config, dir);
        await proc.waitFor('sink ready');
        const wait = 200 + Math.floor(rand() * 1800);
        await sleep(wait);
        proc.checkAlive();
        await proc.kill9();
        kills.push(`${wait} ms after ready`);
      }
    }
    const last = SinkProcess.spawn(config, dir);
    try {
      await waitCaughtUp(kafka, config.name, topic, 120_000, () => last.checkAlive());
    } finally {
      last.child.kill('SIGTERM');
      await last.exited;
    }

    const client = s3Client();
    const crashed = await downloadAll(client, `${prefix}/`, join(dir, 'crashed'));
    assert.equal(crashed.length, (PARTITIONS * PER_PARTITION) / 2500, 'one file per 2500 rows');
    const files = crashed.map((o) => `'${o.file}'`).join(',');
    const dupes = await duckdb(
      `SELECT __partition, __offset, count(*) AS n FROM read_parquet([${files}]) GROUP BY ALL HAVING count(*) > 1 LIMIT 5`,
    );
    assert.deepEqual(dupes, [], 'no (partition, offset) twice');
    const per = await duckdb(
      `SELECT __partition AS p, count(*)::INT AS n, min(__offset)::INT AS lo, max(__offset)::INT AS hi, count(DISTINCT __topic)::INT AS topics FROM read_parquet([${files}]) GROUP BY 1 ORDER BY 1`,
    );
    assert.deepEqual(
      per,
      Array.from({ length: PARTITIONS }, (_, p) => ({
        p,
        n: PER_PARTITION,
        lo: 0,
        hi: PER_PARTITION - 1,
        topics: 1,
      })),
      'each partition: offsets 0..last, each once (count = last - first + 1)',
    );
    // Each object: key = its first offset, metadata = its last offset.
    for (const o of crashed) {
      const [r] = await duckdb(
        `SELECT min(__offset)::BIGINT AS lo, max(__offset)::BIGINT AS hi FROM read_parquet('${o.file}')`,
      );
      assert.ok(o.key.endsWith(`+${String(r!.lo).padStart(20, '0')}.parquet`), o.key);
      assert.equal(o.endOffset, String(r!.hi), `${o.key} end-offset metadata`);
    }

    // The same topic through a sink that was never interrupted gives the same keys and bytes.
    const cleanPrefix = uniqueName('clean');
    await runToEnd(
      {
        ...config,
        name: uniqueName('s3p-clean'),
        sink: { ...config.sink, url: `s3://tributary/${cleanPrefix}` } as never,
      },
      120_000,
    );
    const reference = await downloadAll(client, `${cleanPrefix}/`, join(dir, 'clean'));
    const rel = (objects: typeof crashed, p: string) =>
      objects.map((o) => `${o.key.slice(p.length)} ${o.md5}`);
    assert.deepEqual(rel(crashed, prefix), rel(reference, cleanPrefix), `kills: ${kills}`);
    client.destroy();
  });

  it('an S3 error in the middle of a multipart upload: the upload starts over from part 1 and the same key is written', async () => {
    const topic = uniqueName('s3p-multipart');
    await createTopic(kafka, topic, 1);
    const rand = rng(3);
    const ROWS = 20_000;
    const events: ChangeEvent[] = [];
    for (let i = 0; i < ROWS; i++) {
      // Incompressible text, so the file needs several 5 MiB parts.
      let blob = '';
      while (blob.length < 600) blob += Math.floor(rand() * 2 ** 52).toString(36);
      events.push(event(topic, i, BigInt(i + 1), { id: i, blob }, T0 + i));
    }
    await produce(
      kafka,
      events.flatMap((e) => toKafkaRecords(e, { format: 'json' })),
    );
    const proxy = new FailingS3Proxy();
    await proxy.start();
    proxy.failPart(2, 3); // more than the SDK's own retry: the sink must start over
    const prefix = uniqueName('multipart');
    let runtime: SinkRuntime;
    try {
      runtime = await runToEnd(
        {
          name: uniqueName('s3p-multipart'),
          topics: [topic],
          retry: { initialMs: 100, maxMs: 500 },
          sink: {
            ...s3Sink(prefix, { roll: { maxRecords: ROWS } }),
            endpoint: `http://127.0.0.1:${proxy.port}`,
            partSizeBytes: 5 * 1024 * 1024,
          },
        },
        90_000,
      );
    } finally {
      await proxy.stop();
    }
    const key = `${prefix}/${topic}/${topic}+0+${'0'.repeat(20)}.parquet`;
    const creates = proxy.log.filter((l) => l.method === 'POST' && l.url.includes('?uploads'));
    const failed = proxy.log.filter((l) => l.status === 500);
    assert.equal(failed.length, 3, 'three injected part failures');
    assert.ok(creates.length >= 2, `the upload started again (${creates.length} creates)`);
    assert.ok(
      creates.every((c) => decodeURIComponent(c.url).includes(`/tributary/${key}?`)),
      'always the same key',
    );
    assert.ok(runtime.metrics().retries >= 1, 'the runtime retried the batch');
    const objects = await downloadAll(s3Client(), `${prefix}/`, join(dir, 'multipart'));
    assert.deepEqual(
      objects.map((o) => o.key),
      [key],
    );
    const completes = proxy.log.filter(
      (l) => l.method === 'POST' && l.url.includes('uploadId=') && l.status === 200,
    );
    assert.equal(completes.length, 1, 'stored by one completed multipart upload');
    assert.equal(objects[0]!.endOffset, String(ROWS - 1), 'end offset in the object metadata');
    const [r] = await duckdb(
      `SELECT count(*)::INT AS n, count(DISTINCT __offset)::INT AS d, min(__offset)::INT AS lo, max(__offset)::INT AS hi, sum(length(blob))::INT AS len FROM read_parquet('${objects[0]!.file}')`,
    );
    assert.deepEqual(r, {
      n: ROWS,
      d: ROWS,
      lo: 0,
      hi: ROWS - 1,
      len: events.reduce((a, e) => a + String(e.value.after!.blob).length, 0),
    });
  });

  it('DuckDB reads the logical types (Connect schema) with the values of the source events; deletes keep their key', async () => {
    const topic = uniqueName('s3p-types');
    await createTopic(kafka, topic, 1);
    const opt = (type: ConnectSchema['type'], name?: string, parameters?: Record<string, string>) =>
      ({
        type,
        optional: true,
        ...(name ? { name } : {}),
        ...(parameters ? { parameters } : {}),
      }) as ConnectSchema;
    const fields: Array<[string, ConnectSchema]> = [
      ['id', { type: 'int32', optional: false }],
      ['small', opt('int16')],
      ['big', opt('int64')],
      ['ratio', opt('float64')],
      ['flag', opt('boolean')],
      ['name', opt('string')],
      [
        'amount',
        opt('bytes', 'org.apache.kafka.connect.data.Decimal', {
          scale: '2',
          'connect.decimal.precision': '12',
        }),
      ],
      ['day', opt('int32', 'io.debezium.time.Date')],
      ['created', opt('int64', 'io.debezium.time.MicroTimestamp')],
      ['updated', opt('string', 'io.debezium.time.ZonedTimestamp')],
      ['uid', opt('string', 'io.debezium.data.Uuid')],
      ['doc', opt('string', 'io.debezium.data.Json')],
      ['raw', opt('bytes')],
    ];
    const row: ConnectSchema = {
      type: 'struct',
      optional: true,
      name: `${topic}.Value`,
      fields: fields.map(([f, s]) => ({ ...s, field: f })),
    };
    const schemas = {
      key: {
        type: 'struct',
        optional: false,
        name: `${topic}.Key`,
        fields: [{ type: 'int32', optional: false, field: 'id' }],
      } as ConnectSchema,
      row,
      source: {
        type: 'struct',
        optional: false,
        name: 'io.debezium.connector.postgresql.Source',
        fields: [
          { type: 'string', optional: false, field: 'version' },
          { type: 'string', optional: false, field: 'connector' },
          { type: 'string', optional: false, field: 'name' },
          { type: 'int64', optional: false, field: 'ts_ms' },
          { type: 'string', optional: false, field: 'db' },
          { type: 'string', optional: false, field: 'schema' },
          { type: 'string', optional: false, field: 'table' },
        ],
      } as ConnectSchema,
      envelopeName: `${topic}.Envelope`,
    };
    const amountB64 = (cents: bigint) => {
      // big-endian two's complement, 8 bytes is enough here
      const b = Buffer.alloc(8);
      b.writeBigInt64BE(cents);
      return b.toString('base64');
    };
    const N = 300;
    const events: ChangeEvent[] = [];
    for (let i = 0; i < N; i++) {
      const e = event(
        topic,
        i,
        BigInt(10 + i),
        {
          id: i,
          small: i - 150,
          big: 9007199254740993n + BigInt(i),
          ratio: i / 8,
          flag: i % 2 === 0,
          name: i % 10 === 0 ? null : `name ${i} ✓`,
          amount: amountB64(BigInt(i * 101 - 5000)),
          day: 19782 + i,
          created: 1704067200000000 + i * 1_000_001,
          updated: `2024-01-0${1 + (i % 9)}T12:34:56.${String(i).padStart(6, '0')}Z`,
          uid: `a0eebc99-9c0b-4ef8-bb6d-${String(i).padStart(12, '0')}`,
          doc: `{"n":${i}}`,
          raw: Buffer.from([i % 256, 1, 2]).toString('base64'),
        },
        T0 + i,
      );
      e.schemas = schemas;
      events.push(e);
    }
    const del: ChangeEvent = {
      ...event(topic, 7, 1000n, {}, T0 + N),
      schemas,
    };
    del.value = { ...del.value, op: 'd', after: null, before: events[7]!.value.after };
    events.push(del);
    await produce(
      kafka,
      events.flatMap((e) => toKafkaRecords(e, { format: 'json-schema', tombstonesOnDelete: true })),
    );
    const out = join(dir, 'types');
    await runToEnd({
      name: uniqueName('s3p-types'),
      topics: [topic],
      sink: { type: 's3-parquet', url: `file://${out}`, roll: { maxRecords: N + 1 } },
    });
    const files = parquetFiles(out);
    assert.equal(files.length, 1);
    assert.match(files[0]!, new RegExp(`/${topic}/${topic}\\+0\\+0{20}\\.parquet$`));
    const types = Object.fromEntries(
      (await duckdb(`DESCRIBE SELECT * FROM read_parquet('${files[0]}')`)).map((r) => [
        r.column_name,
        r.column_type,
      ]),
    );
    assert.deepEqual(types, {
      id: 'INTEGER',
      small: 'SMALLINT',
      big: 'BIGINT',
      ratio: 'DOUBLE',
      flag: 'BOOLEAN',
      name: 'VARCHAR',
      amount: 'DECIMAL(12,2)',
      day: 'DATE',
      created: 'TIMESTAMP',
      updated: 'TIMESTAMP WITH TIME ZONE',
      uid: 'VARCHAR',
      doc: 'VARCHAR',
      raw: 'BLOB',
      __op: 'VARCHAR',
      __ts_ms: 'TIMESTAMP WITH TIME ZONE',
      __source_ts_ms: 'TIMESTAMP WITH TIME ZONE',
      __table: 'VARCHAR',
      __topic: 'VARCHAR',
      __partition: 'INTEGER',
      __offset: 'BIGINT',
      __version: 'UBIGINT',
    });
    // Values as DuckDB renders them, next to the same values computed from the source events.
    const got = await duckdb(
      `SELECT id, small, big::VARCHAR AS big, ratio, flag, name, amount::VARCHAR AS amount, day::VARCHAR AS day, epoch_us(created)::VARCHAR AS created, epoch_us(updated)::VARCHAR AS updated, uid, doc, hex(raw) AS raw, __op, epoch_ms(__ts_ms)::VARCHAR AS ts, epoch_ms(__source_ts_ms)::VARCHAR AS sts, __table, __offset::VARCHAR AS off, __version::VARCHAR AS ver FROM read_parquet('${files[0]}') ORDER BY __offset`,
    );
    assert.equal(got.length, N + 1, 'every event one row (the tombstone is not a row)');
    const cents = (i: number) => i * 101 - 5000;
    const expected = events.map((e, off) => {
      const a = e.value.after;
      const i = e.key.id as number;
      const base = {
        __op: e.value.op,
        ts: String(e.value.ts_ms),
        sts: String(e.value.source.ts_ms),
        __table: 'public.orders',
        off: String(off),
        ver: String(e.version),
      };
      if (!a)
        return {
          id: i,
          small: null,
          big: null,
          ratio: null,
          flag: null,
          name: null,
          amount: null,
          day: null,
          created: null,
          updated: null,
          uid: null,
          doc: null,
          raw: null,
          ...base,
        };
      const c = cents(i);
      return {
        id: i,
        small: i - 150,
        big: String(a.big),
        ratio: i / 8,
        flag: i % 2 === 0,
        name: a.name,
        amount: `${c < 0 ? '-' : ''}${Math.floor(Math.abs(c) / 100)}.${String(Math.abs(c) % 100).padStart(2, '0')}`,
        day: new Date((19782 + i) * 86_400_000).toISOString().slice(0, 10),
        created: String(a.created),
        updated: String(Date.parse(String(a.updated).slice(0, 19) + 'Z') * 1000 + i),
        uid: a.uid,
        doc: a.doc,
        raw: Buffer.from([i % 256, 1, 2])
          .toString('hex')
          .toUpperCase(),
        ...base,
      };
    });
    assert.deepEqual(got, expected);
  });

  it('a schema change inside a file window closes the file and starts one with the new schema; a too-large record is dead-lettered with the reason', async () => {
    const topic = uniqueName('s3p-bad');
    await createTopic(kafka, topic, 1);
    const events: ChangeEvent[] = [];
    for (let i = 0; i < 26; i++) {
      const row: Row = { id: i, name: `n${i}` };
      if (i >= 10) row.email = `u${i}@example.com`; // column added at offset 10
      if (i === 20) row.name = 'x'.repeat(5000); // too large for maxRecordBytes
      events.push(event(topic, i, BigInt(i + 1), row, T0 + i));
    }
    await produce(
      kafka,
      events.flatMap((e) => toKafkaRecords(e, { format: 'json' })),
    );
    const out = join(dir, 'bad');
    const name = uniqueName('s3p-bad');
    const runtime = await runToEnd({
      name,
      topics: [topic],
      batch: { maxRecords: 5, lingerMs: 50 },
      sink: {
        type: 's3-parquet',
        url: `file://${out}/exports`,
        roll: { maxRecords: 15 },
        maxRecordBytes: 2000,
      },
    });
    const files = parquetFiles(out).map((f) => f.slice(out.length));
    const base = `/exports/${topic}/${topic}+0+`;
    assert.deepEqual(files, [
      `${base}00000000000000000000.parquet`, // offsets 0-9: id, name
      `${base}00000000000000000010.parquet`, // offsets 10-25 without 20: id, name, email (15 rows)
    ]);
    const describe = async (f: string) =>
      (await duckdb(`DESCRIBE SELECT * FROM read_parquet('${out}${f}')`))
        .map((r) => r.column_name)
        .filter((c) => !String(c).startsWith('__'));
    assert.deepEqual(await describe(files[0]!), ['id', 'name']);
    assert.deepEqual(await describe(files[1]!), ['id', 'name', 'email']);
    const offsets = await duckdb(
      `SELECT list(__offset::INT ORDER BY __offset) AS o FROM read_parquet('${out}${files[1]}')`,
    );
    assert.deepEqual(offsets[0]!.o, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 25]);
    const dlq = await readAll(kafka, `${name}.dlq`);
    assert.equal(dlq.length, 1);
    assert.equal(dlq[0]!.headers[SINK_DLQ_HEADERS.offset]?.toString(), '20');
    assert.match(
      dlq[0]!.headers[SINK_DLQ_HEADERS.message]!.toString(),
      /exceeds maxRecordBytes \(2000\)/,
    );
    assert.equal(runtime.metrics().deadLettered, 1);
  });

  it('the DuckDB queries of docs/sinks/s3-parquet.md run on real output: history, latest row per key, the table at a point in time', async () => {
    const topic = uniqueName('s3p-docs');
    await createTopic(kafka, topic, 1);
    const at = (s: number) => T0 + s * 1000;
    const changes: Array<[number, 'c' | 'u' | 'd', string | null, number]> = [
      [1, 'c', 'v1-1', 0],
      [2, 'c', 'v1-2', 1],
      [3, 'c', 'v1-3', 2],
      [4, 'c', 'v1-4', 3],
      [5, 'c', 'v1-5', 4],
      [2, 'u', 'v2-2', 10],
      [3, 'd', null, 20],
      [1, 'u', 'v2-1', 40],
      [5, 'd', null, 50],
      [3, 'c', 'v3-3', 60],
    ];
    const events = changes.map(([id, op, name, sec], i) => {
      const e = event(topic, id, BigInt(i + 1), { id, name, qty: id * 10 }, at(sec));
      if (op === 'd') e.value = { ...e.value, op, before: e.value.after, after: null };
      else e.value = { ...e.value, op };
      return e;
    });
    await produce(
      kafka,
      events.flatMap((e) => toKafkaRecords(e, { format: 'json' })),
    );
    const out = join(dir, 'docs');
    await runToEnd({
      name: uniqueName('s3p-docs'),
      topics: [topic],
      sink: { type: 's3-parquet', url: `file://${out}`, roll: { maxRecords: changes.length } },
    });
    const doc = readFileSync(join(REPO, 'docs/sinks/s3-parquet.md'), 'utf8');
    const queries = [...doc.matchAll(/```sql\n([\s\S]*?)```/g)]
      .map((m) => m[1]!)
      .filter((q) => q.includes("'/data/exports/shop.public.orders/"))
      .map((q) => q.replaceAll('/data/exports', out).replaceAll('shop.public.orders', topic));
    assert.equal(queries.length, 4, 'history, latest, point in time, file offsets');
    const [history, latest, pointInTime, offsets] = await Promise.all(
      queries.map((q) => duckdb(q)),
    );
    assert.deepEqual(
      history!.map((r) => [r.id, r.__op]),
      changes.map(([id, op]) => [BigInt(id), op]),
    );
    assert.deepEqual(latest, [
      { id: 1n, name: 'v2-1', qty: 10 },
      { id: 2n, name: 'v2-2', qty: 20 },
      { id: 3n, name: 'v3-3', qty: 30 },
      { id: 4n, name: 'v1-4', qty: 40 },
    ]);
    assert.deepEqual(
      pointInTime!.map((r) => [r.id, r.name]),
      [
        [1n, 'v1-1'],
        [2n, 'v2-2'],
        [4n, 'v1-4'],
        [5n, 'v1-5'],
      ],
    );
    assert.deepEqual(
      offsets!.map((r) => r.end_offset),
      ['11'],
    );
  });

  it('records deleted by retention past the stored files stop the sink with the partition and offsets (onGap: fail); onGap: skip logs the gap and goes on; upload counters in the metrics', async () => {
    const topic = uniqueName('s3p-gap');
    await createTopic(kafka, topic, 1);
    const batch = (from: number) =>
      Array.from({ length: 20 }, (_, i) =>
        event(
          topic,
          from + i,
          BigInt(from + i + 1),
          { id: from + i, name: `n${from + i}` },
          T0 + from + i,
        ),
      ).flatMap((e) => toKafkaRecords(e, { format: 'json' }));
    await produce(kafka, batch(0)); // offsets 0-19
    const out = join(dir, 'gap');
    const name = uniqueName('s3p-gap');
    const sink = { type: 's3-parquet' as const, url: `file://${out}`, roll: { maxRecords: 10 } };
    const first = await runToEnd({ name, topics: [topic], batch: { lingerMs: 50 }, sink });
    const uploaded = first.metrics().sink ?? {};
    assert.ok((uploaded.bytesUploaded ?? 0) > 0, 'bytes uploaded counted');
    assert.deepEqual(uploaded, {
      filesUploaded: 2,
      rowsUploaded: 20,
      bytesUploaded: uploaded.bytesUploaded,
      uploadFailures: 0,
      rowsNotUploaded: 0,
      gapsSkipped: 0,
      // Each file's first row is decoded in full (it sets the file's columns), the rest read
      // from the record bytes (direct.ts).
      rowsReadDirect: 18,
    });
    assert.equal(first.metrics().written, 20);

    await produce(kafka, batch(20)); // offsets 20-39
    deleteRecordsBefore(topic, 0, 30); // 20-29 never reached the sink
    const logs: string[] = [];
    const failing = new SinkRuntime(
      { name, topics: [topic], batch: { lingerMs: 50 }, sink },
      { kafka, log: (m) => logs.push(m) },
    );
    await failing.start();
    const err = await within(
      failing.done.then(
        () => new Error('the sink stopped without an error'),
        (e: unknown) => e as Error,
      ),
      30_000,
      () => `the sink kept running over the gap; log: ${logs.join(' | ')}`,
    );
    assert.match(
      err.message,
      new RegExp(
        `retention gap on ${topic}\\[0\\]: the next offset after the stored files is 20 but the earliest available offset is 30; offsets 20\\.\\.29 \\(10 records\\) were deleted by Kafka retention.*onGap: skip`,
      ),
    );
    assert.equal((err as { code?: string }).code, 'SINK_RETENTION_GAP');
    assert.equal(parquetFiles(out).length, 2, 'nothing written across the gap');

    const skipping = new SinkRuntime(
      { name, topics: [topic], batch: { lingerMs: 50 }, sink: { ...sink, onGap: 'skip' } },
      { kafka, log: () => undefined },
    );
    await skipping.start();
    try {
      await waitCaughtUp(kafka, name, topic, 60_000);
    } finally {
      await skipping.stop();
    }
    const files = parquetFiles(out).map((f) => f.slice(out.length));
    assert.deepEqual(files, [
      `/${topic}/${topic}+0+00000000000000000000.parquet`,
      `/${topic}/${topic}+0+00000000000000000010.parquet`,
      `/${topic}/${topic}+0+00000000000000000030.parquet`,
    ]);
    const rows = await duckdb(
      `SELECT list(__offset::INT ORDER BY __offset) AS o FROM read_parquet('${out}${files[2]}')`,
    );
    assert.deepEqual(rows[0]!.o, [30, 31, 32, 33, 34, 35, 36, 37, 38, 39]);
    const m = skipping.metrics().sink ?? {};
    assert.equal(m.gapsSkipped, 1);
    assert.equal(m.filesUploaded, 1);
    assert.equal(m.rowsUploaded, 10);
  });

  it('a bucket that does not exist stops the sink with the S3 error instead of retrying forever', async () => {
    const topic = uniqueName('s3p-nobucket');
    await createTopic(kafka, topic, 1);
    const runtime = new SinkRuntime(
      {
        name: uniqueName('s3p-nobucket'),
        topics: [topic],
        sink: { ...s3Sink('x'), url: `s3://${uniqueName('no-such-bucket')}/x` },
      },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    await assert.rejects(
      within(runtime.done, 30_000, () => 'still running'),
      /listing s3:\/\/no-such-bucket.*(NoSuchBucket|does not exist)/i,
    );
  });
});
