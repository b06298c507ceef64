// Unit tests of runtime pieces that need no Kafka: config validation, checkpoints (including
// the v1 fixture), the staged store over RocksDB, the read_committed filter, the chain's
// store declaration check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../core/errors/index.ts';
import { filterAbortedTransactions } from '../../../core/kafka/index.ts';
import { parseRuntimeConfig } from '../../../processors/runtime/config.ts';
import { readCheckpoint, writeCheckpoint } from '../../../processors/runtime/checkpoint.ts';
import { CachedBackend, MemoryBackend } from '../../../processors/runtime/stores/backend.ts';
import { RocksBackend } from '../../../processors/runtime/stores/rocksdb-backend.ts';
import { StagedStore } from '../../../processors/runtime/stores/staged-store.ts';
import { ProcessorTestDriver } from '../../../processors/testing/index.ts';
import { REPO } from '../../integration/helpers.ts';
import { insert } from './events.ts';

test('config: defaults applied, errors name the exact path', () => {
  const c = parseRuntimeConfig({
    name: 'app',
    inputs: ['in'],
    processors: [{ builtin: 'unwrap' }],
  });
  assert.equal(c.guarantee, 'exactly_once');
  assert.equal(c.commitIntervalMs, 100);
  assert.throws(
    () =>
      parseRuntimeConfig({
        name: 'app',
        inputs: ['in'],
        processors: [{ builtin: 'unwrap' }],
        commitIntervalMs: -1,
      }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith('commitIntervalMs:'),
  );
  assert.throws(
    () => parseRuntimeConfig({ name: 'a b', inputs: ['in'], processors: [{ builtin: 'unwrap' }] }),
    (e: unknown) => e instanceof ConfigError && e.message.startsWith('name:'),
  );
});

test('checkpoint v1 fixture still loads; write/read round-trips', () => {
  const cp = readCheckpoint(join(REPO, 'test/fixtures/processors/checkpoint-v1.json'))!;
  assert.equal(cp.offsets['app-counts-changelog']!['3'], 12345678901234567n);
  const dir = mkdtempSync(join(tmpdir(), 'cp-'));
  writeCheckpoint(join(dir, 'c.json'), cp);
  assert.deepEqual(readCheckpoint(join(dir, 'c.json')), cp);
  rmSync(dir, { recursive: true });
});

test('staged store over RocksDB: record rollback, transaction flush, ordered range with overlay', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rocks-'));
  const backend = await RocksBackend.open(dir);
  const s = new StagedStore<number>('s', backend);
  s.put('b', 2);
  s.put('a', 1);
  s.commitRecord();
  s.put('c', 3);
  s.rollbackRecord();
  assert.equal(await s.get('c'), undefined);
  await s.flush();
  s.put('d', 4);
  s.delete('a');
  s.commitRecord();
  assert.deepEqual(
    (await collect(s.range())).map(([k]) => k),
    ['b', 'd'],
  );
  assert.deepEqual(await collect(s.range({ prefix: 'b' })), [['b', 2]]);
  s.discard();
  assert.equal(await s.get('a'), 1, 'discarded writes never reached RocksDB');
  await backend.close();
  rmSync(dir, { recursive: true });
});

test('read_committed filter empties every aborted transaction of a producer, keeps committed ones', () => {
  const control = (type: number) => {
    const key = Buffer.alloc(4);
    key.writeInt16BE(type, 2);
    return { records: [{ key }] };
  };
  const batch = (first: bigint, attrs: number, extra = {}) => ({
    firstOffset: first,
    lastOffsetDelta: 0,
    attributes: attrs,
    producerId: 1n,
    records: [{ key: null }],
    ...extra,
  });
  const TXN = 16;
  const CTRL = 16 | 32;
  const batches = [
    batch(0n, TXN), // aborted
    { ...batch(1n, CTRL), ...control(0) },
    batch(2n, TXN), // committed
    { ...batch(3n, CTRL), ...control(1) },
    batch(4n, TXN), // aborted
    { ...batch(5n, CTRL), ...control(0) },
  ];
  filterAbortedTransactions({
    responses: [
      {
        topicId: 't',
        partitions: [
          {
            abortedTransactions: [
              { producerId: 1n, firstOffset: 0n },
              { producerId: 1n, firstOffset: 4n },
            ],
            records: batches,
          },
        ],
      },
    ],
  });
  assert.deepEqual(
    batches.map((b) => b.records.length),
    [0, 1, 1, 1, 0, 1],
  );
});

test('a store that is not declared is a clear error', async () => {
  const d = await ProcessorTestDriver.create({
    processors: [{ module: 'test/fixtures/processors/undeclared-store.ts', errors: 'dlq' }],
    output: 'out',
  });
  await assert.rejects(
    d.pipe(insert({ id: 1 }, { id: 1 })),
    /does not declare; declared stores: "mine"/,
  );
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('read cache: a lookup that overlaps a write never caches the older value over it', async () => {
  // Reads answer only when released, so a write can land between a read and its answer.
  class HeldReads extends MemoryBackend {
    readonly held: Array<() => void> = [];
    override async get(key: string): Promise<string | undefined> {
      const v = this.entries.get(key);
      await new Promise<void>((release) => this.held.push(release));
      return v;
    }
  }
  for (const cacheRoom of [10, 0]) {
    const inner = new HeldReads();
    const cached = new CachedBackend(inner, cacheRoom);
    const lookup = cached.get('customer-1'); // reads "missing", answered after the write
    await cached.write([['customer-1', '{"id":1}']]);
    inner.held.shift()!();
    const seen = await lookup;
    assert.ok(seen === undefined || seen === '{"id":1}');
    // Later lookups see the written row (from the cache, or read again).
    const again = cached.get('customer-1');
    inner.held.shift()?.();
    assert.equal(await again, '{"id":1}', `cache room ${cacheRoom}`);
  }
});
