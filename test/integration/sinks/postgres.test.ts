// PostgreSQL sink against the real broker and PostgreSQL: replays and out-of-order older
// versions never regress a row and never resurrect a deleted one, poison records go to the
// dead-letter topic with headers while the rest of their batch lands, and a sink process killed
// with SIGKILL mid-stream leaves a table equal to a recomputation from the topic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { stringifyJson } from '../../../core/events/index.ts';
import type { Row } from '../../../core/events/index.ts';
import { defaultKafkaConfig } from '../../../core/kafka/index.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { keyIdentity } from '../../../sinks/runtime/sink.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  KILL_FRACTIONS,
  KILL_TEST_CHANGES,
  OUTAGE_RETRY,
  PG_URL,
  OutageProxy,
  assertKilledMidStream,
  checksum,
  SinkProcess,
  groupProgress,
  killDuringBacklog,
  sleep,
  throughOutage,
  changeEvent,
  createTopic,
  encode,
  expectedState,
  olderVersionsShuffled,
  produce,
  readAll,
  runToEnd,
  waitCaughtUp,
  workload,
} from './harness.ts';

const kafka = defaultKafkaConfig('sink-pg-test');
const COLUMNS = ['id', 'name', 'qty', 'price', 'active', 'tags'];

/** The table as key identity -> row (same columns as the events), without sink bookkeeping. */
async function tableState(db: pg.Client, schema: string, table: string): Promise<Map<string, Row>> {
  const res = await db.query(
    `SELECT ${COLUMNS.join(', ')} FROM "${schema}"."${table}" ORDER BY id`,
  );
  return new Map(
    res.rows.map((r: Row) => [
      keyIdentity({ id: Number(r.id) }),
      { ...r, id: Number(r.id), qty: Number(r.qty) },
    ]),
  );
}

/**
 * Checksum of everything the sink keeps for a table: every column of every row (sink bookkeeping
 * included) and its versions table (the newest version and deleted flag per key).
 */
async function tableChecksum(db: pg.Client, schema: string, table: string): Promise<string> {
  const lines: string[] = [];
  for (const t of [table, `${table}__versions`]) {
    const res = await db.query(`SELECT t::text AS line FROM "${schema}"."${t}" t`);
    assert.ok(res.rows.length > 0, `${t} has rows`);
    lines.push(...res.rows.map((r: { line: string }) => `${t}:${r.line}`));
  }
  return checksum(lines);
}

function assertStoreEquals(actual: Map<string, Row>, expected: Map<string, Row | null>): void {
  const live = new Map([...expected].filter(([, row]) => row !== null)) as Map<string, Row>;
  const problems: string[] = [];
  for (const [k, row] of live) {
    const got = actual.get(k);
    if (!got) problems.push(`missing ${k}`);
    else if (stringifyJson(got) !== stringifyJson(row))
      problems.push(`${k}: got ${stringifyJson(got)}, want ${stringifyJson(row)}`);
  }
  for (const k of actual.keys())
    if (!live.has(k)) problems.push(`unexpected (deleted or never written) ${k}`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} differences`);
  assert.equal(actual.size, live.size);
}

describe('postgres sink', () => {
  let db: pg.Client;
  const schema = uniqueName('sinktest').replace(/-/g, '_');

  before(async () => {
    ensureServices('kafka', 'postgres');
    db = new pg.Client({ connectionString: PG_URL });
    await db.connect();
  });

  after(async () => {
    await db.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db.end();
  });

  it('replays and out-of-order older versions never regress a row; deletes stay deleted; poison goes to the DLQ', async () => {
    const topic = `${uniqueName('pg-sink')}.public.items`;
    await createTopic(kafka, topic, 3);
    const events = workload(topic, 3000, 200, 11);
    assert.ok(
      events.some((e) => e.value.op === 'd'),
      'workload has deletes',
    );
    // In order, then the whole stream again (replay), then older versions shuffled after the
    // newest ones — including old inserts of keys that are deleted now (resurrection attempts).
    const late = olderVersionsShuffled(events, 1500);
    const maxVersion = events[events.length - 1]!.version;
    const poisonValue = changeEvent(topic, 100_000, maxVersion + 10n, 'c', {
      id: 100_000,
      name: 'poison',
      qty: 'not a number',
    });
    const undecodable = {
      topic,
      key: Buffer.from('{"id":100001}'),
      value: Buffer.from('{not json'),
      headers: { 'tributary.version': '5' },
    };
    const survivor = changeEvent(topic, 100_002, maxVersion + 11n, 'c', {
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
      ...encode([poisonValue]),
      undecodable,
      ...encode([survivor]),
    ]);

    const name = uniqueName('pg-sink');
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        batch: { maxRecords: 400, lingerMs: 20 },
        sink: { type: 'postgres', url: PG_URL, schema },
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
    expected.delete(keyIdentity({ id: 100_000 })); // refused by PostgreSQL: dead-lettered
    assert.ok(
      [...expected.values()].some((r) => r === null),
      'some keys end deleted',
    );
    assertStoreEquals(await tableState(db, schema, 'items'), expected);

    const dlq = await readAll(kafka, `${name}.dlq`);
    assert.equal(dlq.length, 2, 'both poison records dead-lettered, once each');
    assert.equal(runtime.metrics().deadLettered, 2);
    const m = runtime.metrics();
    assert.ok(m.batches >= m.consumed / 400, `count-bounded batches (${m.batches})`);
    const byKey = new Map(dlq.map((r) => [r.key!.toString(), r]));
    const refused = byKey.get('{"id":100000}')!;
    assert.equal(refused.headers[SINK_DLQ_HEADERS.topic]!.toString(), topic);
    assert.equal(refused.headers[SINK_DLQ_HEADERS.sink]!.toString(), name);
    assert.match(refused.headers[SINK_DLQ_HEADERS.errorClass]!.toString(), /RecordRejectedError/);
    assert.match(refused.headers[SINK_DLQ_HEADERS.message]!.toString(), /22P02/);
    assert.match(refused.headers[SINK_DLQ_HEADERS.partition]!.toString(), /^\d+$/);
    assert.match(refused.headers[SINK_DLQ_HEADERS.offset]!.toString(), /^\d+$/);
    assert.equal(refused.value!.toString(), encode([poisonValue])[0]!.value!.toString());
    const bad = byKey.get('{"id":100001}')!;
    assert.match(bad.headers[SINK_DLQ_HEADERS.errorClass]!.toString(), /ChangeEventError/);

    // Replay the whole topic through a second group into the same table: nothing changes
    // (whole table and versions table, versions included).
    const before = await tableState(db, schema, 'items');
    const sumBefore = await tableChecksum(db, schema, 'items');
    await runToEnd(
      kafka,
      { name: `${name}-replay`, topics: [topic], sink: { type: 'postgres', url: PG_URL, schema } },
      topic,
    );
    assert.deepEqual(await tableState(db, schema, 'items'), before);
    assert.equal(await tableChecksum(db, schema, 'items'), sumBefore, 'replay changed nothing');
  });

  it('a sink process killed with SIGKILL 3 times mid-stream ends equal to a recomputation from the topic', async () => {
    const topic = `${uniqueName('pg-sink-kill')}.public.orders`;
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, KILL_TEST_CHANGES, 5000, 23)));
    const name = uniqueName('pg-sink-kill');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-sink-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 500, lingerMs: 50 },
      sessionTimeoutMs: 6000,
      sink: { type: 'postgres' as const, url: PG_URL, schema },
    };
    const { proc, killedAt } = await killDuringBacklog(kafka, config, topic, dir, KILL_FRACTIONS);
    try {
      assertKilledMidStream(killedAt);
      await waitCaughtUp(kafka, name, topic, 120_000, () => proc.checkAlive());
      const { rows: expected } = await expectedState(kafka, topic);
      assertStoreEquals(await tableState(db, schema, 'orders'), expected);
    } finally {
      proc.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a store outage pauses consumption (bounded retries, nothing committed) and the sink catches up when it returns', async () => {
    const topic = `${uniqueName('pg-sink-outage')}.public.stock`;
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, 20_000, 1000, 57)));
    const proxy = new OutageProxy(5432);
    await proxy.up();
    const url = PG_URL.replace(':5432/', `:${proxy.port}/`);
    const name = uniqueName('pg-sink-outage');
    const logs: string[] = [];
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        batch: { maxRecords: 200, lingerMs: 20 },
        retry: OUTAGE_RETRY,
        sink: { type: 'postgres', url, schema },
      },
      { kafka, log: (m) => logs.push(m) },
    );
    await throughOutage(kafka, runtime, topic, proxy, logs);
    const { rows: expected } = await expectedState(kafka, topic);
    assertStoreEquals(await tableState(db, schema, 'stock'), expected);
  });

  it('bad credentials and a missing table without autoCreate stop the sink with a clear error', async () => {
    const topic = `${uniqueName('pg-sink-fatal')}.public.nothere`;
    await createTopic(kafka, topic, 1);
    await produce(kafka, encode(workload(topic, 10, 5, 3)));
    const cases = [
      {
        sink: {
          type: 'postgres' as const,
          url: PG_URL.replace('tributary:tributary@', 'tributary:wrong@'),
          schema,
        },
        error: /password authentication failed.*28P01/,
      },
      {
        sink: { type: 'postgres' as const, url: PG_URL, schema, autoCreate: false },
        error: /sink\.autoCreate: table .*nothere does not exist/,
      },
    ];
    for (const c of cases) {
      const runtime = new SinkRuntime(
        { name: uniqueName('pg-sink-fatal'), topics: [topic], sink: c.sink },
        { kafka, log: () => undefined },
      );
      await runtime.start();
      await assert.rejects(runtime.done, c.error);
    }
  });

  it('adds new nullable columns when the event schema grows, and leaves unavailable TOAST columns as they are', async () => {
    const topic = `${uniqueName('pg-sink-grow')}.public.grow`;
    await createTopic(kafka, topic, 1);
    const v1 = changeEvent(topic, 1, 10n, 'c', { id: 1, a: 'x', doc: 'long text' });
    const v2 = changeEvent(topic, 2, 11n, 'c', {
      id: 2,
      a: 'y',
      doc: 'other',
      b: 7,
      c: { k: [1] },
    });
    const v3 = {
      ...changeEvent(topic, 1, 12n, 'u', {
        id: 1,
        a: 'x2',
        doc: '__debezium_unavailable_value',
        b: 8,
      }),
      headers: { 'tributary.unavailable': 'doc' },
    };
    await produce(kafka, encode([v1, v2, v3]));
    const name = uniqueName('pg-sink-grow');
    const runtime = new SinkRuntime(
      { name, topics: [topic], sink: { type: 'postgres', url: PG_URL, schema } },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    try {
      await waitCaughtUp(kafka, name, topic, 30_000);
    } finally {
      await runtime.stop();
    }
    const cols = await db.query(
      `SELECT column_name, data_type, is_nullable FROM information_schema.columns
       WHERE table_schema = $1 AND table_name = 'grow' ORDER BY ordinal_position`,
      [schema],
    );
    assert.deepEqual(
      cols.rows.map((r) => `${r.column_name}:${r.data_type}:${r.is_nullable}`).sort(),
      [
        '__version:numeric:NO',
        'a:text:YES',
        'b:bigint:YES',
        'c:jsonb:YES',
        'doc:text:YES',
        'id:bigint:NO',
      ],
    );
    const rows = await db.query(`SELECT id, a, doc, b, c FROM "${schema}".grow ORDER BY id`);
    assert.deepEqual(rows.rows, [
      { id: '1', a: 'x2', doc: 'long text', b: '8', c: null },
      { id: '2', a: 'y', doc: 'other', b: '7', c: { k: [1] } },
    ]);
  });

  it('values reach every column type exactly as jsonb_populate_record converts them (pre-created table)', async () => {
    const topic = `${uniqueName('pg-sink-types')}.public.typed`;
    await createTopic(kafka, topic, 1);
    const table = 'typed';
    await db.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await db.query(
      `CREATE TABLE "${schema}".${table} (id bigint PRIMARY KEY, t text, t2 text, n numeric, f double precision,
         i integer, b boolean, j jsonb, js json, arr integer[], vc varchar(5), ch char(3), bits bit(3),
         ts timestamptz, tags text[], __version numeric(20,0) NOT NULL)`,
    );
    const rows: Row[] = [
      // numbers and booleans into text (t: exponents as numeric prints them), objects into text
      // (t2: JSON as jsonb prints it), strings into json/jsonb, arrays, typmods, COPY-ish escapes
      { id: 1, t: 1e21, n: 1.5e-7, f: 0.1, i: 7, b: true, j: 'a string', js: { b: 1, a: [1, 2] } },
      {
        id: 2,
        t: 'plain',
        t2: { z: 1, a: 'x' },
        n: '12.50',
        f: -1e-300,
        i: null,
        b: 'false',
        j: { n: 2n ** 63n },
      },
      {
        id: 3,
        t: true,
        t2: 5,
        arr: [1, 2, 3],
        vc: 'abc',
        ch: 'ab',
        bits: '101',
        ts: '2026-01-02T03:04:05.678Z',
      },
      { id: 4, t: 'tab\there\nnewline \\ back "quote" {brace}', tags: ['a', 'b,c', 'd"e', null] },
      { id: 5, t: 'NULL', j: [1, 'x', null], js: 'text' },
      { id: 6, t: 5e-7, n: 2n ** 70n, f: 1.7976931348623157e308 },
    ];
    const events = rows.map((r, k) => changeEvent(topic, Number(r.id), BigInt(10 + k), 'c', r));
    await produce(kafka, encode(events));
    const runtime = await runToEnd(
      kafka,
      {
        name: uniqueName('pg-sink-types'),
        topics: [topic],
        sink: { type: 'postgres', url: PG_URL, schema },
      },
      topic,
    );
    assert.equal(runtime.metrics().deadLettered, 0);
    // The reference: PostgreSQL's own JSON-to-row conversion of the same JSON text.
    const want = await db.query(
      `SELECT r.*::text AS line FROM jsonb_array_elements($1::jsonb) e,
         LATERAL jsonb_populate_record(NULL::"${schema}".${table}, e) r ORDER BY r.id`,
      [stringifyJson(rows.map((r, k) => ({ ...r, __version: 10 + k })))],
    );
    const got = await db.query(`SELECT t.*::text AS line FROM "${schema}".${table} t ORDER BY id`);
    assert.deepEqual(
      got.rows.map((r: { line: string }) => r.line),
      want.rows.map((r: { line: string }) => r.line),
    );
    assert.equal(want.rows.length, rows.length);
  });

  it('a column retyped or dropped while the sink runs: the sink reads the table again and goes on', async () => {
    const topic = `${uniqueName('pg-sink-alter')}.public.altered`;
    await createTopic(kafka, topic, 1);
    const row = (id: number, v: number) => ({ id, name: `n${id}-${v}`, note: `x${v}` });
    await produce(
      kafka,
      encode([1, 2].map((id) => changeEvent(topic, id, 10n + BigInt(id), 'c', row(id, 1)))),
    );
    const name = uniqueName('pg-sink-alter');
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        retry: { initialMs: 50, maxMs: 200 },
        sink: { type: 'postgres', url: PG_URL, schema },
      },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    try {
      await waitCaughtUp(kafka, name, topic, 30_000);
      // text -> jsonb: a text value no longer casts to the column implicitly (SQLSTATE 42804).
      await db.query(
        `ALTER TABLE "${schema}".altered ALTER COLUMN name TYPE jsonb USING to_jsonb(name)`,
      );
      await produce(
        kafka,
        encode([1, 2].map((id) => changeEvent(topic, id, 20n + BigInt(id), 'u', row(id, 2)))),
      );
      await waitCaughtUp(kafka, name, topic, 30_000);
      await db.query(`ALTER TABLE "${schema}".altered DROP COLUMN note`); // 42703 next time
      await produce(kafka, encode([changeEvent(topic, 1, 30n, 'u', row(1, 3))]));
      await waitCaughtUp(kafka, name, topic, 30_000);
    } finally {
      await runtime.stop();
    }
    const m = runtime.metrics();
    assert.equal(m.deadLettered, 0);
    assert.ok(m.retries >= 2, `retried after each change of the table (${m.retries})`);
    const res = await db.query(
      `SELECT id, name, note, __version FROM "${schema}".altered ORDER BY id`,
    );
    assert.deepEqual(res.rows, [
      { id: '1', name: 'n1-3', note: 'x3', __version: '30' },
      { id: '2', name: 'n2-2', note: null, __version: '22' },
    ]);
  });

  it('two sink processes share the group; when one is killed the other takes over its partitions', async () => {
    const topic = `${uniqueName('pg-sink-pair')}.public.pairs`;
    await createTopic(kafka, topic, 4);
    await produce(kafka, encode(workload(topic, 30_000, 1500, 67)));
    const name = uniqueName('pg-sink-pair');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-sink-'));
    const config = {
      name,
      topics: [topic],
      // Small batches keep the pair busy long enough to be caught mid-stream: with batches of
      // 300 the two processes can apply the whole topic between two progress polls.
      batch: { maxRecords: 50, lingerMs: 50 },
      sessionTimeoutMs: 6000,
      sink: { type: 'postgres' as const, url: PG_URL, schema, parallelism: 1 },
    };
    const a = SinkProcess.spawn(config, dir);
    const b = SinkProcess.spawn(config, dir);
    try {
      await Promise.all([a.waitFor('sink ready'), b.waitFor('sink ready')]);
      for (;;) {
        const p = await groupProgress(kafka, name, topic);
        if (p.committed * 10n >= p.end * 3n) {
          assert.ok(
            p.committed < p.end,
            `killed mid-stream (${p.committed} of ${p.end} committed)`,
          );
          break;
        }
        a.checkAlive();
        b.checkAlive();
        await sleep(20);
      }
      await a.kill9();
      await waitCaughtUp(kafka, name, topic, 90_000, () => b.checkAlive());
      const { rows: expected } = await expectedState(kafka, topic);
      assertStoreEquals(await tableState(db, schema, 'pairs'), expected);
    } finally {
      a.child.kill('SIGKILL');
      b.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a store that is down at start-up is waited for, then the backlog is applied', async () => {
    const topic = `${uniqueName('pg-sink-late')}.public.late`;
    await createTopic(kafka, topic, 2);
    await produce(kafka, encode(workload(topic, 2000, 200, 73)));
    const proxy = new OutageProxy(5432);
    await proxy.up();
    await proxy.down(); // keeps the port number; nothing listens until up()
    const name = uniqueName('pg-sink-late');
    const runtime = new SinkRuntime(
      {
        name,
        topics: [topic],
        retry: { initialMs: 100, maxMs: 500 },
        batch: { maxBytes: 20_000 }, // ~300-byte records: batches of ~65, not maxRecords
        sink: { type: 'postgres', url: PG_URL.replace(':5432/', `:${proxy.port}/`), schema },
      },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    try {
      await sleep(1500);
      assert.equal(runtime.metrics().storeDown, true);
      assert.ok(runtime.metrics().retries >= 2);
      assert.equal((await groupProgress(kafka, name, topic)).committed, 0n);
      await proxy.up();
      await waitCaughtUp(kafka, name, topic, 30_000);
    } finally {
      await runtime.stop();
      await proxy.down();
    }
    const m = runtime.metrics();
    assert.ok(
      m.batches >= m.consumed / 100,
      `byte-bounded batches (${m.batches} for ${m.consumed})`,
    );
    const { rows: expected } = await expectedState(kafka, topic);
    assertStoreEquals(await tableState(db, schema, 'late'), expected);
  });
});
