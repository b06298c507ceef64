// Kafka → Kafka forwarding against real brokers: to renamed topics on the shared broker with the
// forwarding process killed with SIGKILL 3 times mid-stream, and to a second, private broker
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
import type { IncomingRecord, KafkaConfig } from '../../../core/kafka/index.ts';
import type { SinkRuntimeConfigInput } from '../../../sinks/runtime/config.ts';
import { SINK_DLQ_HEADERS, SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import { PrivateBroker } from '../processors/harness.ts';
import {
  SinkProcess,
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
    await produce(kafka, encode(workload(topic, 30_000, 2000, 71)));
    const name = uniqueName('fwd-kill');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-fwd-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 500, lingerMs: 20 },
      sessionTimeoutMs: 6000,
      sink: { type: 'kafka' as const, topic: '${topic}.copy' },
    };
    const { proc, killedAt } = await killDuringBacklog(kafka, config, topic, dir, [0.15, 0.4, 0.7]);
    try {
      assert.equal(killedAt.length, 3);
      await waitCaughtUp(kafka, name, topic, 90_000, () => proc.checkAlive());
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

  it('a second process joins mid-stream (rebalance), then the first is killed: no record lost or doubled', async () => {
    const topic = `${uniqueName('fwd-pair')}.public.pairs`;
    await createTopic(kafka, topic, 4);
    await produce(kafka, encode(workload(topic, 30_000, 1500, 67)));
    const name = uniqueName('fwd-pair');
    const dir = mkdtempSync(join(tmpdir(), 'tributary-fwd-'));
    const config = {
      name,
      topics: [topic],
      batch: { maxRecords: 300, lingerMs: 20 },
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
          retry: { initialMs: 100, maxMs: 1000 },
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
        process.kill(broker.pid(), 'SIGKILL');
        await sleep(1500);
        const during = await groupProgress(kafka, name, topic);
        assert.ok(during.committed < during.end, 'the outage started mid-stream');
        await sleep(3000);
        assert.equal((await groupProgress(kafka, name, topic)).committed, during.committed);
        broker.up();
        await waitCaughtUp(kafka, name, topic, 120_000);
        // Nothing is asserted about how the wait happened: the client may hold the batch in its
        // own reconnect loop, or fail it into the runtime's backoff (both were seen).
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
      await produce(
        kafka,
        events.flatMap((e) => toKafkaRecords(e, { format: 'json-schema' })),
      );
      const name = uniqueName('fwd-fmt');
      await runToEnd(
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
      assert.equal(plain.length, 3);
      assert.deepEqual(
        plain.map((r) => r.key!.toString()),
        ['{"id":1}', '{"id":2}', '{"id":3}'],
      );
      assert.ok(!plain[0]!.value!.toString().includes('"schema"'), 'schemas dropped');
      const decoded = plain.map((r) => fromKafkaRecord(r));
      assert.deepEqual(
        decoded.map((d) => (d.kind === 'change' ? d.event.value.after : null)),
        events.map((e) => e.value.after),
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
