import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { classifyClientError } from '../../../sinks/search/client.ts';
import { documentId, indexName, mappingFromSchema } from '../../../sinks/search/mapping.ts';
import { RecordRejectedError, RetryableSinkError } from '../../../sinks/runtime/sink.ts';
import { parseSinkRuntimeConfig } from '../../../sinks/runtime/config.ts';

describe('search sink naming and mapping', () => {
  it('names indexes from the topic, lowercased and cleaned', () => {
    assert.equal(indexName('${table}', 'shop.public.Orders'), 'orders');
    assert.equal(indexName('cdc-${topic}', 'shop.public.orders'), 'cdc-shop.public.orders');
    assert.equal(indexName('${schema}_${table}', 'shop.public.orders'), 'public_orders');
    assert.equal(indexName('_x:${table}', 'a.b.c'), 'x_c');
    assert.throws(() => indexName('${table}', '.'), RecordRejectedError);
  });

  it('uses the key value as _id, canonical JSON for composite keys', () => {
    assert.equal(documentId({ id: 42 }), '42');
    assert.equal(documentId({ id: 2n ** 70n }), (2n ** 70n).toString());
    assert.equal(documentId({ b: 'x', a: 1 }), '{"a":1,"b":"x"}');
    assert.throws(() => documentId({ id: 'x'.repeat(600) }), RecordRejectedError);
  });

  it('maps Connect types and Debezium logical types', () => {
    const m = mappingFromSchema(
      {
        type: 'struct',
        optional: false,
        fields: [
          { type: 'string', optional: false, field: 'sku' },
          { type: 'string', optional: true, field: 'title' },
          { type: 'int64', optional: true, field: 'n' },
          { type: 'int64', optional: true, name: 'io.debezium.time.Timestamp', field: 'at' },
          {
            type: 'bytes',
            optional: true,
            name: 'org.apache.kafka.connect.data.Decimal',
            field: 'd',
          },
          { type: 'array', optional: true, items: { type: 'int32', optional: false }, field: 'xs' },
        ],
      },
      ['sku'],
      true,
    ) as { dynamic: boolean; properties: Record<string, { type?: string }> };
    assert.equal(m.dynamic, true);
    assert.equal(m.properties.sku!.type, 'keyword');
    assert.equal(m.properties.title!.type, 'text');
    assert.equal(m.properties.n!.type, 'long');
    assert.equal(m.properties.at!.type, 'date');
    assert.equal(m.properties.d!.type, 'keyword');
    assert.equal(m.properties.xs!.type, 'integer');
    assert.equal(m.properties.__deleted!.type, 'boolean');
  });
});

describe('search sink errors and config', () => {
  it('classifies client errors: unreachable and overloaded retry, bad requests are rejected', () => {
    const conn = Object.assign(new Error('connect ECONNREFUSED'), { name: 'ConnectionError' });
    assert.ok(classifyClientError(conn, 'bulk') instanceof RetryableSinkError);
    for (const statusCode of [429, 503, 403])
      assert.ok(
        classifyClientError(
          Object.assign(new Error('x'), { name: 'ResponseError', statusCode }),
          'bulk',
        ) instanceof RetryableSinkError,
      );
    const bad = Object.assign(new Error('x'), { name: 'ResponseError', meta: { statusCode: 400 } });
    assert.ok(classifyClientError(bad, 'bulk') instanceof RecordRejectedError);
    const product = Object.assign(new Error('not es'), { name: 'ProductNotSupportedError' });
    assert.match(classifyClientError(product, 'info').message, /sink\.flavor/);
  });

  it('applies defaults and names bad paths', () => {
    const c = parseSinkRuntimeConfig({
      name: 's',
      topics: ['t'],
      sink: { type: 'search', url: 'http://127.0.0.1:9200' },
    });
    assert.equal(c.sink.type, 'search');
    if (c.sink.type !== 'search') return;
    assert.equal(c.sink.flavor, 'opensearch');
    assert.equal(c.sink.versionType, 'external');
    assert.equal(c.sink.indexSettings.gcDeletes, '24h');
    assert.throws(
      () =>
        parseSinkRuntimeConfig({
          name: 's',
          topics: ['t'],
          sink: { type: 'search', url: 'ftp://x', flavr: 'x', indexSettings: { gcDeletes: 5 } },
        }),
      (err: Error) =>
        /sink\.url/.test(err.message) &&
        /sink\.indexSettings\.gcDeletes/.test(err.message) &&
        /flavr/.test(err.message),
    );
  });
});
