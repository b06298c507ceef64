// Scale-out benchmark: the same exactly-once mask -> rename -> join service run as 1 and as 2
// processes in one consumer group (4 input partitions: 2 tasks each), on the local broker. The
// input is produced while the service runs (after the group is stable); time runs from the
// first input record sent to the last output committed, counted by a separate read_committed
// process. The 1-process run is the same-run baseline of the 2-process one.
//   node --import tsx bench/processors/scale.ts [events=100000]
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toKafkaRecords } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { defaultKafkaConfig, KafkaAdmin, KafkaProducer } from '../../core/kafka/index.ts';
import { BENCH_CUSTOMERS, benchChain, customer, order } from './events.ts';

const EVENTS = Number(process.argv[2] ?? 100_000);
const PARTITIONS = 4;
const kafka = defaultKafkaConfig('bench-processors-scale');
const run = `bench-scale-${Date.now().toString(36)}`;
const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));

async function produce(events: ChangeEvent[]): Promise<void> {
  const p = new KafkaProducer(kafka);
  for (let i = 0; i < events.length; i += 10_000)
    await p.send(events.slice(i, i + 10_000).flatMap((e) => toKafkaRecords(e, { format: 'json' })));
  await p.close();
}

function node(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function until(what: string, ok: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The last "assigned partitions [..]" line of a service's log has `n` partitions. */
function assigned(log: string, n: number): boolean {
  const lines = [...log.matchAll(/assigned partitions \[([\d, ]*)\]/g)];
  const last = lines[lines.length - 1]?.[1];
  return last !== undefined && last.split(',').filter((x) => x.trim()).length === n;
}

function serviceConfig(
  name: string,
  input: string,
  output: string,
  customers: string,
  i: number,
): Record<string, unknown> {
  return {
    name,
    inputs: [input],
    output,
    stateDir: join(dir, `state-${i}`),
    processors: benchChain(customers),
  };
}

async function measure(instances: number, customers: string): Promise<number> {
  const name = `${run}-x${instances}`;
  const input = `${name}.orders`;
  const output = `${name}.out`;
  const admin = new KafkaAdmin(kafka);
  await admin.ensureTopics([{ name: input, partitions: PARTITIONS }]);
  await admin.close();
  // Each process has its own state directory, as on separate machines.
  const config = (i: number) => {
    const file = join(dir, `${name}-${i}.json`);
    writeFileSync(file, JSON.stringify(serviceConfig(name, input, output, customers, i)));
    return file;
  };
  const services = Array.from({ length: instances }, (_, i) =>
    node(['processors/runtime/main.ts', config(i)]),
  );
  await until('a stable group', () =>
    services.every((s) => assigned(s.output(), PARTITIONS / instances)),
  ).catch((err: Error) => {
    for (const s of services) s.child.kill('SIGKILL');
    throw new Error(
      `${err.message}:\n${services.map((s) => s.output().slice(-1500)).join('\n---\n')}`,
    );
  });
  await new Promise((r) => setTimeout(r, 1000)); // no rebalance pending
  if (!services.every((s) => assigned(s.output(), PARTITIONS / instances)))
    throw new Error('group still rebalancing');
  const counter = node([
    'bench/processors/count-output.ts',
    output,
    String(EVENTS),
    String(PARTITIONS),
  ]);
  await until('the counter', () => counter.output().includes('ready'));
  const records = Array.from({ length: EVENTS }, (_, i) =>
    toKafkaRecords(order(input, i), { format: 'json' }),
  ).flat();
  const producer = new KafkaProducer(kafka);
  const t0 = Date.now();
  for (let i = 0; i < records.length; i += 20_000)
    await producer.send(records.slice(i, i + 20_000));
  const producedAt = Date.now();
  await producer.close();
  await until('the output', () => /done \d+/.test(counter.output()), 300_000);
  const done = Number(/done (\d+)/.exec(counter.output())![1]);
  for (const s of services) s.child.kill('SIGTERM');
  await Promise.all(services.map((s) => new Promise((r) => s.child.once('exit', r))));
  const rate = EVENTS / ((done - t0) / 1000);
  console.log(
    `exactly-once, ${instances} process(es): ${EVENTS} events in ${((done - t0) / 1000).toFixed(2)} s = ${Math.round(rate)} events/s (input produced in ${((producedAt - t0) / 1000).toFixed(2)} s)`,
  );
  return rate;
}

const customers = `${run}.customers`;
const admin = new KafkaAdmin(kafka);
await admin.ensureTopics([{ name: customers, partitions: 1 }]);
await admin.close();
await produce(Array.from({ length: BENCH_CUSTOMERS }, (_, i) => customer(customers, i)));
try {
  const one = await measure(1, customers);
  const two = await measure(2, customers);
  console.log(`2 processes / 1 process = ${(two / one).toFixed(2)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
