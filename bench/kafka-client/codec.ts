/**
 * Tributary's record batch codec (core/kafka/produce-api.ts, fetch-api.ts) against the
 * client's own, in one run: each round runs a child process per codec (alternating, so load
 * changes hit both), which
 *   1. produces N change-event-sized records (600-byte value, JSON key, the version header) to
 *      a fresh 3-partition topic in transactions of 5,000 through TransactionalProducer, and
 *   2. reads them back with TopicReader (read_committed) and checks count, keys and values.
 * Prints records/s and CPU per record (process.cpuUsage) of each phase. The client codec is
 * the baseline (TRIBUTARY_KAFKA_CLIENT_CODEC=1).
 *
 *   bash infra/up kafka
 *   node --import tsx bench/kafka-client/codec.ts [records=200000] [rounds=2]
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { KafkaAdmin, TopicReader, TransactionalProducer } from '../../core/kafka/index.ts';
import type { OutgoingRecord } from '../../core/kafka/index.ts';

const config = {
  brokers: [process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'],
  clientId: 'bench-codec',
};
const TXN = 5000;

async function child(n: number): Promise<void> {
  const topic = `bench-codec-${process.pid}-${Date.now()}`;
  const admin = new KafkaAdmin(config);
  await admin.ensureTopics([{ name: topic, partitions: 3 }]);
  await admin.close();
  const producer = new TransactionalProducer(config, topic);
  await producer.init();
  const value = Buffer.alloc(600, 'v');
  let c0 = process.cpuUsage();
  let t0 = performance.now();
  for (let i = 0; i < n; i += TXN) {
    const records: OutgoingRecord[] = [];
    for (let j = i; j < Math.min(n, i + TXN); j++)
      records.push({
        topic,
        key: Buffer.from(`{"id":${j}}`),
        value,
        headers: { 'tributary.version': String(1_000_000 + j) },
      });
    const txn = await producer.begin();
    await txn.send(records);
    await txn.commit();
  }
  const produce = { ms: performance.now() - t0, cpu: process.cpuUsage(c0) };
  await producer.close();

  const reader = new TopicReader(config, [topic]);
  await reader.open();
  let count = 0;
  let bad = 0;
  c0 = process.cpuUsage();
  t0 = performance.now();
  await reader.readToEnd((records) => {
    for (const r of records) {
      count++;
      if (r.value?.length !== 600 || r.headers['tributary.version'] === undefined) bad++;
    }
  });
  const consume = { ms: performance.now() - t0, cpu: process.cpuUsage(c0) };
  await reader.close();
  if (count !== n || bad !== 0) throw new Error(`read back ${count} of ${n} records, ${bad} bad`);
  const line = (name: string, p: typeof produce) =>
    `${name} ${Math.round((n / p.ms) * 1000)
      .toLocaleString('en-US')
      .padStart(9)} records/s, ${((p.cpu.user + p.cpu.system) / n).toFixed(2)} us CPU/record`;
  console.log(`${line('produce', produce)} | ${line('consume', consume)}`);
}

if (process.env.BENCH_CODEC_CHILD) {
  await child(Number(process.env.BENCH_CODEC_CHILD));
} else {
  const n = Number(process.argv[2] ?? 200_000);
  const rounds = Number(process.argv[3] ?? 2);
  for (let round = 1; round <= rounds; round++)
    for (const codec of ['client', 'tributary'] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: {
          ...process.env,
          BENCH_CODEC_CHILD: String(n),
          TRIBUTARY_KAFKA_CLIENT_CODEC: codec === 'client' ? '1' : '0',
        },
        encoding: 'utf8',
      });
      if (r.status !== 0) throw new Error(`${codec} run failed:\n${r.stderr}`);
      console.log(`round ${round} ${codec.padEnd(9)} ${r.stdout.trim()}`);
    }
}
