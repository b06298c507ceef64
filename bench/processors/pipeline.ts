// Processor pipeline CPU cost without Kafka: decode -> mask -> rename -> join (global store in
// memory, behind the same read cache as the runtime's) -> encode, for Debezium-shaped order
// events, through the RecordPipeline the runtime's tasks use. Baseline of the same run: the same
// records through a chain of one pass-through processor (decode + encode only). Prints CPU time
// per record (process.cpuUsage, less sensitive to other load on the machine than wall time).
//   node --import tsx bench/processors/pipeline.ts [records=100000] [rounds=3]
import { toKafkaRecords } from '../../core/events/index.ts';
import type { IncomingRecord } from '../../core/kafka/index.ts';
import { BENCH_CUSTOMERS as CUSTOMERS, order } from './events.ts';
import { defineProcessor } from '../../processors/api/index.ts';
import { ProcessorChain } from '../../processors/runtime/chain.ts';
import { loadProcessors } from '../../processors/runtime/loader.ts';
import type { ProcessorSpec } from '../../processors/runtime/loader.ts';
import { RecordPipeline } from '../../processors/runtime/pipeline.ts';
import { CachedBackend, MemoryBackend } from '../../processors/runtime/stores/backend.ts';
import { StagedStore } from '../../processors/runtime/stores/staged-store.ts';

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 3);

async function pipelineOf(specs: ProcessorSpec[]): Promise<RecordPipeline> {
  const nodes = await loadProcessors(specs, 'fail');
  const mem = new MemoryBackend();
  const rows: Array<[string, string]> = [];
  for (let id = 0; id < CUSTOMERS; id++)
    rows.push([`{"id":${id}}`, JSON.stringify({ id, name: `Customer ${id}`, tier: id % 3 })]);
  await mem.write(rows);
  const stores = new Map([
    ['customers', new StagedStore('customers', new CachedBackend(mem), true)],
  ]);
  return new RecordPipeline(new ProcessorChain(nodes, stores, 0, Date.now), {
    outputTopic: 'out',
    format: 'json',
    inputPolicy: 'fail',
    dlqTopic: 'dlq',
  });
}

function records(): IncomingRecord[] {
  const out: IncomingRecord[] = [];
  for (let i = 0; i < N; i++) {
    const [r] = toKafkaRecords(order('in', i), { format: 'json' });
    const headers: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(r!.headers)) headers[k] = Buffer.from(v);
    out.push({
      topic: 'in',
      partition: 0,
      offset: BigInt(i),
      key: r!.key,
      value: r!.value,
      headers,
      timestamp: 0n,
    });
  }
  return out;
}

async function measure(name: string, p: RecordPipeline, recs: IncomingRecord[]): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const c0 = process.cpuUsage();
    for (const r of recs) await p.handle(r);
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / recs.length);
  }
  console.log(
    `${name.padEnd(34)} ${best.toFixed(2)} us CPU/record (= ${Math.round(1e6 / best)} records per CPU-second)`,
  );
  return best;
}

const recs = records();
const passThrough = defineProcessor({ name: 'pass', process: (e, ctx) => ctx.forward(e) });
const base = await measure('baseline: decode + encode only', await pipelineOf([passThrough]), recs);
const chain = await measure(
  'mask -> rename -> join',
  await pipelineOf([
    {
      builtin: 'mask',
      config: { rules: [{ fields: ['email'], action: 'hash', secret: 'bench-secret' }] },
    },
    { builtin: 'rename', config: { fields: { amt: 'amount' } } },
    {
      builtin: 'join',
      config: { store: 'customers', table: 'c', on: 'customer_id', as: 'customer' },
    },
  ]),
  recs,
);
console.log(`chain / baseline = ${(chain / base).toFixed(2)}`);
