// `tributary demo`: the end-to-end smoke run on embedded defaults. It checks the broker, then
// writes Debezium-compatible change events (inserts, updates, deletes + tombstones) for a demo
// table through transactional producers, aborts one transaction on purpose, reads everything
// back with a read_committed consumer, decodes and verifies every event and per-key order.
// Later capture/processor/sink issues grow this into the full pipeline.
import { randomBytes } from 'node:crypto';
import { TributaryError } from '../../core/errors/index.ts';
import { fromKafkaRecord, toKafkaRecords } from '../../core/events/index.ts';
import type { ChangeEvent, EncodedRecord } from '../../core/events/index.ts';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  KafkaConsumer,
  TransactionalProducer,
} from '../../core/kafka/index.ts';
import { parseOptions } from './args.ts';

const TXN_SIZE = 1_000;

export async function runDemo(args: string[]): Promise<number> {
  const opts = parseOptions(args, { events: 'int', brokers: 'string' });
  const keys = Math.max(1, Math.floor(((opts.events as number | undefined) ?? 3_000) / 3));
  const config = defaultKafkaConfig('tributary-demo');
  if (opts.brokers) config.brokers = String(opts.brokers).split(',');
  const runId = randomBytes(3).toString('hex');
  const server = `demo-${runId}`;
  const topic = `${server}.public.orders`;

  const admin = new KafkaAdmin(config);
  const producer = new TransactionalProducer(config, `tributary-demo-${runId}`);
  const consumer = new KafkaConsumer(config, { groupId: `tributary-demo-verify-${runId}` });
  try {
    step(`Kafka at ${config.brokers.join(',')}: creating topic ${topic} (3 partitions)`);
    await admin.ensureTopics([{ name: topic, partitions: 3 }]);

    const events = demoEvents(server, topic, keys);
    const records = events.flatMap((e) => toKafkaRecords(e, { format: 'json' }));
    step(
      `producing ${events.length} change events for ${keys} keys (insert, update, delete + tombstone) in transactions of ${TXN_SIZE}`,
    );
    const t0 = performance.now();
    for (let i = 0; i < records.length; i += TXN_SIZE) {
      const txn = await producer.begin();
      await txn.send(records.slice(i, i + TXN_SIZE).map(asOutgoing));
      await txn.commit();
    }
    const produceMs = performance.now() - t0;

    step('writing one more transaction and aborting it (read_committed readers must not see it)');
    const aborted = await producer.begin();
    await aborted.send(
      demoEvents(server, topic, 5, 'ABORTED')
        .flatMap((e) => toKafkaRecords(e, { format: 'json' }))
        .map(asOutgoing),
    );
    await aborted.abort();

    step('reading the topic back with a read_committed consumer and decoding every record');
    await consumer.subscribe([topic]);
    const t1 = performance.now();
    const seen = await readAll(consumer, records.length);
    const consumeMs = performance.now() - t1;

    const problems = verify(events, seen);
    const tombstones = seen.filter((d) => d.kind === 'tombstone').length;
    console.log('');
    console.log(
      `  produced   ${records.length} records (${events.length} events + ${records.length - events.length} tombstones) in ${produceMs.toFixed(0)} ms (${rate(records.length, produceMs)} records/s)`,
    );
    console.log(
      `  consumed   ${seen.length} records, ${tombstones} tombstones, in ${consumeMs.toFixed(0)} ms`,
    );
    console.log(
      `  aborted    transaction hidden: ${seen.some((d) => d.kind === 'change' && d.event.value.after?.customer === 'ABORTED') ? 'NO' : 'yes'}`,
    );
    console.log(`  per-key order and content verified: ${problems.length === 0 ? 'yes' : 'NO'}`);
    for (const p of problems.slice(0, 10)) console.log(`    - ${p}`);
    console.log('');
    console.log(problems.length === 0 ? 'demo OK' : `demo FAILED (${problems.length} problems)`);
    return problems.length === 0 ? 0 : 1;
  } finally {
    await consumer.close().catch(() => undefined);
    await producer.close();
    await admin.deleteTopics([topic]).catch(() => undefined);
    await admin.close();
  }
}

type Decoded = ReturnType<typeof fromKafkaRecord>;

async function readAll(consumer: KafkaConsumer, expected: number): Promise<Decoded[]> {
  const out: Decoded[] = [];
  const deadline = Date.now() + 60_000;
  let lastReport = Date.now();
  while (out.length < expected && Date.now() < deadline) {
    for (const r of await consumer.poll(5_000, 500)) out.push(fromKafkaRecord(r));
    if (Date.now() - lastReport > 2_000) {
      step(`  … ${out.length}/${expected} records read`);
      lastReport = Date.now();
    }
  }
  out.push(...(await consumer.poll(5_000, 1_000)).map(fromKafkaRecord)); // anything unexpected
  if (out.length < expected)
    throw new TributaryError(
      'DEMO_TIMEOUT',
      `read only ${out.length} of ${expected} records within 60 s`,
    );
  return out;
}

/** For each key: insert (c), update (u), delete (d); versions are increasing LSN-like numbers. */
function demoEvents(
  server: string,
  topic: string,
  keys: number,
  customer = 'customer',
): ChangeEvent[] {
  const events: ChangeEvent[] = [];
  let lsn = 0x1_0000_0000n;
  const now = Date.now();
  for (let id = 1; id <= keys; id++) {
    const row = {
      id,
      customer: `${customer}-${id}`,
      amount: `${(id * 1.25).toFixed(2)}`,
      status: 'NEW',
    };
    const steps: Array<
      ['c' | 'u' | 'd', Record<string, unknown> | null, Record<string, unknown> | null]
    > = [
      ['c', null, row],
      ['u', row, { ...row, status: 'PAID' }],
      ['d', { ...row, status: 'PAID' }, null],
    ];
    for (const [op, before, after] of steps) {
      lsn += 64n;
      events.push({
        topic,
        key: { id },
        version: lsn,
        value: {
          before,
          after,
          source: {
            version: '0.1.0',
            connector: 'demo',
            name: server,
            ts_ms: now,
            snapshot: 'false',
            db: 'demo',
            schema: 'public',
            table: 'orders',
            lsn: Number(lsn),
          },
          transaction: null,
          op,
          ts_ms: now,
        },
      });
    }
  }
  return events;
}

function verify(events: ChangeEvent[], seen: Decoded[]): string[] {
  const problems: string[] = [];
  const expectedByKey = new Map<string, ChangeEvent[]>();
  for (const e of events)
    expectedByKey.set(JSON.stringify(e.key), [
      ...(expectedByKey.get(JSON.stringify(e.key)) ?? []),
      e,
    ]);
  const changesByKey = new Map<string, ChangeEvent[]>();
  for (const d of seen) {
    if (d.kind !== 'change') continue;
    const k = JSON.stringify(d.event.key);
    changesByKey.set(k, [...(changesByKey.get(k) ?? []), d.event]);
  }
  for (const [k, expected] of expectedByKey) {
    const got = changesByKey.get(k) ?? [];
    if (got.length !== expected.length) {
      problems.push(`key ${k}: expected ${expected.length} events, got ${got.length}`);
      continue;
    }
    expected.forEach((e, i) => {
      const g = got[i]!;
      if (
        g.version !== e.version ||
        g.value.op !== e.value.op ||
        JSON.stringify(g.value.after) !== JSON.stringify(e.value.after)
      ) {
        problems.push(
          `key ${k}: event ${i} differs (op ${g.value.op} v${g.version}, expected op ${e.value.op} v${e.version})`,
        );
      }
    });
  }
  if (changesByKey.size !== expectedByKey.size)
    problems.push(`unexpected keys: ${changesByKey.size - expectedByKey.size}`);
  return problems;
}

function asOutgoing(r: EncodedRecord) {
  return { topic: r.topic, key: r.key, value: r.value, headers: r.headers };
}

function rate(n: number, ms: number): string {
  return Math.round((n / ms) * 1000).toLocaleString('en-US');
}

function step(msg: string): void {
  console.log(`[demo] ${msg}`);
}
