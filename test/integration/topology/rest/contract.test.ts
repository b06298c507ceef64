// REST contract: every endpoint with its success and failure codes, Kafka Connect's JSON
// shapes, authentication and roles, Debezium config mapping errors, and redaction — the
// secret below never appears in any response or log line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ensureServices } from '../../helpers.ts';
import { debeziumConfig, RestHarness } from './helpers.ts';

const SECRET = `S3cr3t-${Math.random().toString(36).slice(2)}`;
let h: RestHarness;

before(async () => {
  ensureServices('kafka');
  h = new RestHarness();
  await h.start();
});

after(async () => {
  // Redaction holds across everything this file did.
  for (const r of h.responses) assert.ok(!r.includes(SECRET), `secret leaked in response: ${r}`);
  for (const l of h.logs) assert.ok(!l.includes(SECRET), `secret leaked in log: ${l}`);
  assert.ok(
    h.logs.some((l) => / POST \/connectors 201 /.test(l)),
    'requests are logged',
  );
  await h.close();
});

const config = (extra: Record<string, string> = {}) =>
  debeziumConfig({ 'database.password': SECRET, ...extra });

test('public: version at / and the OpenAPI document listing every route', async () => {
  const root = await h.call('GET', '/', { token: null });
  assert.equal(root.status, 200);
  assert.equal(typeof root.json.version, 'string');
  const doc = await h.call('GET', '/openapi.json', { token: null });
  assert.equal(doc.status, 200);
  assert.equal(doc.json.openapi, '3.1.0');
  for (const p of [
    '/connectors',
    '/connectors/{name}',
    '/connectors/{name}/config',
    '/connectors/{name}/status',
    '/connectors/{name}/restart',
    '/connectors/{name}/pause',
    '/connectors/{name}/resume',
    '/topologies',
    '/topologies/{name}',
  ])
    assert.ok(doc.json.paths[p], `openapi has ${p}`);
  assert.ok(doc.json.paths['/connectors/{name}/config'].put.responses['409']);
});

test('401 without a token, with a malformed, unknown or revoked token; 403 for a role too low', async () => {
  const none = await h.call('GET', '/connectors', { token: null });
  assert.equal(none.status, 401);
  assert.equal(none.json.error_code, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
  assert.equal((await h.call('GET', '/connectors', { token: 'nope' })).status, 401);
  assert.equal(
    (await h.call('GET', '/connectors', { token: `trb_000000000000.${'x'.repeat(43)}` })).status,
    401,
  );
  assert.equal(
    (
      await h.call('GET', '/connectors', {
        headers: { authorization: 'Basic dXNlcjpwYXNz' },
        token: null,
      })
    ).status,
    401,
  );
  const revoked = await h.store.createToken('admin', 'to revoke');
  assert.equal((await h.call('GET', '/connectors', { token: revoked.token })).status, 200);
  await h.store.revokeToken(revoked.id);
  assert.equal((await h.call('GET', '/connectors', { token: revoked.token })).status, 401);

  assert.equal((await h.call('GET', '/connectors', { token: 'viewer' })).status, 200);
  const viewerPost = await h.call('POST', '/connectors', {
    token: 'viewer',
    body: { name: 'denied', config: config() },
  });
  assert.equal(viewerPost.status, 403);
  assert.match(viewerPost.json.message, /role viewer may not POST \/connectors \(needs admin\)/);
  assert.equal((await h.call('PUT', '/connectors/x/pause', { token: 'viewer' })).status, 403);
  assert.equal((await h.call('DELETE', '/connectors/x', { token: 'operator' })).status, 403);
  assert.equal((await h.call('PUT', '/topologies/x', { token: 'operator', body: {} })).status, 403);
});

test('connectors: create, read, list, conflict, update with If-Match, tasks, delete', async () => {
  const created = await h.call('POST', '/connectors', {
    body: { name: 'orders', config: config() },
  });
  assert.equal(created.status, 201, created.text);
  assert.equal(created.headers.get('location'), '/connectors/orders');
  assert.equal(created.headers.get('etag'), '"1"');
  assert.deepEqual(created.json.tasks, [{ connector: 'orders', task: 0 }]);
  assert.equal(created.json.type, 'source');
  assert.equal(created.json.config['database.password'], '[hidden]');
  assert.equal(created.json.config['table.include.list'], 'public.orders');

  const again = await h.call('POST', '/connectors', { body: { name: 'orders', config: config() } });
  assert.equal(again.status, 409);
  assert.match(again.json.message, /already exists/);

  const list = await h.call('GET', '/connectors', { token: 'viewer' });
  assert.deepEqual(list.json, ['orders']);
  const expanded = await h.call('GET', '/connectors?expand=status&expand=info', {
    token: 'viewer',
  });
  assert.equal(expanded.json.orders.info.name, 'orders');
  assert.equal(expanded.json.orders.status.connector.state, 'UNASSIGNED');
  assert.equal((await h.call('GET', '/connectors?expand=everything')).status, 400);

  const info = await h.call('GET', '/connectors/orders', { token: 'viewer' });
  assert.equal(info.status, 200);
  assert.equal(info.json.name, 'orders');
  const cfg = await h.call('GET', '/connectors/orders/config', { token: 'viewer' });
  assert.equal(cfg.status, 200);
  assert.equal(cfg.json['database.password'], '[hidden]');
  assert.equal(cfg.json.name, 'orders');
  const tasks = await h.call('GET', '/connectors/orders/tasks', { token: 'viewer' });
  assert.deepEqual(tasks.json[0].id, { connector: 'orders', task: 0 });
  assert.equal(tasks.json[0].config['database.password'], '[hidden]');

  const status = await h.call('GET', '/connectors/orders/status', { token: 'viewer' });
  assert.equal(status.status, 200);
  assert.deepEqual(Object.keys(status.json).slice(0, 4), ['name', 'connector', 'tasks', 'type']);
  assert.equal(status.json.tasks[0].id, 0);

  const updated = await h.call('PUT', '/connectors/orders/config', {
    body: config({ 'snapshot.mode': 'no_data' }),
    headers: { 'if-match': '"1"' },
  });
  assert.equal(updated.status, 200, updated.text);
  assert.equal(updated.headers.get('etag'), '"2"');
  const stale = await h.call('PUT', '/connectors/orders/config', {
    body: config(),
    headers: { 'if-match': '"1"' },
  });
  assert.equal(stale.status, 409);
  assert.match(stale.json.message, /version 2, not 1/);
  const badMatch = await h.call('PUT', '/connectors/orders/config', {
    body: config(),
    headers: { 'if-match': 'yesterday' },
  });
  assert.equal(badMatch.status, 400);
  const upsert = await h.call('PUT', '/connectors/second/config', { body: config() });
  assert.equal(upsert.status, 201);
  const ifMatchMissing = await h.call('PUT', '/connectors/third/config', {
    body: config(),
    headers: { 'if-match': '"1"' },
  });
  assert.equal(ifMatchMissing.status, 404);

  assert.equal((await h.call('DELETE', '/connectors/second')).status, 204);
  assert.equal((await h.call('DELETE', '/connectors/second')).status, 404);
  assert.equal((await h.call('GET', '/connectors/second')).status, 404);
  assert.equal((await h.call('GET', '/connectors/second/status')).status, 404);
  assert.equal((await h.call('GET', '/connectors/second/config')).status, 404);
});

test('restart, pause and resume: recorded in the control topic with Kafka Connect codes', async () => {
  assert.equal(
    (await h.call('POST', '/connectors/orders/restart', { token: 'operator' })).status,
    204,
  );
  const withTasks = await h.call(
    'POST',
    '/connectors/orders/restart?includeTasks=true&onlyFailed=false',
    {
      token: 'operator',
    },
  );
  assert.equal(withTasks.status, 202);
  assert.equal(withTasks.json.connector.state, 'RESTARTING');
  assert.equal(withTasks.json.tasks[0].state, 'RESTARTING');
  assert.equal(h.store.restartRequest('connector', 'orders')?.requestId, 2);
  assert.equal(h.store.restartRequest('connector', 'orders')?.includeTasks, true);
  assert.equal(
    (await h.call('POST', '/connectors/orders/restart?includeTasks=maybe', { token: 'operator' }))
      .status,
    400,
  );
  assert.equal(
    (await h.call('POST', '/connectors/nosuch/restart', { token: 'operator' })).status,
    404,
  );

  assert.equal(
    (await h.call('PUT', '/connectors/orders/pause', { token: 'operator' })).status,
    202,
  );
  assert.equal(h.store.targetState('connector', 'orders'), 'PAUSED');
  const status = await h.call('GET', '/connectors/orders/status');
  assert.equal(status.json.target, 'PAUSED');
  assert.equal(
    (await h.call('PUT', '/connectors/orders/resume', { token: 'operator' })).status,
    202,
  );
  assert.equal(h.store.targetState('connector', 'orders'), 'RUNNING');
  assert.equal(
    (await h.call('PUT', '/connectors/nosuch/pause', { token: 'operator' })).status,
    404,
  );
});

test('400 malformed JSON, 413 huge body, 404 unknown path, 405 wrong method', async () => {
  const bad = await h.call('POST', '/connectors', { raw: '{"name": "x", "config": {' });
  assert.equal(bad.status, 400);
  assert.match(bad.json.message, /malformed JSON/);
  assert.equal((await h.call('POST', '/connectors', { raw: '' })).status, 400);
  assert.equal((await h.call('PUT', '/connectors/x/config', { raw: 'nul' })).status, 400);
  const huge = await h.call('POST', '/connectors', { raw: `"${'x'.repeat(1_100_000)}"` });
  assert.equal(huge.status, 413);
  assert.equal((await h.call('GET', '/nothing/here')).status, 404);
  assert.equal((await h.call('PATCH', '/connectors')).status, 405);
  assert.equal((await h.call('GET', '/connectors/%E0%A4%A')).status, 400);
});

test('422: invalid and unsupported Debezium properties are each named, never ignored', async () => {
  const r = await h.call('POST', '/connectors', {
    body: {
      name: 'bad',
      config: config({
        'database.port': 'fivefourthreetwo',
        'column.exclude.list': 'public.orders.(secret',
        'table.include.list': 'public.order.*',
        'snapshot.mode': 'custom',
        transforms: 'route',
        'transforms.route.type': 'io.debezium.transforms.ByLogicalTableRouter',
        'transforms.route.topic.regex': '(.*)',
        'transforms.route.key.field.regex': '(.*)',
        'slot.drop.on.stop': 'true',
      }),
    },
  });
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.error_code, 422);
  const fields = (r.json.errors as Array<{ field: string; message: string }>)
    .map((e) => e.field)
    .sort();
  assert.deepEqual(fields, [
    'column.exclude.list',
    'database.port',
    'slot.drop.on.stop',
    'snapshot.mode',
    'table.include.list',
    'transforms.route.key.field.regex',
    'transforms.route.topic.replacement',
  ]);
  const byField = Object.fromEntries(
    (r.json.errors as Array<{ field: string; message: string }>).map((e) => [e.field, e.message]),
  );
  assert.match(byField['column.exclude.list']!, /not a valid regular expression/);
  assert.match(byField['table.include.list']!, /regular expressions are not supported/);
  assert.match(byField['transforms.route.key.field.regex']!, /unsupported ByLogicalTableRouter/);
  assert.match(byField['transforms.route.topic.replacement']!, /required/);
  // Column lists and the route transforms themselves are accepted; other transforms are not.
  const routed = await h.call('POST', '/connectors', {
    body: {
      name: 'routed',
      config: config({
        'column.exclude.list': 'public\\.orders\\.secret',
        transforms: 'route',
        'transforms.route.type': 'io.debezium.transforms.ByLogicalTableRouter',
        'transforms.route.topic.regex': '(.*)\\.orders',
        'transforms.route.topic.replacement': '$1.all_orders',
      }),
    },
  });
  assert.equal(routed.status, 201, routed.text);
  assert.equal((await h.call('DELETE', '/connectors/routed')).status, 204);
  const unwrap = await h.call('POST', '/connectors', {
    body: {
      name: 'unwrap',
      config: config({
        transforms: 'unwrap',
        'transforms.unwrap.type': 'io.debezium.transforms.ExtractNewRecordState',
      }),
    },
  });
  assert.equal(unwrap.status, 422);
  assert.equal(unwrap.json.errors[0].field, 'transforms.unwrap.type', unwrap.text);

  const missing = await h.call('POST', '/connectors', {
    body: {
      name: 'bad2',
      config: { 'connector.class': 'io.confluent.connect.jdbc.JdbcSourceConnector' },
    },
  });
  assert.equal(missing.status, 422);
  const f2 = (missing.json.errors as Array<{ field: string }>).map((e) => e.field);
  assert.ok(f2.includes('connector.class'), missing.text);
  const noDb = await h.call('POST', '/connectors', {
    body: { name: 'bad3', config: { ...config(), 'database.dbname': undefined } },
  });
  assert.equal(noDb.status, 422);
  assert.ok(
    (noDb.json.errors as Array<{ field: string }>).some((e) => e.field === 'database.dbname'),
    noDb.text,
  );
  const badName = await h.call('POST', '/connectors', { body: { name: 'a/b', config: config() } });
  assert.equal(badName.status, 422);
  assert.equal((await h.call('POST', '/connectors', { body: [1, 2] })).status, 422);
  assert.equal((await h.call('GET', '/connectors/bad')).status, 404, 'nothing stored');
});

test('topologies: create (JSON and YAML), read, validate with exact paths, If-Match, status, pause, restart, delete', async () => {
  const spec = {
    version: 1,
    name: 'shop',
    sources: [
      {
        name: 'pg',
        type: 'postgres',
        connection: {
          host: '127.0.0.1',
          database: 'tributary',
          user: 'tributary',
          password: SECRET,
        },
        tables: ['public.orders'],
      },
    ],
  };
  const created = await h.call('POST', '/topologies', { body: spec });
  assert.equal(created.status, 201, created.text);
  assert.deepEqual(created.json.tasks, ['shop/source/pg']);
  assert.equal(created.json.spec.sources[0].connection.password, '[hidden]');
  assert.equal((await h.call('POST', '/topologies', { body: spec })).status, 409);
  const yaml = `version: 1\nname: yshop\nsources:\n  - name: pg\n    type: postgres\n    connection: {host: 127.0.0.1, database: tributary, user: tributary}\n    tables: [public.orders]\n`;
  const fromYaml = await h.call('PUT', '/topologies/yshop', {
    raw: yaml,
    headers: { 'content-type': 'application/yaml' },
  });
  assert.equal(fromYaml.status, 201, fromYaml.text);
  assert.equal(
    (
      await h.call('PUT', '/topologies/yshop', {
        raw: 'a: [',
        headers: { 'content-type': 'application/yaml' },
      })
    ).status,
    400,
  );
  const invalid = await h.call('PUT', '/topologies/shop', {
    body: { ...spec, sourcez: [] },
    headers: { 'if-match': '"1"' },
  });
  assert.equal(invalid.status, 422);
  assert.ok(
    (invalid.json.errors as Array<{ field: string }>).some((e) => e.field === 'sourcez'),
    invalid.text,
  );
  const renamed = await h.call('PUT', '/topologies/shop', { body: { ...spec, name: 'other' } });
  assert.equal(renamed.status, 422);
  const replaced = await h.call('PUT', '/topologies/shop', {
    body: { ...spec, description: 'v2' },
    headers: { 'if-match': '"1"' },
  });
  assert.equal(replaced.status, 200, replaced.text);
  assert.equal(
    (await h.call('PUT', '/topologies/shop', { body: spec, headers: { 'if-match': '"1"' } }))
      .status,
    409,
  );
  const got = await h.call('GET', '/topologies/shop', { token: 'viewer' });
  assert.equal(got.json.version, 2);
  assert.equal(got.headers.get('etag'), '"2"');
  assert.deepEqual((await h.call('GET', '/topologies', { token: 'viewer' })).json, [
    'shop',
    'yshop',
  ]);
  const status = await h.call('GET', '/topologies/shop/status', { token: 'viewer' });
  assert.deepEqual(status.json.tasks, [
    { id: 'shop/source/pg', state: 'UNASSIGNED', worker_id: '' },
  ]);
  assert.equal((await h.call('PUT', '/topologies/shop/pause', { token: 'operator' })).status, 202);
  assert.equal(h.store.targetState('topology', 'shop'), 'PAUSED');
  assert.equal((await h.call('PUT', '/topologies/shop/resume', { token: 'operator' })).status, 202);
  const restart = await h.call('POST', '/topologies/shop/restart?onlyFailed=true', {
    token: 'operator',
  });
  assert.equal(restart.status, 202);
  assert.equal(h.store.restartRequest('topology', 'shop')?.onlyFailed, true);
  assert.equal((await h.call('DELETE', '/topologies/shop')).status, 204);
  assert.equal((await h.call('GET', '/topologies/shop')).status, 404);
  assert.equal((await h.call('GET', '/topologies/shop/status')).status, 404);
  assert.equal((await h.call('GET', '/workers', { token: 'viewer' })).status, 200);
});

test('Kafka Connect plugin endpoints: the connector class, and validation in ConfigInfos form', async () => {
  const plugins = await h.call('GET', '/connector-plugins', { token: 'viewer' });
  assert.equal(plugins.status, 200);
  assert.equal(plugins.json[0].class, 'io.debezium.connector.postgresql.PostgresConnector');
  const ok = await h.call('PUT', '/connector-plugins/PostgresConnector/config/validate', {
    token: 'viewer',
    body: config(),
  });
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.error_count, 0);
  const pw = ok.json.configs.find(
    (c: { value: { name: string } }) => c.value.name === 'database.password',
  );
  assert.equal(pw.value.value, '[hidden]');
  const bad = await h.call(
    'PUT',
    '/connector-plugins/io.debezium.connector.postgresql.PostgresConnector/config/validate',
    { token: 'viewer', body: config({ 'database.port': 'x', 'column.exclude.list': 'a.b.(c' }) },
  );
  assert.equal(bad.status, 200);
  assert.equal(bad.json.error_count, 2);
  const port = bad.json.configs.find(
    (c: { value: { name: string } }) => c.value.name === 'database.port',
  );
  assert.match(port.value.errors[0], /integer/);
  assert.equal(
    (await h.call('PUT', '/connector-plugins/com.acme.Other/config/validate', { body: {} })).status,
    404,
  );
  assert.equal((await h.call('GET', '/connectors/nothing-stored-by-validate')).status, 404);
});

test('429 with Retry-After when a client exceeds the rate limit', async () => {
  const limited = new RestHarness({ rateLimit: 2 });
  await limited.start(false);
  try {
    const codes: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 12; i++) {
      const r = await limited.call('GET', '/', { token: null });
      codes.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    assert.ok(
      codes.slice(0, 4).every((c) => c === 200),
      codes.join(','),
    );
    assert.ok(codes.includes(429), codes.join(','));
    assert.ok(Number(retryAfter) >= 1);
  } finally {
    await limited.close();
  }
});

test('503 with Retry-After when Kafka is unreachable', async () => {
  const down = new RestHarness({}, { brokers: ['127.0.0.1:1'], clientId: 'down' });
  await down.start(false);
  try {
    const t0 = Date.now();
    const r = await down.call('GET', '/connectors', {
      token: 'trb_000000000000.' + 'x'.repeat(43),
    });
    assert.equal(r.status, 503, r.text);
    assert.match(r.json.message, /Kafka is unreachable/);
    assert.equal(r.headers.get('retry-after'), '5');
    assert.ok(Date.now() - t0 < 8_000);
    assert.equal(
      (await down.call('GET', '/', { token: null })).status,
      200,
      'public routes still answer',
    );
  } finally {
    await down.close();
  }
});
