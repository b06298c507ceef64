// PostgreSQL capture end to end against real PostgreSQL and Kafka: snapshot↔stream handoff
// under concurrent writes, restarts at awkward places, slot loss, and setup errors.
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
  replay,
  sameContent,
  sleep,
  sourceConfig,
  tableState,
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

async function createTable(name: string, rows: number): Promise<void> {
  await db.query(`CREATE TABLE ${name} (id int PRIMARY KEY, v int NOT NULL, note text)`);
  if (rows > 0)
    await db.query(
      `INSERT INTO ${name} SELECT g, 0, 'row ' || g FROM generate_series(1, ${rows}) g`,
    );
}

test('snapshot interleaved with concurrent writers: final content equals the table, no stale snapshot row', async () => {
  const source = uniqueSource('handoff');
  sources.push(source);
  const table = `public.${source}`;
  await createTable(table, 6000);
  const config = writeConfig(
    sourceConfig(source, [table], {
      snapshot: { mode: 'initial', chunkSize: 400 },
      topic: { partitions: 3 },
    }),
  );
  const capture = new CaptureProcess(config);
  try {
    await capture.waitFor(/snapshot: 1 table\(s\) to read/);
    // Writers change random keys (inside and outside chunk windows) while the snapshot runs.
    let writes = 0;
    let inserts = 0;
    const deadline = Date.now() + 4000;
    let nextId = 10_000;
    while (Date.now() < deadline) {
      const id = 1 + Math.floor(Math.random() * 6000);
      const r = Math.random();
      if (r < 0.6)
        await db.query(`UPDATE ${table} SET v = v + 1, note = 'upd ' || $1 WHERE id = $2`, [
          writes,
          id,
        ]);
      else if (r < 0.8) await db.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
      else {
        await db.query(`INSERT INTO ${table} VALUES ($1, 1, 'new')`, [nextId++]);
        inserts++;
      }
      writes++;
    }
    await capture.waitFor(/snapshot completed/, 60_000);
    const expected = await tableState(db, table);
    const topic = `${source}.${table}`;
    const seen = await readTopics(
      [topic],
      (s) => sameContent(replay(s).state, expected).length === 0,
      60_000,
    );
    const { state, violations } = replay(seen);
    assert.deepEqual(
      violations,
      [],
      'per-key versions only grow: no snapshot row after a newer change',
    );
    assert.deepEqual(
      sameContent(state, expected).slice(0, 10),
      [],
      'downstream content equals the table',
    );
    const snapshotRows = changes(seen).filter((e) => e.value.op === 'r');
    // Rows inserted ahead of the snapshot cursor are read by it too.
    assert.ok(
      snapshotRows.length > 4000 && snapshotRows.length <= 6000 + inserts,
      `snapshot rows: ${snapshotRows.length}`,
    );
    assert.equal(snapshotRows[0]?.value.source.snapshot !== undefined, true);
    assert.ok(writes > 50, `concurrent writes: ${writes}`);
    // Debezium source block on a streamed change.
    const streamed = changes(seen).find((e) => e.value.op === 'u')!;
    assert.equal(streamed.value.source.connector, 'postgresql');
    assert.equal(streamed.value.source.snapshot, 'false');
    assert.equal(typeof streamed.value.source.txId, 'number');
    assert.equal(
      BigInt(streamed.value.source.lsn as number),
      streamed.version,
      'version = the change LSN',
    );
    assert.match(String(streamed.value.source.sequence), /^\[("\d+"|null),"\d+"\]$/);
  } finally {
    assert.equal(await capture.stop(), 0, capture.output.join('\n'));
  }
});

test('restart inside a same-LSN group (COPY of 20 rows, killed after the 10th event): no loss, no duplicate', async () => {
  const source = uniqueSource('samelsn');
  sources.push(source);
  const table = `public.${source}`;
  await createTable(table, 0);
  // Batches of 10: the first Kafka transaction holds exactly 10 events, and the process
  // SIGKILLs itself right after that commit (before acknowledging PostgreSQL).
  const config = writeConfig(
    sourceConfig(source, [table], {
      snapshot: { mode: 'never' },
      heartbeatIntervalMs: 0,
      publisher: { batchSize: 10, lingerMs: 60_000, maxBuffered: 1000 },
    }),
  );
  const topic = `${source}.${table}`;
  let capture = new CaptureProcess(config, { TRIBUTARY_CRASH_AFTER_COMMITS: '1' });
  await capture.waitFor(/created replication slot/);
  await sleep(500);
  const values = Array.from({ length: 20 }, (_, i) => `${i + 1}\t0\tcopy ${i + 1}`).join('\n');
  await copyRows(db, table, values);
  assert.equal(await capture.wait(), null, 'killed by SIGKILL');
  const first = await readTopics([topic], (s) => s.length >= 10, 20_000, 500);
  assert.equal(first.length, 10, 'exactly the first Kafka transaction (10 events) is committed');
  const versions = new Set(changes(first).map((e) => e.version));
  assert.equal(versions.size, 1, 'the 20 rows share one LSN (one multi-insert WAL record)');

  capture = new CaptureProcess(
    writeConfig(sourceConfig(source, [table], { snapshot: { mode: 'never' } })),
  );
  try {
    const seen = await readTopics([topic], (s) => s.length >= 20, 30_000);
    const ids = changes(seen)
      .map((e) => (e.key as { id: number }).id)
      .sort((a, b) => a - b);
    assert.deepEqual(
      ids,
      Array.from({ length: 20 }, (_, i) => i + 1),
      'each row exactly once',
    );
  } finally {
    await capture.stop();
  }
});

test('a transaction open across a restart is captured once it commits', async () => {
  const source = uniqueSource('opentx');
  sources.push(source);
  const table = `public.${source}`;
  await createTable(table, 0);
  const config = writeConfig(sourceConfig(source, [table], { snapshot: { mode: 'never' } }));
  const topic = `${source}.${table}`;
  let capture = new CaptureProcess(config);
  await capture.waitFor(/created replication slot/);
  const writer = await pgClient();
  try {
    await db.query(`INSERT INTO ${table} VALUES (1, 0, 'before')`);
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO ${table} SELECT g, 0, 'open' FROM generate_series(2, 6) g`);
    await readTopics([topic], (s) => s.length >= 1, 20_000, 300);
    assert.equal(await capture.stop(), 0);
    await writer.query('COMMIT');
    await db.query(`INSERT INTO ${table} VALUES (7, 0, 'after')`);
  } finally {
    await writer.end();
  }
  capture = new CaptureProcess(config);
  try {
    const seen = await readTopics([topic], (s) => s.length >= 7, 30_000);
    assert.deepEqual(
      changes(seen)
        .map((e) => (e.key as { id: number }).id)
        .sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7],
    );
  } finally {
    await capture.stop();
  }
});

test('slot dropped and recreated while stopped: the capture refuses to continue', async () => {
  const source = uniqueSource('slotloss');
  sources.push(source);
  const table = `public.${source}`;
  await createTable(table, 0);
  const config = writeConfig(sourceConfig(source, [table], { snapshot: { mode: 'never' } }));
  let capture = new CaptureProcess(config);
  await capture.waitFor(/created replication slot/);
  await db.query(`INSERT INTO ${table} VALUES (1, 0, 'a')`);
  await readTopics([`${source}.${table}`], (s) => s.length >= 1, 20_000, 300);
  await sleep(1500); // a heartbeat makes sure the acknowledgement was stored
  assert.equal(await capture.stop(), 0);
  const slot = `tributary_${source}`;
  await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
  await db.query(`INSERT INTO ${table} VALUES (2, 0, 'lost')`); // would be missed
  await db.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [slot]);
  capture = new CaptureProcess(config);
  const code = await capture.wait();
  assert.notEqual(code, 0);
  assert.match(capture.output.join('\n'), /SOURCE_POSITION_LOST|was recreated or advanced/);

  await db.query('SELECT pg_drop_replication_slot($1)', [slot]);
  capture = new CaptureProcess(config);
  assert.notEqual(await capture.wait(), 0);
  assert.match(capture.output.join('\n'), /no longer exists/);
});

test('setup errors are clear and name the fix: unknown table, no key, wrong password', async () => {
  const source = uniqueSource('bad');
  sources.push(source);
  const keyless = `public.${source}_nokey`;
  await db.query(`CREATE TABLE ${keyless} (a int, b text)`);
  await db.query(`CREATE TABLE public.${source}_orders (id int primary key)`);

  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [
      sourceConfig(source, [`public.${source}_ordrs`]),
      new RegExp(
        `unknown table "public\\.${source}_ordrs" — did you mean "public\\.${source}_orders"\\?`,
      ),
    ],
    [sourceConfig(source, [keyless]), /has no primary key.*REPLICA IDENTITY FULL/],
    [
      {
        ...sourceConfig(source, [`public.${source}_orders`]),
        connection: {
          host: '127.0.0.1',
          port: 5432,
          database: 'tributary',
          user: 'tributary',
          password: 'wrong',
        },
      },
      /rejected user "tributary".*connection\.password/,
    ],
    [
      { ...sourceConfig(source, [`public.${source}_orders`]), snapshot: { mode: 'sometimes' } },
      /snapshot\.mode/,
    ],
    [
      { ...sourceConfig(source, [`public.${source}_orders`]), tabels: [] },
      /tabels: unknown key — did you mean "tables"\?/,
    ],
  ];
  for (const [cfg, pattern] of cases) {
    const capture = new CaptureProcess(writeConfig(cfg));
    const code = await capture.wait();
    assert.notEqual(code, 0);
    assert.match(capture.output.join('\n'), pattern);
    assert.doesNotMatch(
      capture.output.join('\n'),
      /at .*\.ts:\d+/,
      'no stack trace for a setup error',
    );
  }
});

/** COPY FROM STDIN: PostgreSQL writes the rows with one multi-insert WAL record (one LSN). */
async function copyRows(client: pg.Client, table: string, tsv: string): Promise<void> {
  const { from } = await import('pg-copy-streams');
  await new Promise<void>((resolve, reject) => {
    const stream = client.query(from(`COPY ${table} (id, v, note) FROM STDIN`));
    stream.on('finish', resolve);
    stream.on('error', reject);
    stream.end(tsv + '\n');
  });
}

test('wal_level other than logical is refused with the exact fix (private PostgreSQL, wal_level=replica)', async () => {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, chmodSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const bin = spawnSync('bash', ['-c', 'ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1'])
    .stdout.toString()
    .trim();
  const dir = mkdtempSync(`${tmpdir()}/tributary-pg-`);
  chmodSync(dir, 0o777);
  const as = (cmd: string, ...args: string[]) =>
    spawnSync('runuser', ['-u', 'postgres', '--', `${bin}/${cmd}`, ...args], { encoding: 'utf8' });
  const port = 55432;
  try {
    assert.equal(as('initdb', '-D', `${dir}/data`, '-U', 'postgres', '--auth=trust').status, 0);
    const start = as(
      'pg_ctl',
      '-D',
      `${dir}/data`,
      '-o',
      `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c wal_level=replica`,
      '-l',
      `${dir}/log`,
      '-w',
      'start',
    );
    assert.equal(start.status, 0, start.stderr);
    const psql = spawnSync(
      'psql',
      [
        '-h',
        dir,
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-c',
        "CREATE ROLE tributary LOGIN REPLICATION PASSWORD 'tributary'; CREATE TABLE public.t (id int primary key); GRANT SELECT ON public.t TO tributary;",
      ],
      { encoding: 'utf8' },
    );
    assert.equal(psql.status, 0, psql.stderr);
    const cfg = {
      ...sourceConfig(uniqueSource('wal'), ['public.t']),
      connection: {
        host: '127.0.0.1',
        port,
        database: 'postgres',
        user: 'tributary',
        password: 'tributary',
      },
    };
    const capture = new CaptureProcess(writeConfig(cfg));
    assert.notEqual(await capture.wait(), 0);
    assert.match(
      capture.output.join('\n'),
      /wal_level is "replica".*ALTER SYSTEM SET wal_level = logical; then restart PostgreSQL/,
    );
  } finally {
    as('pg_ctl', '-D', `${dir}/data`, '-m', 'immediate', 'stop');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('transaction metadata: BEGIN/END on <prefix>.transaction and the transaction block on events', async () => {
  const { TopicReader, defaultKafkaConfig } = await import('../../../../core/kafka/index.ts');
  const source = uniqueSource('txmeta');
  sources.push(source);
  const a = `public.${source}_a`;
  const b = `public.${source}_b`;
  await createTable(a, 0);
  await createTable(b, 0);
  const config = writeConfig(
    sourceConfig(source, [a, b], { snapshot: { mode: 'never' }, transactionMetadata: true }),
  );
  const capture = new CaptureProcess(config);
  try {
    await capture.waitFor(/created replication slot/);
    await db.query('BEGIN');
    await db.query(`INSERT INTO ${a} VALUES (1, 0, 'x'), (2, 0, 'y')`);
    await db.query(`INSERT INTO ${b} VALUES (1, 0, 'z')`);
    await db.query('COMMIT');
    const seen = await readTopics(
      [`${source}.${a}`, `${source}.${b}`],
      (s) => s.length >= 3,
      20_000,
      500,
    );
    const events = changes(seen);
    const ids = new Set(events.map((e) => e.value.transaction?.id));
    assert.equal(ids.size, 1, 'all three events carry one transaction id');
    const id = [...ids][0]!;
    assert.match(id, /^\d+:\d+$/);
    assert.deepEqual(events.map((e) => e.value.transaction!.total_order).sort(), [1, 2, 3]);
    const reader = new TopicReader(defaultKafkaConfig('verifier'), [`${source}.transaction`]);
    await reader.open();
    const tx: Array<Record<string, unknown>> = [];
    const deadline = Date.now() + 10_000;
    while (tx.length < 2 && Date.now() < deadline) {
      for (const r of await reader.poll(300)) tx.push(JSON.parse(r.value!.toString()));
    }
    await reader.close();
    assert.deepEqual(
      tx.map((t) => [t.status, t.id, t.event_count]),
      [
        ['BEGIN', id, null],
        ['END', id, 3],
      ],
    );
    assert.deepEqual(tx[1]!.data_collections, [
      { data_collection: a, event_count: 2 },
      { data_collection: b, event_count: 1 },
    ]);
  } finally {
    await capture.stop();
  }
});

test('onSlotLoss: resnapshot recreates the slot and snapshots the tables again', async () => {
  const source = uniqueSource('resnap');
  sources.push(source);
  const table = `public.${source}`;
  await createTable(table, 5);
  const base = { snapshot: { mode: 'initial', chunkSize: 100 }, onSlotLoss: 'resnapshot' };
  const config = writeConfig(sourceConfig(source, [table], base));
  const topic = `${source}.${table}`;
  let capture = new CaptureProcess(config);
  await capture.waitFor(/snapshot completed/);
  await db.query(`UPDATE ${table} SET v = 1 WHERE id = 1`);
  await readTopics([topic], (s) => changes(s).length >= 6, 20_000, 300);
  await sleep(1500); // a heartbeat stores the acknowledgement
  assert.equal(await capture.stop(), 0);

  await db.query('SELECT pg_drop_replication_slot($1)', [`tributary_${source}`]);
  await db.query(`UPDATE ${table} SET v = 2, note = 'changed while stopped' WHERE id = 2`);
  capture = new CaptureProcess(config);
  try {
    await capture.waitFor(/on_slot_loss=resnapshot/);
    await capture.waitFor(/snapshot completed/);
    const seen = await readTopics(
      [topic],
      (s) => changes(s).filter((e) => e.value.op === 'r').length >= 10,
      20_000,
    );
    // Two snapshot reads of id 2: the newer one (higher version) is from the re-snapshot.
    const reads = changes(seen).filter(
      (e) => e.value.op === 'r' && (e.key as { id: number }).id === 2,
    );
    assert.equal(reads.length, 2);
    const row2 = reads.sort((a, b) => (a.version < b.version ? -1 : 1))[1]!;
    assert.equal(
      (row2.value.after as { note: string }).note,
      'changed while stopped',
      'the change made while the slot was gone arrives through the new snapshot',
    );
  } finally {
    await capture.stop();
  }
});

test('a primary-key update becomes delete (+ tombstone) of the old key and create of the new one, also with REPLICA IDENTITY FULL', async () => {
  const source = uniqueSource('pkchange');
  sources.push(source);
  const table = `public.${source}`;
  await createTable(table, 0);
  await db.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`);
  const capture = new CaptureProcess(
    writeConfig(sourceConfig(source, [table], { snapshot: { mode: 'never' } })),
  );
  try {
    await capture.waitFor(/created replication slot/);
    await db.query(`INSERT INTO ${table} VALUES (1, 0, 'a')`);
    await db.query(`UPDATE ${table} SET v = 5 WHERE id = 1`);
    await db.query(`UPDATE ${table} SET id = 2 WHERE id = 1`);
    const seen = await readTopics([`${source}.${table}`], (s) => s.length >= 5, 20_000, 500);
    const byKey = perKey(seen);
    assert.deepEqual(
      byKey.get('{"id":1}')!.map((e) => e.value.op),
      ['c', 'u', 'd'],
    );
    assert.deepEqual(
      (byKey.get('{"id":1}')![1]!.value.before as { v: number }).v,
      0,
      'FULL identity carries the before-image',
    );
    assert.deepEqual(
      byKey.get('{"id":2}')!.map((e) => e.value.op),
      ['c'],
    );
    assert.equal(seen.filter((s) => s.kind === 'tombstone').length, 1);
  } finally {
    await capture.stop();
  }
});
