// S3 Parquet sink without services: keys, value conversions, roll decisions, determinism,
// retried batches, and recovery from the files of a local directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { ChangeEvent, Row } from '../../../core/events/index.ts';
import type { SinkRecord } from '../../../sinks/runtime/sink.ts';
import { s3ParquetSinkConfigSchema } from '../../../sinks/s3-parquet/config.ts';
import type { S3ParquetSinkConfigInput } from '../../../sinks/s3-parquet/config.ts';
import { hourPath, objectKey, parseObjectKey } from '../../../sinks/s3-parquet/keys.ts';
import {
  decimalText,
  unscaledDecimal,
  zonedTimestampMicros,
} from '../../../sinks/s3-parquet/schema.ts';
import { S3ParquetSink } from '../../../sinks/s3-parquet/sink.ts';
import { FileStore } from '../../../sinks/s3-parquet/storage.ts';
import { RetryableSinkError } from '../../../sinks/runtime/sink.ts';
import { listing } from './files.ts';

const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

function record(offset: number, row: Row | null, tsMs = T0, partition = 0): SinkRecord {
  const event: ChangeEvent = {
    topic: 'shop.public.orders',
    key: { id: offset },
    version: BigInt(offset + 1),
    value: {
      before: null,
      after: row,
      source: {
        version: '3',
        connector: 'postgresql',
        name: 'shop',
        ts_ms: tsMs,
        db: 'shop',
        schema: 'public',
        table: 'orders',
      },
      transaction: null,
      op: row ? 'c' : 'd',
      ts_ms: tsMs,
    },
  };
  return { kind: 'change', event, topic: event.topic, partition, offset: BigInt(offset) };
}

function rows(n: number, from = 0, ts = (i: number) => T0 + i): SinkRecord[] {
  return Array.from({ length: n }, (_, k) => {
    const i = from + k;
    return record(i, { id: i, name: `n${i}`, price: i % 3 === 0 ? i : i + 0.5 }, ts(i));
  });
}

async function sinkAt(
  dir: string,
  extra: Partial<S3ParquetSinkConfigInput> = {},
  earliest = 0n,
  log: (m: string) => void = () => undefined,
) {
  const config = s3ParquetSinkConfigSchema.parse({
    type: 's3-parquet',
    url: `file://${dir}`,
    ...extra,
  });
  // No broker in unit tests: the partition's earliest offset is given.
  const sink = new S3ParquetSink('unit', config, undefined, {
    log,
    earliestOffsets: async (ps) =>
      new Map(ps.map((p) => [`${p.topic}\u0000${p.partition}`, earliest])),
  });
  await sink.open();
  const positions = await sink.onAssigned([{ topic: 'shop.public.orders', partition: 0 }]);
  return { sink, positions };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 's3p-unit-'));
}

test('object keys carry topic, partition and the zero-padded start offset', () => {
  const k = objectKey('exports', 'shop.public.orders', 'dt=2026-01-01/hr=10', 3, 42n);
  assert.equal(
    k,
    'exports/shop.public.orders/dt=2026-01-01/hr=10/shop.public.orders+3+00000000000000000042.parquet',
  );
  assert.deepEqual(parseObjectKey(k), {
    topic: 'shop.public.orders',
    partition: 3,
    startOffset: 42n,
  });
  assert.equal(parseObjectKey('exports/x/readme.txt'), undefined);
  assert.equal(hourPath(Date.UTC(2026, 1, 3, 4, 59)), 'dt=2026-02-03/hr=04');
});

test('decimals and zoned timestamps convert exactly', () => {
  assert.equal(unscaledDecimal(Buffer.from([0xfe, 0x0c]).toString('base64')), -500n);
  assert.equal(unscaledDecimal('AeJA'), 123456n);
  assert.equal(decimalText(-123n, 2), '-1.23');
  assert.equal(decimalText(5n, 3), '0.005');
  assert.equal(decimalText(7n, 0), '7');
  assert.equal(zonedTimestampMicros('2019-12-31T23:30:00.000001Z'), 1577835000000001n);
  assert.equal(zonedTimestampMicros('-0043-03-15T12:00:00.000000Z'), -63517780800000000n);
  assert.equal(zonedTimestampMicros('infinity'), (1n << 63n) - 1n);
});

test('rolls on record count; the end offset is in the footer; the open file is not uploaded', async () => {
  const dir = tempDir();
  try {
    const { sink } = await sinkAt(dir, { roll: { maxRecords: 100 } });
    await sink.writeBatch(rows(250));
    assert.deepEqual(sink.durablePositions(), [
      { topic: 'shop.public.orders', partition: 0, offset: 200n },
    ]);
    const files = Object.keys(listing(dir)).sort();
    assert.deepEqual(files, [
      'shop.public.orders/shop.public.orders+0+00000000000000000000.parquet',
      'shop.public.orders/shop.public.orders+0+00000000000000000100.parquet',
    ]);
    const buf = readFileSync(join(dir, files[1]!));
    const file = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length);
    const kv = Object.fromEntries(
      (parquetMetadata(file).key_value_metadata ?? []).map((e) => [e.key, e.value]),
    );
    assert.equal(kv['tributary-end-offset'], '199');
    const read = await parquetReadObjects({ file });
    assert.equal(read.length, 100);
    assert.equal(read[0]!.__offset, 100n);
    assert.equal(read[0]!.price, 100.5, 'an integral first price does not make the column INT64');
    await sink.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rolls on the record-time window and on the hour path, never on the wall clock', async () => {
  const dir = tempDir();
  try {
    const { sink } = await sinkAt(dir, {
      partitionBy: 'source-hour',
      roll: { maxRecords: 1000, intervalMs: 15 * 60_000 },
    });
    // 10 records per 5 minutes from 10:00 to 11:05.
    await sink.writeBatch(rows(140, 0, (i) => T0 + Math.floor(i / 10) * 5 * 60_000));
    const files = Object.keys(listing(dir)).sort();
    assert.deepEqual(
      files.map((f) =>
        f.replace('shop.public.orders/', '').replace(/shop\.public\.orders\+0\+0+/, '+'),
      ),
      [
        'dt=2026-01-01/hr=10/+.parquet',
        'dt=2026-01-01/hr=10/+30.parquet',
        'dt=2026-01-01/hr=10/+60.parquet',
        'dt=2026-01-01/hr=10/+90.parquet',
      ],
      'four 15-minute windows closed; 11:00-11:05 still open',
    );
    await sink.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the same records give the same files byte for byte, however they are batched', async () => {
  const a = tempDir();
  const b = tempDir();
  try {
    const one = await sinkAt(a, { roll: { maxRecords: 70, maxBytes: 1500 } });
    await one.sink.writeBatch(rows(500));
    const two = await sinkAt(b, { roll: { maxRecords: 70, maxBytes: 1500 } });
    for (let i = 0; i < 500; i += 37) await two.sink.writeBatch(rows(Math.min(37, 500 - i), i));
    assert.ok(Object.keys(listing(a)).length > 5);
    assert.deepEqual(listing(a), listing(b));
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});

test('a failed upload is retried with the same batch: same key, same bytes, nothing twice', async () => {
  const dir = tempDir();
  try {
    let failures = 1;
    const store = new (class extends FileStore {
      override async put(key: string, body: Uint8Array): Promise<void> {
        if (failures-- > 0) throw new RetryableSinkError('injected');
        return super.put(key, body);
      }
    })(`file://${dir}`);
    const config = s3ParquetSinkConfigSchema.parse({
      type: 's3-parquet',
      url: `file://${dir}`,
      roll: { maxRecords: 50 },
    });
    const sink = new S3ParquetSink('unit', config, store);
    await sink.open();
    await sink.onAssigned([{ topic: 'shop.public.orders', partition: 0 }]);
    const batch = rows(60);
    await assert.rejects(sink.writeBatch(batch), /injected/);
    assert.deepEqual(sink.durablePositions(), []);
    await sink.writeBatch(batch);
    const ref = tempDir();
    const clean = await sinkAt(ref, { roll: { maxRecords: 50 } });
    await clean.sink.writeBatch(rows(60));
    assert.deepEqual(listing(dir), listing(ref));
    rmSync(ref, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('on assignment the writer resumes after the highest end offset in storage', async () => {
  const dir = tempDir();
  try {
    const first = await sinkAt(dir, { roll: { maxRecords: 40 } });
    assert.deepEqual(first.positions, [], 'nothing stored: the group offset decides');
    await first.sink.writeBatch(rows(130));
    await first.sink.close();
    const again = await sinkAt(dir, { roll: { maxRecords: 40 } });
    assert.deepEqual(again.positions, [
      { topic: 'shop.public.orders', partition: 0, offset: 120n },
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('retention gap past the stored files: onGap fail throws with the partition and offsets, skip moves on and logs', async () => {
  const dir = tempDir();
  try {
    const first = await sinkAt(dir, { roll: { maxRecords: 40 } });
    await first.sink.writeBatch(rows(130)); // files end at 119
    await first.sink.close();
    assert.deepEqual(
      (await sinkAt(dir, { roll: { maxRecords: 40 } }, 120n)).positions,
      [{ topic: 'shop.public.orders', partition: 0, offset: 120n }],
      'earliest offset = the next one: no gap',
    );
    await assert.rejects(sinkAt(dir, { roll: { maxRecords: 40 } }, 125n), (err: Error) => {
      assert.equal((err as { code?: string }).code, 'SINK_RETENTION_GAP');
      assert.match(
        err.message,
        /shop\.public\.orders\[0\]: the next offset after the stored files is 120 but the earliest available offset is 125; offsets 120\.\.124 \(5 records\)/,
      );
      assert.match(err.message, /onGap: skip/);
      return true;
    });
    const logs: string[] = [];
    const skipped = await sinkAt(dir, { roll: { maxRecords: 40 }, onGap: 'skip' }, 125n, (m) =>
      logs.push(m),
    );
    assert.deepEqual(skipped.positions, [
      { topic: 'shop.public.orders', partition: 0, offset: 125n },
    ]);
    assert.equal(logs.length, 1);
    assert.match(logs[0]!, /retention gap on shop\.public\.orders\[0\].*continuing at 125/);
    assert.equal(skipped.sink.metrics().gapsSkipped, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a delete is a row with its key and op d; a tombstone after a file moves the commit past it', async () => {
  const dir = tempDir();
  try {
    const { sink } = await sinkAt(dir, { roll: { maxRecords: 3 } });
    const del = record(2, null);
    const tomb: SinkRecord = {
      kind: 'tombstone',
      tombstone: { topic: 'shop.public.orders', key: { id: 2 }, version: 3n },
      topic: 'shop.public.orders',
      partition: 0,
      offset: 3n,
    };
    await sink.writeBatch([...rows(2), del, tomb]);
    assert.deepEqual(sink.durablePositions(), [
      { topic: 'shop.public.orders', partition: 0, offset: 4n },
    ]);
    const [f] = Object.keys(listing(dir));
    const buf = readFileSync(join(dir, f!));
    const read = await parquetReadObjects({
      file: buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length),
    });
    assert.deepEqual(
      read.map((r) => [r.id, r.name, r.__op]),
      [
        [0n, 'n0', 'c'],
        [1n, 'n1', 'c'],
        [2n, null, 'd'],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
