// Redis sink against the real broker and Redis: replays and out-of-order older versions never
// regress a value or resurrect a deleted key, poison records are dead-lettered with headers,
// and a sink process killed with SIGKILL mid-stream leaves Redis equal to a recomputation from
// the topic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { parseJson } from '../../../core/events/index.ts';
import type { Row } from '../../../core/events/index.ts';
import { defaultKafkaConfig } from '../../../core/kafka/index.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { padVersion } from '../../../sinks/redis/sink.ts';
import { keyIdentity } from '../../../sinks/runtime/sink.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  KILL_FRACTIONS,
  KILL_TEST_CHANGES,
  OUTAGE_RETRY,
  OutageProxy,
  assertKilledMidStream,
  checksum,
  assertStoreEquals,
  REDIS_URL,
  changeEvent,
  createTopic,
  encode,
  expectedState,
  killDuringBacklog,
  olderVersionsShuffled,
  produce,
  readAll,
  runToEnd,
  throughOutage,
  waitCaughtUp,
  workload,
} from './harness.ts';

const kafka = defaultKafkaConfig('sink-redis-test');

/** Every value under `prefix:` (version keys excluded) as key identity -> row. */
async function redisState(redis: Redis, prefix: string): Promise<Map<string, Row>> {
  const out = new Map<string, Row>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const values = keys.filter((k) => !k.endsWith(':__version'));
    if (values.length === 0) continue;
    const texts = await redis.mget(...values);
    values.forEach((k, i) => {
      const id = Number(k.slice(prefix.length + 1));
      out.set(keyIdentity({ id }), parseJson(texts[i]!) as Row);
    });
  } while (cursor !== '0');
  return out;
}

/** Checksum of every key under `prefix:` (version keys included) with its type, value and TTL. */
async function redisChecksum(redis: Redis, prefix: string): Promise<string> {
  const lines: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of keys) {
      const type = await redis.type(k);
      const value =
        type === 'hash'
          ? JSON.stringify(Object.entries(await redis.hgetall(k)).sort())
          : await redis.get(k);
      lines.push(`${k}|${type}|${await redis.ttl(k)}|${value}`);
    }
  } while (cursor !== '0');
  assert.ok(lines.length > 0, `keys under ${prefix}`);
  return checksum(lines);
}

async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
}

describe('redis sink', () => {
  let redis: Redis;
  const prefixes: string[] = [];

  before(() => {
    ensureServices('kafka', 'redis');
    redis = new Redis(REDIS_URL);
  });

  after(async () => {
    for (const p of prefixes) await dropPrefix(redis, p);
    redis.disconnect();
  });

  it('replays and out-of-order older versions never regress a value; deletes stay deleted; poison goes to the DLQ', async () => {
    const topic = `${uniqueName('redis-sink')}.public.items`;
    const prefix = uniqueName('rs');
    prefixes.push(prefix);
    await createTopic(kafka, topic, 3);
    const events = workload(topic, 3000, 200, 31);
    const late = olderVersionsShuffled(events, 1500);
    const wrongKey = { ...changeEvent(topic, 0, 1n, 'c', { sku: 'x' }), key: { sku: 'x' } };
    const undecodable = {
      topic,
      key: Buffer.from('{"id":5}'),
      value: Buffer.from('{"op":"c"}'),
      headers: { 'tributary.version': '99999999' },
    };
    const partial = {
      ...changeEvent(topic, 100_000, 2n ** 62n, 'c', {
        id: 100_000,
        doc: '__debezium_unavailable_value',
      }),
      headers: { 'tributary.unavailable': 'doc' },
    };
    await produce(kafka, [
      ...encode(events),
      ...encode(events),
      ...encode(late),
      ...encode([wrongKey, partial]),
      undecodable,
    ]);
    const name = uniqueName('redis-sink');
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        batch: { maxRecords: 400, lingerMs: 20 },
        sink: { type: 'redis', url: REDIS_URL, key: `${prefix}:\${key.id}` },
      },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    try {
      await waitCaughtUp(kafka, name, topic, 60_000);
    } finally {
      await runtime.stop();
    }
    const { rows: expected, poison } = await expectedState(kafka, topic);
    assert.equal(poison, 1);
    expected.delete(keyIdentity({ sku: 'x' }));
    expected.delete(keyIdentity({ id: 100_000 })); // a partial row: refused, not half-written
    assert.ok(
      [...expected.values()].some((r) => r === null),
      'some keys end deleted',
    );
    assertStoreEquals(await redisState(redis, prefix), expected);

    const dlq = await readAll(kafka, `${name}.dlq`);
    assert.equal(dlq.length, 3);
    assert.equal(runtime.metrics().deadLettered, 3);
    const refusedPartial = dlq.find((r) => r.key!.toString() === '{"id":100000}')!;
    assert.match(
      refusedPartial.headers[SINK_DLQ_HEADERS.message]!.toString(),
      /REPLICA IDENTITY FULL/,
    );
    const rejected = dlq.find((r) => r.key!.toString() === '{"sku":"x"}')!;
    assert.match(rejected.headers[SINK_DLQ_HEADERS.errorClass]!.toString(), /RecordRejectedError/);
    assert.match(rejected.headers[SINK_DLQ_HEADERS.message]!.toString(), /column "id"/);
    assert.equal(rejected.headers[SINK_DLQ_HEADERS.topic]!.toString(), topic);
    assert.equal(rejected.headers[SINK_DLQ_HEADERS.sink]!.toString(), name);

    // Replaying the whole topic through a second group changes nothing (version keys included).
    const snapshot = await redisState(redis, prefix);
    const sumBefore = await redisChecksum(redis, prefix);
    await runToEnd(
      kafka,
      {
        name: `${name}-replay`,
        topics: [topic],
        sink: { type: 'redis', url: REDIS_URL, key: `${prefix}:\${key.id}` },
      },
      topic,
    );
    assert.deepEqual(await redisState(redis, prefix), snapshot);
    assert.equal(await redisChecksum(redis, prefix), sumBefore, 'replay changed nothing');
  });

  it('a sink process killed with SIGKILL 3 times mid-stream ends equal to a recomputation from the topic', async () => {
    const topic = `${uniqueName('redis-sink-kill')}.public.orders`;
    const prefix = uniqueName('rk');
    prefixes.push(prefix);
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, KILL_TEST_CHANGES, 5000, 43)));
    const name = uniqueName('redis-sink-kill');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-sink-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 500, lingerMs: 50 },
      sessionTimeoutMs: 6000,
      sink: { type: 'redis' as const, url: REDIS_URL, key: `${prefix}:\${key.id}` },
    };
    const { proc, killedAt } = await killDuringBacklog(kafka, config, topic, dir, KILL_FRACTIONS);
    try {
      assertKilledMidStream(killedAt);
      await waitCaughtUp(kafka, name, topic, 120_000, () => proc.checkAlive());
      const { rows: expected } = await expectedState(kafka, topic);
      assertStoreEquals(await redisState(redis, prefix), expected);
    } finally {
      proc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hash values: one field per column, replaced whole by newer versions, older replays and deletes respected', async () => {
    const topic = `${uniqueName('redis-sink-hash')}.public.users`;
    const prefix = uniqueName('rh');
    prefixes.push(prefix);
    await createTopic(kafka, topic, 1);
    const v1 = changeEvent(topic, 1, 10n, 'c', { id: 1, name: 'a', nick: 'x', n: 5, tags: [1] });
    const v2 = changeEvent(topic, 1, 20n, 'u', { id: 1, name: 'b', nick: null, n: 6, tags: [] });
    const d2 = changeEvent(topic, 2, 30n, 'c', { id: 2, name: 'gone', nick: 'y', n: 0, tags: [] });
    const d3 = changeEvent(topic, 2, 40n, 'd', null);
    await produce(kafka, encode([v1, v2, d2, d3, v1, d2])); // older replays after the newest
    const name = uniqueName('redis-sink-hash');
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        sink: { type: 'redis', url: REDIS_URL, key: `${prefix}:\${key}`, valueFormat: 'hash' },
      },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    try {
      await waitCaughtUp(kafka, name, topic, 30_000);
    } finally {
      await runtime.stop();
    }
    assert.deepEqual(await redis.hgetall(`${prefix}:1`), {
      id: '1',
      name: 'b',
      n: '6',
      tags: '[]',
    });
    assert.equal(await redis.exists(`${prefix}:2`), 0);
    assert.equal(await redis.get(`${prefix}:2:__version`), '00000000000000000040');
  });
  it('with a TTL, values and versions expire (json and hash); older replays and deletes still respected', async () => {
    const topic = `${uniqueName('redis-sink-ttl')}.public.carts`;
    await createTopic(kafka, topic, 1);
    const v1 = changeEvent(topic, 1, 10n, 'c', { id: 1, name: 'a', n: 1 });
    const v2 = changeEvent(topic, 1, 20n, 'u', { id: 1, name: 'b', n: 2 });
    const d1 = changeEvent(topic, 2, 30n, 'c', { id: 2, name: 'gone', n: 3 });
    const d2 = changeEvent(topic, 2, 40n, 'd', null);
    await produce(kafka, encode([v1, v2, d1, d2, v1, d1]));
    for (const valueFormat of ['json', 'hash'] as const) {
      const prefix = uniqueName(`rt${valueFormat}`);
      prefixes.push(prefix);
      const sink = { type: 'redis' as const, url: REDIS_URL, valueFormat, ttlSeconds: 3600 };
      const name = uniqueName('redis-sink-ttl');
      await runToEnd(
        kafka,
        { name, topics: [topic], sink: { ...sink, key: `${prefix}:\${key}` } },
        topic,
      );
      if (valueFormat === 'json')
        assert.deepEqual(parseJson((await redis.get(`${prefix}:1`))!), { id: 1, name: 'b', n: 2 });
      else assert.deepEqual(await redis.hgetall(`${prefix}:1`), { id: '1', name: 'b', n: '2' });
      assert.equal(await redis.get(`${prefix}:1:__version`), padVersion(20n));
      assert.equal(await redis.exists(`${prefix}:2`), 0);
      assert.equal(await redis.get(`${prefix}:2:__version`), padVersion(40n));
      for (const k of [`${prefix}:1`, `${prefix}:1:__version`, `${prefix}:2:__version`]) {
        const ttl = await redis.ttl(k);
        assert.ok(ttl > 3500 && ttl <= 3600, `${k} expires in ${ttl} s`);
      }
    }
  });

  it('a store outage pauses consumption and the sink catches up when Redis returns', async () => {
    const topic = `${uniqueName('redis-sink-outage')}.public.stock`;
    const prefix = uniqueName('ro');
    prefixes.push(prefix);
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, 20_000, 1000, 59)));
    const proxy = new OutageProxy(6379);
    await proxy.up();
    const logs: string[] = [];
    const runtime = new SinkRuntime(
      {
        name: uniqueName('redis-sink-outage'),
        topics: [topic],
        batch: { maxRecords: 200, lingerMs: 20 },
        retry: OUTAGE_RETRY,
        sink: {
          type: 'redis',
          url: `redis://127.0.0.1:${proxy.port}/0`,
          key: `${prefix}:\${key.id}`,
        },
      },
      { kafka, log: (m) => logs.push(m) },
    );
    await throughOutage(kafka, runtime, topic, proxy, logs);
    const { rows: expected } = await expectedState(kafka, topic);
    assertStoreEquals(await redisState(redis, prefix), expected);
  });
});
