// Test harness for PostgreSQL capture: unique tables/sources per test, a capture process that
// can be killed for real, and an independent read_committed verifier over the output topics.
import { after, before } from 'node:test';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { fromKafkaRecord } from '../../../../core/events/index.ts';
import type { ChangeEvent } from '../../../../core/events/index.ts';
import { defaultKafkaConfig, TopicReader } from '../../../../core/kafka/index.ts';
import { ensureServices, REPO, uniqueName } from '../../helpers.ts';

export const PG = {
  host: '127.0.0.1',
  port: 5432,
  database: 'tributary',
  user: 'tributary',
  password: 'tributary',
};

export async function pgClient(): Promise<pg.Client> {
  const c = new pg.Client(PG);
  await c.connect();
  return c;
}

/** A source name that is also a valid identifier part. */
export function uniqueSource(prefix: string): string {
  return uniqueName(prefix).replace(/-/g, '_');
}

export function writeConfig(config: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-capture-'));
  const path = join(dir, 'source.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

export function sourceConfig(
  name: string,
  tables: string[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return { name, connection: PG, tables, heartbeatIntervalMs: 1000, ...extra };
}

/** A capture running as a child process (so it can be killed with SIGKILL). */
export class CaptureProcess {
  readonly output: string[] = [];
  private exited: Promise<number | null>;
  readonly child: ChildProcess;

  constructor(configPath: string, env: Record<string, string> = {}) {
    // Progress every 200 ms: the fault tests kill a capture once its progress line shows enough
    // events, and a capture streams tens of thousands of events per second.
    this.child = spawn(
      process.execPath,
      ['bin/tributary.js', 'capture', '--config', configPath, '--progress-interval-ms', '200'],
      {
        cwd: REPO,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, ...env },
      },
    );
    const collect = (d: Buffer) => this.output.push(...d.toString().split('\n').filter(Boolean));
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  async stop(): Promise<number | null> {
    this.child.kill('SIGTERM');
    return this.exited;
  }

  wait(): Promise<number | null> {
    return this.exited;
  }

  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.output.find((l) => pattern.test(l));
      if (line) return line;
      if (this.child.exitCode !== null)
        throw new Error(
          `capture exited (${this.child.exitCode}) before ${pattern}:\n${this.output.join('\n')}`,
        );
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${pattern}:\n${this.output.join('\n')}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type Seen =
  | { kind: 'change'; event: ChangeEvent; partition: number; offset: bigint }
  | { kind: 'tombstone'; key: string; partition: number; offset: bigint };

/**
 * Reads topics from the start with an independent read_committed reader until `done(seen)`
 * holds and nothing more arrived for `quietMs` (to catch extra records), or the timeout passes.
 */
export async function readTopics(
  topics: string[],
  done: (seen: Seen[]) => boolean,
  timeoutMs = 60_000,
  quietMs = 1_500,
  /** keepSchemas: decode the Connect schemas of the json-schema format into event.schemas. */
  decode: { keepSchemas?: boolean } = {},
): Promise<Seen[]> {
  const reader = new TopicReader(defaultKafkaConfig('verifier'), topics, 'read_committed');
  const seen: Seen[] = [];
  try {
    await reader.open();
    const deadline = Date.now() + timeoutMs;
    let quietSince = Date.now();
    while (Date.now() < deadline) {
      const batch = await reader.poll(200);
      for (const r of batch) {
        const d = fromKafkaRecord(r, decode);
        if (d.kind === 'change')
          seen.push({ kind: 'change', event: d.event, partition: r.partition, offset: r.offset });
        else
          seen.push({
            kind: 'tombstone',
            key: JSON.stringify(d.tombstone.key),
            partition: r.partition,
            offset: r.offset,
          });
      }
      if (batch.length > 0) quietSince = Date.now();
      else if (done(seen) && Date.now() - quietSince >= quietMs) break;
    }
    return seen;
  } finally {
    await reader.close();
  }
}

export function changes(seen: Seen[]): ChangeEvent[] {
  return seen.flatMap((s) => (s.kind === 'change' ? [s.event] : []));
}

/** Changes grouped per key in the order they appear in their partition. */
export function perKey(seen: Seen[]): Map<string, ChangeEvent[]> {
  const sorted = [...seen].sort(
    (a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0),
  );
  const out = new Map<string, ChangeEvent[]>();
  for (const s of sorted) {
    if (s.kind !== 'change') continue;
    const k = JSON.stringify(s.event.key);
    const list = out.get(k) ?? [];
    list.push(s.event);
    out.set(k, list);
  }
  return out;
}

export type State = Map<string, Record<string, unknown> | null>;

/** Replays per-key events; returns the final state and any per-key ordering violations. */
export function replay(seen: Seen[]): { state: State; violations: string[] } {
  const state: State = new Map();
  const violations: string[] = [];
  for (const [key, events] of perKey(seen)) {
    let prev: ChangeEvent | null = null;
    for (const e of events) {
      if (prev && e.version <= prev.version) {
        violations.push(
          `key ${key}: ${e.value.op}@${e.version} after ${prev.value.op}@${prev.version}`,
        );
      }
      if (e.value.op === 'd') state.set(key, null);
      else if (e.value.op !== 't') state.set(key, e.value.after);
      prev = e;
    }
  }
  return { state, violations };
}

export async function tableState(
  db: pg.Client,
  table: string,
): Promise<Map<string, Record<string, unknown>>> {
  const res = await db.query(`SELECT id, v, note FROM ${table}`);
  return new Map(res.rows.map((r) => [JSON.stringify({ id: r.id }), r]));
}

export function sameContent(state: State, table: Map<string, Record<string, unknown>>): string[] {
  const diffs: string[] = [];
  for (const [k, row] of table) {
    const s = state.get(k);
    if (!s) diffs.push(`key ${k}: in the table, missing downstream`);
    else if (s.v !== row.v || s.note !== row.note)
      diffs.push(`key ${k}: table v=${row.v} note=${row.note}, downstream v=${s.v} note=${s.note}`);
  }
  for (const [k, s] of state)
    if (s && !table.has(k)) diffs.push(`key ${k}: deleted in the table, present downstream`);
  return diffs;
}

/** Drops the slot and publication a test created (best effort). */
export async function cleanupSource(client: pg.Client, source: string): Promise<void> {
  await client
    .query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`,
      [`tributary_${source}`],
    )
    .catch(() => undefined);
  await client.query(`DROP PUBLICATION IF EXISTS tributary_${source}`).catch(() => undefined);
}

/**
 * Registers the usual hooks of a capture test file: Kafka and PostgreSQL up and one client
 * before the tests; after them, the slot and publication of every source in `sources` dropped.
 */
export function captureTestContext(): { db: pg.Client; sources: string[] } {
  const ctx = { db: null as unknown as pg.Client, sources: [] as string[] };
  before(async () => {
    ensureServices('kafka', 'postgres');
    ctx.db = await pgClient();
  });
  after(async () => {
    for (const s of ctx.sources) await cleanupSource(ctx.db, s);
    await ctx.db.end();
  });
  return ctx;
}
