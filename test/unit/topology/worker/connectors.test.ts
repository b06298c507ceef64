// Debezium PostgreSQL connector configs → capture configs, and secret redaction.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapConnectorConfig } from '../../../../topology/worker/connectors.ts';
import { collectSecrets, redactDeep, redactText } from '../../../../topology/worker/redact.ts';

const cluster = { brokers: ['127.0.0.1:9092'] };
const base = {
  'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
  'database.hostname': 'db.internal',
  'database.port': '5433',
  'database.user': 'cdc',
  'database.password': 'pw-123456',
  'database.dbname': 'shop',
  'table.include.list': 'public.orders, public\\.customers',
  'topic.prefix': 'shop',
};

test('a Debezium config maps onto the capture config, defaults applied', () => {
  const m = mapConnectorConfig(
    'inventory',
    {
      ...base,
      'slot.name': 'inv_slot',
      'publication.name': 'inv_pub',
      'snapshot.mode': 'no_data',
      'tombstones.on.delete': 'false',
      'heartbeat.interval.ms': 2000,
      'decimal.handling.mode': 'string',
      'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
      'value.converter.schemas.enable': 'false',
      'topic.creation.default.partitions': '6',
      'tasks.max': '1',
      'plugin.name': 'pgoutput',
    },
    cluster,
  );
  assert.deepEqual(m.errors, []);
  const s = m.source!;
  assert.equal(s.name, 'inventory');
  assert.deepEqual(s.connection, {
    host: 'db.internal',
    port: 5433,
    user: 'cdc',
    password: 'pw-123456',
    database: 'shop',
  });
  assert.deepEqual(s.tables, ['public.orders', 'public.customers']);
  assert.equal(s.slot, 'inv_slot');
  assert.equal(s.publication, 'inv_pub');
  assert.equal(s.snapshot.mode, 'never');
  assert.equal(s.tombstonesOnDelete, false);
  assert.equal(s.heartbeatIntervalMs, 2000);
  assert.equal(s.types.decimalHandling, 'string');
  assert.equal(s.format, 'json');
  assert.equal(s.topic.prefix, 'shop');
  assert.equal(s.topic.partitions, 6);
  assert.deepEqual(s.kafka.brokers, ['127.0.0.1:9092']);
});

test('schema.include.list, Debezium 1.x database.server.name, schemas.enable=true', () => {
  const rest: Record<string, string> = { ...base };
  delete rest['table.include.list'];
  delete rest['topic.prefix'];
  const m = mapConnectorConfig(
    'c',
    {
      ...rest,
      'schema.include.list': 'inventory',
      'database.server.name': 'legacy',
      'value.converter.schemas.enable': 'true',
      'key.converter.schemas.enable': 'true',
    },
    cluster,
  );
  assert.deepEqual(m.errors, []);
  assert.equal(m.source!.schema, 'inventory');
  assert.equal(m.source!.topic.prefix, 'legacy');
  assert.equal(m.source!.format, 'json-schema');
});

test('every unsupported or invalid property is reported by its Debezium name', () => {
  const m = mapConnectorConfig(
    'c',
    {
      ...base,
      'database.port': '0',
      'tasks.max': '3',
      'plugin.name': 'decoderbufs',
      'column.exclude.list': 'public.orders.(card',
      'table.include.list': 'public.orders_.*',
      'schema.include.list': 'public',
      'key.converter.schemas.enable': 'true',
      'value.converter.schemas.enable': 'false',
      transforms: 'unwrap,route',
      'transforms.unwrap.type': 'io.debezium.transforms.ExtractNewRecordState',
      'transforms.route.type': 'org.apache.kafka.connect.transforms.RegexRouter',
      'transforms.route.regex': '(.*)',
      'database.sslmode': 'require',
      nested: { a: 1 },
    },
    cluster,
  );
  assert.equal(m.source, undefined);
  assert.deepEqual(m.errors.map((e) => e.field).sort(), [
    'column.exclude.list',
    'database.port',
    'database.sslmode',
    'key.converter.schemas.enable',
    'nested',
    'plugin.name',
    'schema.include.list',
    'table.include.list',
    'tasks.max',
    'transforms.route.replacement',
    'transforms.unwrap.type',
  ]);
  assert.ok(!JSON.stringify(m.errors).includes('pw-123456'), 'no secret in the errors');
});

test('missing required connection fields are reported under their Debezium names', () => {
  const m = mapConnectorConfig(
    'c',
    { 'connector.class': base['connector.class'], 'table.include.list': 'public.a' },
    cluster,
  );
  assert.deepEqual(m.errors.map((e) => e.field).sort(), ['database.dbname', 'database.user']);
  const noClass = mapConnectorConfig('c', { 'table.include.list': 'public.a' }, cluster);
  assert.ok(noClass.errors.some((e) => e.field === 'connector.class'));
  const noTables = mapConnectorConfig(
    'c',
    { ...base, 'table.include.list': undefined } as never,
    cluster,
  );
  assert.ok(noTables.errors.some((e) => e.field === 'table.include.list'));
});

test('redaction: secret keys hidden deeply; secret values and password= fragments scrubbed from text', () => {
  const red = redactDeep({
    a: { 'database.password': 'x', list: [{ secret: 's', ok: 1 }] },
    apiKey: 'k',
  });
  assert.deepEqual(red, {
    a: { 'database.password': '[hidden]', list: [{ secret: '[hidden]', ok: 1 }] },
    apiKey: '[hidden]',
  });
  process.env.T2_TEST_SECRET = 'from-env-9876';
  const secrets = collectSecrets([
    { 'database.password': 'pw-123456', other: 'visible' },
    { sink: { password: '${env:T2_TEST_SECRET}' } },
  ]);
  assert.deepEqual(secrets.sort(), ['from-env-9876', 'pw-123456']);
  assert.equal(
    redactText(
      'login pw-123456 then from-env-9876, url postgres://u:x@h/db?password=abc {"secret":"zzz"}',
      secrets,
    ),
    'login [hidden] then [hidden], url postgres://u:x@h/db?password=[hidden] {"secret":"[hidden]"}',
  );
  assert.equal(
    redactText(
      'processors[0].secret: environment variable MASK_SECRET is not set (referenced as ${env:MASK_SECRET})',
    ),
    'processors[0].secret: environment variable MASK_SECRET is not set (referenced as ${env:MASK_SECRET})',
    'error messages about a secret are not mangled',
  );
});

test('column lists and route transforms map onto columns and topic.routes', () => {
  const cols = mapConnectorConfig(
    'c',
    { ...base, 'column.exclude.list': 'public.orders.card, public\\.customers\\.ssn' },
    cluster,
  );
  assert.deepEqual(cols.errors, []);
  assert.deepEqual(cols.source!.columns, {
    exclude: ['public.orders.card', 'public\\.customers\\.ssn'],
  });
  const include = mapConnectorConfig('c', { ...base, 'column.include.list': 'a.b.c' }, cluster);
  assert.deepEqual(include.source!.columns, { include: ['a.b.c'] });
  const both = mapConnectorConfig(
    'c',
    { ...base, 'column.include.list': 'a.b.c', 'column.exclude.list': 'a.b.d' },
    cluster,
  );
  assert.deepEqual(
    both.errors.map((e) => e.field),
    ['column.exclude.list'],
  );

  const regex = mapConnectorConfig(
    'c',
    {
      ...base,
      transforms: 'route',
      'transforms.route.type': 'org.apache.kafka.connect.transforms.RegexRouter',
      'transforms.route.regex': 'shop\\.public\\.(.*)',
      'transforms.route.replacement': 'all.$1',
    },
    cluster,
  );
  assert.deepEqual(regex.errors, []);
  assert.deepEqual(regex.source!.topic.routes, [
    { match: 'shop\\.public\\.(.*)', replace: 'all.$1' },
  ]);

  const logical = (extra: Record<string, string>) =>
    mapConnectorConfig(
      'c',
      {
        ...base,
        transforms: 'Reroute',
        'transforms.Reroute.type': 'io.debezium.transforms.ByLogicalTableRouter',
        'transforms.Reroute.topic.regex': '(.*)customers_shard(.*)',
        'transforms.Reroute.topic.replacement': '$1customers_all_shards',
        ...extra,
      },
      cluster,
    );
  assert.deepEqual(logical({}).source!.topic.routes, [
    {
      match: '(.*)customers_shard(.*)',
      replace: '$1customers_all_shards',
      keyField: '__dbz__physicalTableIdentifier',
    },
  ]);
  assert.equal(
    logical({ 'transforms.Reroute.key.field.name': 'shard' }).source!.topic.routes[0]!.keyField,
    'shard',
  );
  assert.equal(
    logical({ 'transforms.Reroute.key.enforce.uniqueness': 'false' }).source!.topic.routes[0]!
      .keyField,
    undefined,
  );
});

test('route transform properties Tributary does not implement are each named', () => {
  const m = mapConnectorConfig(
    'c',
    {
      ...base,
      'provide.transaction.metadata': 'true',
      transforms: 'a,b',
      'transforms.a.type': 'io.debezium.transforms.ByLogicalTableRouter',
      'transforms.a.topic.regex': '(.*',
      'transforms.a.topic.replacement': 'x',
      'transforms.a.key.field.regex': '(.*)',
      'transforms.a.key.field.replacement': '$1',
      'transforms.a.key.enforce.uniqueness': 'maybe',
      'transforms.b.type': 'org.apache.kafka.connect.transforms.RegexRouter',
      'transforms.b.regex': 'y',
    },
    cluster,
  );
  assert.equal(m.source, undefined);
  assert.deepEqual(m.errors.map((e) => e.field).sort(), [
    'transforms',
    'transforms.a.key.enforce.uniqueness',
    'transforms.a.key.field.regex',
    'transforms.a.key.field.replacement',
    'transforms.a.topic.regex',
    'transforms.b.replacement',
  ]);
  // The transaction topic is never routed: a regex that would route it in Kafka Connect is refused.
  const tx = mapConnectorConfig(
    'c',
    {
      ...base,
      'provide.transaction.metadata': 'true',
      transforms: 'r',
      'transforms.r.type': 'org.apache.kafka.connect.transforms.RegexRouter',
      'transforms.r.regex': 'shop\\.(.*)',
      'transforms.r.replacement': 'x.$1',
    },
    cluster,
  );
  assert.deepEqual(
    tx.errors.map((e) => e.field),
    ['transforms'],
  );
  assert.match(tx.errors[0]!.message, /shop\.transaction/);
});
