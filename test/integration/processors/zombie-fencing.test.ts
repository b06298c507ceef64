// Zombie fencing: a processor is frozen with SIGSTOP past its session timeout, a replacement
// takes over its partitions (fencing its transactional ids), then the old one is resumed with
// SIGCONT: its writes are refused and no duplicate appears in the output.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { defaultKafkaConfig, KafkaAdmin, KafkaProducer } from '../../../core/kafka/index.ts';
import { toKafkaRecords } from '../../../core/events/index.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  checkSequences,
  CommittedCounter,
  ProcessorProcess,
  readCommitted,
  sequencedEvents,
  sleep,
  tempDir,
} from './harness.ts';

const TOTAL = 30_000;
const KEYS = 300;
const PARTITIONS = 2;
const kafka = defaultKafkaConfig('zombie-test');
let dir: string;
const processes: ProcessorProcess[] = [];

before(() => {
  ensureServices('kafka');
  dir = tempDir('tributary-zombie-');
});

after(() => {
  for (const p of processes) {
    p.kill('SIGCONT');
    p.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
});

test(
  'a SIGSTOPped processor is fenced after a replacement took over; no duplicates',
  { timeout: 180_000 },
  async () => {
    const name = uniqueName('zombie');
    const input = `${name}.in`;
    const output = `${name}.out`;
    const admin = new KafkaAdmin(kafka);
    await admin.ensureTopics([{ name: input, partitions: PARTITIONS }]);
    await admin.close();
    const events = sequencedEvents(input, TOTAL, KEYS);
    const config = {
      name,
      inputs: [input],
      output,
      processors: [{ module: 'test/fixtures/processors/tag.ts' }],
      stateDir: dir,
      commitIntervalMs: 200,
      maxBatchRecords: 200,
      sessionTimeoutMs: 6000,
    };
    // Input keeps flowing during the whole test, so the zombie has work in flight when frozen.
    const producer = new KafkaProducer(kafka);
    let sent = 0;
    const feeding = (async () => {
      while (sent < TOTAL) {
        const batch = events.slice(sent, sent + 300);
        await producer.send(batch.flatMap((e) => toKafkaRecords(e, { format: 'json' })));
        sent += batch.length;
        await sleep(40);
      }
    })();

    const counter = new CommittedCounter(kafka, output, PARTITIONS);
    const zombie = ProcessorProcess.spawn(config, kafka.brokers.join(','), dir);
    processes.push(zombie);
    await zombie.waitFor('processor ready');
    while ((await counter.poll()) < 3000) await sleep(50);
    zombie.kill('SIGSTOP');
    const frozenAt = counter.count;

    const replacement = ProcessorProcess.spawn(config, kafka.brokers.join(','), dir);
    processes.push(replacement);
    await replacement.waitFor('processor ready', 60_000);
    while ((await counter.poll()) < frozenAt + 3000) await sleep(50);
    zombie.kill('SIGCONT');
    await zombie.waitFor('fenced', 30_000);

    await feeding;
    await producer.close();
    const deadline = Date.now() + 120_000;
    while ((await counter.poll()) < TOTAL && Date.now() < deadline);
    zombie.kill('SIGTERM');
    replacement.kill('SIGTERM');
    await Promise.all([zombie.exited, replacement.exited]);
    await counter.close();

    const records = await readCommitted(kafka, output, TOTAL, 60_000);
    assert.deepEqual(checkSequences(records, TOTAL, KEYS), []);
    assert.equal(records.length, TOTAL);
  },
);
