// What a topology needs to exist (pure part of the planner): topics with their settings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredTopics } from '../../../topology/planner/index.ts';
import { parseTopology } from '../../../topology/spec/index.ts';

const topology = parseTopology({
  version: 1,
  name: 'shop',
  kafka: { offsetsTopic: 'shop.offsets' },
  deadLetter: { partitions: 2, retentionMs: 1000 },
  topics: [
    { name: 'pg.public.orders', partitions: 6, retentionMs: -1 },
    { name: 'audit', cleanupPolicy: 'compact', configs: { 'min.insync.replicas': '1' } },
  ],
  sources: [
    {
      name: 'pg',
      type: 'postgres',
      connection: { database: 'app', user: 'cdc' },
      tables: ['public.orders', 'public.customers'],
      topic: { partitions: 4 },
    },
    {
      name: 'all',
      type: 'postgres',
      connection: { database: 'app', user: 'cdc' },
      schema: 'billing',
    },
  ],
  processors: [
    {
      name: 'p',
      inputs: ['pg.public.orders'],
      output: 'orders.out',
      chain: [{ builtin: 'unwrap' }],
    },
  ],
  sinks: [{ name: 's', topics: ['orders.out'], sink: { type: 'redis', url: 'redis://h' } }],
});

test('desired topics: source topics, declared overrides, processor outputs, dead letters, offsets', () => {
  const topics = desiredTopics(topology, new Map([[1, ['billing.invoices']]]));
  const by = new Map(topics.map((t) => [t.name, t]));
  assert.deepEqual(
    topics.map((t) => t.name),
    [
      'shop.offsets',
      'pg.public.orders',
      'pg.public.customers',
      'all.billing.invoices',
      'orders.out',
      'audit',
      'shop.p.dlq',
      'shop.s.dlq',
    ],
  );
  assert.deepEqual(by.get('shop.offsets')!.configs, {
    'cleanup.policy': 'compact',
    'min.compaction.lag.ms': '60000',
  });
  assert.equal(by.get('pg.public.orders')!.partitions, 6, 'a declared topic wins over the source');
  assert.deepEqual(by.get('pg.public.orders')!.configs, { 'retention.ms': '-1' });
  assert.equal(by.get('pg.public.customers')!.partitions, 4);
  assert.equal(by.get('all.billing.invoices')!.partitions, 3, 'schema-wide source, its default');
  assert.equal(by.get('orders.out')!.partitions, 6, 'an output follows its inputs');
  assert.deepEqual(by.get('audit')!.configs, {
    'min.insync.replicas': '1',
    'cleanup.policy': 'compact',
  });
  assert.equal(by.get('shop.p.dlq')!.partitions, 2);
  assert.deepEqual(by.get('shop.s.dlq')!.configs, { 'retention.ms': '1000' });
  assert.equal(by.get('shop.s.dlq')!.role, 'dead letters of sink s');
});
