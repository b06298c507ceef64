// Helpers for the processor fault tests: a private broker that can be killed and restarted,
// processor services as child processes, and an independent read_committed verifier.
import { spawn, execFileSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toKafkaRecords } from '../../../core/events/index.ts';
import type { ChangeEvent } from '../../../core/events/index.ts';
import { KafkaPartitionConsumer, KafkaProducer } from '../../../core/kafka/index.ts';
import type { IncomingRecord, KafkaConfig, OutgoingRecord } from '../../../core/kafka/index.ts';
import type { RuntimeConfigInput } from '../../../processors/runtime/config.ts';
import { REPO, uniqueName } from '../helpers.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A Kafka broker of this test's own (never the shared one): it may be killed and restarted. */
export class PrivateBroker {
  private constructor(
    readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
    readonly brokers: string,
  ) {}

  static async start(): Promise<PrivateBroker> {
    const dir = mkdtempSync(join(tmpdir(), 'tributary-broker-'));
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const port = await freePort();
    const controller = await freePort();
    const env = {
      ...process.env,
      TRIBUTARY_DATA: dir,
      TRIBUTARY_KAFKA_PORT: String(port),
      TRIBUTARY_KAFKA_CONTROLLER_PORT: String(controller),
    };
    const b = new PrivateBroker(dir, env, `127.0.0.1:${port}`);
    b.up();
    return b;
  }

  up(): void {
    execFileSync('bash', ['infra/up', 'kafka'], { cwd: REPO, env: this.env, stdio: 'ignore' });
  }

  pid(): number {
    return Number(readFileSync(join(this.dir, 'kafka', 'kafka.pid'), 'utf8').trim());
  }

  /** kill -9 the broker and start it again on the same data. */
  hardRestart(): void {
    const pid = this.pid();
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        break;
      }
      execFileSync('sleep', ['0.1']);
    }
    this.up();
  }

  stop(): void {
    try {
      process.kill(this.pid(), 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A processor service running as a separate node process. */
export class ProcessorProcess {
  output = '';
  readonly exited: Promise<number | null>;
  private constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  static spawn(config: RuntimeConfigInput, brokers: string, dir: string): ProcessorProcess {
    const file = join(dir, `${uniqueName('config')}.json`);
    writeFileSync(file, JSON.stringify(config));
    const child = spawn(process.execPath, ['--import', 'tsx', 'processors/runtime/main.ts', file], {
      cwd: REPO,
      env: { ...process.env, TRIBUTARY_KAFKA_BROKERS: brokers },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new ProcessorProcess(child);
  }

  async waitFor(text: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(text)) {
      if (Date.now() > deadline)
        throw new Error(`processor did not print "${text}"; output:\n${this.output.slice(-3000)}`);
      if (this.child.exitCode !== null)
        throw new Error(`processor exited (${this.child.exitCode}):\n${this.output.slice(-3000)}`);
      await sleep(100);
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sequenced events: key {id}, after {id, seq, n}; seq counts per key from 0. */
export function sequencedEvents(topic: string, total: number, keys: number): ChangeEvent[] {
  const seq = new Array<number>(keys).fill(0);
  return Array.from({ length: total }, (_, i) => {
    const id = i % keys;
    const s = seq[id]!++;
    return {
      topic,
      key: { id },
      version: BigInt(i + 1),
      value: {
        before: null,
        after: { id, seq: s, n: (i * 7919) % 1000, note: 'x'.repeat(40) },
        source: {
          version: '3.0.0',
          connector: 'postgresql',
          name: 'test',
          ts_ms: 1767225600000,
          db: 'db',
          schema: 'public',
          table: 'items',
        },
        transaction: null,
        op: s === 0 ? 'c' : 'u',
        ts_ms: 1767225600000 + i,
      },
    };
  });
}

export async function produceEvents(kafka: KafkaConfig, events: ChangeEvent[]): Promise<void> {
  const producer = new KafkaProducer(kafka);
  try {
    for (let i = 0; i < events.length; i += 5000) {
      const recs: OutgoingRecord[] = events
        .slice(i, i + 5000)
        .flatMap((e) => toKafkaRecords(e, { format: 'json' }));
      await producer.send(recs);
    }
  } finally {
    await producer.close();
  }
}

/** Counts committed records of a topic as they arrive (read_committed, positional). */
export class CommittedCounter {
  count = 0;
  private readonly reader: KafkaPartitionConsumer;
  private readonly positions = new Map<number, bigint>();
  constructor(
    kafka: KafkaConfig,
    private readonly topic: string,
    partitions: number,
  ) {
    this.reader = new KafkaPartitionConsumer(kafka);
    for (let p = 0; p < partitions; p++) this.positions.set(p, 0n);
  }
  async poll(): Promise<number> {
    try {
      const f = await this.reader.fetch(
        [...this.positions].map(([partition, offset]) => ({
          topic: this.topic,
          partition,
          offset,
        })),
        200,
      );
      for (const x of f) {
        this.count += x.records.length;
        this.positions.set(x.partition, x.nextOffset);
      }
    } catch {
      await sleep(200); // broker restarting, or topic not created yet
    }
    return this.count;
  }
  close(): Promise<void> {
    return this.reader.close();
  }
}

/**
 * Independent verifier: a separate read_committed reader reads every partition of the topic
 * from offset 0 to its last stable offset, waiting (up to timeoutMs) until at least
 * `expected` records are in. Called after the writers stopped, it sees every straggler.
 */
export async function readCommitted(
  kafka: KafkaConfig,
  topic: string,
  expected: number,
  timeoutMs = 60_000,
): Promise<IncomingRecord[]> {
  const reader = new KafkaPartitionConsumer(kafka);
  try {
    const count = (await reader.partitionCounts([topic])).get(topic) ?? 0;
    const tps = Array.from({ length: count }, (_, partition) => ({ topic, partition }));
    let end = await reader.offsets(tps, 'latest');
    const pos = new Map(tps.map((tp) => [tp.partition, 0n]));
    const out: IncomingRecord[] = [];
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const behind = tps.filter(
        (tp) => pos.get(tp.partition)! < end.get(`${topic}\u0000${tp.partition}`)!,
      );
      if (behind.length === 0) {
        // Caught up: done once `expected` records are in (writers may still be running).
        if (out.length >= expected || Date.now() > deadline) return out;
        await new Promise((r) => setTimeout(r, 200));
        end = await reader.offsets(tps, 'latest');
        continue;
      }
      if (Date.now() > deadline)
        throw new Error(`verifier could not read ${topic} to its end in time`);
      const f = await reader.fetch(
        behind.map((tp) => ({ ...tp, offset: pos.get(tp.partition)! })),
        200,
      );
      for (const x of f) {
        out.push(...x.records);
        pos.set(x.partition, x.nextOffset);
      }
    }
  } finally {
    await reader.close();
  }
}

/** Checks exactly-once per (id, seq) and per-key order; returns problems (empty = OK). */
export function checkSequences(records: IncomingRecord[], total: number, keys: number): string[] {
  const problems: string[] = [];
  const next = new Array<number>(keys).fill(0);
  const seen = new Set<string>();
  let duplicates = 0;
  let disorder = 0;
  for (const r of records) {
    const after = JSON.parse(r.value!.toString()).after as { id: number; seq: number };
    const k = `${after.id}:${after.seq}`;
    if (seen.has(k)) {
      duplicates++;
      continue;
    }
    seen.add(k);
    if (after.seq !== next[after.id]) disorder++;
    next[after.id] = after.seq + 1;
  }
  if (duplicates) problems.push(`${duplicates} duplicate outputs`);
  if (seen.size !== total)
    problems.push(`${total - seen.size} missing outputs (${seen.size}/${total})`);
  if (disorder) problems.push(`${disorder} outputs out of per-key order`);
  return problems;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}
