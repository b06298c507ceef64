// KafkaPartitionConsumer (caller-owned positions, group membership, transactional positions)
// and the read_committed filter, against the real broker.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  KafkaConsumer,
  KafkaPartitionConsumer,
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

function records(topic: string, tag: string, n: number): OutgoingRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    topic,
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`${tag}-${i}`),
  }));
}

/** Writes 10 transactions from one producer, aborting every other one. */
async function alternatingTransactions(topic: string): Promise<string[]> {
  const producer = new TransactionalProducer(config, uniqueName('alt'));
  const committed: string[] = [];
  try {
    for (let t = 0; t < 10; t++) {
      const txn = await producer.begin();
      const recs = records(topic, `t${t}`, 5);
      await txn.send(recs);
      if (t % 2 === 0) await txn.abort();
      else {
        await txn.commit();
        committed.push(...recs.map((r) => r.value!.toString()));
      }
    }
  } finally {
    await producer.close();
  }
  return committed;
}

test('read_committed hides every aborted transaction of a producer that aborts often', async () => {
  const topic = uniqueName('rc');
  await admin.ensureTopics([{ name: topic, partitions: 1 }]);
  const committed = await alternatingTransactions(topic);

  const consumer = new KafkaConsumer(config, { groupId: uniqueName('rc-g') });
  cleanup.push(() => consumer.close());
  await consumer.subscribe([topic]);
  const seen: IncomingRecord[] = [];
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && seen.length < committed.length)
    seen.push(...(await consumer.poll(1000, 500)));
  seen.push(...(await consumer.poll(1000, 500)));
  assert.deepEqual(
    seen.map((r) => r.value!.toString()),
    committed,
  );

  const reader = new KafkaPartitionConsumer(config);
  cleanup.push(() => reader.close());
  const got: string[] = [];
  let position = 0n;
  const end = (await reader.offsets([{ topic, partition: 0 }], 'latest')).values().next().value!;
  while (position < end) {
    const [p] = await reader.fetch([{ topic, partition: 0, offset: position }], 200);
    got.push(...p!.records.map((r) => r.value!.toString()));
    position = p!.nextOffset;
  }
  assert.deepEqual(got, committed, 'the positional reader sees only committed records');
});

test('positions committed in a transaction with the member generation; a stale generation is refused', async () => {
  const topic = uniqueName('pos');
  await admin.ensureTopics([{ name: topic, partitions: 2 }]);
  const groupId = uniqueName('pos-g');
  const member = new KafkaPartitionConsumer(config, { groupId, sessionTimeoutMs: 6000 });
  cleanup.push(() => member.close());
  const assignment = await member.join([topic]);
  assert.deepEqual(
    assignment.partitions.map((p) => p.partition),
    [0, 1],
  );
  const tps = assignment.partitions;
  const before = await member.committed(tps);
  assert.ok([...before.values()].every((v) => v === undefined));

  const producer = new TransactionalProducer(config, uniqueName('pos-tx'));
  cleanup.push(() => producer.close());
  const txn = await producer.begin();
  await txn.send(records(topic, 'x', 3));
  await txn.sendPositions(assignment.generation, [
    { topic, partition: 0, offset: 7n },
    { topic, partition: 1, offset: 3n },
  ]);
  // committed() asks for stable offsets: while the transaction holding positions is open it
  // waits (the coordinator answers UNSTABLE_OFFSET_COMMIT and the client retries) instead of
  // answering with the offsets from before the transaction. A restarted task relies on this.
  const reading = member.committed(tps);
  let answered = false;
  void reading.then(() => (answered = true));
  await new Promise((r) => setTimeout(r, 250));
  assert.equal(answered, false, 'committed() answered while a transactional commit was pending');
  await txn.commit();
  assert.deepEqual([...(await reading).values()], [7n, 3n]);
  // Right after EndTxn returns, without polling.
  assert.deepEqual([...(await member.committed(tps)).values()], [7n, 3n]);

  const stale = await producer.begin();
  await assert.rejects(
    async () => {
      await stale.sendPositions(
        { ...assignment.generation, generationId: assignment.generation.generationId - 1 },
        [{ topic, partition: 0, offset: 9n }],
      );
      await stale.commit();
    },
    (err: Error & { details?: { kafkaCode?: string } }) =>
      /ILLEGAL_GENERATION|FENCED/.test(`${err.message} ${err.details?.kafkaCode}`),
  );
  await stale.abort().catch(() => undefined);
  assert.equal((await member.committed(tps)).values().next().value, 7n);
});

test('committed() falls back to the materialized offsets when a transaction with offsets does not complete', async () => {
  const topic = uniqueName('hang');
  await admin.ensureTopics([{ name: topic, partitions: 1 }]);
  const groupId = uniqueName('hang-g');
  const member = new KafkaPartitionConsumer(config, { groupId, sessionTimeoutMs: 6000 });
  cleanup.push(() => member.close());
  const assignment = await member.join([topic]);
  const tps = assignment.partitions;
  const producer = new TransactionalProducer(config, uniqueName('hang-tx'));
  cleanup.push(() => producer.close());
  const first = await producer.begin();
  await first.sendPositions(assignment.generation, [{ topic, partition: 0, offset: 4n }]);
  await first.commit();
  assert.deepEqual([...(await member.committed(tps)).values()], [4n]);
  assert.deepEqual(member.unstableOffsets, []);

  // A transaction holding offsets stays open (as one whose marker a broker restart lost would).
  const open = await producer.begin();
  await open.sendPositions(assignment.generation, [{ topic, partition: 0, offset: 9n }]);
  const started = Date.now();
  assert.deepEqual([...(await member.committed(tps)).values()], [4n]);
  assert.ok(Date.now() - started >= 1000, 'the stable read was retried before falling back');
  assert.deepEqual(member.unstableOffsets, [`${topic}[0]`]);
  await open.abort();
});

test('a fetch position outside the partition is a permanent OFFSET_OUT_OF_RANGE error naming it', async () => {
  const topic = uniqueName('oor');
  await admin.ensureTopics([{ name: topic, partitions: 1 }]);
  const producer = new TransactionalProducer(config, uniqueName('oor'));
  try {
    const txn = await producer.begin();
    await txn.send(records(topic, 'r', 3));
    await txn.commit();
  } finally {
    await producer.close();
  }
  const reader = new KafkaPartitionConsumer(config);
  cleanup.push(() => reader.close());
  // Inside the partition: fine.
  const ok = await reader.fetch([{ topic, partition: 0, offset: 0n }], 100);
  assert.equal(ok[0]!.records.length, 3);
  // Past its end (as after a topic was recreated, or records were deleted under a position).
  await assert.rejects(reader.fetch([{ topic, partition: 0, offset: 1_000_000n }], 100), (err) => {
    const e = err as { code: string; retryable: boolean; message: string };
    assert.equal(e.code, 'OFFSET_OUT_OF_RANGE');
    assert.equal(e.retryable, false);
    assert.match(e.message, new RegExp(`${topic}\\[0\\]@1000000`));
    assert.match(e.message, /reset-offsets/);
    return true;
  });
});
