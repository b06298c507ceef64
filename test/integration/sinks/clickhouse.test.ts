// ClickHouse sink against the real broker and Debian's ClickHouse 18.16: the current state
// (`SELECT * FROM (SELECT * FROM t FINAL) WHERE __deleted = 0`) equals a recomputation from the
// topic after replays and shuffled older versions, poison records are dead-lettered with
// headers, and a sink process killed with SIGKILL mid-stream loses nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseClient } from '@clickhouse/client';
import { stringifyJson } from '../../../core/events/index.ts';
import type { Row } from '../../../core/events/index.ts';
import { defaultKafkaConfig } from '../../../core/kafka/index.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { keyIdentity } from '../../../sinks/runtime/sink.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  KILL_FRACTIONS,
  OUTAGE_RETRY,
  OutageProxy,
  assertKilledMidStream,
  checksum,
  changeEvent,
  createTopic,
  encode,
  expectedState,
  killDuringBacklog,
  KILL_TEST_CHANGES,
  olderVersionsShuffled,
  produce,
  readAll,
  runToEnd,
  throughOutage,
  waitCaughtUp,
  workload,
} from './harness.ts';

const kafka = defaultKafkaConfig('sink-ch-test');
const CH_URL = 'http://127.0.0.1:8123';
const COLUMNS = ['id', 'name', 'qty', 'price', 'active', 'tags'];

/** Column values as text, the same whether they come from an event or from ClickHouse's JSON. */
function normalize(row: Row): string {
  return COLUMNS.map((c) => {
    const v = row[c];
    if (typeof v === 'boolean') return String(Number(v));
    if (v !== null && typeof v === 'object') return stringifyJson(v);
    return String(v);
  }).join('|');
}

async function currentState(ch: ClickHouseClient, db: string, table: string) {
  const res = await ch.query({
    query: `SELECT * FROM (SELECT * FROM ${db}.${table} FINAL) WHERE __deleted = 0`,
    format: 'JSONEachRow',
  });
  const rows = (await res.json()) as Row[];
  return new Map(rows.map((r) => [keyIdentity({ id: Number(r.id) }), normalize(r)]));
}

/**
 * Checksum of the table as queries see it (`FINAL`: one row per key, the highest version), every
 * column included: the sink's `__version` and `__deleted` too, so deleted keys count.
 */
async function tableChecksum(ch: ClickHouseClient, db: string, table: string): Promise<string> {
  const res = await ch.query({
    query: `SELECT * FROM ${db}.${table} FINAL`,
    format: 'JSONEachRow',
  });
  const rows = (await res.json()) as Row[];
  assert.ok(rows.length > 0, `${table} has rows`);
  return checksum(rows.map((r) => stringifyJson(r)));
}

function assertStoreEquals(actual: Map<string, string>, expected: Map<string, Row | null>): void {
  const live = new Map(
    [...expected].filter(([, row]) => row !== null).map(([k, row]) => [k, normalize(row!)]),
  );
  const problems: string[] = [];
  for (const [k, row] of live)
    if (actual.get(k) !== row) problems.push(`${k}: got ${actual.get(k)}, want ${row}`);
  for (const k of actual.keys()) if (!live.has(k)) problems.push(`unexpected ${k}`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} differences`);
}

describe('clickhouse sink', () => {
  let ch: ClickHouseClient;
  const db = uniqueName('sinktest').replace(/-/g, '_');

  before(() => {
    ensureServices('kafka', 'clickhouse');
    ch = createClient({ url: CH_URL, log: { level: ClickHouseLogLevel.OFF } });
  });

  after(async () => {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await ch.close();
  });

  it('replays and out-of-order older versions never regress a row; deletes stay deleted; poison goes to the DLQ', async () => {
    const topic = `${uniqueName('ch-sink')}.public.items`;
    await createTopic(kafka, topic, 3);
    const events = workload(topic, 3000, 200, 71);
    const late = olderVersionsShuffled(events, 1500);
    const maxVersion = events[events.length - 1]!.version;
    const poison = changeEvent(topic, 100_000, maxVersion + 1n, 'c', {
      id: 100_000,
      qty: 'not a number',
    });
    const survivor = changeEvent(topic, 100_002, maxVersion + 2n, 'c', {
      id: 100_002,
      name: 'after-poison',
      qty: 1,
      price: 1.5,
      active: true,
      tags: { n: 0 },
    });
    await produce(kafka, [
      ...encode(events),
      ...encode(events),
      ...encode(late),
      ...encode([poison, survivor]),
    ]);
    const name = uniqueName('ch-sink');
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        batch: { maxRecords: 1000, lingerMs: 50 },
        sink: { type: 'clickhouse', url: CH_URL, database: db },
      },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    try {
      await waitCaughtUp(kafka, name, topic, 60_000);
    } finally {
      await runtime.stop();
    }
    const { rows: expected } = await expectedState(kafka, topic);
    expected.delete(keyIdentity({ id: 100_000 }));
    assert.ok(
      [...expected.values()].some((r) => r === null),
      'some keys end deleted',
    );
    assert.ok(expected.get(keyIdentity({ id: 100_002 })), 'the record after the poison lands');
    assertStoreEquals(await currentState(ch, db, 'items'), expected);
    const dlq = await readAll(kafka, `${name}.dlq`);
    assert.equal(dlq.length, 1);
    assert.equal(runtime.metrics().deadLettered, 1);
    assert.equal(dlq[0]!.key!.toString(), '{"id":100000}');
    assert.match(dlq[0]!.headers[SINK_DLQ_HEADERS.errorClass]!.toString(), /RecordRejectedError/);
    assert.match(dlq[0]!.headers[SINK_DLQ_HEADERS.message]!.toString(), /Code: 27/);
    assert.equal(dlq[0]!.headers[SINK_DLQ_HEADERS.sink]!.toString(), name);
    assert.equal(dlq[0]!.headers[SINK_DLQ_HEADERS.topic]!.toString(), topic);
    assert.match(dlq[0]!.headers[SINK_DLQ_HEADERS.partition]!.toString(), /^\d+$/);
    assert.match(dlq[0]!.headers[SINK_DLQ_HEADERS.offset]!.toString(), /^\d+$/);

    // Replaying the whole topic through a second group changes nothing.
    const stateBefore = await currentState(ch, db, 'items');
    const sumBefore = await tableChecksum(ch, db, 'items');
    await runToEnd(
      kafka,
      {
        name: `${name}-replay`,
        topics: [topic],
        batch: { maxRecords: 1000, lingerMs: 50 },
        sink: { type: 'clickhouse', url: CH_URL, database: db },
      },
      topic,
    );
    assert.deepEqual(await currentState(ch, db, 'items'), stateBefore);
    assert.equal(await tableChecksum(ch, db, 'items'), sumBefore, 'replay changed nothing');
  });

  it('a sink process killed with SIGKILL 3 times mid-stream ends equal to a recomputation from the topic', async () => {
    const topic = `${uniqueName('ch-sink-kill')}.public.orders`;
    await createTopic(kafka, topic, 3);
    // 100,000 changes: the stream's final rows include Float64 values (e.g. 3.47) that ClickHouse
    // 18.16 would store 1 ulp off from their shortest text; the sink sends 17 digits.
    await produce(kafka, encode(workload(topic, KILL_TEST_CHANGES, 5000, 83)));
    const name = uniqueName('ch-sink-kill');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-sink-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 1000, lingerMs: 50 },
      sessionTimeoutMs: 6000,
      sink: { type: 'clickhouse' as const, url: CH_URL, database: db },
    };
    const { proc, killedAt } = await killDuringBacklog(kafka, config, topic, dir, KILL_FRACTIONS);
    try {
      assertKilledMidStream(killedAt);
      await waitCaughtUp(kafka, name, topic, 120_000, () => proc.checkAlive());
      const { rows: expected } = await expectedState(kafka, topic);
      assertStoreEquals(await currentState(ch, db, 'orders'), expected);
    } finally {
      proc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('a store outage pauses consumption and the sink catches up when ClickHouse returns', async () => {
    const topic = `${uniqueName('ch-sink-outage')}.public.stock`;
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, 20_000, 1000, 61)));
    const proxy = new OutageProxy(8123);
    await proxy.up();
    const logs: string[] = [];
    const runtime = new SinkRuntime(
      {
        name: uniqueName('ch-sink-outage'),
        topics: [topic],
        batch: { maxRecords: 200, lingerMs: 20 },
        retry: OUTAGE_RETRY,
        sink: {
          type: 'clickhouse',
          url: `http://127.0.0.1:${proxy.port}`,
          database: db,
          requestTimeoutMs: 5000,
        },
      },
      { kafka, log: (m) => logs.push(m) },
    );
    await throughOutage(kafka, runtime, topic, proxy, logs);
    const { rows: expected } = await expectedState(kafka, topic);
    assertStoreEquals(await currentState(ch, db, 'stock'), expected);
  });
});
