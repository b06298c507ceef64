// State after faults: per-key count/sum/min/max over 20,000 keys computed in a RocksDB store,
// the processor killed with SIGKILL three times keeping its state directory; the final
// aggregates in the output equal a recomputation from the input, and every input produced
// exactly one output (no duplicate, no loss).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { defaultKafkaConfig, KafkaAdmin } from '../../../core/kafka/index.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  CommittedCounter,
  ProcessorProcess,
  produceEvents,
  readCommitted,
  sequencedEvents,
  tempDir,
} from './harness.ts';

const KEYS = 20_000;
const TOTAL = 60_000;
const PARTITIONS = 4;
const kafka = defaultKafkaConfig('state-faults-test');
let dir: string;
const processes: ProcessorProcess[] = [];

before(() => {
  ensureServices('kafka');
  dir = tempDir('tributary-state-');
});

after(() => {
  for (const p of processes) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

test(
  'per-key aggregates in a store survive 3 SIGKILLs and equal a recomputation',
  { timeout: 240_000 },
  async () => {
    const name = uniqueName('state');
    const input = `${name}.in`;
    const output = `${name}.out`;
    const admin = new KafkaAdmin(kafka);
    await admin.ensureTopics([{ name: input, partitions: PARTITIONS }]);
    await admin.close();
    const events = sequencedEvents(input, TOTAL, KEYS);
    await produceEvents(kafka, events);
    const expected = new Map<number, { count: number; sum: number; min: number; max: number }>();
    for (const e of events) {
      const { id, n } = e.value.after as { id: number; n: number };
      const a = expected.get(id);
      expected.set(
        id,
        a
          ? { count: a.count + 1, sum: a.sum + n, min: Math.min(a.min, n), max: Math.max(a.max, n) }
          : { count: 1, sum: n, min: n, max: n },
      );
    }

    const config = {
      name,
      inputs: [input],
      output,
      processors: [{ module: 'test/fixtures/processors/aggregate.ts' }],
      stateDir: dir, // the same directory across restarts: local stores are kept
      commitIntervalMs: 100,
      maxBatchRecords: 500,
      sessionTimeoutMs: 6000,
    };
    const start = () => {
      const p = ProcessorProcess.spawn(config, kafka.brokers.join(','), dir);
      processes.push(p);
      return p;
    };
    const counter = new CommittedCounter(kafka, output, PARTITIONS);
    let current = start();
    await current.waitFor('processor ready', 60_000);
    const kills = [0.2, 0.45, 0.7];
    const deadline = Date.now() + 200_000;
    while ((await counter.poll()) < TOTAL) {
      assert.ok(
        Date.now() < deadline,
        `stuck at ${counter.count}:\n${current.output.slice(-3000)}`,
      );
      if (kills.length && counter.count >= kills[0]! * TOTAL) {
        kills.shift();
        current.kill('SIGKILL');
        await current.exited;
        current = start();
      }
    }
    assert.equal(kills.length, 0);
    current.kill('SIGTERM');
    await current.exited;
    await counter.close();
    const restored = processes
      .slice(1)
      .map((p) => /restored (\d+) changelog records/.test(p.output));
    assert.ok(
      restored.every(Boolean),
      'every restarted processor rebuilt its stores from the changelog',
    );

    const records = await readCommitted(kafka, output, TOTAL, 90_000);
    assert.equal(records.length, TOTAL, 'one output per input: no duplicate, no loss');
    const last = new Map<number, { count: number; sum: number; min: number; max: number }>();
    for (const r of records) {
      const a = JSON.parse(r.value!.toString()).after as {
        id: number;
        count: number;
        sum: number;
        min: number;
        max: number;
      };
      last.set(a.id, { count: a.count, sum: a.sum, min: a.min, max: a.max });
    }
    assert.equal(last.size, KEYS);
    let mismatches = 0;
    for (const [id, agg] of expected)
      if (JSON.stringify(last.get(id)) !== JSON.stringify(agg)) mismatches++;
    assert.equal(mismatches, 0, 'final aggregates equal the recomputation from the input');
  },
);
