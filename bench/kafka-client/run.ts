// Kafka client benchmark: kafkajs vs @platformatic/kafka against a real broker.
//
//   node --import tsx bench/kafka-client/run.ts [--records N] [--clients LIST] [--verify] [--keep]
//
// For each client, in one run: (1) idempotent produce (acks=all, no transaction) as the baseline,
// (2) transactional produce committing every --txn-size records, (3) exactly-once
// consume-transform-produce reading (2)'s topic with read_committed and committing the consumed
// offsets inside each producer transaction. Every (phase, client) pair runs in its own child process
// so CPU time, peak RSS and JIT/GC state are per client; phases run client after client on fresh
// topics. Prints a table with ratios against kafkajs at the end.
//
// --clients is a comma-separated list of kafkajs | platformatic | platformatic-tuned, where the
// platformatic ones may name another installed copy of the package: platformatic=<package dir>.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import kafkajs from 'kafkajs';
import {
  BROKER,
  PHASES,
  PHASE_LABELS,
  errorSummary,
  pad,
  parseVariant,
  processCpuSeconds,
  type ClientVariant,
  type PhaseName,
  type PhaseResult,
  type PhaseSpec,
} from './common.ts';

const RESULT_PREFIX = 'BENCH_RESULT ';
const self = fileURLToPath(import.meta.url);

async function runPhase(spec: PhaseSpec): Promise<PhaseResult> {
  const phases =
    spec.variant.client === 'kafkajs'
      ? await import('./kafkajs-phases.ts')
      : await import('./platformatic-phases.ts'); // platformatic and platformatic-tuned
  switch (spec.phase) {
    case 'idempotent':
      return phases.idempotentProduce(spec);
    case 'transactional':
      return phases.transactionalProduce(spec);
    case 'ctp':
      return phases.consumeTransformProduce(spec);
  }
}

function failed(spec: PhaseSpec, error: string): PhaseResult {
  return {
    client: spec.variant.label,
    phase: spec.phase,
    records: 0,
    bytes: 0,
    seconds: 0,
    transactions: 0,
    clientCpuSeconds: 0,
    maxRssMiB: 0,
    error,
  };
}

async function worker(specJson: string): Promise<void> {
  const spec = JSON.parse(specJson) as PhaseSpec;
  let result: PhaseResult;
  try {
    result = await runPhase(spec);
  } catch (error) {
    console.error(error);
    result = failed(spec, errorSummary(error));
  }
  result.processCpuSeconds = processCpuSeconds();
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
  // Some clients keep timers/sockets alive after a failure; the result is out, so leave.
  process.exit(result.error ? 1 : 0);
}

/** Run one phase in a child process; never rejects (failures become an `error` result). */
function spawnPhase(spec: PhaseSpec, timeoutSeconds: number): Promise<PhaseResult> {
  return new Promise((resolve) => {
    const args = [...process.execArgv, self, '--worker', JSON.stringify(spec)];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (line) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as PhaseResult);
        return;
      }
      const why = timedOut ? `timed out after ${timeoutSeconds}s` : `exited with ${signal ?? code}`;
      resolve(failed(spec, `${why}: ${stderr.trim().split('\n').slice(-6).join(' | ')}`));
    });
  });
}

/** CPU seconds used so far by the local broker JVM (from infra/'s pid file), if we can see it. */
function brokerCpuSeconds(): number | undefined {
  try {
    const pidFile = new URL('../../.data/kafka/kafka.pid', import.meta.url);
    const pid = readFileSync(pidFile, 'utf8').trim();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime + stime
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole host so far (all CPUs), from /proc/stat. */
function hostBusyCpuSeconds(): number | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const [user, nice, system, , , irq, softirq, steal] = cpu as number[];
    return (
      ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / 100
    );
  } catch {
    return undefined;
  }
}

interface Row extends PhaseResult {
  brokerCpuSeconds?: number;
  /** Host CPU used during the phase by anything but the worker and the broker (interference). */
  otherCpuSeconds?: number;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  });
}

function printTable(rows: Row[], variants: ClientVariant[], records: number): void {
  const width = Math.max(19, ...variants.map((v) => v.label.length));
  const header = [
    pad('phase', 37),
    pad('client', width),
    pad('records/s', 10, true),
    pad('MB/s', 6, true),
    pad('wall s', 6, true),
    pad('txns', 4, true),
    pad('client CPU s', 12, true),
    pad('broker CPU s', 12, true),
    pad('peak RSS MiB', 12, true),
    pad('CT retries', 10, true),
    pad('other CPU s', 11, true),
  ].join('  ');
  console.log(`\n${header}\n${'-'.repeat(header.length)}`);
  for (const r of rows) {
    if (r.error) {
      console.log(`${pad(PHASE_LABELS[r.phase], 37)}  ${pad(r.client, width)}  FAILED: ${r.error}`);
      continue;
    }
    const retries = r.concurrentTransactionsRetries;
    console.log(
      [
        pad(PHASE_LABELS[r.phase], 37),
        pad(r.client, width),
        pad(fmt(r.records / r.seconds), 10, true),
        pad(fmt(r.bytes / 1e6 / r.seconds, 1), 6, true),
        pad(fmt(r.seconds, 1), 6, true),
        pad(fmt(r.transactions), 4, true),
        pad(fmt(r.clientCpuSeconds, 1), 12, true),
        pad(r.brokerCpuSeconds === undefined ? 'n/a' : fmt(r.brokerCpuSeconds, 1), 12, true),
        pad(fmt(r.maxRssMiB), 12, true),
        pad(retries === undefined ? 'n/a' : fmt(retries), 10, true),
        pad(r.otherCpuSeconds === undefined ? 'n/a' : fmt(r.otherCpuSeconds, 1), 11, true),
      ].join('  '),
    );
    if (r.records !== records)
      console.log(`  !! processed ${r.records} records, expected ${records}`);
  }
  console.log('  CT retries: requests @platformatic/kafka retried after CONCURRENT_TRANSACTIONS');
  console.log(
    '  other CPU s: host CPU used meanwhile by processes other than this worker and the broker ' +
      '(interference; the orchestrator itself adds ~0.1 s)',
  );
  for (const r of rows.filter((r) => r.startupSeconds !== undefined && !r.error)) {
    const startup = fmt(r.startupSeconds ?? 0, 2);
    console.log(`  ${r.client} ctp: first record ${startup}s after consume start (in wall s)`);
  }

  const get = (label: string, phase: PhaseName) =>
    rows.find((r) => r.client === label && r.phase === phase && !r.error);
  const rate = (r: Row | undefined) => (r ? r.records / r.seconds : Number.NaN);
  const cpuPerRecord = (r: Row | undefined) => (r ? r.clientCpuSeconds / r.records : Number.NaN);
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${fmt(a / b, 2)}x` : 'n/a');
  const baseline = variants.find((v) => v.client === 'kafkajs');
  if (baseline) {
    console.log('\nratios vs kafkajs (throughput; client CPU per record)');
    for (const phase of PHASES) {
      const k = get(baseline.label, phase);
      const cells = variants
        .filter((v) => v !== baseline)
        .map((v) => {
          const r = get(v.label, phase);
          return `${v.label} ${ratio(rate(r), rate(k))}; CPU ${ratio(cpuPerRecord(r), cpuPerRecord(k))}`;
        });
      console.log(`  ${pad(PHASE_LABELS[phase], 37)}  ${cells.join('   ')}`);
    }
  }
  console.log(
    "transactional overhead (throughput relative to the same client's idempotent produce)",
  );
  for (const v of variants) {
    const base = rate(get(v.label, 'idempotent'));
    console.log(
      `  ${pad(v.label, width)}  transactional/idempotent ${ratio(rate(get(v.label, 'transactional')), base)}` +
        `   ctp/idempotent ${ratio(rate(get(v.label, 'ctp')), base)}`,
    );
  }
}

/** Count the records a read_committed reader sees in `output`; check the group reached the end. */
async function verifyCtp(
  kafka: InstanceType<typeof kafkajs.Kafka>,
  input: string,
  output: string,
  groupId: string,
  expected: number,
): Promise<string> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [committed] = await admin.fetchOffsets({ groupId, topics: [input] });
    const ends = await admin.fetchTopicOffsets(input);
    // The log ends with the last transaction's COMMIT marker, so a fully consumed partition's
    // committed offset is its end offset - 1.
    const lagging = (committed?.partitions ?? []).filter((p) => {
      const end = ends.find((e) => e.partition === p.partition);
      return !end || BigInt(p.offset) < BigInt(end.high) - 1n;
    });
    const consumer = kafka.consumer({ groupId: `${groupId}-verify`, readUncommitted: false });
    await consumer.connect();
    await consumer.subscribe({ topics: [output], fromBeginning: true });
    let count = 0;
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        count += batch.messages.length;
      },
    });
    const deadline = Date.now() + 300_000;
    while (count < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    await new Promise((r) => setTimeout(r, 2000)); // give a duplicate the chance to show up
    await consumer.disconnect();
    const offsetsOk = lagging.length === 0 && (committed?.partitions.length ?? 0) > 0;
    const ok = count === expected && offsetsOk;
    return (
      `${ok ? 'OK' : 'MISMATCH'}: read_committed count of the output = ${count} (expected ${expected}); ` +
      `group offsets at the end of the input: ${offsetsOk ? 'yes' : `no ${JSON.stringify(lagging)}`}`
    );
  } finally {
    await admin.disconnect();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      records: { type: 'string', default: '1000000' },
      'txn-size': { type: 'string', default: '10000' },
      'send-batch': { type: 'string', default: '1250' },
      'value-bytes': { type: 'string', default: '500' },
      partitions: { type: 'string', default: '3' },
      clients: { type: 'string', default: 'kafkajs,platformatic,platformatic-tuned' },
      phases: { type: 'string', default: PHASES.join(',') },
      timeout: { type: 'string', default: '1800' },
      verify: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
    },
  });
  if (values.worker !== undefined) {
    await worker(values.worker);
    return;
  }

  const records = Number(values.records);
  const txnSize = Number(values['txn-size']);
  const sendBatch = Number(values['send-batch']);
  const valueBytes = Number(values['value-bytes']);
  const partitions = Number(values.partitions);
  const timeout = Number(values.timeout);
  const variants = values.clients.split(',').map(parseVariant);
  const phases = values.phases.split(',') as PhaseName[];
  if (phases.some((p) => !PHASES.includes(p)))
    throw new Error(`--phases takes ${PHASES.join(',')}`);
  if (new Set(variants.map((v) => v.label)).size !== variants.length) {
    throw new Error('--clients lists the same client twice');
  }

  const runId = `${new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14)}-${process.pid}`;
  const slug = (v: ClientVariant) => v.label.replace(/[^a-zA-Z0-9._-]/g, '-');
  const topicFor = (v: ClientVariant, what: string) => `bench-${runId}-${slug(v)}-${what}`;
  const { Kafka, logLevel } = kafkajs;
  const kafka = new Kafka({ clientId: 'bench-admin', brokers: [BROKER], logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  const topics = variants.flatMap((v) =>
    ['idempotent', 'txn', 'ctp-out'].map((w) => topicFor(v, w)),
  );
  await admin.createTopics({
    waitForLeaders: true,
    topics: topics.map((topic) => ({ topic, numPartitions: partitions, replicationFactor: 1 })),
  });

  console.log(
    `Kafka client benchmark ${runId}: ${fmt(records)} records of ${valueBytes}-byte values + ` +
      `16-byte keys, ${partitions} partitions, txn every ${fmt(txnSize)} records, ` +
      `${fmt(sendBatch)} records per produce request`,
  );
  console.log(
    `host: ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ` +
      `${fmt(os.totalmem() / 2 ** 30, 0)} GiB RAM, Node ${process.version}, broker ${BROKER}`,
  );
  console.log(`clients, in this order: ${variants.map((v) => v.label).join(', ')}`);

  const rows: Row[] = [];
  for (const phase of phases) {
    for (const variant of variants) {
      const spec: PhaseSpec = {
        variant,
        phase,
        records,
        txnSize,
        sendBatch,
        valueBytes,
        topic: topicFor(variant, phase === 'idempotent' ? 'idempotent' : 'txn'),
        outputTopic: topicFor(variant, 'ctp-out'),
        groupId: `bench-${runId}-${slug(variant)}-ctp`,
        transactionalId: `bench-${runId}-${slug(variant)}-${phase}`,
      };
      process.stdout.write(`  ${pad(PHASE_LABELS[phase], 37)} ${pad(variant.label, 26)} ... `);
      const brokerBefore = brokerCpuSeconds();
      const hostBefore = hostBusyCpuSeconds();
      const result = await spawnPhase(spec, timeout);
      const brokerAfter = brokerCpuSeconds();
      const hostAfter = hostBusyCpuSeconds();
      const row: Row = { ...result };
      if (brokerBefore !== undefined && brokerAfter !== undefined) {
        row.brokerCpuSeconds = brokerAfter - brokerBefore; // includes worker startup/shutdown
        if (hostBefore !== undefined && hostAfter !== undefined) {
          const worker = result.processCpuSeconds ?? 0;
          row.otherCpuSeconds = Math.max(0, hostAfter - hostBefore - row.brokerCpuSeconds - worker);
        }
      }
      rows.push(row);
      console.log(
        result.error
          ? `FAILED (${result.error})`
          : `${fmt(result.records / result.seconds)} records/s in ${fmt(result.seconds, 1)}s`,
      );
      if (phase === 'ctp' && values.verify && !result.error) {
        const verdict = await verifyCtp(kafka, spec.topic, spec.outputTopic, spec.groupId, records);
        console.log(`    verify: ${verdict}`);
      }
    }
  }

  printTable(rows, variants, records);
  if (!values.keep) await admin.deleteTopics({ topics });
  await admin.disconnect();
}

main().catch((error: unknown) => {
  console.error(errorSummary(error));
  if (error instanceof Error && error.stack) console.error(error.stack);
  process.exit(1);
});
