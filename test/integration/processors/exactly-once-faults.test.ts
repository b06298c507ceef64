// Exactly-once under faults, modelled on Kafka's transactions_test: 100,000 input records; the
// processor aborts about a third of its transactions at random; it is killed with SIGKILL three
// times at >= 20% progress and the broker (a private one) is killed and restarted once. An
// independent read_committed consumer then checks: no duplicates, no missing records, per-key
// order preserved.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { KafkaAdmin } from '../../../core/kafka/index.ts';
import type { KafkaConfig } from '../../../core/kafka/index.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  checkSequences,
  CommittedCounter,
  PrivateBroker,
  ProcessorProcess,
  produceEvents,
  readCommitted,
  sequencedEvents,
  tempDir,
} from './harness.ts';

const TOTAL = 100_000;
const KEYS = 1_000;
const PARTITIONS = 4;
let broker: PrivateBroker;
let kafka: KafkaConfig;
let dir: string;
const processes: ProcessorProcess[] = [];

before(async () => {
  ensureServices('kafka'); // the infra scripts and jars; the test itself uses a private broker
  broker = await PrivateBroker.start();
  kafka = { brokers: [broker.brokers], clientId: 'eos-faults-test' };
  dir = tempDir('tributary-eos-');
});

after(async () => {
  for (const p of processes) p.kill('SIGKILL');
  broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(
  'exactly-once through aborts, 3 SIGKILLs of the processor and a hard broker restart',
  { timeout: 300_000 },
  async () => {
    const name = uniqueName('eos');
    const input = `${name}.in`;
    const output = `${name}.out`;
    const admin = new KafkaAdmin(kafka);
    await admin.ensureTopics([{ name: input, partitions: PARTITIONS }]);
    await admin.close();
    await produceEvents(kafka, sequencedEvents(input, TOTAL, KEYS));

    const config = {
      name,
      inputs: [input],
      output,
      processors: [{ module: 'test/fixtures/processors/tag.ts' }],
      stateDir: dir,
      commitIntervalMs: 100,
      maxBatchRecords: 1000,
      sessionTimeoutMs: 6000,
      faults: { abortRatio: 0.33 },
    };
    const start = () => {
      const p = ProcessorProcess.spawn(config, broker.brokers, dir);
      processes.push(p);
      return p;
    };
    const counter = new CommittedCounter(kafka, output, PARTITIONS);
    let current = start();
    await current.waitFor('processor ready', 90_000);

    // fault plan: [progress fraction, action]
    const plan: Array<[number, 'kill' | 'broker']> = [
      [0.2, 'kill'],
      [0.4, 'kill'],
      [0.55, 'broker'],
      [0.7, 'kill'],
    ];
    const done: string[] = [];
    let lastProgress = Date.now();
    let lastCount = 0;
    while ((await counter.poll()) < TOTAL) {
      if (counter.count > lastCount) {
        lastCount = counter.count;
        lastProgress = Date.now();
      }
      assert.ok(
        Date.now() - lastProgress < 90_000,
        `no progress for 90 s at ${counter.count}; processor output:\n${current.output.slice(-4000)}`,
      );
      const step = plan[0];
      if (step && counter.count >= step[0] * TOTAL) {
        plan.shift();
        if (step[1] === 'kill') {
          current.kill('SIGKILL');
          await current.exited;
          done.push(`kill at ${counter.count}`);
          current = start();
        } else {
          broker.hardRestart();
          done.push(`broker restart at ${counter.count}`);
        }
      }
    }
    assert.equal(plan.length, 0, `every fault happened before the end (${done.join(', ')})`);
    current.kill('SIGTERM');
    await current.exited;
    await counter.close();

    const records = await readCommitted(kafka, output, TOTAL, 120_000);
    assert.deepEqual(checkSequences(records, TOTAL, KEYS), [], `faults: ${done.join(', ')}`);
    assert.equal(records.length, TOTAL);
    const m = /metrics (\{.*\})/.exec(
      current.output
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('metrics')) ?? '',
    );
    if (m) assert.ok(JSON.parse(m[1]!).aborts >= 0);
    const aborted = processes
      .map((p) => [...p.output.matchAll(/"aborts":(\d+)/g)].pop()?.[1])
      .filter(Boolean);
    process.stderr.write(
      `faults: ${done.join(', ')}; aborts per process (last metrics): ${aborted.join(', ')}\n`,
    );
  },
);
