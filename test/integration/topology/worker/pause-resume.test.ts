// Pause, resume and restart through the REST API on a worker running a PostgreSQL capture:
// while paused the capture stops advancing its replication slot (confirmed_flush_lsn stays
// put, the lag grows, the WAL is retained) and nothing new reaches Kafka; on resume it
// continues from its position; a restart stops and starts the task again. Every change is in
// Kafka exactly once (independent read_committed reader).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { defaultKafkaConfig } from '../../../../core/kafka/index.ts';
import { ControlStore } from '../../../../topology/control/index.ts';
import { RestServer } from '../../../../topology/rest/server.ts';
import { Worker } from '../../../../topology/worker/worker.ts';
import { ensureServices } from '../../helpers.ts';
import {
  cleanupSource,
  perKey,
  pgClient,
  readTopics,
  sleep,
  uniqueSource,
} from '../../capture/postgres/harness.ts';
import { newCluster, rest, waitForStatus } from './harness.ts';

let db: pg.Client;
let store: ControlStore;
let worker: Worker;
let server: RestServer;
let base = '';
let token = '';
const logs: string[] = [];
const source = uniqueSource('pause');
const table = `public.${source}`;
const slot = `tributary_${source}`;
const topologySource = uniqueSource('topo');
const table2 = `public.${topologySource}`;

before(async () => {
  ensureServices('kafka', 'postgres');
  db = await pgClient();
  await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int NOT NULL)`);
  const c = newCluster(6_000);
  const kafka = defaultKafkaConfig('pause-test');
  store = new ControlStore({
    kafka,
    configsTopic: c.configsTopic,
    statusTopic: c.statusTopic,
    taskSlots: 4,
  });
  worker = new Worker({
    kafka,
    store,
    workerId: 'pause-worker',
    groupId: c.group,
    coordinationTopic: c.coordinationTopic,
    sessionTimeoutMs: c.sessionTimeoutMs,
    log: (l) => logs.push(l),
  });
  server = new RestServer({
    store,
    cluster: { brokers: kafka.brokers },
    rateLimit: 0,
    log: (l) => logs.push(l),
  });
  base = `http://127.0.0.1:${await server.listen(0)}`;
  await worker.start();
  token = (await store.createToken('operator', 'pause test')).token;
});

after(async () => {
  await db.query(`DROP TABLE IF EXISTS ${table2}`);
  await cleanupSource(db, topologySource);
  await server.close();
  await worker.stop();
  await store.close();
  await cleanupSource(db, source);
  await db.query(`DROP TABLE IF EXISTS ${table}`);
  await db.end();
});

async function slotState(): Promise<{
  active: boolean;
  flushed: string;
  lag: number;
  retained: number;
  wal: string;
}> {
  const r = await db.query(
    `SELECT active, confirmed_flush_lsn::text AS flushed, wal_status AS wal,
            pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8 AS lag,
            pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained
       FROM pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  return r.rows[0];
}

async function insert(from: number, to: number): Promise<void> {
  await db.query(`INSERT INTO ${table} SELECT g, 0 FROM generate_series($1::int, $2::int) g`, [
    from,
    to,
  ]);
}

async function captured(count: number, timeoutMs = 60_000) {
  const seen = await readTopics([`${source}.${table}`], (s) => s.length >= count, timeoutMs);
  return perKey(seen);
}

function assertExactlyOnce(keys: Map<string, Array<{ value: { op: string } }>>, n: number): void {
  assert.equal(keys.size, n);
  for (let id = 1; id <= n; id++)
    assert.deepEqual(
      keys.get(JSON.stringify({ id }))?.map((e) => e.value.op),
      ['c'],
      `key ${id}`,
    );
}

test('pause stops the slot (lag grows, WAL retained), resume continues from its position, restart restarts; exactly once', async () => {
  // An admin creates the connector; the operator token then drives it.
  const admin = (await store.createToken('admin', 'pause test admin')).token;
  const created = await rest(base, admin, 'POST', '/connectors', {
    name: source,
    config: {
      'connector.class': 'io.debezium.connector.postgresql.PostgresConnector',
      'database.hostname': '127.0.0.1',
      'database.port': 5432,
      'database.user': 'tributary',
      'database.password': 'tributary',
      'database.dbname': 'tributary',
      'table.include.list': table,
      'topic.prefix': source,
      'heartbeat.interval.ms': 500,
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  await waitForStatus(base, token, source, (s) => s.tasks[0]?.state === 'RUNNING');

  await insert(1, 100);
  assertExactlyOnce(await captured(100), 100);

  assert.equal((await rest(base, token, 'PUT', `/connectors/${source}/pause`)).status, 202);
  await waitForStatus(base, token, source, (s) => s.tasks[0]?.state === 'PAUSED');
  let paused = await slotState();
  for (let i = 0; i < 50 && paused.active; i++) {
    await sleep(100);
    paused = await slotState();
  }
  assert.equal(paused.active, false, 'nobody reads the slot while paused');

  await insert(101, 300);
  await sleep(3_000); // several heartbeat intervals: a running capture would have confirmed by now
  const during = await slotState();
  assert.equal(during.flushed, paused.flushed, 'confirmed_flush_lsn does not move while paused');
  assert.ok(during.lag > paused.lag, `lag grows (${paused.lag} -> ${during.lag} bytes)`);
  assert.ok(during.retained >= during.lag, 'the WAL since the confirmed position is retained');
  assert.ok(['reserved', 'extended'].includes(during.wal), during.wal);
  const whilePaused = await readTopics([`${source}.${table}`], () => true, 5_000, 1_000);
  assert.equal(whilePaused.length, 100, 'nothing new in Kafka while paused');

  assert.equal((await rest(base, token, 'PUT', `/connectors/${source}/resume`)).status, 202);
  await waitForStatus(base, token, source, (s) => s.tasks[0]?.state === 'RUNNING');
  assertExactlyOnce(await captured(300), 300);
  let resumed = await slotState();
  for (let i = 0; i < 50 && resumed.flushed === paused.flushed; i++) {
    await sleep(200);
    resumed = await slotState();
  }
  assert.notEqual(resumed.flushed, paused.flushed, 'the slot advances again after resume');

  const restarted = await rest(
    base,
    token,
    'POST',
    `/connectors/${source}/restart?includeTasks=true`,
  );
  assert.equal(restarted.status, 202);
  const deadline = Date.now() + 30_000;
  while (
    !logs.some((l) => /stopping connector .* task 0 \(restart\)/.test(l)) &&
    Date.now() < deadline
  )
    await sleep(100);
  assert.ok(
    logs.some((l) => /stopping connector .* task 0 \(restart\)/.test(l)),
    'the task was restarted',
  );
  await waitForStatus(base, token, source, (s) => s.tasks[0]?.state === 'RUNNING');
  await insert(301, 350);
  assertExactlyOnce(await captured(350), 350);
  assert.ok(logs.some((l) => / PUT \/connectors\/.*\/pause 202 /.test(l)));
});

test('a topology stored over REST runs on the worker through the supervisor’s tasks, and stops when deleted', async () => {
  const admin = (await store.createToken('admin', 'topology test')).token;
  await db.query(`CREATE TABLE ${table2} (id int PRIMARY KEY)`);
  const name = topologySource.replace(/_/g, '-');
  const spec = {
    version: 1,
    name,
    sources: [
      {
        name: topologySource,
        type: 'postgres',
        connection: {
          host: '127.0.0.1',
          database: 'tributary',
          user: 'tributary',
          password: 'tributary',
        },
        tables: [table2],
        heartbeatIntervalMs: 500,
      },
    ],
  };
  const put = await rest(base, admin, 'PUT', `/topologies/${name}`, spec);
  assert.equal(put.status, 201, JSON.stringify(put.json));
  const task = `${name}/source/${topologySource}`;
  assert.deepEqual(put.json.tasks, [task]);
  const deadline = Date.now() + 60_000;
  let status: { tasks: Array<{ id: string; state: string; worker_id: string; trace?: string }> } = {
    tasks: [],
  };
  while (Date.now() < deadline) {
    status = (await rest(base, token, 'GET', `/topologies/${name}/status`)).json;
    if (status.tasks[0]?.state === 'RUNNING') break;
    await sleep(200);
  }
  assert.equal(status.tasks[0]?.state, 'RUNNING', JSON.stringify(status));
  assert.equal(status.tasks[0]?.worker_id, 'pause-worker');
  await db.query(`INSERT INTO ${table2} SELECT g FROM generate_series(1, 20) g`);
  const seen = await readTopics([`${topologySource}.${table2}`], (s) => s.length >= 20, 30_000);
  assert.equal(perKey(seen).size, 20);

  const unchanged = await rest(base, admin, 'PUT', `/topologies/${name}`, spec);
  assert.equal(unchanged.status, 200);
  assert.equal(unchanged.json.version, 1, 'the same spec again is not a new version (no restart)');

  assert.equal((await rest(base, admin, 'DELETE', `/topologies/${name}`)).status, 204);
  const stopDeadline = Date.now() + 30_000;
  while (worker.runningTasks().some((t) => t.includes(name)) && Date.now() < stopDeadline)
    await sleep(100);
  assert.deepEqual(
    worker.runningTasks().filter((t) => t.includes(name)),
    [],
  );
});
