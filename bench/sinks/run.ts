// Sink throughput: change events applied per second by each sink at a few batch sizes, next to
// the store's own bulk-load rate for the same rows measured in the same run (PostgreSQL COPY,
// Redis pipelined SET, ClickHouse one INSERT ... FORMAT JSONEachRow, OpenSearch/Elasticsearch
// plain `_bulk` index requests of 5,000 documents, Kafka a plain idempotent producer).
//   node --import tsx bench/sinks/run.ts [changes=100000] [sinks=postgres,redis,clickhouse] [batches=1000,5000]
// sinks: postgres, redis, clickhouse, opensearch, elasticsearch, kafka (forwarding to a renamed topic),
//   noop (the runtime alone: consume, decode, commit; a sink that writes nothing, no baseline)
// `cpu us/row` is this process's CPU time (user + system) while applying, per change: the
// runtime and the sink run here; the store and the broker do not.
// Needs: bash infra/up kafka postgres redis clickhouse opensearch elasticsearch
// SEARCH_PARALLELISM=n overrides the search sinks' concurrent bulk requests per batch.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { Client as OpenSearch } from '@opensearch-project/opensearch';
import { Redis } from 'ioredis';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { stringifyJson } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { KafkaProducer, defaultKafkaConfig } from '../../core/kafka/index.ts';
import type { OutgoingRecord } from '../../core/kafka/index.ts';
import { SinkRuntime } from '../../sinks/runtime/runtime.ts';
import type { Sink } from '../../sinks/runtime/sink.ts';
import type { SinkSpec } from '../../sinks/runtime/config.ts';
import {
  PG_URL,
  REDIS_URL,
  createTopic,
  encode,
  produce,
  waitCaughtUp,
  workload,
} from '../../test/integration/sinks/harness.ts';
import { uniqueName } from '../../test/integration/helpers.ts';

const CH_URL = 'http://127.0.0.1:8123';
const SEARCH_URL: Record<string, string> = {
  opensearch: 'http://127.0.0.1:9200',
  elasticsearch: 'http://127.0.0.1:9201',
};
const changes = Number(process.argv[2] ?? 100_000);
const sinks = (process.argv[3] ?? 'postgres,redis,clickhouse').split(',');
const batches = (process.argv[4] ?? '1000,5000').split(',').map(Number);
const kafka = defaultKafkaConfig('bench-sinks');
const run = uniqueName('bench').replace(/-/g, '_');

/** The rows a store ends with: the last after-row per key (what a bulk load would write). */
function finalRows(events: ChangeEvent[]): Array<Record<string, unknown>> {
  const last = new Map<unknown, Record<string, unknown> | null>();
  for (const e of events) last.set(e.key.id, e.value.after);
  return [...last.values()].filter((r): r is Record<string, unknown> => r !== null);
}

async function baseline(
  kind: string,
  rows: Array<Record<string, unknown>>,
  encoded: OutgoingRecord[],
): Promise<number> {
  if (kind === 'noop') return NaN;
  if (kind in SEARCH_URL) {
    // The OpenSearch client speaks plain JSON REST, which both servers accept.
    const os = new OpenSearch({ node: SEARCH_URL[kind]! });
    const index = `${run}_copy`;
    await os.indices.create({
      index,
      body: { settings: { number_of_shards: 1, number_of_replicas: 0 } },
    });
    const t = performance.now();
    for (let i = 0; i < rows.length; i += 5000) {
      const lines: string[] = [];
      for (const r of rows.slice(i, i + 5000))
        lines.push(`{"index":{"_index":"${index}","_id":"${String(r.id)}"}}`, stringifyJson(r));
      const res = await os.bulk({ body: (lines.join('\n') + '\n') as never });
      if (res.body.errors) throw new Error('baseline bulk had errors');
    }
    const ms = performance.now() - t;
    await os.indices.delete({ index });
    await os.close();
    return ms;
  }
  if (kind === 'kafka') {
    const target = `${run}.copy`;
    await createTopic(kafka, target, 4);
    const producer = new KafkaProducer(kafka);
    const t = performance.now();
    for (let i = 0; i < encoded.length; i += 5000)
      await producer.send(encoded.slice(i, i + 5000).map((r) => ({ ...r, topic: target })));
    const ms = performance.now() - t;
    await producer.close();
    return ms;
  }
  if (kind === 'postgres') {
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query(
      `CREATE TABLE ${run}_copy (id bigint primary key, name text, qty bigint, price double precision, active boolean, tags jsonb)`,
    );
    const t = performance.now();
    const text = rows
      .map((r) => [r.id, r.name, r.qty, r.price, r.active, stringifyJson(r.tags)].join('\t'))
      .join('\n');
    await pipeline(
      Readable.from([text + '\n']),
      db.query(copyStreams.from(`COPY ${run}_copy FROM STDIN`)),
    );
    const ms = performance.now() - t;
    await db.query(`DROP TABLE ${run}_copy`);
    await db.end();
    return ms;
  }
  if (kind === 'redis') {
    const redis = new Redis(REDIS_URL);
    const t = performance.now();
    for (let i = 0; i < rows.length; i += 5000) {
      const p = redis.pipeline();
      for (const r of rows.slice(i, i + 5000)) p.set(`${run}:copy:${r.id}`, stringifyJson(r));
      await p.exec();
    }
    const ms = performance.now() - t;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${run}:*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    return ms;
  }
  const ch = createClient({ url: CH_URL, log: { level: ClickHouseLogLevel.OFF } });
  await ch.command({
    query: `CREATE TABLE default.${run}_copy (id Int64, name String, qty Int64, price Float64, active UInt8, tags String, __version UInt64, __deleted UInt8) ENGINE = ReplacingMergeTree(__version) ORDER BY id`,
  });
  const t = performance.now();
  await ch.insert({
    table: `default.${run}_copy`,
    values: rows.map((r) => ({ ...r, tags: stringifyJson(r.tags), __version: 1, __deleted: 0 })),
    format: 'JSONEachRow',
  });
  const ms = performance.now() - t;
  await ch.command({ query: `DROP TABLE default.${run}_copy` });
  await ch.close();
  return ms;
}

function spec(kind: string, tag: string): SinkSpec {
  if (kind === 'postgres')
    return { type: 'postgres', url: PG_URL, schema: `${run}_${tag}` } as SinkSpec;
  if (kind === 'redis')
    return { type: 'redis', url: REDIS_URL, key: `${run}:${tag}:\${key}` } as SinkSpec;
  if (kind in SEARCH_URL)
    return {
      type: 'search',
      flavor: kind,
      url: SEARCH_URL[kind],
      index: `${run}_${tag}`,
      ...(process.env.SEARCH_PARALLELISM
        ? { parallelism: Number(process.env.SEARCH_PARALLELISM) }
        : {}),
    } as SinkSpec;
  if (kind === 'kafka') return { type: 'kafka', topic: `\${topic}.${tag}` } as SinkSpec;
  return { type: 'clickhouse', url: CH_URL, database: `${run}_${tag}` } as SinkSpec;
}

async function cleanup(kind: string, tag: string): Promise<void> {
  if (kind === 'postgres') {
    const db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
    await db.query(`DROP SCHEMA IF EXISTS ${run}_${tag} CASCADE`);
    await db.end();
  } else if (kind === 'redis') {
    const redis = new Redis(REDIS_URL);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${run}:${tag}:*`, 'COUNT', 5000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  } else if (kind in SEARCH_URL) {
    const os = new OpenSearch({ node: SEARCH_URL[kind]! });
    await os.indices.delete({ index: `${run}_${tag}`, ignore_unavailable: true });
    await os.close();
  } else if (kind === 'kafka' || kind === 'noop') {
    // topics are left to retention (unique names per run)
  } else {
    const ch = createClient({ url: CH_URL, log: { level: ClickHouseLogLevel.OFF } });
    await ch.command({ query: `DROP DATABASE IF EXISTS ${run}_${tag}` });
    await ch.close();
  }
}

/** A sink that writes nothing: what the runtime itself costs per row. */
function noopSink(): Sink {
  return {
    name: 'noop',
    open: async () => undefined,
    writeBatch: async () => ({ rejected: [] }),
    close: async () => undefined,
  };
}

const topic = `${run}.public.items`;
await createTopic(kafka, topic, 4);
const events = workload(topic, changes, Math.floor(changes / 2), 99);
await produce(kafka, encode(events));
const encoded = encode(events);
const records = encoded.length;
const rows = finalRows(events);
console.log(
  `${changes} changes (${records} records incl. tombstones, ${rows.length} final rows), 4 partitions`,
);
console.log('sink        batch   sink rows/s   bulk-load rows/s   ratio   cpu us/row');
for (const kind of sinks) {
  const bulkMs = await baseline(kind, rows, encoded);
  // Kafka's baseline writes every record (like the forwarder); the stores' write final rows.
  const bulkRate = (kind === 'kafka' ? changes : rows.length) / (bulkMs / 1000);
  for (const batch of batches) {
    const tag = `${kind.slice(0, 2)}${batch}`;
    const name = `${run}-${tag}`;
    const runtime = new SinkRuntime(
      { name, topics: [topic], batch: { maxRecords: batch, lingerMs: 100 }, sink: spec(kind, tag) },
      { kafka, log: () => undefined, ...(kind === 'noop' ? { sink: noopSink() } : {}) },
    );
    await runtime.start();
    await runtime.ready; // group joined and partitions assigned: time the applying only
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    await waitCaughtUp(kafka, name, topic, 600_000);
    const ms = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    await runtime.stop();
    await cleanup(kind, tag);
    const rate = changes / (ms / 1000);
    console.log(
      `${kind.padEnd(11)} ${String(batch).padStart(5)} ${Math.round(rate).toLocaleString('en').padStart(13)} ${(Number.isNaN(bulkRate) ? '-' : Math.round(bulkRate).toLocaleString('en')).padStart(18)} ${(Number.isNaN(bulkRate) ? '-' : (rate / bulkRate).toFixed(2)).padStart(7)} ${((cpu.user + cpu.system) / changes).toFixed(1).padStart(12)}`,
    );
  }
}
process.exit(0);
