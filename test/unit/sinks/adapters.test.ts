import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clickhouseType, encodeValue } from '../../../sinks/clickhouse/sink.ts';
import { createTableSql, inferType, tableName } from '../../../sinks/postgres/schema.ts';
import { arrayLiteral, plainNumber } from '../../../sinks/postgres/sink.ts';
import { compileKey, padVersion, renderKey } from '../../../sinks/redis/sink.ts';
import { RecordRejectedError } from '../../../sinks/runtime/sink.ts';

describe('postgres sink schema', () => {
  it('infers column types from JSON values', () => {
    assert.deepEqual([true, 42, 1.5, 2n ** 70n, 'x', { a: 1 }, [1], null].map(inferType), [
      'boolean',
      'bigint',
      'double precision',
      'numeric',
      'text',
      'jsonb',
      'jsonb',
      'text',
    ]);
  });

  it('names tables from the topic', () => {
    assert.equal(tableName('${table}', 'shop.public.orders'), 'orders');
    assert.equal(tableName('cdc_${topic}', 'shop.public.orders'), 'cdc_shop_public_orders');
  });

  it('creates the key as primary key and the version column', () => {
    const sql = createTableSql('s', 'orders', { id: 1 }, { id: 1, note: 'x', total: 2.5 });
    assert.match(sql, /CREATE TABLE IF NOT EXISTS "s"\."orders"/);
    assert.match(sql, /"id" bigint NOT NULL/);
    assert.match(sql, /"total" double precision/);
    assert.match(sql, /"__version" numeric\(20,0\) NOT NULL/);
    assert.match(sql, /PRIMARY KEY \("id"\)/);
  });
});

describe('postgres sink values', () => {
  it('prints JSON numbers as PostgreSQL numeric does (no exponent)', () => {
    assert.deepEqual(
      [1e21, 1.2345e21, -1e21, 1.5e-7, 5e-7, -2.5e-10, 0.1, 42, -0, 123.456].map(plainNumber),
      [
        '1000000000000000000000',
        '1234500000000000000000',
        '-1000000000000000000000',
        '0.00000015',
        '0.0000005',
        '-0.00000000025',
        '0.1',
        '42',
        '0',
        '123.456',
      ],
    );
  });

  it('quotes array literal elements and escapes quotes and backslashes; null is NULL', () => {
    assert.equal(arrayLiteral([]), '{}');
    assert.equal(
      arrayLiteral(['a', null, 'NULL', 'x,y', 'q"\\', '{}']),
      '{"a",NULL,"NULL","x,y","q\\"\\\\","{}"}',
    );
  });
});

describe('redis sink keys', () => {
  it('renders key templates', () => {
    const w = { topic: 'shop.public.orders', key: { id: 7, region: 'eu' } };
    assert.equal(renderKey('${table}:${key}', w), 'orders:7:eu');
    assert.equal(renderKey('${topic}/${key.region}/${key.id}', w), 'shop.public.orders/eu/7');
    assert.throws(() => renderKey('${table}:${key.sku}', w), RecordRejectedError);
    assert.throws(() => renderKey('${nope}', w), /unknown placeholder/);
    const render = compileKey('{${table}}:${key.id}/${key}');
    assert.equal(render(w), '{orders}:7/7:eu');
    assert.equal(render({ topic: 'noprefix', key: { id: 'a' } }), '{noprefix}:a/a');
    assert.throws(() => render({ topic: 't', key: { id: null } }), RecordRejectedError);
  });

  it('pads versions so string order is numeric order up to 2^64-1', () => {
    const vs = [0n, 9n, 10n, 2n ** 53n + 1n, 2n ** 64n - 1n];
    const padded = vs.map(padVersion);
    assert.deepEqual([...padded].sort(), padded);
    assert.equal(padVersion(2n ** 64n - 1n).length, 20);
  });
});

describe('clickhouse sink types', () => {
  it('maps JSON values to ClickHouse types; key columns are not Nullable', () => {
    assert.deepEqual(
      [true, 42, 1.5, 2n ** 70n, 'x', { a: 1 }, null].map((v) => clickhouseType(v, false)),
      [
        'Nullable(UInt8)',
        'Nullable(Int64)',
        'Nullable(Float64)',
        'Nullable(String)',
        'Nullable(String)',
        'Nullable(String)',
        'Nullable(String)',
      ],
    );
    assert.equal(clickhouseType(7, true), 'Int64');
  });

  it('sends fractional numbers for Float columns as 17 significant digits (exact in 18.16)', () => {
    assert.equal(encodeValue(3.47, 'Nullable(Float64)'), '3.4700000000000002');
    assert.equal(Number(encodeValue(3.47, 'Float64')), 3.47);
    assert.equal(encodeValue(3.47, 'Nullable(String)'), 3.47); // text columns keep JSON numbers
    assert.equal(encodeValue(42, 'Nullable(Float64)'), 42);
    assert.equal(encodeValue(2n ** 70n, 'Nullable(String)'), '1180591620717411303424');
    assert.equal(encodeValue({ a: 1 }, 'Nullable(String)'), '{"a":1}');
  });
});
