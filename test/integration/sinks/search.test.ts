// OpenSearch sink against the real broker and a real OpenSearch 2.19 node (infra/up opensearch):
// replays and out-of-order older versions never regress a document, deletes stay deleted (a
// late older update does not resurrect them, in both delete modes), mapping errors are
// dead-lettered with headers, the index mapping follows the table's Connect schema, an outage
// pauses and resumes, and a sink process killed with SIGKILL 3 times mid-stream leaves the
// index equal to a recomputation from the topic.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@opensearch-project/opensearch';
import { toKafkaRecords } from '../../../core/events/index.ts';
import type { ChangeEvent, Row } from '../../../core/events/index.ts';
import { defaultKafkaConfig } from '../../../core/kafka/index.ts';
import type { SinkRuntimeConfigInput } from '../../../sinks/runtime/config.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
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
  changeEvent,
  createTopic,
  encode,
  expectedState,
  groupProgress,
  killDuringBacklog,
  olderVersionsShuffled,
  produce,
  readAll,
  sleep,
  tableSchemas,
  throughOutage,
  waitCaughtUp,
  workload,
} from './harness.ts';

const kafka = defaultKafkaConfig('sink-search-test');
/** Both flavors run every test, the SIGKILL one included. */
const FLAVORS = [
  { flavor: 'opensearch', url: 'http://127.0.0.1:9200' },
  { flavor: 'elasticsearch', url: 'http://127.0.0.1:9201' },
] as const;

interface Hit {
  _id: string;
  _version?: number;
  _seq_no?: number;
  _source: Row;
  sort: Array<string | number>;
}

/** Every hit of `query` over an index, paged by `id` (search_after). */
async function allHits(
  os: Client,
  index: string,
  query: object,
  extra: object = {},
): Promise<Hit[]> {
  await os.indices.refresh({ index });
  const out: Hit[] = [];
  let after: Array<string | number> | undefined;
  for (;;) {
    const r = await os.search({
      index,
      body: {
        size: 5000,
        sort: [{ id: 'asc' }],
        query,
        ...extra,
        ...(after ? { search_after: after } : {}),
      },
    });
    const hits = r.body.hits.hits as Hit[];
    out.push(...hits);
    if (hits.length < 5000) return out;
    after = hits[hits.length - 1]!.sort;
  }
}

/** Every live document of an index (soft-deleted ones left out) as key identity -> source. */
async function indexState(os: Client, index: string): Promise<Map<string, Row>> {
  const out = new Map<string, Row>();
  for (const h of await allHits(os, index, { bool: { must_not: { term: { __deleted: true } } } })) {
    const row = { ...h._source };
    delete row.__deleted;
    out.set(keyIdentity({ id: row.id as number }), row);
  }
  return out;
}

/**
 * Checksum of every document of an index (soft-deleted ones included) with its _id, _version,
 * _seq_no and source: equal only if nothing was written at all.
 */
async function indexChecksum(os: Client, index: string): Promise<string> {
  const hits = await allHits(
    os,
    index,
    { match_all: {} },
    { version: true, seq_no_primary_term: true },
  );
  assert.ok(hits.length > 0, `${index} has documents`);
  return checksum(
    hits.map((h) => `${h._id}|${h._version}|${h._seq_no}|${JSON.stringify(h._source)}`),
  );
}

async function runToEnd(config: SinkRuntimeConfigInput, topic: string): Promise<SinkRuntime> {
  const runtime = new SinkRuntime(config, { kafka, log: () => undefined });
  await runtime.start();
  try {
    await waitCaughtUp(kafka, config.name, topic, 90_000);
  } finally {
    await runtime.stop();
  }
  return runtime;
}

for (const f of FLAVORS)
  describe(`search sink (${f.flavor})`, () => {
    let os: Client;
    const indexes: string[] = [];

    before(() => {
      ensureServices('kafka', f.flavor);
      // The OpenSearch client reads both servers (plain JSON REST), independently of the sink's client.
      os = new Client({ node: f.url });
    });

    after(async () => {
      for (const index of indexes)
        await os.indices.delete({ index, ignore_unavailable: true }).catch(() => undefined);
      await os.close();
    });

    it('replays and out-of-order older versions never regress a document; deletes stay deleted; mapping errors go to the DLQ', async () => {
      const topic = `${uniqueName('search-sink')}.public.items`;
      const index = uniqueName('ss');
      indexes.push(index);
      await createTopic(kafka, topic, 3);
      const events = workload(topic, 3000, 200, 31);
      const late = olderVersionsShuffled(events, 1500);
      // qty is mapped as long from the first documents: text there is a mapping error.
      const badType = changeEvent(topic, 100_001, 5n, 'c', { id: 100_001, qty: 'lots' });
      const partial = {
        ...changeEvent(topic, 100_000, 2n ** 62n, 'c', {
          id: 100_000,
          doc: '__debezium_unavailable_value',
        }),
        headers: { 'tributary.unavailable': 'doc' },
      };
      const tooNew = changeEvent(topic, 100_002, 2n ** 63n, 'c', { id: 100_002, qty: 1 });
      await produce(kafka, encode(events));
      await produce(kafka, [
        ...encode(events),
        ...encode(late),
        ...encode([badType, partial, tooNew]),
      ]);
      const name = uniqueName('search-sink');
      const sink = { type: 'search' as const, flavor: f.flavor, url: f.url, index, parallelism: 2 };
      const runtime = await runToEnd(
        { name, topics: [topic], batch: { maxRecords: 400, lingerMs: 20 }, sink },
        topic,
      );
      const { rows: expected, poison } = await expectedState(kafka, topic);
      assert.equal(poison, 0);
      for (const id of [100_000, 100_001, 100_002]) expected.delete(keyIdentity({ id }));
      assert.ok(
        [...expected.values()].some((r) => r === null),
        'some keys end deleted',
      );
      const state = await indexState(os, index);
      assertStoreEquals(state, expected);

      // Each document carries its key's newest version as the external version.
      const newest = new Map<number, bigint>();
      for (const e of events) newest.set(e.key.id as number, e.version);
      const live = [...newest].find(([id]) => state.has(keyIdentity({ id })))!;
      const doc = await os.get({ index, id: String(live[0]) });
      assert.equal(BigInt(doc.body._version!), live[1]);

      const dlq = await readAll(kafka, `${name}.dlq`);
      assert.equal(dlq.length, 3);
      assert.equal(runtime.metrics().deadLettered, 3);
      const mapping = dlq.find((r) => r.key!.toString() === '{"id":100001}')!;
      assert.match(
        mapping.headers[SINK_DLQ_HEADERS.message]!.toString(),
        /(mapper_parsing|document_parsing)_exception/,
      );
      assert.match(mapping.headers[SINK_DLQ_HEADERS.errorClass]!.toString(), /RecordRejectedError/);
      assert.equal(mapping.headers[SINK_DLQ_HEADERS.topic]!.toString(), topic);
      assert.equal(mapping.headers[SINK_DLQ_HEADERS.sink]!.toString(), name);
      assert.ok(mapping.headers[SINK_DLQ_HEADERS.offset]);
      const partialDead = dlq.find((r) => r.key!.toString() === '{"id":100000}')!;
      assert.match(partialDead.headers[SINK_DLQ_HEADERS.message]!.toString(), /REPLICA IDENTITY/);
      const tooNewDead = dlq.find((r) => r.key!.toString() === '{"id":100002}')!;
      assert.match(tooNewDead.headers[SINK_DLQ_HEADERS.message]!.toString(), /largest external/);

      // Replaying the whole topic through a second group changes nothing, versions included:
      // every document keeps its _version and _seq_no (the replay wrote nothing).
      const sumBefore = await indexChecksum(os, index);
      const before = await os.search({
        index,
        body: { size: 0, aggs: { v: { sum: { field: 'qty' } } } },
      });
      await runToEnd({ name: `${name}-replay`, topics: [topic], sink }, topic);
      assert.deepEqual(await indexState(os, index), state);
      const again = await os.search({
        index,
        body: { size: 0, aggs: { v: { sum: { field: 'qty' } } } },
      });
      assert.deepEqual(again.body.aggregations, before.body.aggregations);
      const doc2 = await os.get({ index, id: String(live[0]) });
      assert.equal(doc2.body._version, doc.body._version);
      assert.equal(doc2.body._seq_no, doc.body._seq_no, 'the replay wrote nothing');
      assert.equal(await indexChecksum(os, index), sumBefore, 'the replay wrote nothing');
    });

    for (const deleteMode of ['delete', 'soft'] as const)
      it(`a late older update never resurrects a deleted document (deleteMode ${deleteMode})`, async () => {
        const topic = `${uniqueName('search-sink-del')}.public.users`;
        const index = uniqueName('sd');
        indexes.push(index);
        await createTopic(kafka, topic, 1);
        const name = uniqueName('search-sink-del');
        const sink = { type: 'search' as const, flavor: f.flavor, url: f.url, index, deleteMode };
        // Key 1: created, deleted. Key 2: only ever deleted (never seen). Key 3: stays live.
        await produce(
          kafka,
          encode([
            changeEvent(topic, 1, 10n, 'c', { id: 1, name: 'a' }),
            changeEvent(topic, 1, 30n, 'd', null),
            changeEvent(topic, 2, 50n, 'd', null),
            changeEvent(topic, 3, 10n, 'c', { id: 3, name: 'c' }),
          ]),
        );
        await runToEnd({ name, topics: [topic], sink }, topic);
        // Later, in new batches: older versions of the deleted keys, and the live key's replay.
        await produce(
          kafka,
          encode([
            changeEvent(topic, 1, 20n, 'u', { id: 1, name: 'late' }),
            changeEvent(topic, 2, 40n, 'c', { id: 2, name: 'late' }),
            changeEvent(topic, 3, 10n, 'c', { id: 3, name: 'c' }),
            changeEvent(topic, 3, 5n, 'c', { id: 3, name: 'older' }),
          ]),
        );
        await runToEnd({ name, topics: [topic], sink }, topic);
        const state = await indexState(os, index);
        assert.deepEqual([...state.keys()], [keyIdentity({ id: 3 })]);
        assert.equal(state.get(keyIdentity({ id: 3 }))!.name, 'c');
        if (deleteMode === 'soft') {
          const tomb = await os.get({ index, id: '1' });
          assert.deepEqual(tomb.body._source, { id: 1, __deleted: true });
          assert.equal(tomb.body._version, 30);
        }
        const settings = await os.indices.getSettings({ index });
        assert.equal(settings.body[index]!.settings!.index!.gc_deletes, '24h');
      });

    it('creates the index with a mapping from the Connect schema (json-schema topics)', async () => {
      const topic = `${uniqueName('search-sink-map')}.public.orders`;
      const index = uniqueName('sm');
      indexes.push(index);
      await createTopic(kafka, topic, 1);
      const schemas = tableSchemas(topic, [
        { type: 'int32', optional: false, field: 'id' },
        { type: 'string', optional: true, field: 'customer' },
        { type: 'int64', optional: true, field: 'cents' },
        {
          type: 'int64',
          optional: true,
          name: 'io.debezium.time.Timestamp',
          version: 1,
          field: 'placed_at',
        },
        { type: 'boolean', optional: true, field: 'paid' },
      ]);
      const event: ChangeEvent = {
        ...changeEvent(topic, 7, 3n, 'c', {
          id: 7,
          customer: 'ann',
          cents: 1250,
          placed_at: 1767225600123,
          paid: true,
        }),
        schemas,
      };
      await produce(kafka, toKafkaRecords(event, { format: 'json-schema' }));
      await runToEnd(
        {
          name: uniqueName('search-sink-map'),
          topics: [topic],
          sink: { type: 'search', flavor: f.flavor, url: f.url, index },
        },
        topic,
      );
      const m = await os.indices.getMapping({ index });
      const props = (
        m.body[index]!.mappings as { properties: Record<string, { type: string; format?: string }> }
      ).properties;
      assert.equal(props.id!.type, 'integer');
      assert.equal(props.customer!.type, 'text');
      assert.equal(props.cents!.type, 'long');
      assert.deepEqual(props.placed_at, {
        type: 'date',
        format: 'epoch_millis||strict_date_optional_time',
      });
      assert.equal(props.paid!.type, 'boolean');
      await os.indices.refresh({ index });
      const hit = await os.search({
        index,
        body: { query: { range: { placed_at: { gte: '2026-01-01T00:00:00Z' } } } },
      });
      assert.equal((hit.body.hits.total as { value: number }).value, 1, 'placed_at is a date');
    });

    it('a store outage pauses consumption and the sink catches up when the server returns', async () => {
      const topic = `${uniqueName('search-sink-outage')}.public.stock`;
      const index = uniqueName('so');
      indexes.push(index);
      await createTopic(kafka, topic, 3);
      await produce(kafka, encode(workload(topic, 20_000, 1000, 59)));
      const proxy = new OutageProxy(Number(new URL(f.url).port));
      await proxy.up();
      const logs: string[] = [];
      const runtime = new SinkRuntime(
        {
          name: uniqueName('search-sink-outage'),
          topics: [topic],
          batch: { maxRecords: 200, lingerMs: 20 },
          retry: OUTAGE_RETRY,
          sink: {
            type: 'search',
            flavor: f.flavor,
            url: `http://127.0.0.1:${proxy.port}`,
            index,
            requestTimeoutMs: 5000,
          },
        },
        { kafka, log: (m) => logs.push(m) },
      );
      await throughOutage(kafka, runtime, topic, proxy, logs);
      const { rows: expected } = await expectedState(kafka, topic);
      assertStoreEquals(await indexState(os, index), expected);
    });

    it('a write block on the index (403 per item) pauses the sink until it is lifted, then it catches up', async () => {
      const topic = `${uniqueName('search-sink-block')}.public.stock`;
      const index = uniqueName('sb');
      indexes.push(index);
      await createTopic(kafka, topic, 2);
      await produce(kafka, encode(workload(topic, 2000, 300, 61)));
      const name = uniqueName('search-sink-block');
      const logs: string[] = [];
      const sink = { type: 'search' as const, flavor: f.flavor, url: f.url, index };
      const runtime = new SinkRuntime(
        { name, topics: [topic], retry: { initialMs: 100, maxMs: 500 }, sink },
        { kafka, log: (m) => logs.push(m) },
      );
      await runtime.start();
      try {
        await waitCaughtUp(kafka, name, topic, 60_000);
        await os.indices.putSettings({ index, body: { 'index.blocks.write': true } });
        await produce(kafka, encode(workload(topic, 2000, 300, 62)));
        await sleep(2500);
        const during = await groupProgress(kafka, name, topic);
        assert.ok(during.committed < during.end, 'nothing committed while the index is blocked');
        assert.equal(runtime.metrics().storeDown, true);
        assert.equal(runtime.metrics().deadLettered, 0, "a blocked index is not the data's fault");
        assert.ok(
          logs.some((l) => /status 403/.test(l)),
          logs.join('\n'),
        );
        await os.indices.putSettings({ index, body: { 'index.blocks.write': false } });
        await waitCaughtUp(kafka, name, topic, 60_000);
      } finally {
        await runtime.stop();
      }
      const { rows: expected } = await expectedState(kafka, topic);
      assertStoreEquals(await indexState(os, index), expected);
    });

    it('a sink process killed with SIGKILL 3 times mid-stream ends equal to a recomputation from the topic', async () => {
      const topic = `${uniqueName('search-sink-kill')}.public.orders`;
      const index = uniqueName('sk');
      indexes.push(index);
      await createTopic(kafka, topic, 3);
      await produce(kafka, encode(workload(topic, KILL_TEST_CHANGES, 5000, 43)));
      const name = uniqueName('search-sink-kill');
      const dir = mkdtempSync(join(tmpdir(), 'tributary-sink-'));
      const config = {
        name,
        topics: [topic],
        batch: { maxRecords: 500, lingerMs: 50 },
        sessionTimeoutMs: 6000,
        sink: { type: 'search' as const, flavor: f.flavor, url: f.url, index, parallelism: 3 },
      };
      const { proc, killedAt } = await killDuringBacklog(kafka, config, topic, dir, KILL_FRACTIONS);
      try {
        assertKilledMidStream(killedAt);
        await waitCaughtUp(kafka, name, topic, 180_000, () => proc.checkAlive());
        const { rows: expected } = await expectedState(kafka, topic);
        assertStoreEquals(await indexState(os, index), expected);
      } finally {
        proc.child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
