// Kafka transactions, fencing and read_committed against the real broker (infra/up kafka).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ProducerFencedError } from '../../../core/errors/index.ts';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  KafkaConsumer,
  KafkaProducer,
  partitionForKey,
  TransactionalProducer,
} from '../../../core/kafka/index.ts';
import type { IncomingRecord, OutgoingRecord } from '../../../core/kafka/index.ts';
import { ensureServices, uniqueName } from '../helpers.ts';

const config = defaultKafkaConfig('tributary-test');
let admin: KafkaAdmin;
const cleanup: Array<() => Promise<void>> = [];

before(async () => {
  ensureServices('kafka');
  admin = new KafkaAdmin(config);
});

after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  await admin.close();
});

function records(topic: string, prefix: string, n: number): OutgoingRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    topic,
    key: Buffer.from(`${prefix}-${i}`),
    value: Buffer.from(JSON.stringify({ prefix, i })),
    headers: { origin: prefix },
  }));
}

/** Reads everything currently in `topics` with a fresh group until `expected` records or timeout. */
async function drain(
  topics: string[],
  isolation: 'read_committed' | 'read_uncommitted',
  expected: number,
  timeoutMs = 15_000,
): Promise<IncomingRecord[]> {
  const consumer = new KafkaConsumer(config, { groupId: uniqueName('verify'), isolation });
  try {
    await consumer.subscribe(topics);
    const out: IncomingRecord[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && out.length < expected)
      out.push(...(await consumer.poll(1000, 500)));
    // Give stragglers (which would be a bug) a moment to show up.
    out.push(...(await consumer.poll(1000, 1000)));
    return out;
  } finally {
    await consumer.close();
  }
}

test('committed transaction is visible, aborted one is not, to a read_committed consumer', async () => {
  const topic = uniqueName('txn');
  await admin.ensureTopics([{ name: topic, partitions: 3 }]);
  const producer = new TransactionalProducer(config, uniqueName('txid'));
  cleanup.push(() => producer.close());

  const t1 = await producer.begin();
  await t1.send(records(topic, 'committed', 50));
  await t1.commit();

  const t2 = await producer.begin();
  await t2.send(records(topic, 'aborted', 30));
  await t2.abort();

  const committed = await drain([topic], 'read_committed', 50);
  assert.equal(committed.length, 50, 'read_committed sees exactly the committed records');
  assert.ok(committed.every((r) => r.headers.origin?.toString() === 'committed'));
  assert.deepEqual(new Set(committed.map((r) => r.key!.toString())).size, 50);

  // The aborted records were really written: a read_uncommitted reader sees them too.
  const all = await drain([topic], 'read_uncommitted', 80);
  assert.equal(all.length, 80);
  assert.equal(all.filter((r) => r.headers.origin?.toString() === 'aborted').length, 30);
});

test('a second producer with the same transactional.id fences the first', async () => {
  const topic = uniqueName('fence');
  await admin.ensureTopics([{ name: topic, partitions: 1 }]);
  const txid = uniqueName('txid');
  const first = new TransactionalProducer(config, txid);
  const second = new TransactionalProducer(config, txid);
  cleanup.push(
    () => first.close(),
    () => second.close(),
  );

  const zombie = await first.begin();
  await zombie.send(records(topic, 'zombie', 5));

  const owner = await second.begin(); // registers the id again: bumps the epoch, fences `first`
  await owner.send(records(topic, 'owner', 7));
  await owner.commit();

  await assert.rejects(
    async () => {
      await zombie.send(records(topic, 'zombie-late', 1));
      await zombie.commit();
    },
    (err: unknown) =>
      err instanceof ProducerFencedError &&
      err.code === 'PRODUCER_FENCED' &&
      err.retryable === false,
  );

  const seen = await drain([topic], 'read_committed', 7);
  assert.deepEqual(
    seen.map((r) => r.headers.origin?.toString()),
    Array(7).fill('owner'),
    'only the new owner’s committed records are visible',
  );
});

test('consume–transform–produce commits output and consumed offsets atomically', async () => {
  const input = uniqueName('ctp-in');
  const output = uniqueName('ctp-out');
  await admin.ensureTopics([
    { name: input, partitions: 2 },
    { name: output, partitions: 2 },
  ]);
  const plain = new KafkaProducer(config);
  cleanup.push(() => plain.close());
  await plain.send(records(input, 'in', 40));

  const group = uniqueName('ctp-group');
  const consumer = new KafkaConsumer(config, { groupId: group });
  const producer = new TransactionalProducer(config, uniqueName('ctp-txid'));
  cleanup.push(() => producer.close());
  await consumer.subscribe([input]);

  // First batch: transform and abort -> neither output nor offsets become visible.
  let batch: IncomingRecord[] = [];
  while (batch.length === 0) batch = await consumer.poll(10, 1000);
  const aborted = await producer.begin();
  await aborted.send(
    batch.map((r) => ({
      topic: output,
      key: r.key,
      value: Buffer.from(r.value!.toString().toUpperCase()),
    })),
  );
  await aborted.sendOffsets(consumer, batch);
  await aborted.abort();
  await consumer.close();

  // A new member of the same group starts again from the beginning (offsets were aborted),
  // processes everything and commits.
  const consumer2 = new KafkaConsumer(config, { groupId: group });
  await consumer2.subscribe([input]);
  let processed = 0;
  const deadline = Date.now() + 20_000;
  while (processed < 40 && Date.now() < deadline) {
    const b = await consumer2.poll(15, 1000);
    if (b.length === 0) continue;
    const txn = await producer.begin();
    await txn.send(
      b.map((r) => ({
        topic: output,
        key: r.key,
        value: Buffer.from(r.value!.toString().toUpperCase()),
      })),
    );
    await txn.sendOffsets(consumer2, b);
    await txn.commit();
    processed += b.length;
  }
  await consumer2.close();
  assert.equal(
    processed,
    40,
    'the aborted batch was redelivered: all 40 inputs processed after the abort',
  );

  const out = await drain([output], 'read_committed', 40);
  assert.equal(out.length, 40, 'exactly one committed output per input');
  assert.equal(new Set(out.map((r) => r.key!.toString())).size, 40);
  assert.ok(out.every((r) => r.value!.toString().includes('"PREFIX":"IN"')));

  // The group's committed offsets cover every input: a new member gets nothing.
  const consumer3 = new KafkaConsumer(config, { groupId: group });
  await consumer3.subscribe([input]);
  const leftover = await consumer3.poll(100, 3000);
  await consumer3.close();
  assert.equal(leftover.length, 0, 'offsets were committed inside the transactions');
});

test('keyed records land on the Java-compatible murmur2 partition; null values stay null', async () => {
  const topic = uniqueName('part');
  await admin.ensureTopics([{ name: topic, partitions: 5 }]);
  const producer = new KafkaProducer(config);
  cleanup.push(() => producer.close());
  const recs = records(topic, 'p', 60);
  recs.push({ topic, key: Buffer.from('deleted-key'), value: null });
  await producer.send(recs);
  const seen = await drain([topic], 'read_committed', 61);
  assert.equal(seen.length, 61);
  for (const r of seen)
    assert.equal(
      r.partition,
      partitionForKey(r.key!, 5),
      `key ${r.key} on partition ${r.partition}`,
    );
  const tomb = seen.find((r) => r.key!.toString() === 'deleted-key');
  assert.equal(tomb?.value, null, 'a null value (tombstone) is consumed as null');
});

test('a consumer reads a large transactional topic to the end (tombstones, fenced writers)', async () => {
  // The traffic a capture produces: big transactions of change-event-sized records with
  // tombstones, and writers fenced with a transaction left open. (The client's own message
  // stream stopped after ~21,000 records of such a topic; this guards the replacement.)
  const topic = uniqueName('large-txn');
  await admin.ensureTopics([{ name: topic, partitions: 3 }]);
  const txid = uniqueName('txid');
  let committed = 0;
  for (let writer = 0; writer < 2; writer++) {
    const producer = new TransactionalProducer(config, txid);
    cleanup.push(() => producer.close());
    for (let t = 0; t < 6; t++) {
      const txn = await producer.begin();
      const batch = Array.from({ length: 4000 }, (_, i) => ({
        topic,
        key: Buffer.from(`{"id":${t * 4000 + i}}`),
        value: i % 4 === 3 ? null : Buffer.alloc(600, 97),
        headers: { origin: 'committed' },
      }));
      await txn.send(batch);
      await txn.commit();
      committed += batch.length;
    }
    const zombie = await producer.begin(); // left open: the next writer fences it
    await zombie.send([
      {
        topic,
        key: Buffer.from('zombie'),
        value: Buffer.from('x'),
        headers: { origin: 'aborted' },
      },
    ]);
  }
  const next = new TransactionalProducer(config, txid);
  cleanup.push(() => next.close());
  await next.init();
  const seen = await drain([topic], 'read_committed', committed, 60_000);
  assert.equal(seen.length, committed);
  assert.ok(seen.every((r) => r.headers.origin?.toString() === 'committed'));
  assert.deepEqual(new Set(seen.map((r) => r.partition)), new Set([0, 1, 2]));
});
