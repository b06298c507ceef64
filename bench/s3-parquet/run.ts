// S3 Parquet sink throughput: rows/s and CPU per row written as snappy Parquet (rows of ~500
// bytes of JSON) to the local filesystem and to s3rver, through Kafka and the sink runtime, with
// peak memory, next to hyparquet-writer alone (the baseline) and the sink's own encoder alone
// writing the same rows and columns (row + metadata columns), measured in the same run.
//   node --import tsx bench/s3-parquet/run.ts [rows=200000] [phases=library,encoder,sink,file,s3]
// Needs: bash infra/up kafka s3
// Each phase runs in its own process, so its peak memory is its own. The library and sink-only
// phases generate their input as they go (generation is not timed); the Kafka phases read it
// from a topic produced beforehand.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ByteWriter, parquetWrite } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import { snappyCompressor } from 'hysnappy';
import { toKafkaRecords } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { defaultKafkaConfig } from '../../core/kafka/index.ts';
import { SinkRuntime } from '../../sinks/runtime/runtime.ts';
import type { SinkRecord } from '../../sinks/runtime/sink.ts';
import { s3ParquetSinkConfigSchema } from '../../sinks/s3-parquet/config.ts';
import { compressorFor, ParquetFileBuilder } from '../../sinks/s3-parquet/file-builder.ts';
import { DICTIONARY_COLUMNS, META_COLUMNS } from '../../sinks/s3-parquet/schema.ts';
import { S3ParquetSink } from '../../sinks/s3-parquet/sink.ts';
import { createTopic, produce, rng, waitCaughtUp } from '../../test/integration/sinks/harness.ts';
import { uniqueName } from '../../test/integration/helpers.ts';

const ROWS = Number(process.argv[2] ?? 200_000);
const phases = (process.argv[3] ?? 'library,encoder,sink,file,s3').split(',');
const PARTITIONS = 4;
const ROLL = Math.ceil(ROWS / PARTITIONS / 2); // two files per partition
const kafka = defaultKafkaConfig('bench-s3-parquet');
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);
const WORDS =
  'order shipped customer invoice pending refund warehouse parcel express standard priority returned address street city region postal note gift'.split(
    ' ',
  );

/** ~500-byte rows: a few typed columns and a free-text note. */
function makeEvents(topic: string): ChangeEvent[] {
  return [...eventStream(topic, ROWS)];
}

/** The same events, generated as they are consumed (the input does not sit in the heap). */
function* eventStream(topic: string, count: number): Generator<ChangeEvent> {
  const rand = rng(11);
  for (let i = 0; i < count; i++) {
    let note = '';
    while (note.length < 330) note += WORDS[Math.floor(rand() * WORDS.length)] + ' ';
    // Flat strings, as decoded from Kafka (a `+=` string is a rope the encoders would flatten).
    note = JSON.parse(JSON.stringify(note)) as string;
    yield {
      topic,
      key: { id: i },
      version: BigInt(1_000_000 + i),
      value: {
        before: null,
        after: {
          id: i,
          customer: `customer-${Math.floor(rand() * 50_000)}`,
          email: `user${Math.floor(rand() * 50_000)}@example.com`,
          status: WORDS[i % 5],
          amount: Math.round(rand() * 1_000_000) / 100,
          qty: Math.floor(rand() * 20),
          created_at: T0 + i * 10,
          note,
        },
        source: {
          version: '3.0.0',
          connector: 'postgresql',
          name: 'bench',
          ts_ms: T0 + Math.floor(i / 100),
          db: 'shop',
          schema: 'public',
          table: 'orders',
        },
        transaction: null,
        op: 'c',
        ts_ms: T0 + Math.floor(i / 100) + 3,
      },
    };
  }
}

function take<T>(it: Iterator<T>, n: number): T[] {
  const out: T[] = [];
  for (let r = it.next(); !r.done; r = it.next()) {
    out.push(r.value);
    if (out.length === n) break;
  }
  return out;
}

/**
 * The time of `fn`, the process's peak RSS (kernel maxrss: the phase runs in its own process)
 * and the heap after the run; when `fn` uses the
 * `timed` helper, only the timed sections count (input generation is left out).
 */
async function measured(
  fn: (timed: <T>(section: () => T | Promise<T>) => Promise<T>) => Promise<void>,
): Promise<{ ms: number; cpuMs: number; rssMB: number; heapMB: number }> {
  global.gc?.();
  let sections = 0;
  let sectionMs = 0;
  let sectionCpu = 0;
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const timed = async <T>(section: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const c0 = cpuNow();
    try {
      return await section();
    } finally {
      sections++;
      sectionMs += performance.now() - t0;
      sectionCpu += cpuNow() - c0;
    }
  };
  const t = performance.now();
  const c = cpuNow();
  await fn(timed);
  const ms = sections > 0 ? sectionMs : performance.now() - t;
  const cpuMs = sections > 0 ? sectionCpu : cpuNow() - c;
  const heap = process.memoryUsage().heapUsed;
  return {
    ms,
    cpuMs,
    rssMB: Math.round(process.resourceUsage().maxRSS / 1024),
    heapMB: Math.round(heap / 2 ** 20),
  };
}

interface Result {
  phase: string;
  ms: number;
  /** CPU time of the phase process (user + system) in the timed part. */
  cpuMs: number;
  rssMB: number;
  heapMB: number;
}

function line(r: Result): string {
  return `${r.phase.padEnd(36)} ${Math.round((ROWS / r.ms) * 1000)
    .toLocaleString('en-US')
    .padStart(
      9,
    )} rows/s  ${(r.ms / 1000).toFixed(2)} s  cpu ${((r.cpuMs * 1000) / ROWS).toFixed(1)} us/row  peak rss ${r.rssMB} MB`;
}

const LABELS: Record<string, string> = {
  library: 'hyparquet-writer alone (baseline)',
  encoder: "sink's Parquet encoder alone",
  sink: 'sink writeBatch, no Kafka (file://)',
  file: 'Kafka -> sink runtime -> file://',
  s3: 'Kafka -> sink runtime -> s3rver',
};

async function runPhase(phase: string, topic: string): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-s3p-'));
  try {
    if (phase === 'library' || phase === 'encoder') {
      // The Parquet writer alone on the same rows and the same columns as the sink writes (the
      // row columns plus the metadata columns, same Parquet types), in files of the same size:
      // hyparquet-writer (the baseline: columns of JS values, INT64 as bigint) or the sink's own
      // encoder (file-builder.ts: rows of values, INT64 as numbers, as the sink passes them).
      const input = eventStream(topic, ROWS);
      const text = { type: 'BYTE_ARRAY', converted_type: 'UTF8' } as const;
      const schema: SchemaElement[] = [
        { name: 'id', type: 'INT64' },
        { name: 'customer', ...text },
        { name: 'email', ...text },
        { name: 'status', ...text },
        { name: 'amount', type: 'DOUBLE' },
        { name: 'qty', type: 'DOUBLE' },
        { name: 'created_at', type: 'DOUBLE' },
        { name: 'note', ...text },
      ].map((e) => ({ ...e, repetition_type: 'OPTIONAL' }) as SchemaElement);
      schema.push(...META_COLUMNS);
      const compress = await compressorFor('snappy');
      let offset = 0;
      const r = await measured(async (timed) => {
        for (let from = 0; from < ROWS; from += ROLL) {
          const slice = take(input, ROLL);
          await timed(() => {
            if (phase === 'encoder') {
              const b = new ParquetFileBuilder(
                schema,
                { codec: 'snappy', compress, rowGroupRows: 50_000 },
                DICTIONARY_COLUMNS,
              );
              const values: unknown[] = [];
              for (let i = 0; i < slice.length; i++) {
                const e = slice[i]!;
                const a = e.value.after!;
                values[0] = a.id;
                values[1] = a.customer;
                values[2] = a.email;
                values[3] = a.status;
                values[4] = a.amount;
                values[5] = a.qty;
                values[6] = a.created_at;
                values[7] = a.note;
                values[8] = e.value.op;
                values[9] = e.value.ts_ms;
                values[10] = e.value.source.ts_ms;
                values[11] = 'public.orders';
                values[12] = topic;
                values[13] = (from + i) % PARTITIONS;
                values[14] = BigInt(offset++);
                values[15] = e.version;
                b.add(values);
              }
              b.finish({});
              return;
            }
            const after = slice.map((e) => e.value.after!);
            const col = (k: string) => after.map((r) => r[k]);
            const meta = (f: (e: ChangeEvent, i: number) => unknown) => slice.map(f);
            const data: unknown[][] = [
              col('id').map((v) => BigInt(v as number)),
              col('customer'),
              col('email'),
              col('status'),
              col('amount'),
              col('qty'),
              col('created_at'),
              col('note'),
              meta((e) => e.value.op),
              meta((e) => BigInt(e.value.ts_ms)),
              meta((e) => BigInt(e.value.source.ts_ms)),
              meta(() => 'public.orders'),
              meta(() => topic),
              meta((_, i) => (from + i) % PARTITIONS),
              meta(() => BigInt(offset++)),
              meta((e) => e.version),
            ];
            const writer = new ByteWriter();
            parquetWrite({
              writer,
              compressors: { SNAPPY: snappyCompressor() },
              rowGroupSize: 50_000,
              schema: [{ name: 'root', num_children: schema.length }, ...schema],
              columnData: schema.map((e, i) => ({ name: e.name, data: data[i] as never })),
            });
            writer.getBytes();
          });
        }
      });
      return { phase, ...r };
    }
    if (phase === 'sink') {
      // The sink without Kafka: decoded records straight into writeBatch, to the filesystem.
      const sink = new S3ParquetSink(
        'bench',
        s3ParquetSinkConfigSchema.parse({
          type: 's3-parquet',
          url: `file://${join(dir, 'sink')}`,
          roll: { maxRecords: ROLL },
        }),
      );
      await sink.open();
      await sink.onAssigned(
        Array.from({ length: PARTITIONS }, (_, partition) => ({ topic, partition })),
      );
      const input = eventStream(topic, ROWS);
      let i = 0;
      const r = await measured(async (timed) => {
        for (let batch = take(input, 5000); batch.length > 0; batch = take(input, 5000)) {
          const records: SinkRecord[] = batch.map((event) => {
            const n = i++;
            return {
              kind: 'change',
              event,
              topic,
              partition: n % PARTITIONS,
              offset: BigInt(Math.floor(n / PARTITIONS)),
            };
          });
          await timed(() => sink.writeBatch(records));
        }
      });
      await sink.close();
      return { phase, ...r };
    }
    const sinkSpec =
      phase === 'file'
        ? {
            type: 's3-parquet' as const,
            url: `file://${join(dir, 'kafka')}`,
            roll: { maxRecords: ROLL },
          }
        : {
            type: 's3-parquet' as const,
            url: `s3://tributary/${uniqueName('bench')}`,
            endpoint: 'http://127.0.0.1:4569',
            forcePathStyle: true,
            accessKeyId: 'S3RVER',
            secretAccessKey: 'S3RVER',
            roll: { maxRecords: ROLL },
          };
    const runtime = new SinkRuntime(
      { name: uniqueName(`bench-s3p-${phase}`), topics: [topic], sink: sinkSpec },
      { kafka, log: () => undefined },
    );
    await runtime.start();
    await runtime.ready; // timed from partition assignment, as bench/sinks
    const r = await measured(() => waitCaughtUp(kafka, runtime.config.name, topic, 600_000));
    await runtime.stop();
    return { phase, ...r };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const child = process.argv.indexOf('--child');
if (child > 0) {
  const r = await runPhase(phases[0]!, process.argv[child + 1]!);
  process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
  process.exit(0);
}

const topic = uniqueName('bench-s3p');
{
  const events = makeEvents(topic);
  const avg = Math.round(
    events.slice(0, 1000).reduce((a, e) => a + JSON.stringify(e.value.after).length, 0) / 1000,
  );
  console.log(
    `${ROWS.toLocaleString('en-US')} rows, after-row JSON ~${avg} bytes, snappy, ${PARTITIONS} partitions, files of ${ROLL.toLocaleString('en-US')} rows`,
  );
  if (phases.includes('file') || phases.includes('s3')) {
    await createTopic(kafka, topic, PARTITIONS);
    await produce(
      kafka,
      events.map((e, i) => ({
        ...toKafkaRecords(e, { format: 'json' })[0]!,
        partition: i % PARTITIONS,
      })),
    );
  }
}
const results: Result[] = [];
for (const phase of phases) {
  const p = spawnSync(
    process.execPath,
    [
      // e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a phase
      ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
      '--expose-gc',
      '--no-warnings',
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      String(ROWS),
      phase,
      '--child',
      topic,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const m = /RESULT (.*)/.exec(p.stdout);
  if (!m) throw new Error(`phase ${phase} failed:\n${p.stdout}`);
  const r = JSON.parse(m[1]!) as Result;
  r.phase = LABELS[phase] ?? phase;
  results.push(r);
  console.log(line(r));
}
const base = results.find((r) => r.phase === LABELS.library);
if (base)
  for (const r of results.filter((x) => x !== base))
    console.log(`ratio ${r.phase}: ${(base.ms / r.ms).toFixed(2)} of the library alone`);
