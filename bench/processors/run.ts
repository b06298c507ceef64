// Processor benchmark: events/s through mask -> rename -> join (global store), with
// exactly-once and at-least-once, in one run on the local broker, and their ratio. The output
// is counted (read_committed) by a separate process, bench/processors/count-output.ts. Baseline of
// the same run: a raw copy of the input topic to another topic (fetch + produce, no decoding,
// no processors) — what Kafka I/O alone reaches on the machine at that moment. Also printed:
// the CPU time this process spent per event (less sensitive to other load than events/s).
//   node --import tsx bench/processors/run.ts [events=100000] [rounds=1]
// Not a test: it prints numbers. The machine is shared and noisy; run it more than once.
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toKafkaRecords } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { BENCH_CUSTOMERS as CUSTOMERS, benchChain, customer, order } from './events.ts';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  KafkaPartitionConsumer,
  KafkaProducer,
} from '../../core/kafka/index.ts';
import { ProcessorRuntime } from '../../processors/runtime/runtime.ts';

const EVENTS = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 1);
const PARTITIONS = 4;
const kafka = defaultKafkaConfig('bench-processors');
const run = `bench-proc-${Date.now().toString(36)}`;
async function produce(events: ChangeEvent[]): Promise<void> {
  const p = new KafkaProducer(kafka);
  for (let i = 0; i < events.length; i += 10_000)
    await p.send(events.slice(i, i + 10_000).flatMap((e) => toKafkaRecords(e, { format: 'json' })));
  await p.close();
}

async function measure(
  guarantee: 'exactly_once' | 'at_least_once',
  input: string,
  customers: string,
  round: number,
): Promise<number> {
  const name = `${run}-${guarantee}-${round}`;
  const output = `${name}.out`;
  const stateDir = join(tmpdir(), name);
  const rt = new ProcessorRuntime(
    {
      name,
      inputs: [input],
      output,
      guarantee,
      stateDir,
      processors: benchChain(customers),
    },
    { kafka, log: () => undefined },
  );
  // The output is counted by a separate process: reading it here would take CPU from the runtime.
  const counter = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'bench/processors/count-output.ts',
      output,
      String(EVENTS),
      String(PARTITIONS),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let counterOut = '';
  const counted = new Promise<number>((resolve, reject) => {
    counter.stdout.on('data', (d: Buffer) => {
      counterOut += d.toString();
      const m = /done (\d+)/.exec(counterOut);
      if (m) resolve(Number(m[1]));
    });
    counter.once('exit', (code) => reject(new Error(`output counter exited (${code})`)));
  });
  await new Promise<void>((resolve) =>
    counter.stdout.on('data', () => counterOut.includes('ready') && resolve()),
  );
  await rt.start(); // includes restoring the global customers store
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const seconds = ((await counted) - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const m = rt.metrics();
  await rt.stop();
  rmSync(stateDir, { recursive: true, force: true });
  const rate = EVENTS / seconds;
  console.log(
    `${guarantee.padEnd(13)} round ${round}: ${EVENTS} events in ${seconds.toFixed(2)} s = ${Math.round(rate)} events/s, ${cpuPerEvent(cpu)} (commits ${m.commits})`,
  );
  return rate;
}

function cpuPerEvent(cpu: NodeJS.CpuUsage): string {
  return `${((cpu.user + cpu.system) / EVENTS).toFixed(1)} us CPU/event`;
}

/** Baseline: the input copied record by record to another topic, no decoding, no processors. */
async function copyBaseline(input: string, round: number): Promise<number> {
  const output = `${run}-copy-${round}.out`;
  const admin2 = new KafkaAdmin(kafka);
  await admin2.ensureTopics([{ name: output, partitions: PARTITIONS }]);
  await admin2.close();
  const reader = new KafkaPartitionConsumer(kafka);
  const producer = new KafkaProducer(kafka);
  const pos = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, 0n] as [number, bigint]));
  let copied = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  while (copied < EVENTS) {
    const f = await reader.fetch(
      [...pos].map(([partition, offset]) => ({ topic: input, partition, offset })),
      100,
    );
    const out = [];
    for (const x of f) {
      for (const r of x.records)
        out.push({ topic: output, key: r.key, value: r.value, headers: r.headers });
      pos.set(x.partition, x.nextOffset);
    }
    copied += out.length;
    if (out.length) await producer.send(out);
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await producer.close();
  await reader.close();
  const rate = EVENTS / seconds;
  console.log(
    `${'copy baseline'.padEnd(13)} round ${round}: ${EVENTS} events in ${seconds.toFixed(2)} s = ${Math.round(rate)} events/s, ${cpuPerEvent(cpu)}`,
  );
  return rate;
}

const input = `${run}.orders`;
const customers = `${run}.customers`;
const admin = new KafkaAdmin(kafka);
await admin.ensureTopics([
  { name: input, partitions: PARTITIONS },
  { name: customers, partitions: 1 },
]);
console.log(`producing ${CUSTOMERS} customers and ${EVENTS} orders (${PARTITIONS} partitions)...`);
await produce(Array.from({ length: CUSTOMERS }, (_, i) => customer(customers, i)));
await produce(Array.from({ length: EVENTS }, (_, i) => order(input, i)));
const eos: number[] = [];
const alos: number[] = [];
const copy: number[] = [];
for (let r = 1; r <= ROUNDS; r++) {
  copy.push(await copyBaseline(input, r));
  alos.push(await measure('at_least_once', input, customers, r));
  eos.push(await measure('exactly_once', input, customers, r));
}
const best = (xs: number[]) => Math.max(...xs);
console.log(
  `best: exactly-once ${Math.round(best(eos))} events/s, at-least-once ${Math.round(best(alos))} events/s, ` +
    `EOS/ALOS = ${(best(eos) / best(alos)).toFixed(2)} (EOS overhead ${((1 - best(eos) / best(alos)) * 100).toFixed(1)}%), ` +
    `copy baseline ${Math.round(best(copy))} events/s, EOS/copy = ${(best(eos) / best(copy)).toFixed(2)}`,
);
await admin.deleteTopics([input, customers]).catch(() => undefined);
await admin.close();
