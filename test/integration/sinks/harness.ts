// Helpers for the sink tests: change-event workloads with deletes and tombstones, producing
// them (plus replays and out-of-order older versions), waiting for a sink group to commit to
// the end, an independent recomputation of the expected store from the topic, and sink
// services as child processes (for kill -9).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import { fromKafkaRecord, stringifyJson, toKafkaRecords } from '../../../core/events/index.ts';
import type { ChangeEvent, ConnectSchema, EventSchemas, Row } from '../../../core/events/index.ts';
import {
  KafkaAdmin,
  KafkaPartitionConsumer,
  KafkaProducer,
  TopicReader,
} from '../../../core/kafka/index.ts';
import type { IncomingRecord, KafkaConfig, OutgoingRecord } from '../../../core/kafka/index.ts';
import type { SinkRuntimeConfigInput } from '../../../sinks/runtime/config.ts';
import type { SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { keyIdentity } from '../../../sinks/runtime/sink.ts';
import { PG_SOURCE_SCHEMA } from '../../unit/core/events/sample-events.ts';
import { REPO, uniqueName } from '../helpers.ts';

export const PG_URL = 'postgres://tributary:tributary@127.0.0.1:5432/tributary';
export const REDIS_URL = 'redis://127.0.0.1:6379/0';

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A deterministic pseudo-random generator (mulberry32), so failures can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function changeEvent(
  topic: string,
  id: number,
  version: bigint,
  op: 'c' | 'u' | 'd' | 'r',
  row: Row | null,
): ChangeEvent {
  return {
    topic,
    key: { id },
    version,
    value: {
      before: null,
      after: op === 'd' ? null : row,
      source: { version: '3.0.0', connector: 'postgresql', name: 'test', ts_ms: 0, db: 'db' },
      transaction: null,
      op,
      ts_ms: 1767225600000,
    },
  };
}

/**
 * A stream of inserts, updates and deletes (with re-inserts after deletes) over `keys` keys,
 * with versions growing by a random step — what capture produces for one table.
 */
export function workload(topic: string, changes: number, keys: number, seed = 1): ChangeEvent[] {
  const rand = rng(seed);
  const live = new Set<number>();
  const out: ChangeEvent[] = [];
  let version = 1000n;
  for (let i = 0; i < changes; i++) {
    const id = Math.floor(rand() * keys);
    version += BigInt(1 + Math.floor(rand() * 5));
    if (live.has(id) && rand() < 0.15) {
      live.delete(id);
      out.push(changeEvent(topic, id, version, 'd', null));
      continue;
    }
    const row = {
      id,
      name: `item-${id}-${i}`,
      qty: Math.floor(rand() * 1000),
      price: Math.round(rand() * 100000) / 100,
      active: rand() < 0.5,
      tags: { n: i % 7 },
    };
    out.push(changeEvent(topic, id, version, live.has(id) ? 'u' : 'c', row));
    live.add(id);
  }
  return out;
}

export function encode(events: ChangeEvent[]): OutgoingRecord[] {
  return events.flatMap((e) => toKafkaRecords(e, { format: 'json' }));
}

export async function createTopic(kafka: KafkaConfig, name: string, partitions: number) {
  const admin = new KafkaAdmin(kafka);
  try {
    await admin.ensureTopics([{ name, partitions }]);
  } finally {
    await admin.close();
  }
}

export async function produce(kafka: KafkaConfig, records: OutgoingRecord[]): Promise<void> {
  const producer = new KafkaProducer(kafka);
  try {
    for (let i = 0; i < records.length; i += 5000) await producer.send(records.slice(i, i + 5000));
  } finally {
    await producer.close();
  }
}

/** Waits until `group` has committed every partition of `topic` up to its end offset. */
export async function waitCaughtUp(
  kafka: KafkaConfig,
  group: string,
  topic: string,
  timeoutMs: number,
  alive?: () => void,
): Promise<void> {
  const c = new KafkaPartitionConsumer(kafka, { groupId: group });
  try {
    const n = (await c.partitionCounts([topic])).get(topic) ?? 0;
    const tps = Array.from({ length: n }, (_, partition) => ({ topic, partition }));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      alive?.();
      const [ends, committed] = await Promise.all([c.offsets(tps, 'latest'), c.committed(tps)]);
      if ([...ends].every(([k, end]) => (committed.get(k) ?? -1n) >= end)) return;
      if (Date.now() > deadline)
        throw new Error(
          `group ${group} did not catch up on ${topic}: ends ${[...ends.values()]}, committed ${[...committed.values()]}`,
        );
      await sleep(200);
    }
  } finally {
    await c.close();
  }
}

/** Sum over partitions of the group's committed offsets and of the end offsets. */
export async function groupProgress(
  kafka: KafkaConfig,
  group: string,
  topic: string,
): Promise<{ committed: bigint; end: bigint }> {
  const c = new KafkaPartitionConsumer(kafka, { groupId: group });
  try {
    const n = (await c.partitionCounts([topic])).get(topic) ?? 0;
    const tps = Array.from({ length: n }, (_, partition) => ({ topic, partition }));
    const [ends, committed] = await Promise.all([c.offsets(tps, 'latest'), c.committed(tps)]);
    let sumC = 0n;
    let sumE = 0n;
    for (const [k, end] of ends) {
      sumE += end;
      sumC += committed.get(k) ?? 0n;
    }
    return { committed: sumC, end: sumE };
  } finally {
    await c.close();
  }
}

/**
 * Runs a sink process over a backlog and kills it with SIGKILL each time the group's committed
 * progress passes one of `fractions` (so every kill lands mid-stream, with batches in flight),
 * restarting it after each kill. Returns the last (running) process.
 */
export async function killDuringBacklog(
  kafka: KafkaConfig,
  config: SinkRuntimeConfigInput,
  topic: string,
  dir: string,
  fractions: number[],
): Promise<{ proc: SinkProcess; killedAt: bigint[] }> {
  let proc = SinkProcess.spawn(config, dir);
  const killedAt: bigint[] = [];
  try {
    for (const f of fractions) {
      for (;;) {
        proc.checkAlive();
        const p = await groupProgress(kafka, config.name, topic);
        if (p.committed >= (p.end * BigInt(Math.round(f * 1000))) / 1000n) {
          if (p.committed >= p.end) throw new Error(`the sink finished before the kill at ${f}`);
          killedAt.push(p.committed);
          break;
        }
        await sleep(20);
      }
      await proc.kill9();
      proc = SinkProcess.spawn(config, dir);
    }
  } catch (err) {
    proc.child.kill('SIGKILL');
    throw err;
  }
  return { proc, killedAt };
}

/**
 * The store the topic implies, recomputed independently from the sink: every record read back
 * (read_committed) and decoded; per key, the row of the highest version (null = deleted).
 * Records that are not valid change events are counted as poison.
 */
export async function expectedState(
  kafka: KafkaConfig,
  topic: string,
): Promise<{ rows: Map<string, Row | null>; poison: number }> {
  const reader = new TopicReader(kafka, [topic]);
  const latest = new Map<string, { version: bigint; row: Row | null }>();
  let poison = 0;
  await reader.open();
  try {
    await reader.readToEnd((records: IncomingRecord[]) => {
      for (const r of records) {
        let d;
        try {
          d = fromKafkaRecord(r);
        } catch {
          poison++;
          continue;
        }
        const key = d.kind === 'change' ? d.event.key : d.tombstone.key;
        const version = d.kind === 'change' ? d.event.version : d.tombstone.version;
        const row = d.kind === 'change' && d.event.value.op !== 'd' ? d.event.value.after : null;
        const id = keyIdentity(key);
        const prev = latest.get(id);
        if (!prev || prev.version < version) latest.set(id, { version, row });
      }
    });
  } finally {
    await reader.close();
  }
  return { rows: new Map([...latest].map(([k, v]) => [k, v.row])), poison };
}

/** Events older than the newest of their key, shuffled: what a late redelivery looks like. */
export function olderVersionsShuffled(
  events: ChangeEvent[],
  count: number,
  seed = 7,
): ChangeEvent[] {
  const rand = rng(seed);
  const newest = new Map<number, bigint>();
  for (const e of events) newest.set(e.key.id as number, e.version);
  const older = events.filter((e) => e.version < newest.get(e.key.id as number)!);
  const out: ChangeEvent[] = [];
  for (let i = 0; i < count && older.length > 0; i++)
    out.push(older[Math.floor(rand() * older.length)]!);
  return out;
}

/** A sink service running as a separate node process (sinks/runtime/main.ts). */
export class SinkProcess {
  output = '';
  readonly exited: Promise<number | null>;
  private constructor(readonly child: ChildProcess) {
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }

  /** `env`: extra environment variables (e.g. a fault hook). */
  static spawn(
    config: SinkRuntimeConfigInput,
    dir: string,
    env: NodeJS.ProcessEnv = {},
  ): SinkProcess {
    const file = join(dir, `${uniqueName('sink-config')}.json`);
    writeFileSync(file, JSON.stringify(config));
    const child = spawn(process.execPath, ['--import', 'tsx', 'sinks/runtime/main.ts', file], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new SinkProcess(child);
  }

  /** Throws when the process died on its own (a crash is a test failure, not a kill). */
  checkAlive(): void {
    if (this.child.exitCode !== null)
      throw new Error(`sink exited (${this.child.exitCode}):\n${this.output.slice(-3000)}`);
  }

  async waitFor(text: string, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.output.includes(text)) {
      if (Date.now() > deadline)
        throw new Error(`sink did not print "${text}"; output:\n${this.output.slice(-3000)}`);
      this.checkAlive();
      await sleep(100);
    }
  }

  async kill9(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** Reads every record of a topic (e.g. the DLQ) from the start. */
export async function readAll(kafka: KafkaConfig, topic: string): Promise<IncomingRecord[]> {
  const reader = new TopicReader(kafka, [topic]);
  const out: IncomingRecord[] = [];
  await reader.open();
  try {
    await reader.readToEnd((r) => out.push(...r));
  } finally {
    await reader.close();
  }
  return out;
}

/**
 * A TCP proxy in front of a shared service, so a test can make "the store" unreachable without
 * touching the service itself: down() refuses new connections and cuts open ones, up() listens
 * again on the same port.
 */
export class OutageProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly target: number) {}

  async up(): Promise<void> {
    const server = createServer((client) => {
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Starts `runtime` (whose sink reaches the store through `proxy`), takes the store away for
 * 4.5 s once 3,000 records are committed, and checks that consumption pauses (no offsets
 * committed, retries bounded by the backoff) and that the sink catches up after `proxy.up()`.
 * `logs` collects the runtime's log lines.
 */
export async function throughOutage(
  kafka: KafkaConfig,
  runtime: SinkRuntime,
  topic: string,
  proxy: OutageProxy,
  logs: string[],
): Promise<void> {
  const name = runtime.config.name;
  await runtime.start();
  try {
    while ((await groupProgress(kafka, name, topic)).committed < 3000n) await sleep(20);
    await proxy.down();
    await sleep(500); // the batch in flight fails; nothing after it may be committed
    const during = await groupProgress(kafka, name, topic);
    assert.ok(during.committed < during.end, 'the outage started mid-stream');
    await sleep(4000);
    const after = await groupProgress(kafka, name, topic);
    const m = runtime.metrics();
    assert.equal(after.committed, during.committed, 'no offsets committed while the store is down');
    assert.equal(m.storeDown, true);
    assert.ok(m.retries >= 3 && m.retries <= 15, `bounded, backed-off retries (${m.retries})`);
    await proxy.up();
    await waitCaughtUp(kafka, name, topic, 60_000);
    assert.equal(runtime.metrics().storeDown, false);
    assert.ok(logs.some((l) => /store is back/.test(l)));
  } finally {
    await runtime.stop();
    await proxy.down();
  }
}

/**
 * The store (key identity -> row) equals the recomputation: every live key with the same row
 * (compared as canonical JSON), no deleted or unknown key.
 */
export function assertStoreEquals(
  actual: Map<string, Row>,
  expected: Map<string, Row | null>,
): void {
  const live = new Map([...expected].filter(([, row]) => row !== null)) as Map<string, Row>;
  const problems: string[] = [];
  for (const [k, row] of live) {
    const got = actual.get(k);
    if (!got) problems.push(`missing ${k}`);
    else if (stringifyJson(got) !== stringifyJson(row))
      problems.push(`${k}: got ${stringifyJson(got)}, want ${stringifyJson(row)}`);
  }
  for (const k of actual.keys()) if (!live.has(k)) problems.push(`unexpected ${k}`);
  assert.deepEqual(problems.slice(0, 10), [], `${problems.length} differences`);
}

/** Connect schemas of a table keyed by an int32 `id`, with the given row fields. */
export function tableSchemas(topic: string, rowFields: ConnectSchema[]): EventSchemas {
  return {
    key: {
      type: 'struct',
      fields: [{ type: 'int32', optional: false, field: 'id' }],
      optional: false,
      name: `${topic}.Key`,
    },
    row: { type: 'struct', fields: rowFields, optional: false, name: `${topic}.Value` },
    source: PG_SOURCE_SCHEMA,
    envelopeName: `${topic}.Envelope`,
  };
}
