// Topology plan/deploy idempotence, `tributary run` end to end, and pause/resume of a capture
// task through the in-process supervisor — against the real Kafka, PostgreSQL, Redis and
// ClickHouse, each verified with an independent reader.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { KafkaAdmin, TopicReader, defaultKafkaConfig } from '../../../core/kafka/index.ts';
import { ControlStore } from '../../../topology/control/index.ts';
import { listTasks, parseTopology } from '../../../topology/spec/index.ts';
import { Supervisor } from '../../../topology/supervisor/index.ts';
import { REPO, ensureServices, uniqueName } from '../helpers.ts';

const id = uniqueName('t1').replace(/-/g, '_');
const schema = id; // PostgreSQL schema and source name
const name = id.replace(/_/g, '-'); // topology name
const SECRET = 'integration-secret';
const dir = mkdtempSync(join(tmpdir(), 'tributary-topology-'));
const file = join(dir, 'topology.yaml');
const env = { ...process.env, T1_PG_PASSWORD: 'tributary', T1_MASK_SECRET: SECRET };
const kafka = defaultKafkaConfig('topology-test');

const topologyYaml = (tables = `[${schema}.customers, ${schema}.orders]`) => `
version: 1
name: ${name}
kafka: { brokers: [127.0.0.1:9092], offsetsTopic: ${id}.offsets }
topics:
  - { name: ${id}.masked, partitions: 2, cleanupPolicy: compact }
sources:
  - name: ${id}
    type: postgres
    connection: { database: tributary, user: tributary, password: '\${env:T1_PG_PASSWORD}' }
    tables: ${tables}
    topic: { partitions: 2 }
    types: { decimalHandling: string }
processors:
  - name: mask
    inputs: [${id}.${schema}.customers]
    output: ${id}.masked
    chain:
      - builtin: mask
        config: { rules: [{ fields: [email], action: hash, secret: '\${env:T1_MASK_SECRET}' }] }
sinks:
  - name: cache
    topics: [${id}.masked, ${id}.${schema}.orders]
    sink: { type: redis, url: redis://127.0.0.1:6379/0, key: '${id}:\${table}:\${key}' }
  - name: olap
    topics: [${id}.masked]
    sink: { type: clickhouse, url: http://127.0.0.1:8123, table: '${id}_customers' }
`;

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/tributary.js', ...args], {
    cwd: REPO,
    env,
    encoding: 'utf8',
    timeout: 90_000,
  });
}

const db = new pg.Client({
  host: '127.0.0.1',
  user: 'tributary',
  password: 'tributary',
  database: 'tributary',
});
const redis = new Redis('redis://127.0.0.1:6379/0', { lazyConnect: true });

async function clickhouse(sql: string): Promise<string> {
  const res = await fetch('http://127.0.0.1:8123/', { method: 'POST', body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(text);
  return text;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function slot(slotName: string) {
  return (
    await db.query<{ confirmed: string; lag: string }>(
      `SELECT confirmed_flush_lsn::text AS confirmed,
              pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slotName],
    )
  ).rows[0];
}

/** Change events per key in a topic, read with an independent read_committed reader. */
async function eventsByKey(topic: string): Promise<Map<string, number>> {
  const reader = new TopicReader({ ...kafka, clientId: 'topology-test-verify' }, [topic]);
  const out = new Map<string, number>();
  try {
    await reader.open();
    await reader.readToEnd((records) => {
      for (const r of records)
        if (r.value) out.set(r.key!.toString(), (out.get(r.key!.toString()) ?? 0) + 1);
    });
  } finally {
    await reader.close();
  }
  return out;
}

describe('topology plan, deploy and run', { timeout: 240_000 }, () => {
  before(async () => {
    ensureServices('kafka', 'postgres', 'redis', 'clickhouse');
    await db.connect();
    await redis.connect();
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(
      `CREATE TABLE ${schema}.customers (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL)`,
    );
    await db.query(
      `CREATE TABLE ${schema}.orders (id int PRIMARY KEY, customer_id int NOT NULL, total numeric(10,2) NOT NULL)`,
    );
    await db.query(
      `INSERT INTO ${schema}.customers SELECT g, 'c' || g, 'c' || g || '@example.com' FROM generate_series(1, 10) g`,
    );
    writeFileSync(file, topologyYaml());
  });

  after(async () => {
    for (const s of [`tributary_${id}`, `${id}_paused`])
      await db
        .query(
          'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
          [s],
        )
        .catch(() => undefined);
    await db.query(`DROP PUBLICATION IF EXISTS tributary_${id}`).catch(() => undefined);
    await db.query(`DROP PUBLICATION IF EXISTS ${id}_paused`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await db.end();
    const keys = await redis.keys(`${id}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
    await clickhouse(`DROP TABLE IF EXISTS ${id}_customers`).catch(() => undefined);
    const admin = new KafkaAdmin(kafka);
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(id) || t.startsWith(name));
    if (topics.length) await admin.deleteTopics(topics);
    await admin.close();
    const store = new ControlStore({ kafka });
    store.start();
    await store.sync(10_000);
    if (store.getConfig('topology', name)) await store.deleteConfig('topology', name);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(REPO, '.data/processors', `${name}.mask`), { recursive: true, force: true });
  });

  it('plan names an unknown table with the nearest one and blocks deploy', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, topologyYaml(`[${schema}.customers, ${schema}.orders, ${schema}.custmers]`));
    const r = cli('deploy', bad, '--no-control');
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `problem: sources\\[0\\]\\.tables\\[2\\]: unknown table "${schema}\\.custmers" — did you mean "${schema}\\.customers"\\?`,
      ),
    );
    assert.match(r.stderr, /deploy: nothing changed/);
  });

  it('plan lists what deploy creates; deploy is idempotent', async () => {
    const p1 = cli('plan', file);
    assert.equal(p1.status, 0, p1.stdout + p1.stderr);
    assert.match(p1.stdout, new RegExp(`\\+ ${id}\\.${schema}\\.customers +create: 2 partitions`));
    assert.match(
      p1.stdout,
      new RegExp(`\\+ ${id}\\.masked +create: 2 partitions, rf 1, cleanup.policy=compact`),
    );
    assert.match(
      p1.stdout,
      new RegExp(`\\+ ${name}\\.cache\\.dlq +create: 1 partition, rf 1, retention.ms=604800000`),
    );
    assert.match(
      p1.stdout,
      new RegExp(
        `\\+ tributary_${id} +create: FOR TABLE ${schema}\\.customers, ${schema}\\.orders`,
      ),
    );
    assert.match(
      p1.stdout,
      new RegExp(`\\+ ${name} +create: store the topology in the control plane`),
    );
    assert.match(p1.stdout, /Plan: 10 to create, 0 to change, 0 unchanged\./);

    const d1 = cli('deploy', file);
    assert.equal(d1.status, 0, d1.stdout + d1.stderr);
    assert.match(d1.stdout, /deployed: 10 changes applied/);

    // Independent checks: topics with their settings, the publication, the slot, the stored topology.
    const admin = new KafkaAdmin(kafka);
    try {
      // Metadata of just-created topics can lag a moment behind: wait for the full counts.
      const want = { [`${id}.${schema}.orders`]: 2, [`${id}.masked`]: 2, [`${id}.offsets`]: 1 };
      await waitFor(
        'topic metadata',
        async () => {
          const counts = await admin.partitionCounts(Object.keys(want));
          return Object.entries(want).every(([t, n]) => counts.get(t) === n) ? true : undefined;
        },
        15_000,
      );
      const configs = await admin.topicConfigs([`${id}.masked`]);
      assert.equal(configs.get(`${id}.masked`)!['cleanup.policy'], 'compact');
    } finally {
      await admin.close();
    }
    const pub = await db.query(
      'SELECT tablename FROM pg_publication_tables WHERE pubname = $1 ORDER BY 1',
      [`tributary_${id}`],
    );
    assert.deepEqual(
      pub.rows.map((r) => r.tablename),
      ['customers', 'orders'],
    );
    assert.ok(await slot(`tributary_${id}`), 'the replication slot exists');
    const store = new ControlStore({ kafka });
    store.start();
    try {
      await store.sync(10_000);
      const stored = store.getConfig('topology', name)!;
      assert.equal(stored.version, 1);
      assert.deepEqual(
        Object.keys(stored.slots).sort(),
        listTasks(parseTopology(stored.config))
          .map((t) => t.id)
          .sort(),
      );
      const storedSources = stored.config.sources as Array<{ connection: { password: string } }>;
      assert.equal(
        storedSources[0]!.connection.password,
        '${env:T1_PG_PASSWORD}',
        'secrets stay references',
      );

      const d2 = cli('deploy', file);
      assert.equal(d2.status, 0, d2.stdout + d2.stderr);
      assert.match(d2.stdout, /Plan: 0 to create, 0 to change, 10 unchanged\./);
      assert.match(d2.stdout, /deployed: nothing to change/);
      await store.sync(10_000);
      assert.equal(
        store.getConfig('topology', name)!.version,
        1,
        'an unchanged topology is not stored again',
      );
    } finally {
      await store.close();
    }

    // status / pause / resume / restart go through the control plane (no worker runs it here).
    const st = cli('status', file);
    assert.equal(st.status, 0, st.stdout + st.stderr);
    assert.match(st.stdout, /control plane: version 1, target state RUNNING/);
    assert.match(
      st.stdout,
      new RegExp(
        `${name}/source/${id} +UNASSIGNED +slot tributary_${id} lag \\d+ B, wal_status reserved, inactive`,
      ),
    );
    assert.match(st.stdout, new RegExp(`${name}/sink/cache +UNASSIGNED +consumer lag 0 records`));
    const pa = cli('pause', file);
    assert.equal(pa.status, 0, pa.stdout + pa.stderr);
    assert.match(cli('status', file).stdout, /target state PAUSED/);
    assert.equal(cli('resume', file).status, 0);
    assert.match(cli('status', file).stdout, /target state RUNNING/);
    const rs = cli('restart', file, '--only-failed');
    assert.equal(rs.status, 0, rs.stdout + rs.stderr);
    assert.match(rs.stdout, /restart requested \(request 1, failed tasks only\)/);

    // A changed setting is planned as a change and applied.
    writeFileSync(
      file,
      topologyYaml().replace(
        'partitions: 2, cleanupPolicy: compact',
        'partitions: 3, cleanupPolicy: compact',
      ),
    );
    const p3 = cli('deploy', file, '--no-control');
    assert.equal(p3.status, 0, p3.stdout + p3.stderr);
    assert.match(p3.stdout, new RegExp(`~ ${id}\\.masked +change: partitions 2 → 3`));
    const admin2 = new KafkaAdmin(kafka);
    assert.equal((await admin2.partitionCounts([`${id}.masked`])).get(`${id}.masked`), 3);
    await admin2.close();
  });

  it('run: every task in one process, results in Redis and ClickHouse, clean stop on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      ['bin/tributary.js', 'run', file, '--progress-interval-ms', '2000'],
      {
        cwd: REPO,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor(
        'all tasks running',
        async () => {
          if (child.exitCode !== null) throw new Error(`tributary run exited:\n${output}`);
          return output.includes('[run] all 4 tasks running') ? true : undefined;
        },
        90_000,
      );
      await db.query(
        `INSERT INTO ${schema}.orders SELECT g, 1 + g % 10, g + 0.5 FROM generate_series(1, 20) g`,
      );
      await db.query(`UPDATE ${schema}.customers SET email = 'new' || email WHERE id = 3`);
      await db.query(`DELETE FROM ${schema}.orders WHERE id = 7`);
      const hmac = (v: string) => createHmac('sha256', SECRET).update(v).digest('hex');
      // Redis (independent read): masked customers, orders, the deleted order gone.
      await waitFor('customer 3 masked in Redis', async () => {
        const v = await redis.get(`${id}:masked:3`);
        return v && JSON.parse(v).email === hmac('newc3@example.com') ? true : undefined;
      });
      await waitFor('orders in Redis', async () =>
        (await redis.keys(`${id}:orders:*`)).filter((k) => !k.endsWith('__version')).length === 19
          ? true
          : undefined,
      );
      assert.equal(await redis.get(`${id}:orders:7`), null);
      assert.equal(JSON.parse((await redis.get(`${id}:orders:8`))!).total, '8.50');
      // ClickHouse (FINAL): 10 customers, none with a plain email.
      await waitFor('customers in ClickHouse', async () => {
        const rows = (
          await clickhouse(
            `SELECT id, email FROM ${id}_customers FINAL WHERE __deleted = 0 FORMAT JSONEachRow`,
          )
        )
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { id: string; email: string });
        return rows.length === 10 &&
          rows.every((r) => r.email === hmac(`${r.id === '3' ? 'new' : ''}c${r.id}@example.com`))
          ? true
          : undefined;
      });
      await waitFor('a progress line', async () =>
        new RegExp(`\\[progress\\] ${name}/sink/cache running [1-9]\\d* written`).test(output)
          ? true
          : undefined,
      );
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output.slice(-3000));
    assert.match(output, /\[run\] SIGTERM: stopping every task/);
    assert.match(output, new RegExp(`\\[run\\] ${name}/source/${id}: stopped`));
    assert.match(output, /\[run\] stopped/);
    // The capture acknowledged what it published: the slot's confirmed position caught up.
    const s = await slot(`tributary_${id}`);
    assert.ok(Number(s!.lag) < 1024 * 1024, `slot lag ${s!.lag}`);
  });

  it('pause stops a capture task (its slot stops advancing, WAL is retained) and resume continues without loss or duplicates', async () => {
    const raw = {
      version: 1,
      name: `${name}-p`,
      kafka: { offsetsTopic: `${id}.offsets` },
      sources: [
        {
          name: `${id}_p`,
          type: 'postgres',
          connection: { database: 'tributary', user: 'tributary', password: 'tributary' },
          tables: [`${schema}.customers`],
          slot: `${id}_paused`,
          publication: `${id}_paused`,
          topic: { partitions: 1 },
          heartbeatIntervalMs: 0,
        },
      ],
    };
    const tasks = listTasks(parseTopology(raw));
    const sup = new Supervisor(tasks, { log: () => undefined });
    const topic = `${id}_p.${schema}.customers`;
    try {
      await sup.start();
      await sup.ready(60_000);
      await waitFor('snapshot', async () =>
        (await eventsByKey(topic)).size === 10 ? true : undefined,
      );
      const taskId = tasks[0]!.id;
      await sup.pause(taskId);
      assert.equal(sup.status()[0]!.state, 'paused');
      const before = await slot(`${id}_paused`);
      await db.query(`UPDATE ${schema}.customers SET name = name || '!' WHERE id <= 5`);
      await new Promise((r) => setTimeout(r, 2_000));
      const during = await slot(`${id}_paused`);
      assert.equal(
        during!.confirmed,
        before!.confirmed,
        'a paused capture does not advance its slot',
      );
      assert.ok(
        Number(during!.lag) > Number(before!.lag),
        'the lag grows: PostgreSQL retains the WAL',
      );
      const paused = await eventsByKey(topic);
      assert.equal(
        [...paused.values()].reduce((a, b) => a + b, 0),
        10,
        'nothing captured while paused',
      );

      await sup.resume(taskId);
      await sup.ready(60_000);
      const resumed = await waitFor('updates after resume', async () => {
        const m = await eventsByKey(topic);
        return [...m.values()].reduce((a, b) => a + b, 0) >= 15 ? m : undefined;
      });
      await new Promise((r) => setTimeout(r, 1_000));
      const final = await eventsByKey(topic);
      assert.deepEqual(final, resumed, 'no further events');
      for (let k = 1; k <= 10; k++) {
        const key = [...final.keys()].find((x) => JSON.parse(x).id === k)!;
        assert.equal(final.get(key), k <= 5 ? 2 : 1, `events of customer ${k}`);
      }
      const after = await slot(`${id}_paused`);
      assert.notEqual(after!.confirmed, before!.confirmed, 'the slot advanced after resume');

      // restart: a fresh service continues from the stored position (no replay, no loss).
      await sup.restart(taskId);
      await sup.ready(60_000);
      assert.equal(sup.status()[0]!.restarts, 1);
      await db.query(`UPDATE ${schema}.customers SET name = name || '?' WHERE id = 10`);
      const restarted = await waitFor('the update after restart', async () => {
        const m = await eventsByKey(topic);
        return [...m.values()].reduce((a, b) => a + b, 0) >= 16 ? m : undefined;
      });
      const total = [...restarted.values()].reduce((a, b) => a + b, 0);
      assert.equal(total, 16, 'exactly one more event: nothing replayed by the restart');
    } finally {
      await sup.stop();
    }
  });

  it('run fails fast with exit 1 when a task cannot start (missing input topic, --no-deploy)', async () => {
    const lone = join(dir, 'lone.yaml');
    writeFileSync(
      lone,
      `version: 1\nname: ${name}-lone\nprocessors:\n  - name: p\n    inputs: [${id}.nothing]\n    chain: [{ builtin: unwrap }]\ntopics: [{ name: ${id}.nothing }]\n`,
    );
    const r = spawnSync(process.execPath, ['bin/tributary.js', 'run', lone, '--no-deploy'], {
      cwd: REPO,
      env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(`\\[run\\] ${name}-lone/processor/p: failed — .*${id}\\.nothing`),
    );
    assert.match(r.stderr, new RegExp(`\\[run\\] stopped: ${name}-lone/processor/p failed`));
    assert.doesNotMatch(r.stdout, /all 1 tasks running/);
  });
});
