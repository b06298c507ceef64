// Ad-hoc (incremental) snapshots on demand: `tributary snapshot` writes an execute-snapshot
// signal into the source's WAL; the running capture (snapshot mode `never`) re-reads the tables
// with the DBLog coordinator while streaming goes on, and resumes it after a kill -9.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseLsn } from '../../../../capture/postgres/connection/pgoutput.ts';
import { REPO } from '../../helpers.ts';
import {
  captureTestContext,
  CaptureProcess,
  changes,
  pgClient,
  readTopics,
  replay,
  sameContent,
  sleep,
  sourceConfig,
  tableState,
  uniqueSource,
  writeConfig,
} from './harness.ts';

const ctx = captureTestContext();

async function createTable(table: string, rows: number): Promise<void> {
  await ctx.db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL, note text)`);
  await ctx.db.query(
    `INSERT INTO ${table} SELECT g, 0, 'row ' || g FROM generate_series(1, ${rows}) g`,
  );
}

/** A topology file holding just this source (what `tributary snapshot` reads). */
function topologyFile(source: string, table: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'tributary-adhoc-'));
  const file = join(dir, 'topology.yaml');
  writeFileSync(
    file,
    `version: 1
name: ${source.replace(/_/g, '-')}
kafka: { brokers: [127.0.0.1:9092] }
sources:
  - name: ${source}
    type: postgres
    connection: { database: tributary, user: tributary, password: tributary }
    tables: [${table}]
`,
  );
  return file;
}

function snapshotCli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/tributary.js', 'snapshot', ...args], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 30_000,
  });
}

test('execute-snapshot signal while streaming concurrent writes: every row read, content equals the table, no stale snapshot row', async () => {
  const source = uniqueSource('adhoc');
  ctx.sources.push(source);
  const table = `public.${source}`;
  const rows = 4000;
  await createTable(table, rows);
  const config = writeConfig(
    sourceConfig(source, [table], {
      snapshot: { mode: 'never', chunkSize: 300 },
      topic: { partitions: 3 },
    }),
  );
  const topic = `${source}.${table}`;
  const capture = new CaptureProcess(config);
  const writer = await pgClient();
  const touched = new Set<number>();
  let writing = true;
  let writes = 0;
  const writerDone = (async () => {
    let nextId = rows + 1;
    while (writing) {
      const id = 1 + Math.floor(Math.random() * rows);
      const r = Math.random();
      if (r < 0.6)
        await writer.query(`UPDATE ${table} SET v = v + 1, note = 'upd ' || $1 WHERE id = $2`, [
          writes,
          id,
        ]);
      else if (r < 0.75) await writer.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
      else await writer.query(`INSERT INTO ${table} VALUES ($1, 1, 'new')`, [nextId++]);
      if (r < 0.75) touched.add(id);
      writes++;
      await sleep(2);
    }
  })();
  try {
    await capture.waitFor(/created replication slot/);
    await sleep(500);
    const cli = snapshotCli(topologyFile(source, table), '--source', source);
    assert.equal(cli.status, 0, cli.stderr + cli.stdout);
    assert.match(cli.stdout, /execute-snapshot signal for every captured table written at LSN/);
    // A second signal while the first runs: the table is already queued, the unknown one ignored.
    await ctx.db.query(`SELECT pg_logical_emit_message(true, 'tributary.signal', $1)`, [
      JSON.stringify({
        type: 'execute-snapshot',
        source,
        tables: [table, 'public.not_captured'],
      }),
    ]);
    await capture.waitFor(/ad-hoc snapshot completed/, 60_000);
    writing = false;
    await writerDone;
    const out = capture.output.join('\n');
    assert.match(out, /signal: execute-snapshot of /);
    assert.match(out, /ignoring table\(s\) this source does not capture: public\.not_captured/);
    assert.match(out, /queued nothing new behind the running snapshot/);

    const want = await tableState(ctx.db, table);
    const seen = await readTopics(
      [topic],
      (s) => sameContent(replay(s).state, want).length === 0,
      60_000,
    );
    const { state, violations } = replay(seen);
    assert.deepEqual(violations.slice(0, 5), [], 'no snapshot row after a newer change of its key');
    assert.deepEqual(
      sameContent(state, want).slice(0, 5),
      [],
      'downstream content equals the table',
    );
    const reads = changes(seen).filter((e) => e.value.op === 'r');
    assert.ok(
      reads.every((e) => e.value.source.snapshot === 'incremental'),
      'ad-hoc rows are marked incremental',
    );
    const readsPerKey = new Map<number, number>();
    for (const e of reads) {
      const id = (e.key as { id: number }).id;
      readsPerKey.set(id, (readsPerKey.get(id) ?? 0) + 1);
    }
    const untouched = [...Array(rows).keys()].map((i) => i + 1).filter((id) => !touched.has(id));
    const missing = untouched.filter((id) => readsPerKey.get(id) !== 1);
    assert.deepEqual(missing.slice(0, 10), [], 'every row untouched by the writer read once');
    assert.ok(
      [...readsPerKey.values()].every((n) => n === 1),
      'no row read twice by one signal',
    );
    assert.ok(writes > 100 && touched.size > 50, `concurrent writes: ${writes}`);
    // Mode never: every snapshot row was read after the signal (its version is a later LSN).
    const signalLsn = BigInt(parseLsn(/at LSN (\S+)/.exec(cli.stdout)![1]!));
    assert.ok(
      reads.every((e) => e.version > signalLsn),
      'no snapshot row from before the signal',
    );
  } finally {
    writing = false;
    await writerDone.catch(() => undefined);
    await writer.end();
    assert.equal(await capture.stop(), 0, capture.output.join('\n'));
  }
});

test('kill -9 during an ad-hoc snapshot: the restarted capture (mode never) resumes it at the last chunk, each row exactly once', async () => {
  const source = uniqueSource('adhockill');
  ctx.sources.push(source);
  const table = `public.${source}`;
  const rows = 30_000;
  const chunk = 500;
  await createTable(table, rows);
  const config = writeConfig(
    sourceConfig(source, [table], {
      snapshot: { mode: 'never', chunkSize: chunk },
      topic: { partitions: 2 },
    }),
  );
  const topic = `${source}.${table}`;
  let capture = new CaptureProcess(config);
  await capture.waitFor(/created replication slot/);
  const cli = snapshotCli(topologyFile(source, table), '--source', source, '--tables', table);
  assert.equal(cli.status, 0, cli.stderr + cli.stdout);
  assert.match(cli.stdout, new RegExp(`signal for ${table} written`));
  // Kill once the progress line shows at least 20% of the rows (and before the end).
  const deadline = Date.now() + 60_000;
  for (;;) {
    const line = [...capture.output].reverse().find((l) => /snapshot: 0\/1 tables/.test(l));
    const n = line ? Number(/tables, ([\d,]+) rows/.exec(line)![1]!.replace(/,/g, '')) : 0;
    if (n >= 0.2 * rows) break;
    if (capture.output.some((l) => /ad-hoc snapshot completed/.test(l)))
      throw new Error(`snapshot finished before the kill:\n${capture.output.join('\n')}`);
    if (Date.now() > deadline || capture.child.exitCode !== null)
      throw new Error(`no snapshot progress:\n${capture.output.join('\n')}`);
    await sleep(20);
  }
  await capture.kill9();
  const before = changes(await readTopics([topic], () => true, 10_000, 1000)).length;
  assert.ok(before > 0 && before < rows, `committed before the kill: ${before}`);

  capture = new CaptureProcess(config);
  try {
    const done = await capture.waitFor(/ad-hoc snapshot completed/, 60_000);
    assert.match(capture.output.join('\n'), /snapshot: resuming .* after key/);
    const readByRestart = Number(/(\d+) rows read by this process/.exec(done)![1]);
    assert.ok(
      readByRestart <= rows - before + chunk,
      `re-read ${readByRestart} rows, ${rows - before} were missing`,
    );
    const seen = await readTopics([topic], (s) => changes(s).length >= rows, 60_000);
    const reads = changes(seen).filter((e) => e.value.op === 'r');
    assert.equal(changes(seen).length, rows, 'nothing but the snapshot rows');
    const ids = new Set(reads.map((e) => (e.key as { id: number }).id));
    assert.equal(ids.size, rows, 'every row exactly once');
  } finally {
    assert.equal(await capture.stop(), 0, capture.output.join('\n'));
  }
});
