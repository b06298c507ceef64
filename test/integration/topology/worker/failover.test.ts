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
import {
  adminToken,
  freePort,
  groupSettled,
  newCluster,
  rest,
  waitForStatus,
  WorkerProcess,
} from './harness.ts';

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

test('kill -9 of the worker running a capture: the other worker takes over within the session timeout; then a planned handoff on SIGTERM; no loss, no duplicates', async () => {
  const cluster = newCluster(6_000);
  const token = await adminToken(cluster);
  const a = new WorkerProcess('worker-a', await freePort(), cluster);
  workers.push(a);
  await a.waitFor(/worker ready/);
  const b = new WorkerProcess('worker-b', await freePort(), cluster);
  workers.push(b);
  await b.waitFor(/worker ready/);
  await groupSettled([a, b]);

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
  await until(() => written >= N / 3, 'the first third of the workload', writer);
  // The runner is still the one the status named (the group was settled before the start).
  const now = await waitForStatus(a.base, token, source, (s) => s.tasks[0]?.state === 'RUNNING');
  assert.equal(now.tasks[0]!.worker_id, victim.id);
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
  assert.ok(takeoverMs >= 1_000, 'the group needed the session timeout to notice the dead worker');
  assert.ok(
    takeoverMs < cluster.sessionTimeoutMs + 10_000,
    `took ${takeoverMs} ms:\n${survivor.output.slice(-30).join('\n')}`,
  );
  await writer;

  // Planned moves: a third worker joins (the group rebalances), then whoever runs the task is
  // stopped with SIGTERM while rows keep coming. The owner stops the task cleanly before the
  // next one starts it (handoff through the status topic), with no wait for a session timeout.
  const c = new WorkerProcess('worker-c', await freePort(), cluster);
  workers.push(c);
  await c.waitFor(/worker ready/);
  await groupSettled([survivor, c]);
  const M = 1_000;
  let written2 = N;
  const writer2 = (async () => {
    for (let id = N + 1; id <= N + M; id += 10) {
      await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series($1::int, $2::int) g`, [
        id,
        id + 9,
      ]);
      written2 = id + 9;
      await sleep(15);
    }
  })();
  await until(() => written2 >= N + M / 3, 'a third of the second workload', writer2);
  const before = await waitForStatus(c.base, token, source, (s) => s.tasks[0]?.state === 'RUNNING');
  const owner2 = [survivor, c].find((w) => w.id === before.tasks[0]!.worker_id)!;
  const other = owner2 === c ? survivor : c;
  const stoppedAt = Date.now();
  const exit = await Promise.race([owner2.stop(), sleep(30_000).then(() => 'timeout' as const)]);
  if (exit === 'timeout') await owner2.kill9();
  assert.equal(
    exit,
    0,
    `a SIGTERMed worker exits cleanly:\n${owner2.output.slice(-20).join('\n')}`,
  );
  await waitForStatus(
    other.base,
    token,
    source,
    (s) => s.tasks[0]?.state === 'RUNNING' && s.tasks[0].worker_id === other.id,
    30_000,
  );
  const handoffMs = Date.now() - stoppedAt;
  console.log(`planned handoff ${owner2.id} -> ${other.id} after ${handoffMs} ms`);
  assert.ok(handoffMs < cluster.sessionTimeoutMs + 5_000, `handoff took ${handoffMs} ms`);
  assert.ok(
    !other.output.some((l) => /has not released it/.test(l)),
    'the new owner did not have to start over a running task',
  );
  await writer2;

  const expectedUpdates = Math.floor(N / 7);
  const seen = await readTopics(
    [`${source}.${table}`],
    (s) => s.filter((x) => x.kind === 'change').length >= N + M + expectedUpdates,
    90_000,
  );
  const keys = perKey(seen);
  assert.equal(keys.size, N + M, 'every inserted row captured');
  let duplicates = 0;
  for (let id = 1; id <= N + M; id++) {
    const events = keys.get(JSON.stringify({ id }));
    const ops = (events ?? []).map(
      (e) => `${e.value.op}${(e.value.after as { v: number } | null)?.v}`,
    );
    const expected = id <= N && id % 7 === 0 ? ['c0', 'u1'] : ['c0'];
    if (ops.length > expected.length) duplicates++;
    assert.deepEqual(ops, expected, `key ${id}`);
  }
  assert.equal(duplicates, 0);
  assert.ok(
    survivor.output.some((l) => /starting connector .* task 0/.test(l)),
    'the survivor started the task',
  );
});

/** Waits (at most 60 s) for `cond`, failing early when the workload behind it failed. */
async function until(cond: () => boolean, what: string, work: Promise<void>): Promise<void> {
  let failure: unknown;
  work.catch((err: unknown) => (failure = err));
  const deadline = Date.now() + 60_000;
  while (!cond()) {
    if (failure !== undefined) throw failure;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}
