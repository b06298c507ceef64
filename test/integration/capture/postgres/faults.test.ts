// Crash tests for PostgreSQL capture: the capture runs as a child process and is killed with
// SIGKILL several times during a mixed workload and during the initial snapshot. An
// independent read_committed consumer then checks every committed change appears exactly once,
// in commit order per key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { ensureServices } from '../../helpers.ts';
import {
  CaptureProcess,
  changes,
  cleanupSource,
  perKey,
  pgClient,
  readTopics,
  sleep,
  sourceConfig,
  uniqueSource,
  writeConfig,
} from './harness.ts';

let db: pg.Client;
const sources: string[] = [];

before(async () => {
  ensureServices('kafka', 'postgres');
  db = await pgClient();
});

after(async () => {
  for (const s of sources) await cleanupSource(db, s);
  await db.end();
});

const BLOCK = 100; // rows per statement

/**
 * A single-writer workload over blocks of 100 keys: each statement inserts, updates or deletes
 * one whole block, so the expected per-key history (op and value) is known exactly.
 * Transactions hold 1–5 statements, and every 25th holds 20 (2,000 changes).
 */
class BlockWorkload {
  readonly history = new Map<number, Array<{ op: 'c' | 'u' | 'd'; v: number | null }>>();
  private readonly present = new Set<number>();
  private readonly values = new Map<number, number>();
  changes = 0;

  constructor(
    private readonly table: string,
    private readonly blocks: number,
  ) {}

  async run(
    client: pg.Client,
    target: number,
    onProgress?: (changes: number) => void,
  ): Promise<void> {
    let txn = 0;
    while (this.changes < target) {
      txn++;
      const statements = txn % 25 === 0 ? 20 : 1 + Math.floor(Math.random() * 5);
      await client.query('BEGIN');
      for (let s = 0; s < statements && this.changes < target; s++) await this.step(client);
      await client.query('COMMIT');
      onProgress?.(this.changes);
    }
  }

  private async step(client: pg.Client): Promise<void> {
    const block = Math.floor(Math.random() * this.blocks);
    const lo = block * BLOCK + 1;
    const hi = lo + BLOCK - 1;
    const r = Math.random();
    if (!this.present.has(block)) {
      await client.query(
        `INSERT INTO ${this.table} SELECT g, 0, 'ins' FROM generate_series($1::int, $2::int) g`,
        [lo, hi],
      );
      this.present.add(block);
      this.values.set(block, 0);
      this.record(lo, hi, 'c', 0);
    } else if (r < 0.6) {
      const v = this.values.get(block)! + 1;
      await client.query(
        `UPDATE ${this.table} SET v = $3, note = 'upd' WHERE id BETWEEN $1 AND $2`,
        [lo, hi, v],
      );
      this.values.set(block, v);
      this.record(lo, hi, 'u', v);
    } else {
      await client.query(`DELETE FROM ${this.table} WHERE id BETWEEN $1 AND $2`, [lo, hi]);
      this.present.delete(block);
      this.record(lo, hi, 'd', null);
    }
  }

  private record(lo: number, hi: number, op: 'c' | 'u' | 'd', v: number | null): void {
    for (let id = lo; id <= hi; id++) {
      const h = this.history.get(id) ?? [];
      h.push({ op, v });
      this.history.set(id, h);
    }
    this.changes += hi - lo + 1;
  }
}

/** A table of `blocks` × 100 keys, its capture config (streaming only) and its workload. */
async function blockSource(
  prefix: string,
  blocks: number,
): Promise<{ config: string; topic: string; workload: BlockWorkload }> {
  const source = uniqueSource(prefix);
  sources.push(source);
  const table = `public.${source}`;
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL, note text)`);
  const config = writeConfig(
    sourceConfig(source, [table], { snapshot: { mode: 'never' }, topic: { partitions: 3 } }),
  );
  return { config, topic: `${source}.${table}`, workload: new BlockWorkload(table, blocks) };
}

/**
 * Reads the topic back (read_committed) and checks that every change of the workload appears
 * exactly once, in commit order per key, with growing versions.
 */
async function expectExactlyOnce(
  topic: string,
  workload: BlockWorkload,
  runs: CaptureProcess[],
): Promise<void> {
  const seen = await readTopics([topic], (s) => changes(s).length >= workload.changes, 180_000);
  const byKey = perKey(seen);
  const problems: string[] = [];
  for (const [id, expected] of workload.history) {
    const got = byKey.get(JSON.stringify({ id })) ?? [];
    const gotOps = got.map(
      (e) => `${e.value.op}${e.value.after ? `:${(e.value.after as { v: number }).v}` : ''}`,
    );
    const wantOps = expected.map((h) => `${h.op}${h.v === null ? '' : `:${h.v}`}`);
    if (gotOps.join(',') !== wantOps.join(','))
      problems.push(`id ${id}: expected ${wantOps.join(',')} got ${gotOps.join(',')}`);
    for (let i = 1; i < got.length; i++)
      if (got[i]!.version <= got[i - 1]!.version)
        problems.push(`id ${id}: version did not grow at ${i}`);
  }
  if (changes(seen).length !== workload.changes) {
    for (const [i, r] of runs.entries())
      console.log(`--- run ${i + 1} ---\n${r.output.slice(-15).join('\n')}`);
  }
  assert.equal(
    changes(seen).length,
    workload.changes,
    `events in Kafka vs committed changes (${problems.length} keys differ)`,
  );
  assert.deepEqual(problems.slice(0, 5), []);
}

/** Kills `capture` with SIGKILL once its own progress line shows at least `events` events. */
async function killAfter(capture: CaptureProcess, events: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const last = [...capture.output].reverse().find((l) => /streaming: [\d,]+ events/.test(l));
    const n = last ? Number(/streaming: ([\d,]+) events/.exec(last)![1]!.replace(/,/g, '')) : 0;
    if (n >= events) {
      await capture.kill9();
      return;
    }
    if (capture.child.exitCode !== null)
      throw new Error(`capture exited early:\n${capture.output.join('\n')}`);
    await sleep(50);
  }
  throw new Error(
    `capture never reached ${events} events:\n${capture.output.slice(-20).join('\n')}`,
  );
}

test(
  'kill -9 three times during a 200,000-change mixed workload: every change exactly once, per-key commit order',
  { timeout: 600_000 },
  async () => {
    const total = Number(process.env.FAULT_TEST_CHANGES ?? 200_000);
    const { config, topic, workload } = await blockSource('faults', 400);
    const writer = await pgClient();
    const runs: CaptureProcess[] = [];
    let capture = new CaptureProcess(config);
    runs.push(capture);
    await capture.waitFor(/created replication slot/);
    const writing = workload.run(writer, total);
    try {
      // Each run is killed after it has itself written at least 20% of the workload.
      for (let kill = 1; kill <= 3; kill++) {
        await killAfter(capture, 0.2 * total);
        capture = new CaptureProcess(config);
        runs.push(capture);
      }
      await writing;
      await expectExactlyOnce(topic, workload, runs);
      const restarts = capture.output.filter((l) => /resuming after position/.test(l));
      assert.equal(restarts.length, 1, 'the last run resumed from a stored position');
    } finally {
      await writing.catch(() => undefined);
      await writer.end();
      await capture.stop();
    }
  },
);

test(
  'a retryable Kafka error stops the capture, which starts again in-process and loses or repeats nothing',
  { timeout: 300_000 },
  async () => {
    const { config, topic, workload } = await blockSource('retry', 200);
    const writer = await pgClient();
    // The 30th Produce request of the first producer thread fails (retryable), unsent.
    const capture = new CaptureProcess(config, { TRIBUTARY_FAIL_PRODUCE_REQUEST: '30' });
    await capture.waitFor(/created replication slot/);
    try {
      await workload.run(writer, 60_000);
      await capture.waitFor(/stopped on a retryable error: injected failure of Produce request 30/);
      await capture.waitFor(/resuming after position/);
      await expectExactlyOnce(topic, workload, [capture]);
      assert.equal(capture.child.exitCode, null, 'the capture process is still running');
    } finally {
      await writer.end();
      await capture.stop();
    }
  },
);

test(
  'kill -9 during the initial snapshot resumes at the last chunk and the result is exact',
  { timeout: 300_000 },
  async () => {
    const source = uniqueSource('snapkill');
    sources.push(source);
    const tables = [`public.${source}_a`, `public.${source}_b`];
    const rows = 30_000;
    const chunk = 1000;
    for (const t of tables) {
      await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v int NOT NULL, note text)`);
      await db.query(
        `INSERT INTO ${t} SELECT g, g, repeat('x', 100) FROM generate_series(1, ${rows}) g`,
      );
    }
    const config = writeConfig(
      sourceConfig(source, tables, {
        snapshot: { mode: 'initial', chunkSize: chunk },
        topic: { partitions: 2 },
      }),
    );
    const topics = tables.map((t) => `${source}.${t}`);

    let capture = new CaptureProcess(config);
    // Kill once the first table is done and the second is under way (≥ 20% of all rows).
    await capture.waitFor(new RegExp(`table ${tables[0]!.replace('.', '\\.')} done`), 120_000);
    await sleep(300);
    await capture.kill9();
    const beforeRestart = changes(await readTopics(topics, () => true, 10_000, 1000));
    assert.ok(
      beforeRestart.length >= 0.2 * 2 * rows,
      `committed before the kill: ${beforeRestart.length}`,
    );

    capture = new CaptureProcess(config);
    try {
      const done = await capture.waitFor(/snapshot completed/, 120_000);
      const readByRestart = Number(/(\d+) rows read by this process/.exec(done)![1]);
      assert.match(capture.output.join('\n'), /snapshot: resuming/);
      // Rows read again after the restart: at most one chunk per table beyond what was missing.
      const missing = 2 * rows - beforeRestart.length;
      assert.ok(
        readByRestart <= missing + chunk * tables.length,
        `re-read ${readByRestart - missing} rows (missing ${missing})`,
      );
      const seen = await readTopics(topics, (s) => changes(s).length >= 2 * rows, 60_000);
      const snapshot = changes(seen).filter((e) => e.value.op === 'r');
      assert.equal(snapshot.length, 2 * rows, 'each row exactly once');
      for (const t of topics) {
        const ids = new Set(
          snapshot.filter((e) => e.topic === t).map((e) => (e.key as { id: number }).id),
        );
        assert.equal(ids.size, rows, `${t}: every key`);
      }
    } finally {
      await capture.stop();
    }
  },
);
