// Helpers for the sink tests: change-event workloads with deletes and tombstones, producing
// them (plus replays and out-of-order older versions), waiting for a sink group to commit to
// the end, an independent recomputation of the expected store from the topic, and sink
// services as child processes (for kill -9).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
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
import { SinkRuntime } from '../../../sinks/runtime/runtime.ts';
import { keyIdentity } from '../../../sinks/runtime/sink.ts';
import { PG_SOURCE_SCHEMA } from '../../unit/core/events/sample-events.ts';
import { REPO, uniqueName } from '../helpers.ts';
import { rng } from '../../rng.ts';

export const PG_URL = 'postgres://tributary:tributary@127.0.0.1:5432/tributary';
export const REDIS_URL = 'redis://127.0.0.1:6379/0';

/** A deterministic pseudo-random generator (mulberry32), so failures can be replayed. */
export { rng };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
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

/** Runs `config` in-process until its group has committed `topic` to the end, then stops it. */
export async function runToEnd(
  kafka: KafkaConfig,
  config: SinkRuntimeConfigInput,
  topic: string,
  timeoutMs = 60_000,
): Promise<SinkRuntime> {
  const runtime = new SinkRuntime(config, { kafka, log: () => undefined });
  await runtime.start();
  try {
    await waitCaughtUp(kafka, config.name, topic, timeoutMs);
  } finally {
    await runtime.stop();
  }
  return runtime;
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

/** Where each SIGKILL of killDuringBacklog landed: the group's committed offsets (summed over
 * partitions) read after the process was dead, and the topic's end. */
export interface KillPoint {
  committed: bigint;
  end: bigint;
}

/**
 * Runs a sink process over a backlog and kills it with SIGKILL each time the group's committed
 * progress passes one of `fractions` (so every kill lands mid-stream, with batches in flight),
 * restarting it after each kill. Returns the last (running) process and, per kill, the progress
 * the group had committed when the process died (read once it was dead, so nothing moved after).
 */
export async function killDuringBacklog(
  kafka: KafkaConfig,
  config: SinkRuntimeConfigInput,
  topic: string,
  dir: string,
  fractions: number[],
): Promise<{ proc: SinkProcess; killedAt: KillPoint[] }> {
  let proc = SinkProcess.spawn(config, dir);
  const killedAt: KillPoint[] = [];
  try {
    for (const f of fractions) {
      for (;;) {
        proc.checkAlive();
        const p = await groupProgress(kafka, config.name, topic);
        if (p.committed >= (p.end * BigInt(Math.round(f * 1000))) / 1000n) break;
        await sleep(20);
      }
      await proc.kill9();
      const at = await groupProgress(kafka, config.name, topic);
      if (at.committed >= at.end) throw new Error(`the sink finished before the kill at ${f}`);
      killedAt.push(at);
      proc = SinkProcess.spawn(config, dir);
    }
  } catch (err) {
    proc.child.kill('SIGKILL');
    throw err;
  }
  return { proc, killedAt };
}

/** Changes in each SIGKILL test's stream (issue 6: "kill -9 the sink 3 times during a 100,000-change stream"). */
export const KILL_TEST_CHANGES = 100_000;
/** Committed progress at which killDuringBacklog kills the sink. */
export const KILL_FRACTIONS = [0.25, 0.5, 0.75];

/** Three kills, each at >= 20 % of the stream and before its end (the group's committed offsets at the kill). */
export function assertKilledMidStream(killedAt: KillPoint[]): void {
  assert.equal(killedAt.length, 3, 'three kills');
  for (const k of killedAt) {
    assert.ok(k.committed * 5n >= k.end, `kill at ${k.committed} of ${k.end}: not before 20 %`);
    assert.ok(k.committed < k.end, `kill at ${k.committed} of ${k.end}: before the end`);
  }
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

/** How long the store outage tests keep the store away (issue 6: "stop the store for 30 s"). */
export const STORE_OUTAGE_MS = 30_000;
/** The retry policy the outage tests configure: 100 ms doubling to a 2 s cap (±20 % jitter). */
export const OUTAGE_RETRY = { initialMs: 100, maxMs: 2000 };

/**
 * Most store attempts a runtime with `policy` can make within `windowMs` (every delay at its
 * shortest, -20 % jitter), plus the one in flight: what "no busy loop" allows.
 */
export function maxRetriesWithin(windowMs: number, policy: { initialMs: number; maxMs: number }) {
  let n = 1;
  let t = 0;
  for (let attempt = 1; ; attempt++) {
    const base = Math.min(policy.maxMs, policy.initialMs * 2 ** (attempt - 1));
    t += Math.max(1, Math.floor(base * 0.8));
    if (t > windowMs) return n;
    n++;
  }
}

/**
 * Starts `runtime` (whose sink reaches the store through `proxy`), takes the store away for
 * `downMs` (default STORE_OUTAGE_MS) once 3,000 records are committed, and checks that
 * consumption pauses (no offsets committed during the outage), that the retries are bounded by
 * the backoff (fewer than one per second, and no more than the configured policy allows: no busy
 * loop) yet go on for the whole outage, and that the sink catches up after `proxy.up()`.
 * `logs` collects the runtime's log lines.
 */
export async function throughOutage(
  kafka: KafkaConfig,
  runtime: SinkRuntime,
  topic: string,
  proxy: OutageProxy,
  logs: string[],
  downMs = STORE_OUTAGE_MS,
): Promise<void> {
  const name = runtime.config.name;
  const policy = runtime.config.retry;
  await runtime.start();
  try {
    while ((await groupProgress(kafka, name, topic)).committed < 3000n) await sleep(20);
    const retriesBefore = runtime.metrics().retries;
    await proxy.down();
    const downAt = Date.now();
    await sleep(500); // the batch in flight fails; nothing after it may be committed
    const during = await groupProgress(kafka, name, topic);
    assert.ok(during.committed < during.end, 'the outage started mid-stream');
    await sleep(downMs - (Date.now() - downAt));
    const after = await groupProgress(kafka, name, topic);
    const m = runtime.metrics();
    const downFor = Date.now() - downAt;
    assert.equal(after.committed, during.committed, 'no offsets committed while the store is down');
    assert.equal(m.storeDown, true);
    const retries = m.retries - retriesBefore;
    const most = Math.min(maxRetriesWithin(downFor, policy), Math.ceil(downFor / 1000) - 1);
    // The last delay before the end is at most maxMs (+20 %): retries went on through the outage.
    const least = Math.floor((downFor - 5000) / (policy.maxMs * 1.2));
    assert.ok(
      retries >= least && retries <= most,
      `bounded, backed-off retries over ${downFor} ms: ${retries}, want ${least}..${most}`,
    );
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

/** SHA-256 of a store's whole content given as one line per entry (order-independent). */
export function checksum(lines: Iterable<string>): string {
  const h = createHash('sha256');
  for (const l of [...lines].sort()) h.update(l).update('\n');
  return h.digest('hex');
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
