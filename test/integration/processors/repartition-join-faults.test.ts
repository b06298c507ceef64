// A stream–table join whose lookup key is not the stream's key: orders (keyed by order id, 3
// partitions) enriched with the customer by customer_id (customers: 4 partitions, keyed by id).
// The runtime re-keys the orders through `<app>-customers-repartition` (4 partitions, written
// in the same transactions as the consumed input offsets) and joins them co-partitioned with
// the customers topic. Under faults — a third of the transactions aborted, the processor
// SIGKILLed three times, customers updated mid-stream — an independent read_committed reader
// finds every order exactly once, in per-order order, enriched with its own customer in a
// version at least as new as the one written before the order was produced; the repartition
// topic itself holds every order exactly once in its committed records.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ChangeEvent } from '../../../core/events/index.ts';
import { defaultKafkaConfig, KafkaAdmin } from '../../../core/kafka/index.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import {
  checkSequences,
  CommittedCounter,
  ProcessorProcess,
  produceEvents,
  readCommitted,
  tempDir,
} from './harness.ts';

const ORDERS = 10_000;
const EVENTS_PER_ORDER = 3;
const TOTAL = ORDERS * EVENTS_PER_ORDER;
const CUSTOMERS = 300;
const kafka = defaultKafkaConfig('repartition-join-test');
let dir: string;
const processes: ProcessorProcess[] = [];

before(() => {
  ensureServices('kafka');
  dir = tempDir('tributary-repartition-');
});

/** Closed in after(): an open client would keep the test process alive after a failure. */
const clients: Array<{ close(): Promise<void> }> = [];

after(async () => {
  for (const p of processes) p.kill('SIGKILL');
  for (const c of clients) await c.close().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

const source = (table: string) => ({
  version: '3.0.0',
  connector: 'postgresql',
  name: 'test',
  ts_ms: 1767225600000,
  db: 'shop',
  schema: 'public',
  table,
});

function customer(topic: string, id: number, version: number): ChangeEvent {
  const row = { id, name: `c${id}-v${version}`, version };
  return {
    topic,
    key: { id },
    version: BigInt(version),
    value: {
      before: null,
      after: row,
      source: source('customers'),
      transaction: null,
      op: version === 1 ? 'r' : 'u',
      ts_ms: 1767225600000,
    },
  };
}

/** Event i: order i % ORDERS, its seq-th change; the customer version written before it. */
function order(topic: string, i: number, minVersion: number): ChangeEvent {
  const id = i % ORDERS;
  const seq = Math.floor(i / ORDERS);
  return {
    topic,
    key: { id },
    version: BigInt(i + 1),
    value: {
      before: null,
      after: {
        id,
        seq,
        customer_id: (id * 7) % CUSTOMERS,
        min_version: minVersion,
        note: 'x'.repeat(40),
      },
      source: source('orders'),
      transaction: null,
      op: seq === 0 ? 'c' : 'u',
      ts_ms: 1767225600000 + i,
    },
  };
}

test(
  'repartitioning join: exactly-once across the hop through aborts, 3 SIGKILLs and table updates',
  { timeout: 300_000 },
  async () => {
    const name = uniqueName('rekey');
    const orders = `${name}.orders`;
    const customers = `${name}.customers`;
    const output = `${name}.out`;
    const admin = new KafkaAdmin(kafka);
    clients.push(admin);
    await admin.ensureTopics([
      { name: orders, partitions: 3 },
      { name: customers, partitions: 4 },
    ]);
    await produceEvents(
      kafka,
      Array.from({ length: CUSTOMERS }, (_, id) => customer(customers, id, 1)),
    );
    const firstHalf = TOTAL / 2;
    await produceEvents(
      kafka,
      Array.from({ length: firstHalf }, (_, i) => order(orders, i, 1)),
    );

    const config = {
      name,
      inputs: [orders],
      output,
      processors: [
        { builtin: 'drop', config: { fields: ['note'] } },
        {
          builtin: 'join',
          config: {
            store: 'customers',
            table: customers,
            mode: 'repartition',
            on: 'customer_id',
            as: 'customer',
          },
        },
      ],
      stateDir: dir,
      commitIntervalMs: 100,
      maxBatchRecords: 1000,
      sessionTimeoutMs: 6000,
      faults: { abortRatio: 0.33 },
    };
    const start = () => {
      const p = ProcessorProcess.spawn(config, kafka.brokers.join(','), dir);
      processes.push(p);
      return p;
    };
    const counter = new CommittedCounter(kafka, output, 3);
    clients.push(counter);
    let current = start();
    await current.waitFor('processor ready', 60_000);
    const repartition = `${name}-customers-repartition`;
    assert.equal(
      (await admin.partitionCounts([repartition])).get(repartition),
      4,
      'the repartition topic is co-partitioned with the customers topic, not the orders topic',
    );

    const kills = [0.2, 0.5, 0.75];
    let secondHalfProduced = false;
    const done: string[] = [];
    const deadline = Date.now() + 240_000;
    while ((await counter.poll()) < TOTAL) {
      assert.ok(
        Date.now() < deadline,
        `stuck at ${counter.count}:\n${current.output.slice(-3000)}`,
      );
      if (!secondHalfProduced && counter.count >= 0.3 * TOTAL) {
        // Customers change while orders flow: every order produced after this point must see
        // version 2 of its customer.
        secondHalfProduced = true;
        await produceEvents(
          kafka,
          Array.from({ length: CUSTOMERS }, (_, id) => customer(customers, id, 2)),
        );
        await produceEvents(
          kafka,
          Array.from({ length: TOTAL - firstHalf }, (_, i) => order(orders, firstHalf + i, 2)),
        );
        done.push(`customers v2 at ${counter.count}`);
      }
      if (kills.length && counter.count >= kills[0]! * TOTAL) {
        kills.shift();
        current.kill('SIGKILL');
        await current.exited;
        done.push(`kill at ${counter.count}`);
        current = start();
      }
    }
    assert.equal(kills.length, 0, `every kill happened (${done.join(', ')})`);
    current.kill('SIGTERM');
    await current.exited;

    const records = await readCommitted(kafka, output, TOTAL, 90_000);
    // checkSequences reads after.{id, seq}: exactly once per order change and per-order order.
    assert.deepEqual(checkSequences(records, TOTAL, ORDERS), [], done.join(', '));
    assert.equal(records.length, TOTAL);
    const problems: string[] = [];
    let v2 = 0;
    for (const r of records) {
      const key = JSON.parse(r.key!.toString()) as { id: number };
      const a = JSON.parse(r.value!.toString()).after as {
        id: number;
        customer_id: number;
        min_version: number;
        note?: string;
        customer: { id: number; name: string; version: number } | null;
      };
      const c = a.customer;
      if (key.id !== a.id) problems.push(`order ${a.id} output keyed ${key.id}`);
      if (a.note !== undefined) problems.push(`order ${a.id}: drop did not run`);
      if (!c) problems.push(`order ${a.id}: no customer`);
      else if (c.id !== a.customer_id || c.name !== `c${c.id}-v${c.version}`)
        problems.push(`order ${a.id}: wrong customer ${JSON.stringify(c)}`);
      else if (c.version < a.min_version)
        problems.push(`order ${a.id}: customer v${c.version}, older than v${a.min_version}`);
      else if (c.version === 2) v2++;
      if (problems.length > 10) break;
    }
    assert.deepEqual(problems, []);
    assert.ok(v2 >= TOTAL / 2, `orders produced after the update saw it (${v2})`);
    const hop = await readCommitted(kafka, repartition, TOTAL, 30_000);
    assert.equal(hop.length, TOTAL, 'the repartition topic committed every order exactly once');
    await admin.deleteTopics([orders, customers, output, repartition]).catch(() => undefined);
    process.stderr.write(`repartition faults: ${done.join(', ')}\n`);
  },
);
