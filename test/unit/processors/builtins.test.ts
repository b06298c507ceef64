// Every built-in, through the test kit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { ProcessorTestDriver } from '../../../processors/testing/index.ts';
import { ConfigError } from '../../../core/errors/index.ts';
import { insert, remove, update, changeEvent } from './events.ts';

const drive = (processors: Parameters<typeof ProcessorTestDriver.create>[0]['processors']) =>
  ProcessorTestDriver.create({ processors, output: 'out' });

test('mask: hmac/sha256 hash, redact, keep-last-N and null-out, by path and by pattern, in before and after', async () => {
  const d = await drive([
    {
      builtin: 'mask',
      config: {
        rules: [
          { fields: ['email'], action: 'hash', secret: 's3cret' },
          { fields: ['ssn'], action: 'hash', algorithm: 'sha256', salt: 'pepper' },
          { fields: ['address.street'], action: 'redact' },
          { pattern: '.*card.*', action: 'keep-last', keep: 4 },
          { fields: ['phone'], action: 'null' },
        ],
      },
    },
  ]);
  const row = {
    id: 1,
    email: 'a@b.c',
    ssn: '123',
    address: { street: 'Main St 1', zip: '1000' },
    credit_card: '4111111111111111',
    phone: '555',
  };
  await d.pipe(update({ id: 1 }, row, { ...row, email: 'x@y.z' }));
  const [out] = d.readOutput('out');
  const after = out!.event!.value.after!;
  const before = out!.event!.value.before!;
  assert.equal(after.email, createHmac('sha256', 's3cret').update('x@y.z').digest('hex'));
  assert.equal(before.email, createHmac('sha256', 's3cret').update('a@b.c').digest('hex'));
  assert.equal(after.ssn, createHash('sha256').update('pepper123').digest('hex'));
  assert.deepEqual(after.address, { street: '****', zip: '1000' });
  assert.equal(after.credit_card, '************1111');
  assert.equal(after.phone, null);
  assert.equal(before.phone, null);
  await assert.rejects(
    drive([{ builtin: 'mask', config: { rules: [{ fields: ['x'], action: 'hash' }] } }]),
    (e: unknown) =>
      e instanceof ConfigError && /processors\[0\]\.config\.rules\[0\]\.secret/.test(e.message),
  );
});

test('rename, drop and keep reshape both rows; rename can include the key', async () => {
  const d = await drive([
    { builtin: 'rename', config: { fields: { id: 'order_id', amt: 'amount' }, applyToKey: true } },
    { builtin: 'drop', config: { fields: ['internal'] } },
  ]);
  await d.pipe(
    update({ id: 7 }, { id: 7, amt: 1, internal: 'x' }, { id: 7, amt: 2, internal: 'y' }),
  );
  const [out] = d.readOutput('out');
  assert.deepEqual(out!.event!.key, { order_id: 7 });
  assert.deepEqual(out!.event!.value.after, { order_id: 7, amount: 2 });
  assert.deepEqual(out!.event!.value.before, { order_id: 7, amount: 1 });
  const k = await drive([{ builtin: 'keep', config: { fields: ['id'] } }]);
  await k.pipe(insert({ id: 1 }, { id: 1, secret: 's' }));
  assert.deepEqual(k.readOutput('out')[0]!.event!.value.after, { id: 1 });
});

test('filter by op, table and predicate', async () => {
  const d = await drive([
    {
      builtin: 'filter',
      config: {
        ops: ['c', 'u'],
        tables: ['public.orders'],
        where: [{ field: 'after.status', in: ['paid', 'shipped'] }],
      },
    },
  ]);
  await d.pipe([
    insert({ id: 1 }, { id: 1, status: 'paid' }),
    insert({ id: 2 }, { id: 2, status: 'new' }),
    remove({ id: 3 }, { id: 3, status: 'paid' }),
    insert({ id: 4 }, { id: 4, status: 'paid' }, 'customers'),
  ]);
  assert.deepEqual(
    d.readOutput('out').map((o) => (o.key as { id: number }).id),
    [1],
  );
  const p = await drive([
    {
      definition: (await import('../../../processors/builtins/index.ts')).filter({
        predicate: (e) => (e.value.after?.id as number) > 1,
      }),
    },
  ]);
  await p.pipe([insert({ id: 1 }, { id: 1 }), insert({ id: 2 }, { id: 2 })]);
  assert.deepEqual(
    p.readOutput().map((o) => (o.key as { id: number }).id),
    [2],
  );
});

test('route by table, by field value and by template', async () => {
  const d = await drive([
    {
      builtin: 'route',
      config: {
        byField: { field: 'after.region', topics: { eu: 'orders.eu' } },
        topic: 'cdc.{schema}.{table}',
      },
    },
  ]);
  await d.pipe([
    insert({ id: 1 }, { id: 1, region: 'eu' }),
    insert({ id: 2 }, { id: 2, region: 'us' }),
  ]);
  assert.deepEqual(
    d.readOutput().map((o) => o.topic),
    ['orders.eu', 'cdc.public.orders'],
  );
  const t = await drive([
    { builtin: 'route', config: { byTable: { 'public.orders': 'only-orders' } } },
  ]);
  await t.pipe(insert({ id: 1 }, { id: 1 }));
  assert.equal(t.readOutput()[0]!.topic, 'only-orders');
});

test('normalize: coercion, timestamps to UTC ISO / epoch, case convention', async () => {
  const d = await drive([
    {
      builtin: 'normalize',
      config: {
        coerce: { amount: 'number', qty: 'integer', active: 'boolean', code: 'string' },
        timestamps: { fields: ['createdAt', 'shipDate'], from: 'auto' },
        case: 'snake',
      },
    },
  ]);
  await d.pipe(
    insert(
      { id: 1 },
      {
        id: 1,
        amount: '12.50',
        qty: '3',
        active: 't',
        code: 42,
        createdAt: 1767225600000,
        shipDate: '2026-01-02 10:00:00',
      },
    ),
  );
  assert.deepEqual(d.readOutput()[0]!.event!.value.after, {
    id: 1,
    amount: 12.5,
    qty: 3,
    active: true,
    code: '42',
    created_at: '2026-01-01T00:00:00.000Z',
    ship_date: '2026-01-02T10:00:00.000Z',
  });
  const e = await ProcessorTestDriver.create({
    processors: [{ builtin: 'normalize', config: { coerce: { amount: 'number' } }, errors: 'dlq' }],
    output: 'out',
  });
  await e.pipe(insert({ id: 1 }, { id: 1, amount: 'abc' }));
  assert.equal(e.readOutput('test.dlq').length, 1);
  assert.equal(e.metrics.deadLettered.normalize, 1);
});

test('unwrap: flat rows with __op/__table/__lsn/__source_ts_ms; deletes dropped, tombstoned or rewritten', async () => {
  const tomb = await drive([{ builtin: 'unwrap' }]);
  await tomb.pipe([insert({ id: 1 }, { id: 1, a: 'x' }), remove({ id: 1 }, { id: 1, a: 'x' })]);
  const outs = tomb.readOutput('out');
  assert.deepEqual(outs[0]!.value, {
    id: 1,
    a: 'x',
    __op: 'c',
    __table: 'orders',
    __lsn: 123456,
    __source_ts_ms: 1767225600000,
  });
  assert.equal(outs[1]!.value, null);
  assert.deepEqual(outs[1]!.key, { id: 1 });
  const rw = await drive([
    { builtin: 'unwrap', config: { deleteHandling: 'rewrite', addFields: ['op'] } },
  ]);
  await rw.pipe([insert({ id: 1 }, { id: 1 }), remove({ id: 1 }, { id: 1 })]);
  assert.deepEqual(
    rw.readOutput().map((o) => o.value),
    [
      { id: 1, __op: 'c', __deleted: 'false' },
      { id: 1, __op: 'd', __deleted: 'true' },
    ],
  );
  const dr = await drive([{ builtin: 'unwrap', config: { deleteHandling: 'drop' } }]);
  await dr.pipe(remove({ id: 1 }, { id: 1 }));
  assert.equal(dr.readOutput().length, 0);
});

test('outbox: Debezium Outbox Event Router names, routing to outbox.event.<aggregatetype>', async () => {
  const d = await drive([{ builtin: 'outbox', config: { 'table.expand.json.payload': true } }]);
  await d.pipe([
    insert(
      { id: 'e1' },
      {
        id: 'e1',
        aggregatetype: 'Order',
        aggregateid: 'o-9',
        type: 'OrderCreated',
        payload: '{"total":5}',
      },
      'outbox',
    ),
    update(
      { id: 'e1' },
      null,
      { id: 'e1', aggregatetype: 'Order', aggregateid: 'o-9', type: 'x', payload: '{}' },
      'outbox',
    ),
  ]);
  const outs = d.readOutput();
  assert.equal(outs.length, 1, 'updates of outbox rows are ignored');
  assert.equal(outs[0]!.topic, 'outbox.event.Order');
  assert.equal(outs[0]!.key, 'o-9');
  assert.deepEqual(outs[0]!.value, { total: 5 });
  assert.deepEqual(outs[0]!.headers, { id: 'e1', type: 'OrderCreated' });
});

test('join: orders enriched with the customer row by customer_id from a global store', async () => {
  const d = await drive([
    {
      builtin: 'join',
      config: {
        store: 'customers',
        table: 'raw.public.customers',
        on: 'customer_id',
        as: 'customer',
      },
    },
  ]);
  await d.pipeTable('raw.public.customers', insert({ id: 5 }, { id: 5, name: 'Ada' }, 'customers'));
  await d.pipe([
    insert({ id: 1 }, { id: 1, customer_id: 5 }),
    insert({ id: 2 }, { id: 2, customer_id: 6 }),
  ]);
  const outs = d.readOutput('out');
  assert.deepEqual(outs[0]!.event!.value.after, {
    id: 1,
    customer_id: 5,
    customer: { id: 5, name: 'Ada' },
  });
  assert.deepEqual(outs[1]!.event!.value.after, { id: 2, customer_id: 6, customer: null });
  const strict = await ProcessorTestDriver.create({
    processors: [
      {
        builtin: 'join',
        config: { store: 'c', table: 't', on: 'customer_id', as: 'c', missing: 'fail' },
        errors: 'skip',
      },
    ],
    output: 'out',
  });
  await strict.pipe(insert({ id: 1 }, { id: 1, customer_id: 1 }));
  assert.equal(strict.metrics.skipped.join, 1);
});

test('toast-refill replaces unchanged-TOAST placeholders with the last value seen for the key', async () => {
  const d = await drive([{ builtin: 'toast-refill' }]);
  const ph = '__debezium_unavailable_value';
  await d.pipe([
    insert({ id: 1 }, { id: 1, doc: 'big text', n: 1 }),
    update({ id: 1 }, null, { id: 1, doc: ph, n: 2 }),
    update({ id: 2 }, null, { id: 2, doc: ph, n: 1 }),
  ]);
  const outs = d.readOutput('out');
  assert.equal(outs[1]!.event!.value.after!.doc, 'big text');
  assert.equal(outs[2]!.event!.value.after!.doc, ph, 'never seen: stays the placeholder');
  assert.deepEqual((await d.storeEntries('toast-refill')).get('{"id":1}'), {
    id: 1,
    doc: 'big text',
    n: 2,
  });
});

test('unknown built-in names the path and suggests', async () => {
  await assert.rejects(
    drive([{ builtin: 'maks' }]),
    (e: unknown) =>
      e instanceof ConfigError &&
      /processors\[0\]\.builtin: unknown built-in "maks"/.test(e.message),
  );
  void changeEvent;
});

test('two joins in one chain, told apart by `name` (metrics and errors use it)', async () => {
  const d = await ProcessorTestDriver.create({
    processors: [
      {
        builtin: 'join',
        name: 'join-customers',
        config: { store: 'customers', table: 'raw.public.customers', on: 'customer_id', as: 'c' },
      },
      {
        builtin: 'join',
        name: 'join-products',
        config: {
          store: 'products',
          table: 'raw.public.products',
          on: 'product_id',
          as: 'p',
          missing: 'fail',
        },
        errors: 'skip',
      },
    ],
    output: 'out',
  });
  await d.pipeTable('raw.public.customers', insert({ id: 5 }, { id: 5, name: 'Ada' }, 'customers'));
  await d.pipeTable('raw.public.products', insert({ id: 9 }, { id: 9, sku: 'X' }, 'products'));
  await d.pipe([
    insert({ id: 1 }, { id: 1, customer_id: 5, product_id: 9 }),
    insert({ id: 2 }, { id: 2, customer_id: 5, product_id: 8 }),
  ]);
  const outs = d.readOutput('out');
  assert.equal(outs.length, 1);
  assert.deepEqual(outs[0]!.event!.value.after, {
    id: 1,
    customer_id: 5,
    product_id: 9,
    c: { id: 5, name: 'Ada' },
    p: { id: 9, sku: 'X' },
  });
  assert.deepEqual(d.metrics.skipped, { 'join-products': 1 });
  await assert.rejects(
    drive([
      { builtin: 'join', config: { store: 'a', table: 'a', on: 'x', as: 'a' } },
      { builtin: 'join', config: { store: 'b', table: 'b', on: 'y', as: 'b' } },
    ]),
    (e: unknown) => e instanceof ConfigError && /give it another `name`/.test((e as Error).message),
  );
});
