// Topology validation: a table of good and bad topologies with the exact messages expected.
/* eslint-disable @typescript-eslint/no-explicit-any -- the cases mutate untyped topology objects on purpose */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { REPO } from '../../integration/helpers.ts';
import { checkTopology, listTasks, parseTopology } from '../../../topology/spec/index.ts';
import { ConfigError } from '../../../core/errors/index.ts';

/** A small valid topology; each case changes a copy of it. */
function base(): Record<string, any> {
  return {
    version: 1,
    name: 'shop',
    kafka: { brokers: ['127.0.0.1:9092'] },
    topics: [{ name: 'orders.enriched', partitions: 3, cleanupPolicy: 'compact' }],
    sources: [
      {
        name: 'pg',
        type: 'postgres',
        connection: { database: 'app', user: 'cdc', password: '${env:PG_PASSWORD}' },
        tables: ['public.customers', 'public.orders'],
      },
    ],
    processors: [
      {
        name: 'enrich',
        inputs: ['pg.public.orders'],
        output: 'orders.enriched',
        chain: [
          {
            builtin: 'join',
            config: { store: 'c', table: 'pg.public.customers', on: 'customer_id', as: 'customer' },
          },
          { module: 'examples/processors/customer-spend.ts' },
        ],
      },
    ],
    sinks: [
      {
        name: 'cache',
        topics: ['orders.enriched'],
        sink: { type: 'redis', url: 'redis://127.0.0.1:6379' },
      },
    ],
  };
}

interface Case {
  name: string;
  change: (t: Record<string, any>) => void;
  /** Exact messages; a RegExp where the message lists something that grows (sink types). */
  problems: Array<string | RegExp>;
}

const cases: Case[] = [
  {
    name: 'unknown key at the top level',
    change: (t) => (t.sink = []),
    problems: ['sink: unknown key — did you mean "sinks"?'],
  },
  {
    name: 'unknown key inside a source connection',
    change: (t) => {
      t.sources[0].connection.hots = 'db';
    },
    problems: ['sources[0].connection.hots: unknown key — did you mean "host"?'],
  },
  {
    name: 'unknown key inside a sink adapter (union member chosen by type)',
    change: (t) => {
      t.sinks[0].sink.ttlSecond = 5;
    },
    problems: ['sinks[0].sink.ttlSecond: unknown key — did you mean "ttlSeconds"?'],
  },
  {
    name: 'unknown key in a processor chain entry',
    change: (t) => {
      t.processors[0].chain[1] = { modul: 'x.ts' };
    },
    problems: ['processors[0].chain[1].modul: unknown key — did you mean "module"?'],
  },
  {
    name: 'unknown key without a near match lists the valid keys',
    change: (t) => {
      t.deadLetter = { colour: 'red' };
    },
    problems: ['deadLetter.colour: unknown key; valid keys: partitions, retentionMs'],
  },
  {
    name: 'missing fields',
    change: (t) => {
      delete t.name;
      delete t.sources[0].connection.database;
      delete t.sinks[0].topics;
    },
    problems: [
      'name: required (string)',
      'sources[0].connection.database: required (string)',
      'sinks[0].topics: required (array)',
    ],
  },
  {
    name: 'wrong types',
    change: (t) => {
      t.topics[0].partitions = 'three';
      t.kafka.brokers = 'localhost:9092';
      t.sources[0].connection.port = '5432';
    },
    problems: [
      'kafka.brokers: expected array, got string "localhost:9092"',
      'topics[0].partitions: expected number, got string "three"',
      'sources[0].connection.port: expected number, got string "5432"',
    ],
  },
  {
    name: 'unsupported version',
    change: (t) => (t.version = 2),
    problems: ['version: unsupported topology version 2; this Tributary reads version 1'],
  },
  {
    name: 'bad enum value with a suggestion',
    change: (t) => (t.topics[0].cleanupPolicy = 'compacted'),
    problems: [
      'topics[0].cleanupPolicy: string "compacted" is not allowed; use one of "delete", "compact", "compact,delete" — did you mean "compact"?',
    ],
  },
  {
    name: 'unknown sink type',
    change: (t) => (t.sinks[0].sink.type = 'reddis'),
    problems: [
      /^sinks\[0\]\.sink\.type: unknown type "reddis" — did you mean "redis"\?; valid: "postgres", "redis", "clickhouse"(, "[a-z0-9-]+")*$/,
    ],
  },
  {
    name: 'unknown source type',
    change: (t) => (t.sources[0].type = 'postgresql'),
    problems: [
      'sources[0].type: unknown type "postgresql" — did you mean "postgres"?; valid: "postgres"',
    ],
  },
  {
    name: 'a source needs tables or schema',
    change: (t) => delete t.sources[0].tables,
    problems: [
      'sources[0].tables: set exactly one of "tables" (a list of schema.table) or "schema" (capture every table of it)',
    ],
  },
  {
    name: 'bad component name',
    change: (t) => (t.processors[0].name = 'Enrich Orders'),
    problems: [
      'processors[0].name: must start with a lowercase letter and use only lowercase letters, digits, "_" and "-"',
    ],
  },
  {
    name: 'dangling topic references name the nearest topic',
    change: (t) => {
      t.processors[0].inputs = ['pg.public.order'];
      t.sinks[0].topics = ['orders.enrichd'];
    },
    problems: [
      'processors[0].inputs[0]: topic "pg.public.order" is not produced by any source or processor nor declared under topics — did you mean "pg.public.orders"? (processor input)',
      'sinks[0].topics[0]: topic "orders.enrichd" is not produced by any source or processor nor declared under topics — did you mean "orders.enriched"? (sink input)',
    ],
  },
  {
    name: 'dangling join table topic',
    change: (t) => (t.processors[0].chain[0].config.table = 'pg.public.customer'),
    problems: [
      'processors[0].chain[0].config.table: topic "pg.public.customer" is not produced by any source or processor nor declared under topics — did you mean "pg.public.customers"? (join table topic)',
    ],
  },
  {
    name: 'duplicate names',
    change: (t) => {
      t.sinks.push({ ...t.sinks[0] });
      t.topics.push({ name: 'orders.enriched' });
      t.processors[0].name = 'pg';
    },
    problems: [
      'processors[0].name: duplicate name "pg" (first at sources[0].name)',
      'sinks[1].name: duplicate name "cache" (first at sinks[0].name)',
      'topics[1].name: duplicate topic "orders.enriched" (first at topics[0].name)',
    ],
  },
  {
    name: 'duplicate replication slot',
    change: (t) => t.sources.push({ ...t.sources[0], name: 'pg2', slot: 'tributary_pg' }),
    problems: ['sources[1].slot: duplicate replication slot "tributary_pg" (first at sources[0])'],
  },
  {
    name: 'unknown built-in processor',
    change: (t) => (t.processors[0].chain[0] = { builtin: 'masq' }),
    problems: [
      'processors[0].chain[0].builtin: unknown built-in processor "masq" — did you mean "mask"?; built-ins: mask, rename, drop, keep, filter, route, normalize, unwrap, outbox, join, toast-refill',
    ],
  },
  {
    name: 'a built-in config is validated with its own schema',
    change: (t) =>
      (t.processors[0].chain[0] = {
        builtin: 'mask',
        config: { rules: [{ fields: ['email'], action: 'hide' }] },
      }),
    problems: [
      'processors[0].chain[0].config.rules[0].action: string "hide" is not allowed; use one of "hash", "redact", "keep-last", "null"',
    ],
  },
  {
    name: 'a missing processor module',
    change: (t) => (t.processors[0].chain[1] = { module: './nope.ts' }),
    problems: [
      `processors[0].chain[1].module: file "./nope.ts" not found (relative to ${REPO.replace(/\/$/, '')})`,
    ],
  },
  {
    name: 'a processor writing to its own input',
    change: (t) => (t.processors[0].output = 'pg.public.orders'),
    problems: [
      'processors[0].output: "pg.public.orders" is also an input of shop.enrich; that would loop forever',
    ],
  },
];

for (const c of cases) {
  test(`bad topology: ${c.name}`, () => {
    const t = base();
    c.change(t);
    const r = checkTopology(t, { baseDir: REPO.replace(/\/$/, '') });
    assert.equal(r.topology, undefined);
    assert.equal(r.problems.length, c.problems.length, r.problems.join('\n'));
    c.problems.forEach((p, i) =>
      typeof p === 'string' ? assert.equal(r.problems[i], p) : assert.match(r.problems[i]!, p),
    );
  });
}

test('the base topology is valid; defaults are applied and secrets stay references', () => {
  const r = checkTopology(base(), { baseDir: REPO });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, []);
  const t = r.topology!;
  assert.equal(t.kafka.offsetsTopic, 'tributary.offsets');
  assert.equal(t.sources[0]!.connection.password, '${env:PG_PASSWORD}');
  assert.equal(t.sources[0]!.snapshot.mode, 'initial');
  assert.equal(t.sinks[0]!.batch.maxRecords, 5000);
  assert.equal(t.deadLetter.partitions, 1);
});

test('good topologies: a whole-schema source, a route output, no sources at all', () => {
  const a = base();
  a.sources[0].schema = 'public';
  delete a.sources[0].tables;
  assert.deepEqual(checkTopology(a, { baseDir: REPO }).problems, []);
  const b = base();
  b.processors[0].chain.push({
    builtin: 'route',
    config: { byTable: { 'public.orders': 'orders.routed' } },
  });
  b.sinks[0].topics.push('orders.routed', 'shop.enrich.dlq');
  assert.deepEqual(checkTopology(b, { baseDir: REPO }).problems, []);
  const c = { version: 1, name: 'only-sinks', topics: [{ name: 'in' }], sinks: [base().sinks[0]] };
  c.sinks[0].topics = ['in'];
  assert.deepEqual(checkTopology(c).problems, []);
});

test('inline secrets are warnings, not errors', () => {
  const t = base();
  t.sources[0].connection.password = 'hunter2';
  t.sinks[0].sink = { type: 'postgres', url: 'postgres://u:pw@db/x' };
  const r = checkTopology(t, { baseDir: REPO });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, [
    'sources[0].connection.password: inline secret; reference it instead: ${env:NAME} or ${file:/path}',
    'sinks[0].sink.url: password inline in the URL; reference it instead: ${env:NAME} or ${file:/path}',
  ]);
});

test('parseTopology throws one ConfigError listing every problem', () => {
  const t = base();
  t.sink = [];
  t.kafka.broker = [];
  assert.throws(
    () => parseTopology(t),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.message ===
        '2 problems:\n  kafka.broker: unknown key — did you mean "brokers"?\n  sink: unknown key — did you mean "sinks"?',
  );
});

test('listTasks: one task per source, processor and sink, with derived names', () => {
  const t = parseTopology(base(), { baseDir: REPO });
  const tasks = listTasks(t, '/base');
  assert.deepEqual(
    tasks.map((x) => x.id),
    ['shop/source/pg', 'shop/processor/enrich', 'shop/sink/cache'],
  );
  const [src, proc, sink] = tasks;
  assert.equal(src!.kind === 'source' && src!.config.kafka.offsetsTopic, 'tributary.offsets');
  assert.equal(proc!.kind === 'processor' && proc!.config.name, 'shop.enrich');
  assert.equal(sink!.kind === 'sink' && sink!.config.name, 'shop.cache');
  assert.equal(proc!.baseDir, '/base');
  assert.equal(JSON.stringify(tasks).includes('${env:PG_PASSWORD}'), true);
});

test('the e-commerce example topology is valid', () => {
  const raw = parseYaml(readFileSync(`${REPO}examples/ecommerce/topology.yaml`, 'utf8'));
  const r = checkTopology(raw, { baseDir: `${REPO}examples/ecommerce` });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.warnings, []);
});

test('topic routes of a source decide the topics it produces (references follow the routed names)', () => {
  const routed = base();
  routed.sources[0].topic = { routes: [{ match: 'pg\\.public\\.(.*)', replace: 'app.$1' }] };
  routed.processors[0].inputs = ['app.orders'];
  routed.processors[0].chain[0].config.table = 'app.customers';
  assert.deepEqual(checkTopology(routed, { baseDir: REPO }).problems, []);
  // The default names are no longer produced: referencing them is a dangling reference.
  const stale = base();
  stale.sources[0].topic = { routes: [{ match: 'pg\\.public\\.(.*)', replace: 'app.$1' }] };
  const problems = checkTopology(stale, { baseDir: REPO }).problems;
  assert.ok(
    problems.some((p) =>
      p.startsWith('processors[0].inputs[0]: topic "pg.public.orders" is not produced'),
    ),
    JSON.stringify(problems),
  );
});
