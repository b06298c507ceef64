// Failover: two `tributary worker` processes in one group; a Debezium-style PostgreSQL
// connector created over REST runs on one of them. That worker is killed with SIGKILL in the
// middle of a write workload; the other takes the task over once the group coordinator drops
// the dead member (session timeout) and continues. An independent read_committed reader then
// checks that every committed change is in Kafka exactly once, in order per key.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { ensureServices } from '../../helpers.ts';
import {
  cleanupSource,
  perKey,
  pgClient,
  readTopics,
  sleep,
  uniqueSource,
} from '../../capture/postgres/harness.ts';
import { adminToken, freePort, newCluster, rest, waitForStatus, WorkerProcess } from './harness.ts';

let db: pg.Client;
const workers: WorkerProcess[] = [];
const source = uniqueSource('failover');
const table = `public.${source}`;

before(async () => {
  ensureServices('kafka', 'postgres');
  db = await pgClient();
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`);
});

after(async () => {
  for (const w of workers) await w.stop();
  await cleanupSource(db, source);
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.end();
});

test('kill -9 of the worker running a capture: the other worker takes over within the session timeout, no loss, no duplicates', async () => {
  const cluster = newCluster(6_000);
  const token = await adminToken(cluster);
  const a = new WorkerProcess('worker-a', await freePort(), cluster);
  workers.push(a);
  await a.waitFor(/worker ready/);
  const b = new WorkerProcess('worker-b', await freePort(), cluster);
  workers.push(b);
  await b.waitFor(/worker ready/);
  await a.waitFor(/generation \d+: slots \[\d/); // the group settled with both members

  const created = await rest(a.base, token, 'POST', '/connectors', {
    name: source,
    config: {
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'database.hostname': '127.0.0.1',
      'database.port': '5432',
      'database.user': 'tributary',
      'database.password': 'tributary',
      'database.dbname': 'tributary',
      'table.include.list': table,
      'topic.prefix': source,
      'slot.name': `tributary_${source}`,
      'publication.name': `tributary_${source}`,
      'heartbeat.interval.ms': '1000',
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  // Any worker answers for all: ask the one that does not run it.
  const running = await waitForStatus(
    b.base,
    token,
    source,
    (s) => s.tasks[0]?.state === 'RUNNING',
  );
  const owner = running.tasks[0]!.worker_id;
  const [victim, survivor] = owner === 'worker-a' ? [a, b] : [b, a];
  assert.ok(owner === 'worker-a' || owner === 'worker-b', owner);

  // Workload: inserts of ids 1..N (one transaction per 10 rows), then updates of every 7th.
  const N = 3_000;
  let written = 0;
  let killedAt = 0;
  const writer = (async () => {
    for (let id = 1; id <= N; id += 10) {
      await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series($1::int, $2::int) g`, [
        id,
        id + 9,
      ]);
      written = id + 9;
      await sleep(written < N / 2 ? 10 : 2);
    }
    await db.query(`UPDATE ${table} SET v = 1 WHERE id % 7 = 0`);
  })();
  while (written < N / 3) await sleep(20);
  killedAt = Date.now();
  await victim.kill9();

  const moved = await waitForStatus(
    survivor.base,
    token,
    source,
    (s) => s.tasks[0]?.state === 'RUNNING' && s.tasks[0].worker_id === survivor.id,
    60_000,
  ).catch((err: Error) => {
    const interesting = (w: WorkerProcess) =>
      w.output.filter((l) => !/ REST GET /.test(l)).join('\n');
    throw new Error(
      `${err.message}\nsurvivor ${survivor.id}:\n${interesting(survivor)}\nvictim ${victim.id}:\n${interesting(victim)}`,
    );
  });
  const takeoverMs = Date.now() - killedAt;
  console.log(`takeover after ${takeoverMs} ms (session timeout ${cluster.sessionTimeoutMs} ms)`);
  assert.ok(moved);
  assert.ok(
    takeoverMs < cluster.sessionTimeoutMs + 10_000,
    `took ${takeoverMs} ms:\n${survivor.output.slice(-30).join('\n')}`,
  );
  await writer;

  const expectedUpdates = Math.floor(N / 7);
  const seen = await readTopics(
    [`${source}.${table}`],
    (s) => s.filter((x) => x.kind === 'change').length >= N + expectedUpdates,
    90_000,
  );
  const keys = perKey(seen);
  assert.equal(keys.size, N, 'every inserted row captured');
  let duplicates = 0;
  for (let id = 1; id <= N; id++) {
    const events = keys.get(JSON.stringify({ id }));
    const ops = (events ?? []).map(
      (e) => `${e.value.op}${(e.value.after as { v: number } | null)?.v}`,
    );
    const expected = id % 7 === 0 ? ['c0', 'u1'] : ['c0'];
    if (ops.length > expected.length) duplicates++;
    assert.deepEqual(ops, expected, `key ${id}`);
  }
  assert.equal(duplicates, 0);
  assert.ok(
    survivor.output.some((l) => /starting connector .* task 0/.test(l)),
    'the survivor started the task',
  );
});
