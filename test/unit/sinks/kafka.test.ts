import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseSinkRuntimeConfig } from '../../../sinks/runtime/config.ts';
import { targetTopic } from '../../../sinks/kafka/sink.ts';

describe('kafka forwarding sink config', () => {
  it('names target topics by rename map first, then the template', () => {
    const c = { topic: 'dr.${schema}.${table}', rename: { 'shop.public.items': 'items-v2' } };
    assert.equal(targetTopic(c, 'shop.public.orders'), 'dr.public.orders');
    assert.equal(targetTopic(c, 'shop.public.items'), 'items-v2');
    assert.equal(
      targetTopic({ topic: '${prefix}-copy.${table}', rename: {} }, 'shop.public.x'),
      'shop-copy.x',
    );
  });

  it('applies defaults, refuses forwarding a topic onto itself and names bad paths', () => {
    const c = parseSinkRuntimeConfig({
      name: 'fwd',
      topics: ['t'],
      sink: { type: 'kafka', brokers: ['127.0.0.1:19092'] },
    });
    assert.ok(c.sink.type === 'kafka');
    if (c.sink.type !== 'kafka') return;
    assert.equal(c.sink.format, 'same');
    assert.equal(c.sink.topic, '${topic}');
    assert.equal(c.sink.createTopics, true);
    assert.throws(
      () => parseSinkRuntimeConfig({ name: 'fwd', topics: ['t'], sink: { type: 'kafka' } }),
      /sink\.topic/,
    );
    assert.throws(
      () =>
        parseSinkRuntimeConfig({
          name: 'fwd',
          topics: ['t'],
          sink: { type: 'kafka', brokers: ['nohost'], format: 'avro', renames: {} },
        }),
      (err: Error) =>
        /sink\.brokers\[0\]/.test(err.message) &&
        /sink\.format/.test(err.message) &&
        /renames/.test(err.message),
    );
  });
});
