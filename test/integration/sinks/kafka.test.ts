// Kafka → Kafka forwarding against real brokers: to renamed topics on the shared broker with the
// forwarding process killed with SIGKILL 3 times mid-stream and, by a fault hook, exactly between
// a transaction and the source offset commit; a byte-for-byte copy (headers, timestamps,
// tombstones, truncates, records that are not change events); and to a second, private broker
// (rename map, format change, replay by a fresh group). Every check reads the target with an
// independent read_committed reader and compares it, partition by partition, with the source:
// the same records in the same order, none lost, none twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromKafkaRecord, toKafkaRecords } from '../../../core/events/index.ts';
import type { ChangeEvent } from '../../../core/events/index.ts';
import { defaultKafkaConfig } from '../../../core/kafka/index.ts';
import type { IncomingRecord, KafkaConfig, OutgoingRecord } from '../../../core/kafka/index.ts';
import type { SinkRuntimeConfigInput } from '../../../sinks/runtime/config.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import { PrivateBroker } from '../processors/harness.ts';
import {
  KILL_FRACTIONS,
  KILL_TEST_CHANGES,
  OUTAGE_RETRY,
  STORE_OUTAGE_MS,
  SinkProcess,
  assertKilledMidStream,
  changeEvent,
  createTopic,
  encode,
  groupProgress,
  killDuringBacklog,
  produce,
  readAll,
  sleep,
  tableSchemas,
  waitCaughtUp,
  workload,
} from './harness.ts';

const kafka = defaultKafkaConfig('sink-kafka-test');

/** A record's identity on the wire: key, value and version header, as text. */
function wire(r: IncomingRecord): string {
  return `${r.key?.toString()}|${r.value?.toString() ?? '<tombstone>'}|${r.headers['tributary.version']?.toString()}`;
}

function byPartition(records: IncomingRecord[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const r of records) {
    let list = out.get(r.partition);
    if (!list) out.set(r.partition, (list = []));
    list.push(wire(r));
  }
  return out;
}

/** Everything Kafka keeps of a record but its offset: key, value, all headers, timestamp. */
function bytesOf(r: IncomingRecord): string {
  const hex = (b: Buffer | null | undefined) => (b ? b.toString('hex') : 'null');
  const headers = Object.keys(r.headers)
    .sort()
    .map((h) => `${h}=${hex(r.headers[h])}`);
  return `${hex(r.key)}|${hex(r.value)}|${headers.join(',')}|${r.timestamp}`;
}

/** The target holds exactly the source's records, per partition, in order (no loss, no duplicate). */
function assertSameRecords(source: IncomingRecord[], target: IncomingRecord[]): void {
  const want = byPartition(source);
  const got = byPartition(target);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort(), 'same partitions');
  for (const [p, records] of want) {
    const g = got.get(p)!;
    const firstDiff = records.findIndex((r, i) => g[i] !== r);
    assert.equal(
      g.length,
      records.length,
      `partition ${p}: ${g.length} records, want ${records.length}`,
    );
    assert.equal(firstDiff, -1, `partition ${p} differs at ${firstDiff}`);
  }
}

async function runToEnd(
  config: SinkRuntimeConfigInput,
  topics: string[],
  sourceKafka: KafkaConfig = kafka,
): Promise<SinkRuntime> {
  const runtime = new SinkRuntime(config, { kafka: sourceKafka, log: () => undefined });
  await runtime.start();
  try {
    for (const t of topics) await waitCaughtUp(sourceKafka, config.name, t, 90_000);
  } finally {
    await runtime.stop();
  }
  return runtime;
}

describe('kafka forwarding sink', () => {
  before(() => ensureServices('kafka'));

  it('forwards to renamed topics exactly once while the process is killed with SIGKILL 3 times', async () => {
    const topic = `${uniqueName('fwd-kill')}.public.orders`;
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, KILL_TEST_CHANGES, 5000, 71)));
    const name = uniqueName('fwd-kill');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-fwd-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 500, lingerMs: 20 },
      sessionTimeoutMs: 6000,
      sink: { type: 'kafka' as const, topic: '${topic}.copy' },
    };
    const { proc, killedAt } = await killDuringBacklog(kafka, config, topic, dir, KILL_FRACTIONS);
    try {
      assertKilledMidStream(killedAt);
      await waitCaughtUp(kafka, name, topic, 120_000, () => proc.checkAlive());
    } finally {
      await proc.kill9();
      rmSync(dir, { recursive: true, force: true });
    }
    const source = await readAll(kafka, topic);
    const target = await readAll(kafka, `${topic}.copy`);
    assert.ok(
      source.some((r) => r.value === null),
      'tombstones are part of the stream',
    );
    assertSameRecords(source, target);
  });

  it('format same copies every record byte for byte: headers, timestamps, tombstones, truncates, non-change-event records', async () => {
    const topic = `${uniqueName('fwd-bytes')}.public.orders`;
    await createTopic(kafka, topic, 2);
    const schemas = tableSchemas(topic, [
      { type: 'int32', optional: false, field: 'id' },
      { type: 'string', optional: true, field: 'note' },
    ]);
    const at = (i: number) => 1_500_000_000_000n + BigInt(i) * 1111n; // old, distinct timestamps
    const extra = (i: number) => ({
      'trace-id': Buffer.from([0xff, 0x00, 0xfe, i]), // not UTF-8: must survive as bytes
      app: `writer-${i}`,
    });
    const change = (id: number, v: bigint, op: 'c' | 'u' | 'd', withSchemas: boolean) => {
      const e = changeEvent(topic, id, v, op, op === 'd' ? null : { id, note: `n${id}` });
      return toKafkaRecords(withSchemas ? { ...e, schemas } : e, {
        format: withSchemas ? 'json-schema' : 'json',
      });
    };
    const t = changeEvent(topic, 0, 500n, 'c', { id: 0 });
    const truncate: ChangeEvent = { ...t, value: { ...t.value, op: 't', after: null } };
    const base: OutgoingRecord[] = [
      ...change(1, 10n, 'c', false),
      ...change(2, 11n, 'c', true),
      ...change(1, 12n, 'd', false), // delete + its tombstone
      ...toKafkaRecords(truncate, { format: 'json' }),
      { topic, key: Buffer.from('plain-key'), value: Buffer.from('{"hello":"world"}') },
      { topic, key: null, value: Buffer.from([0, 1, 2, 253, 254, 255]) },
      { topic, key: Buffer.from([0x80, 0x81]), value: null }, // a tombstone of no change event
      ...change(2, 13n, 'u', true),
    ];
    const records = base.flatMap((r, i) =>
      [0, 1].map((partition) => ({
        ...r,
        partition,
        timestamp: at(i * 2 + partition),
        headers: { ...r.headers, ...extra(i) },
      })),
    );
    await produce(kafka, records);

    const name = uniqueName('fwd-bytes');
    const runtime = await runToEnd(
      { name, topics: [topic], sink: { type: 'kafka', topic: '${topic}.bytes' } },
      [topic],
    );
    const source = await readAll(kafka, topic);
    const target = await readAll(kafka, `${topic}.bytes`);
    assert.equal(source.length, records.length);
    assert.ok(
      source.some((r) => r.value === null && r.key?.[0] === 0x80),
      'non-event tombstone',
    );
    assert.ok(
      source.some((r) => r.headers['trace-id']?.[0] === 0xff),
      'binary headers',
    );
    for (const p of [0, 1]) {
      const want = source.filter((r) => r.partition === p).map(bytesOf);
      const got = target.filter((r) => r.partition === p).map(bytesOf);
      assert.equal(got.length, want.length, `partition ${p}: record count`);
      const i = want.findIndex((w, j) => got[j] !== w);
      assert.equal(got[i], want[i], `partition ${p}, record ${i}: byte-for-byte copy`);
    }
    assert.equal(runtime.metrics().deadLettered, 0);
    assert.equal((await readAll(kafka, `${name}.dlq`)).length, 0);
  });

  it('SIGKILL exactly between a transaction and the source offset commit (fault hook), 4 times: nothing forwarded twice', async () => {
    const topic = `${uniqueName('fwd-window')}.public.lines`;
    await createTopic(kafka, topic, 3);
    await produce(kafka, encode(workload(topic, 6000, 500, 91)));
    const name = uniqueName('fwd-window');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-fwd-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 200, lingerMs: 20 },
      sessionTimeoutMs: 6000,
      sink: { type: 'kafka' as const, topic: '${topic}.window' },
    };
    try {
      for (const n of [1, 3, 2, 1]) {
        const proc = SinkProcess.spawn(config, dir, {
          TRIBUTARY_CRASH_AFTER_TRANSACTIONS: String(n),
        });
        const code = await Promise.race([proc.exited, sleep(60_000).then(() => 'timeout')]);
        if (code === 'timeout') await proc.kill9();
        assert.notEqual(code, 'timeout', `the crash hook did not fire:\n${proc.output}`);
        assert.equal(proc.child.signalCode, 'SIGKILL', proc.output.slice(-2000));
        // The kill landed in the window: the target is ahead of the source group's offsets.
        const forwarded = (await readAll(kafka, `${topic}.window`)).length;
        const { committed, end } = await groupProgress(kafka, name, topic);
        assert.ok(BigInt(forwarded) > committed, `forwarded ${forwarded}, committed ${committed}`);
        assert.ok(committed < end, 'still mid-stream');
      }
      const last = SinkProcess.spawn(config, dir);
      try {
        await waitCaughtUp(kafka, name, topic, 90_000, () => last.checkAlive());
      } finally {
        await last.kill9();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    assertSameRecords(await readAll(kafka, topic), await readAll(kafka, `${topic}.window`));
  });

  it('a second process joins mid-stream (rebalance), then the first is killed: no record lost or doubled', async () => {
    const topic = `${uniqueName('fwd-pair')}.public.pairs`;
    await createTopic(kafka, topic, 4);
    await produce(kafka, encode(workload(topic, 30_000, 1500, 67)));
    const name = uniqueName('fwd-pair');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-fwd-'));
    const config = {
      name,
      topics: [topic],
      // Small batches keep the stream going while the second process starts (~2 s): with
      // batches of 300 one process can forward the whole topic in about that time.
      batch: { maxRecords: 100, lingerMs: 20 },
      sessionTimeoutMs: 6000,
      sink: { type: 'kafka' as const, topic: '${topic}.pair' },
    };
    const untilProgress = async (tenths: bigint, procs: SinkProcess[]) => {
      for (;;) {
        const p = await groupProgress(kafka, name, topic);
        if (p.committed * 10n >= p.end * tenths) {
          assert.ok(p.committed < p.end, 'still mid-stream');
          return;
        }
        for (const proc of procs) proc.checkAlive();
        await sleep(20);
      }
    };
    const a = SinkProcess.spawn(config, dir);
    let b: SinkProcess | undefined;
    try {
      await untilProgress(2n, [a]);
      b = SinkProcess.spawn(config, dir); // partitions move from a to b while a is writing
      await untilProgress(5n, [a, b]);
      await a.kill9();
      await waitCaughtUp(kafka, name, topic, 120_000, () => b!.checkAlive());
    } finally {
      a.child.kill('SIGKILL');
      b?.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    assertSameRecords(await readAll(kafka, topic), await readAll(kafka, `${topic}.pair`));
  });

  describe('to a second cluster', () => {
    let broker: PrivateBroker;
    let targetKafka: KafkaConfig;

    before(async () => {
      broker = await PrivateBroker.start();
      targetKafka = { brokers: [broker.brokers], clientId: 'sink-kafka-test-target' };
    });

    after(() => broker?.stop());

    it('forwards with a rename map; a replay by a fresh group forwards nothing twice', async () => {
      const a = `${uniqueName('fwd-x')}.public.users`;
      const b = `${uniqueName('fwd-x')}.public.items`;
      await createTopic(kafka, a, 2);
      await createTopic(kafka, b, 1);
      const first = [...workload(a, 2000, 150, 3), ...workload(b, 1000, 80, 4)];
      await produce(kafka, encode(first));
      const sink = {
        type: 'kafka' as const,
        brokers: [broker.brokers],
        rename: { [b]: 'mirror.items' },
        positionsGroup: uniqueName('positions'),
        transactionalIdPrefix: uniqueName('fwd'),
      };
      const name = uniqueName('fwd-x');
      await runToEnd({ name, topics: [a, b], batch: { maxRecords: 300 }, sink }, [a, b]);
      // More changes arrive; the same sink continues from where it stopped.
      await produce(kafka, encode([...workload(a, 500, 150, 5), ...workload(b, 500, 80, 6)]));
      await runToEnd({ name, topics: [a, b], sink }, [a, b]);
      // A fresh group rereads everything from the start: the positions group says it is done.
      await runToEnd({ name: `${name}-again`, topics: [a, b], sink }, [a, b]);

      assertSameRecords(await readAll(kafka, a), await readAll(targetKafka, a));
      assertSameRecords(await readAll(kafka, b), await readAll(targetKafka, 'mirror.items'));
    });

    it('the target broker killed with SIGKILL mid-stream: forwarding pauses, then resumes exactly once', async () => {
      const topic = `${uniqueName('fwd-down')}.public.stock`;
      await createTopic(kafka, topic, 3);
      await produce(kafka, encode(workload(topic, 20_000, 1000, 83)));
      const name = uniqueName('fwd-down');
      const logs: string[] = [];
      const runtime = new SinkRuntime(
        {
          name,
          topics: [topic],
          batch: { maxRecords: 200, lingerMs: 20 },
          retry: OUTAGE_RETRY,
          sink: {
            type: 'kafka',
            brokers: [broker.brokers],
            positionsGroup: uniqueName('positions'),
          },
        },
        { kafka: { ...kafka, requestTimeoutMs: 5000 }, log: (m) => logs.push(m) },
      );
      await runtime.start();
      try {
        while ((await groupProgress(kafka, name, topic)).committed < 3000n) await sleep(20);
        const retriesBefore = runtime.metrics().retries;
        process.kill(broker.pid(), 'SIGKILL');
        const downAt = Date.now();
        await sleep(1500);
        const during = await groupProgress(kafka, name, topic);
        assert.ok(during.committed < during.end, 'the outage started mid-stream');
        await sleep(STORE_OUTAGE_MS - (Date.now() - downAt));
        assert.equal((await groupProgress(kafka, name, topic)).committed, during.committed);
        // Whoever waits (client or runtime), it is not a busy loop: under one retry a second.
        const retries = runtime.metrics().retries - retriesBefore;
        assert.ok(retries < STORE_OUTAGE_MS / 1000, `${retries} retries during the outage`);
        broker.up();
        await waitCaughtUp(kafka, name, topic, 120_000);
        // Beyond the retry bound above, nothing is asserted about how the wait happened: the
        // client may hold the batch in its own reconnect loop, or fail it into the runtime's
        // backoff (both were seen).
      } finally {
        await runtime.stop();
      }
      assertSameRecords(await readAll(kafka, topic), await readAll(targetKafka, topic));
    });

    it('changes the format (json-schema to json); records that cannot take the format go to the DLQ', async () => {
      const topic = `${uniqueName('fwd-fmt')}.public.orders`;
      await createTopic(kafka, topic, 1);
      const schemas = tableSchemas(topic, [
        { type: 'int32', optional: false, field: 'id' },
        { type: 'string', optional: true, field: 'note' },
      ]);
      const events: ChangeEvent[] = [1, 2, 3].map((id) => ({
        ...changeEvent(topic, id, BigInt(10 + id), 'c', { id, note: `n${id}` }),
        schemas,
      }));
      const t = changeEvent(topic, 0, 20n, 'c', { id: 0 });
      const truncate: ChangeEvent = { ...t, schemas, value: { ...t.value, op: 't', after: null } };
      // Re-encoding keeps the source headers and timestamps; a record that is not a change event
      // cannot be re-encoded and is dead-lettered.
      await produce(
        kafka,
        (
          [
            ...events.flatMap((e) => toKafkaRecords(e, { format: 'json-schema' })),
            ...toKafkaRecords(truncate, { format: 'json-schema' }),
            { topic, key: Buffer.from('k'), value: Buffer.from('not json') },
          ] as OutgoingRecord[]
        ).map((r, i) => ({
          ...r,
          headers: { ...r.headers, origin: Buffer.from([0xff, i]) },
          timestamp: 1_600_000_000_000n + BigInt(i),
        })),
      );
      const name = uniqueName('fwd-fmt');
      const fmtRuntime = await runToEnd(
        {
          name,
          topics: [topic],
          sink: {
            type: 'kafka',
            brokers: [broker.brokers],
            topic: '${table}.plain',
            format: 'json',
            positionsGroup: uniqueName('positions'),
          },
        },
        [topic],
      );
      const plain = await readAll(targetKafka, 'orders.plain');
      assert.equal(plain.length, 4);
      assert.deepEqual(
        plain.map((r) => r.key!.toString()),
        ['{"id":1}', '{"id":2}', '{"id":3}', '{"id":0}'],
      );
      assert.ok(!plain[0]!.value!.toString().includes('"schema"'), 'schemas dropped');
      const decoded = plain.map((r) => fromKafkaRecord(r));
      assert.deepEqual(
        decoded.map((d) => (d.kind === 'change' ? d.event.value.after : null)),
        [...events.map((e) => e.value.after), null],
      );
      const last = decoded[3]!;
      assert.equal(last.kind === 'change' && last.event.value.op, 't', 'the truncate is forwarded');
      assert.deepEqual(
        plain.map((r) => [r.headers.origin?.toString('hex'), r.timestamp]),
        [0, 1, 2, 3].map((i) => [
          Buffer.from([0xff, i]).toString('hex'),
          1_600_000_000_000n + BigInt(i),
        ]),
      );
      assert.equal(fmtRuntime.metrics().deadLettered, 1);
      const notEvent = await readAll(kafka, `${name}.dlq`);
      assert.equal(notEvent.length, 1);
      assert.equal(notEvent[0]!.value!.toString(), 'not json');
      assert.match(
        notEvent[0]!.headers[SINK_DLQ_HEADERS.message]!.toString(),
        /not a change event/,
      );

      // json-schema output needs schemas: an event without them is dead-lettered, the rest lands.
      const mixed = `${uniqueName('fwd-fmt2')}.public.orders`;
      await createTopic(kafka, mixed, 1);
      await produce(kafka, [
        ...toKafkaRecords({ ...events[0]!, topic: mixed }, { format: 'json-schema' }),
        ...encode([changeEvent(mixed, 9, 99n, 'c', { id: 9, note: 'no schema' })]),
        ...toKafkaRecords({ ...events[1]!, topic: mixed }, { format: 'json-schema' }),
      ]);
      const name2 = uniqueName('fwd-fmt2');
      const runtime = await runToEnd(
        {
          name: name2,
          topics: [mixed],
          sink: {
            type: 'kafka',
            brokers: [broker.brokers],
            topic: '${topic}',
            format: 'json-schema',
            positionsGroup: uniqueName('positions'),
          },
        },
        [mixed],
      );
      assert.equal((await readAll(targetKafka, mixed)).length, 2);
      const dlq = await readAll(kafka, `${name2}.dlq`);
      assert.equal(dlq.length, 1);
      assert.equal(runtime.metrics().deadLettered, 1);
      assert.equal(dlq[0]!.key!.toString(), '{"id":9}');
      assert.match(dlq[0]!.headers[SINK_DLQ_HEADERS.message]!.toString(), /json-schema/);
      assert.equal(dlq[0]!.headers[SINK_DLQ_HEADERS.topic]!.toString(), mixed);
    });
  });
});
