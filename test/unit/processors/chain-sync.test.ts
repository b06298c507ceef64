// The chain runs synchronously while every processor a record reaches is synchronous, and
// continues asynchronously from the first one that returns a promise: the outputs, their
// order, store rollbacks and the join's results must not depend on which path ran.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChangeEvent } from '../../../core/events/index.ts';
import { defineProcessor, keyString } from '../../../processors/api/index.ts';
import type { ProcessorDefinition } from '../../../processors/api/index.ts';
import { join as joinProcessor } from '../../../processors/builtins/join.ts';
import { ProcessorChain } from '../../../processors/runtime/chain.ts';
import type { RecordOutcome } from '../../../processors/runtime/chain.ts';
import { CachedBackend, MemoryBackend } from '../../../processors/runtime/stores/backend.ts';
import type { StoreBackend } from '../../../processors/runtime/stores/backend.ts';
import { RocksBackend } from '../../../processors/runtime/stores/rocksdb-backend.ts';
import { StagedStore } from '../../../processors/runtime/stores/staged-store.ts';
import { insert, update } from './events.ts';

const meta = { topic: 'in', partition: 0, offset: 0n, timestamp: 0n, headers: {} };

/** Fans each event out to two copies tagged a/b; async on the copies tagged by `asyncOn`. */
function fanOut(asyncOn: (tag: string) => boolean): ProcessorDefinition[] {
  return [
    defineProcessor({
      name: 'split',
      stores: ['s'],
      process(e, ctx) {
        ctx.store<number>('s').put(String(e.key.id), 1);
        for (const tag of ['a', 'b'])
          ctx.forward({ ...e, value: { ...e.value, after: { ...e.value.after, tag } } });
      },
    }),
    defineProcessor({
      name: 'maybe-async',
      process(e, ctx) {
        const tag = String(e.value.after!.tag);
        if (tag === 'fail') throw new Error('boom');
        if (!asyncOn(tag)) return ctx.forward(e);
        return new Promise<void>((r) => setImmediate(r)).then(() => {
          ctx.forward(e);
          ctx.forward({ ...e, value: { ...e.value, after: { ...e.value.after, tag: tag + '2' } } });
        });
      },
    }),
    defineProcessor({
      name: 'last',
      process: (e, ctx) => ctx.forward(e, { topic: `out-${String(e.value.after!.tag)}` }),
    }),
  ];
}

function chainOf(defs: ProcessorDefinition[], stores: Map<string, StagedStore>) {
  return new ProcessorChain(
    defs.map((definition) => ({ definition, policy: 'skip' as const })),
    stores,
    0,
    Date.now,
  );
}

const tags = (o: RecordOutcome) =>
  o.ok
    ? o.outputs.map((x) => `${x.topic}:${String((x.record as ChangeEvent).value.after!.tag)}`)
    : o;

test('sync and async processors in one chain: same outputs in the same order', async () => {
  const results: unknown[] = [];
  for (const asyncOn of [
    () => false,
    (t: string) => t === 'a',
    (t: string) => t === 'b',
    () => true,
  ]) {
    const store = new StagedStore('s', new MemoryBackend());
    const chain = chainOf(fanOut(asyncOn), new Map([['s', store]]));
    const outcome = chain.process(insert({ id: 1 }, { id: 1 }), meta);
    assert.equal(outcome instanceof Promise, asyncOn('a') || asyncOn('b'));
    results.push(tags(await outcome));
    assert.equal(chain.record, undefined);
    assert.deepEqual(store.pendingWrites(), [['1', '1']]);
  }
  const expected = (a: boolean, b: boolean) => [
    'out-a:a',
    ...(a ? ['out-a2:a2'] : []),
    'out-b:b',
    ...(b ? ['out-b2:b2'] : []),
  ];
  assert.deepEqual(results, [
    expected(false, false),
    expected(true, false),
    expected(false, true),
    expected(true, true),
  ]);
});

test('a failure after an asynchronous step rolls back the whole record (skip policy)', async () => {
  const store = new StagedStore('s', new MemoryBackend());
  const defs = fanOut(() => true);
  const chain = chainOf(
    [
      defs[0]!,
      defineProcessor({
        name: 'delay-then-tag',
        process: async (e, ctx) => {
          await new Promise<void>((r) => setImmediate(r));
          ctx.forward({ ...e, value: { ...e.value, after: { ...e.value.after, tag: 'fail' } } });
        },
      }),
      ...defs.slice(1),
    ],
    new Map([['s', store]]),
  );
  const outcome = await chain.process(insert({ id: 7 }, { id: 7 }), meta);
  assert.equal(outcome.ok, false);
  assert.equal(!outcome.ok && outcome.processor, 'maybe-async');
  assert.deepEqual(store.pendingWrites(), []);
});

test('join: the same output whether the row comes from memory or from an asynchronous backend', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'join-sync-'));
  try {
    const rows: Array<[string, string]> = [
      ['{"id":5}', '{"id":5,"name":"Ada"}'],
      ['{"id":6}', '{"id":6,"name":"Grace"}'],
    ];
    const rocks = await RocksBackend.open(dir);
    await rocks.write(rows);
    const mem = new MemoryBackend();
    await mem.write(rows);
    const backends: Array<[string, StoreBackend, boolean]> = [
      ['memory', mem, false],
      ['rocksdb (no peek)', rocks, true],
      ['cache over rocksdb (cold, then warm)', new CachedBackend(rocks), true],
    ];
    const events = [
      insert({ id: 1 }, { id: 1, customer_id: 5 }),
      update({ id: 1 }, { id: 1, customer_id: 5 }, { id: 1, customer_id: 6 }),
      insert({ id: 2 }, { id: 2, customer_id: 9 }),
      insert({ id: 3 }, { id: 3, customer_id: 5 }),
    ];
    const outputs: unknown[] = [];
    for (const [name, backend, expectAsync] of backends) {
      const def = joinProcessor({ store: 'c', table: 't', on: 'customer_id', as: 'customer' });
      const chain = chainOf([def], new Map([['c', new StagedStore('c', backend, true)]]));
      const out: unknown[] = [];
      for (const [i, e] of events.entries()) {
        const o = chain.process(e, meta);
        // The cache answers a key from memory once it has read it.
        if (i === 0) assert.equal(o instanceof Promise, expectAsync, name);
        const done = await o;
        assert.ok(done.ok);
        out.push(done.outputs.map((x) => (x.record as ChangeEvent).value));
      }
      outputs.push(out);
    }
    assert.deepEqual(outputs[1], outputs[0]);
    assert.deepEqual(outputs[2], outputs[0]);
    const [first, second, third] = outputs[0] as ChangeEvent['value'][][];
    assert.deepEqual(first![0]!.after, { id: 1, customer_id: 5, customer: { id: 5, name: 'Ada' } });
    assert.deepEqual(second![0]!.before, {
      id: 1,
      customer_id: 5,
      customer: { id: 5, name: 'Ada' },
    });
    assert.deepEqual(second![0]!.after, {
      id: 1,
      customer_id: 6,
      customer: { id: 6, name: 'Grace' },
    });
    assert.deepEqual(third![0]!.after, { id: 2, customer_id: 9, customer: null });
    await rocks.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the read cache is filled by writes while it has room, and never goes stale', async () => {
  const miss = Symbol('miss');
  const inner = new MemoryBackend();
  const cache = new CachedBackend(inner, 2);
  await cache.write([
    ['a', '1'],
    ['b', '2'],
    ['c', '3'],
  ]);
  assert.equal(cache.peek('a', miss), '1');
  assert.equal(cache.peek('b', miss), '2');
  assert.equal(cache.peek('c', miss), miss); // full: written through, read from the backend
  assert.equal(await cache.get('c'), '3'); // evicts the oldest key, a
  assert.equal(cache.peek('c', miss), '3');
  await cache.write([
    ['a', null],
    ['c', '30'],
  ]);
  assert.equal(cache.peek('a', miss), miss);
  assert.equal(await cache.get('a'), undefined);
  assert.equal(cache.peek('c', miss), '30');
});

test('join: store keys of number, string and other join values are keyString of the table key', async () => {
  const mem = new MemoryBackend();
  const rows: Array<[unknown, string]> = [
    [7, 'seven'],
    [-0.5, 'half'],
    ['x"é', 'text'],
    [true, 'yes'],
    [12345678901234567890n, 'big'],
  ];
  await mem.write(rows.map(([code, name]) => [keyString({ code }), JSON.stringify({ name })]));
  const def = joinProcessor({ store: 'c', table: 't', on: 'ref', tableKey: 'code', as: 'c' });
  const chain = chainOf([def], new Map([['c', new StagedStore('c', mem, true)]]));
  for (const [code, name] of rows) {
    const done = await chain.process(insert({ id: 1 }, { id: 1, ref: code }), meta);
    assert.ok(done.ok);
    assert.deepEqual((done.outputs[0]!.record as ChangeEvent).value.after!.c, { name });
  }
});
