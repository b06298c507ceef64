// Re-keying through a repartition topic: the chain is cut in front of a repartitioning join,
// the hop's record is keyed by the join key (the table key's bytes, so it lands on the table
// row's partition) and carries the event unchanged; the test kit runs the same hop in memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeKey } from '../../../core/events/index.ts';
import { partitionForKey } from '../../../core/kafka/index.ts';
import { defineProcessor } from '../../../processors/api/index.ts';
import { join } from '../../../processors/builtins/index.ts';
import { ProcessorChain } from '../../../processors/runtime/chain.ts';
import { RecordPipeline, REPARTITION_HEADERS } from '../../../processors/runtime/pipeline.ts';
import { splitStages } from '../../../processors/runtime/stages.ts';
import { ProcessorTestDriver } from '../../../processors/testing/index.ts';
import { insert, remove, update } from './events.ts';

const repartitionJoin = {
  builtin: 'join',
  config: {
    store: 'customers',
    table: 'raw.public.customers',
    mode: 'repartition',
    on: 'customer_id',
    as: 'customer',
  },
};

test('splitStages cuts the chain in front of each repartitioning processor', () => {
  const a = defineProcessor({ name: 'a', process: () => undefined });
  const j = join({ store: 's', table: 't', mode: 'repartition', on: 'cid', as: 'c' });
  const nodes = [a, j].map((definition) => ({ definition, policy: 'fail' as const }));
  const stages = splitStages(nodes, 'app');
  assert.equal(stages.length, 2);
  assert.deepEqual(
    stages.map((s) => s.nodes.map((n) => n.definition.name)),
    [['a'], ['join']],
  );
  assert.equal(stages[0]!.sink!.topic, 'app-s-repartition');
  assert.equal(stages[1]!.source, 'app-s-repartition');
  assert.equal(splitStages([nodes[0]!], 'app').length, 1, 'no repartition: one stage');
  const first = splitStages([nodes[1]!], 'app');
  assert.equal(first.length, 2, 'a join first: stage 0 only re-keys');
  assert.equal(first[0]!.nodes.length, 0);
});

test('the repartition record is keyed like the table row and carries the event unchanged', async () => {
  const j = join({ store: 's', table: 't', mode: 'repartition', on: 'customer_id', as: 'c' });
  const stage0 = new RecordPipeline(new ProcessorChain([], new Map(), 0, Date.now), {
    outputTopic: 'out',
    format: 'json',
    inputPolicy: 'fail',
    dlqTopic: 'dlq',
    repartition: { topic: 'app-s-repartition', key: (e) => j.repartition!.key(e) },
  });
  const ev = insert({ id: 77 }, { id: 77, customer_id: 5, amount: 3 });
  ev.headers = { trace: 'x1' };
  const [rec] = await stage0.handle({
    topic: ev.topic,
    partition: 2,
    offset: 9n,
    key: encodeKey(ev, 'json'),
    value: Buffer.from(
      JSON.stringify({ ...ev.value }), // a plain 'json' envelope
    ),
    headers: { 'tributary.version': Buffer.from(ev.version.toString()), trace: Buffer.from('x1') },
    timestamp: 0n,
  });
  assert.equal(rec!.kind, 'repartition');
  assert.equal(rec!.out.topic, 'app-s-repartition');
  const tableKey = encodeKey({ key: { id: 5 } }, 'json');
  assert.deepEqual(rec!.out.key, tableKey, 'same bytes as the customers topic key {"id":5}');
  assert.equal(partitionForKey(rec!.out.key!, 4), partitionForKey(tableKey, 4));
  assert.equal(stage0.metrics.repartitioned, 1);
  assert.equal(stage0.metrics.emitted, 0);

  const headers: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(rec!.out.headers!))
    headers[k] = Buffer.isBuffer(v) ? v : Buffer.from(v);
  assert.equal(headers[REPARTITION_HEADERS.topic]!.toString(), ev.topic);
  const stage1 = new RecordPipeline(new ProcessorChain([], new Map(), 0, Date.now), {
    outputTopic: 'out',
    format: 'json',
    inputPolicy: 'fail',
    dlqTopic: 'dlq',
    fromRepartition: true,
  });
  const [final] = await stage1.handle({
    topic: 'app-s-repartition',
    partition: 1,
    offset: 0n,
    key: rec!.out.key,
    value: rec!.out.value,
    headers,
    timestamp: 0n,
  });
  assert.equal(final!.kind, 'event');
  assert.deepEqual(final!.event!.key, { id: 77 }, 'the output keeps the order key');
  assert.deepEqual(final!.out.key, encodeKey(ev, 'json'));
  assert.deepEqual(final!.event!.value, ev.value);
  assert.equal(final!.event!.version, ev.version);
  assert.deepEqual(final!.event!.headers, { trace: 'x1' }, 'hop headers removed');
});

test('a repartition record without its headers is bad input (DLQ with policy dlq)', async () => {
  const stage1 = new RecordPipeline(new ProcessorChain([], new Map(), 0, Date.now), {
    outputTopic: 'out',
    format: 'json',
    inputPolicy: 'dlq',
    dlqTopic: 'dlq',
    fromRepartition: true,
  });
  const [out] = await stage1.handle({
    topic: 'app-s-repartition',
    partition: 0,
    offset: 4n,
    key: Buffer.from('{"id":1}'),
    value: Buffer.from('{}'),
    headers: {},
    timestamp: 0n,
  });
  assert.equal(out!.kind, 'dlq');
  assert.equal(stage1.metrics.deadLettered['(input)'], 1);
});

test('test kit: a repartitioning join keeps the topic override, key and order', async () => {
  const tagger = defineProcessor({
    name: 'tagger',
    process(e, ctx) {
      ctx.forward(
        { ...e, value: { ...e.value, after: e.value.after && { ...e.value.after, tagged: true } } },
        { topic: 'orders.enriched' },
      );
    },
  });
  const d = await ProcessorTestDriver.create({
    processors: [{ definition: tagger }, repartitionJoin],
    output: 'out',
  });
  await d.pipeTable('raw.public.customers', insert({ id: 5 }, { id: 5, name: 'Ada' }, 'customers'));
  await d.pipe([
    insert({ id: 1 }, { id: 1, customer_id: 5 }),
    update({ id: 1 }, { id: 1, customer_id: 5 }, { id: 1, customer_id: 6 }),
    remove({ id: 1 }, { id: 1, customer_id: 6 }),
  ]);
  assert.equal(d.readOutput('out').length, 0);
  const outs = d.readOutput('orders.enriched');
  assert.deepEqual(
    outs.map((o) => [o.kind, o.key]),
    [
      ['event', { id: 1 }],
      ['event', { id: 1 }],
      ['event', { id: 1 }],
      ['tombstone', { id: 1 }],
    ].map(([k, key]) => [k, k === 'tombstone' ? '{"id":1}' : key]),
  );
  assert.deepEqual(outs[0]!.event!.value.after, {
    id: 1,
    customer_id: 5,
    tagged: true,
    customer: { id: 5, name: 'Ada' },
  });
  // The join column changed: the before-row's customer lives on another partition, not looked up.
  assert.equal(outs[1]!.event!.value.before!.customer, null);
  assert.equal(outs[1]!.event!.value.after!.customer, null);
  assert.equal(d.metrics.processed, 3);
  assert.equal(d.metrics.repartitioned, 3);
  assert.equal(d.metrics.emitted, 4);
});
