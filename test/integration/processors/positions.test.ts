// Exactly-once positions: every transaction also records the task's consumed positions in the
// compacted `<name>-positions` topic, and a starting task takes them over the group's committed
// offsets. Here the group's offsets are moved back by hand while the processor is stopped (as a
// broker restart that loses the commit marker in __consumer_offsets leaves them): the restarted
// processor continues where its transactions ended, without processing anything twice.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  KafkaPartitionConsumer,
  TransactionalProducer,
} from '../../../core/kafka/index.ts';
import { ProcessorRuntime } from '../../../processors/runtime/runtime.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  checkSequences,
  produceEvents,
  readCommitted,
  sequencedEvents,
  tempDir,
} from './harness.ts';

const kafka = defaultKafkaConfig('positions-test');
let dir: string;
let admin: KafkaAdmin;
const logs: string[] = [];

before(() => {
  ensureServices('kafka');
  dir = tempDir('tributary-positions-');
  admin = new KafkaAdmin(kafka);
});

after(async () => {
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a restarted task continues from the positions its transactions recorded, even when the group offsets are behind', async () => {
  const name = uniqueName('pos');
  const input = `${name}.in`;
  const output = `${name}.out`;
  await admin.ensureTopics([{ name: input, partitions: 2 }]);
  const events = sequencedEvents(input, 2_500, 50);
  await produceEvents(kafka, events.slice(0, 2_000));
  const config = {
    name,
    inputs: [input],
    output,
    stateDir: dir,
    processors: [{ module: 'test/fixtures/processors/tag.ts' }],
  };
  const log = (m: string) => logs.push(m);

  const first = new ProcessorRuntime(config, { kafka, log });
  await first.start();
  assert.equal((await readCommitted(kafka, output, 2_000, 60_000)).length, 2_000);
  await first.stop();
  assert.deepEqual(
    (await admin.partitionCounts([`${name}-positions`])).get(`${name}-positions`),
    2,
    'the positions topic has one partition per task',
  );

  // Move the group's offsets back to the start: a member of the group commits them in a
  // transaction of another producer.
  const member = new KafkaPartitionConsumer(kafka, { groupId: name, sessionTimeoutMs: 6000 });
  const producer = new TransactionalProducer(kafka, uniqueName('pos-reset'));
  try {
    const { generation, partitions } = await member.join([input]);
    const txn = await producer.begin();
    await txn.sendPositions(
      generation,
      partitions.map((tp) => ({ ...tp, offset: 0n })),
    );
    await txn.commit();
    const moved = await member.committed(partitions);
    assert.deepEqual([...moved.values()], [0n, 0n]);
  } finally {
    await producer.close();
    await member.close();
  }

  const second = new ProcessorRuntime(config, { kafka, log });
  await second.start();
  try {
    await produceEvents(kafka, events.slice(2_000));
    const records = await readCommitted(kafka, output, 2_500, 60_000);
    assert.deepEqual(checkSequences(records, 2_500, 50), [], logs.join('\n'));
    assert.equal(records.length, 2_500);
  } finally {
    await second.stop();
  }
});
