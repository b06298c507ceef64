// Kafka TLS and SASL against a real broker of this test's own (never the shared one): infra's
// kafka service with the opt-in SASL_PLAINTEXT and SASL_SSL listeners (TRIBUTARY_KAFKA_SASL_PORT,
// TRIBUTARY_KAFKA_SSL_PORT; user tributary / tributary-secret, self-signed CA in tls/ca.pem).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import pg from 'pg';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  KafkaAdmin,
  KafkaConsumer,
  KafkaProducer,
  TransactionalProducer,
} from '../../../core/kafka/index.ts';
import type { KafkaConfig, KafkaSaslConfig, OutgoingRecord } from '../../../core/kafka/index.ts';
import { kafkaSpecSchema, listTasks, parseTopology } from '../../../topology/spec/index.ts';
import { createTask, kafkaConfigFor } from '../../../topology/supervisor/index.ts';
import { createTopic, encode, workload } from '../sinks/harness.ts';
import { freePort } from '../processors/harness.ts';
import { ensureServices, REPO, uniqueName } from '../helpers.ts';

const PASSWORD = 'tributary-secret';
let dir: string;
let saslBroker: string;
let sslBroker: string;
let ca: string;

before(async () => {
  ensureServices('postgres'); // for the capture task; Kafka is this test's own broker
  dir = mkdtempSync(join(tmpdir(), 'tributary-kafka-auth-'));
  const [port, controller, saslPort, sslPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  execFileSync('bash', ['infra/up', 'kafka'], {
    cwd: REPO,
    stdio: 'ignore',
    env: {
      ...process.env,
      TRIBUTARY_DATA: dir,
      TRIBUTARY_KAFKA_PORT: String(port),
      TRIBUTARY_KAFKA_CONTROLLER_PORT: String(controller),
      TRIBUTARY_KAFKA_SASL_PORT: String(saslPort),
      TRIBUTARY_KAFKA_SSL_PORT: String(sslPort),
    },
  });
  saslBroker = `127.0.0.1:${saslPort}`;
  sslBroker = `127.0.0.1:${sslPort}`;
  ca = readFileSync(join(dir, 'kafka', 'tls', 'ca.pem'), 'utf8');
});

after(() => {
  // Only this test's broker: kill -9 its pid, then remove its data.
  try {
    const pid = Number(readFileSync(join(dir, 'kafka', 'kafka.pid'), 'utf8').trim());
    process.kill(pid, 'SIGKILL');
  } catch {
    // not started or already gone
  }
  rmSync(dir, { recursive: true, force: true });
});

function sasl(mechanism: KafkaSaslConfig['mechanism'], password = PASSWORD): KafkaSaslConfig {
  return { mechanism, username: 'tributary', password };
}

function records(topic: string, prefix: string, n: number): OutgoingRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    topic,
    key: Buffer.from(`${prefix}-${i}`),
    value: Buffer.from(JSON.stringify({ prefix, i })),
  }));
}

/** Plain send, a committed and an aborted transaction, then a read_committed read (Fetch pool). */
async function roundTrip(config: KafkaConfig): Promise<void> {
  const topic = uniqueName('auth');
  await createTopic(config, topic, 2);
  const producer = new KafkaProducer(config);
  await producer.send(records(topic, 'plain', 10));
  await producer.close();
  const txn = new TransactionalProducer(config, uniqueName('auth-txid'));
  try {
    const committed = await txn.begin();
    await committed.send(records(topic, 'committed', 20));
    await committed.commit();
    const aborted = await txn.begin();
    await aborted.send(records(topic, 'aborted', 5));
    await aborted.abort();
  } finally {
    await txn.close();
  }
  const seen = await readKeys(config, topic, 30);
  assert.equal(seen.length, 30, 'the 10 plain and 20 committed records, nothing else');
  assert.equal(new Set(seen).size, 30);
  assert.ok(!seen.some((k) => k.startsWith('aborted')), 'aborted records are not visible');
}

/** Keys of every committed record of `topic` (read until `expected` or the time is up). */
async function readKeys(config: KafkaConfig, topic: string, expected: number): Promise<string[]> {
  const consumer = new KafkaConsumer(config, {
    groupId: uniqueName('auth-verify'),
    isolation: 'read_committed',
  });
  const seen: string[] = [];
  try {
    await consumer.subscribe([topic]);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && seen.length < expected)
      for (const r of await consumer.poll(1000, 500)) seen.push(r.key!.toString());
    for (const r of await consumer.poll(1000, 500)) seen.push(r.key!.toString());
  } finally {
    await consumer.close();
  }
  return seen;
}

/** The first request fails within `withinMs` (no hang) with an error matching `pattern`. */
async function refused(config: KafkaConfig, pattern: RegExp, withinMs = 20_000): Promise<void> {
  const admin = new KafkaAdmin(config);
  const started = Date.now();
  try {
    await assert.rejects(
      admin.ensureTopics([{ name: uniqueName('refused'), partitions: 1 }]),
      (err: Error) => {
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('wrong-password'), 'the password is never in the error');
        return true;
      },
    );
  } finally {
    await admin.close().catch(() => undefined);
  }
  assert.ok(Date.now() - started < withinMs, `failed after ${Date.now() - started} ms`);
}

test('SASL/PLAIN: produce, transactions and read_committed consume', async () => {
  await roundTrip({ brokers: [saslBroker], clientId: 'auth-plain', sasl: sasl('PLAIN') });
});

test('SASL/SCRAM-SHA-512 over plaintext', async () => {
  await roundTrip({ brokers: [saslBroker], clientId: 'auth-scram', sasl: sasl('SCRAM-SHA-512') });
});

test('TLS (CA verified) with SASL/SCRAM-SHA-256', async () => {
  await roundTrip({
    brokers: [sslBroker],
    clientId: 'auth-tls',
    tls: { ca, servername: 'localhost' },
    sasl: sasl('SCRAM-SHA-256'),
  });
});

test('a wrong password fails fast with a SASL authentication error', async () => {
  for (const mechanism of ['PLAIN', 'SCRAM-SHA-256'] as const)
    await refused(
      { brokers: [saslBroker], clientId: 'auth-bad', sasl: sasl(mechanism, 'wrong-password') },
      /SASL authentication failed/,
    );
});

test('a broker certificate not signed by a trusted CA is refused', async () => {
  await refused(
    { brokers: [sslBroker], clientId: 'auth-untrusted', tls: {}, sasl: sasl('PLAIN') },
    /certificate/,
  );
});

test('a topology kafka section with TLS and SASL (secrets as references) reaches the broker', async () => {
  const caFile = join(dir, 'kafka', 'tls', 'ca.pem');
  process.env.TRIBUTARY_TEST_KAFKA_PASSWORD = PASSWORD;
  const spec = kafkaSpecSchema.parse({
    brokers: [sslBroker],
    tls: { ca: `\${file:${caFile}}` },
    sasl: {
      mechanism: 'scram-sha-512',
      username: 'tributary',
      password: '${env:TRIBUTARY_TEST_KAFKA_PASSWORD}',
    },
  });
  const config = kafkaConfigFor(spec, 'auth-topology');
  assert.equal(config.sasl?.mechanism, 'SCRAM-SHA-512');
  assert.equal(config.tls?.ca, ca.trim()); // ${file:} values are trimmed
  assert.equal(config.tls?.rejectUnauthorized, true);
  await roundTrip(config);
});

test('a topology sink task (Kafka forwarding) runs over SASL_SSL from the topology kafka section', async () => {
  process.env.TRIBUTARY_TEST_KAFKA_PASSWORD = PASSWORD;
  const source = uniqueName('auth-src');
  const topology = parseTopology({
    version: 1,
    name: 'authtest',
    kafka: {
      brokers: [sslBroker],
      tls: { ca: `\${file:${join(dir, 'kafka', 'tls', 'ca.pem')}}` },
      sasl: {
        mechanism: 'plain',
        username: 'tributary',
        password: '${env:TRIBUTARY_TEST_KAFKA_PASSWORD}',
      },
    },
    topics: [{ name: source, partitions: 2 }],
    sinks: [
      {
        name: 'forward',
        topics: [source],
        sink: { type: 'kafka', topic: '${topic}.copy' },
      },
    ],
  });
  const task = listTasks(topology).find((t) => t.kind === 'sink')!;
  const config = kafkaConfigFor(topology.kafka, 'verify');
  await createTopic(config, source, 2);
  const producer = new KafkaProducer(config);
  await producer.send(encode(workload(source, 200, 50)));
  await producer.close();
  const expected = (await readKeys(config, source, 200)).length;
  assert.ok(expected >= 200);

  const service = createTask(task, { log: () => undefined });
  try {
    await service.start();
    await service.ready;
    // The sink creates the target topic with its first forwarded batch.
    const check = new KafkaAdmin(config);
    try {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline && !(await check.listTopics()).includes(`${source}.copy`))
        await new Promise((r) => setTimeout(r, 200));
    } finally {
      await check.close();
    }
    const copied = await readKeys(config, `${source}.copy`, expected);
    assert.equal(copied.length, expected, 'every source record forwarded once');
  } finally {
    await service.stop();
  }
});

/** `tributary worker --kafka-config <file>`: its output and exit code once it exits. */
function worker(configFile: string, password: string, topics: string[], untilReady: boolean) {
  const child = spawn(
    process.execPath,
    [
      join(REPO, 'bin', 'tributary.js'),
      'worker',
      '--kafka-config',
      configFile,
      '--group',
      uniqueName('auth-workers'),
      '--configs-topic',
      topics[0]!,
      '--status-topic',
      topics[1]!,
      '--coordination-topic',
      topics[2]!,
    ],
    { cwd: REPO, env: { ...process.env, TRIBUTARY_TEST_KAFKA_PASSWORD: password } },
  );
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = new Promise<boolean>((resolve) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (untilReady && /generation \d+: slots/.test(output)) resolve(true);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then(() => resolve(false));
  });
  const killTimer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  void exited.then(() => clearTimeout(killTimer));
  return { child, ready, exited, output: () => output };
}

test('tributary worker --kafka-config runs its control plane over SASL_SSL; a wrong password exits 1', async () => {
  const file = join(dir, 'worker-kafka.yaml');
  writeFileSync(
    file,
    [
      `brokers: [${sslBroker}]`,
      `tls: { ca: '\${file:${join(dir, 'kafka', 'tls', 'ca.pem')}}' }`,
      "sasl: { mechanism: scram-sha-256, username: tributary, password: '${env:TRIBUTARY_TEST_KAFKA_PASSWORD}' }",
      '',
    ].join('\n'),
  );
  const topics = ['configs', 'status', 'tasks'].map((t) => uniqueName(`auth-control-${t}`));
  const good = worker(file, PASSWORD, topics, true);
  assert.ok(await good.ready, `worker did not become ready:\n${good.output()}`);
  good.child.kill('SIGTERM');
  const code = await good.exited;
  assert.equal(code, 0, `exit ${code}: ${good.output()}`);
  const admin = new KafkaAdmin({
    brokers: [sslBroker],
    clientId: 'auth-check',
    tls: { ca },
    sasl: sasl('PLAIN'),
  });
  try {
    const existing = await admin.listTopics();
    for (const t of topics) assert.ok(existing.includes(t), `control topic ${t} on the broker`);
  } finally {
    await admin.close();
  }

  const started = Date.now();
  const bad = worker(file, 'wrong-password', topics, false);
  assert.equal(await bad.exited, 1, bad.output());
  assert.match(bad.output(), /SASL authentication failed/);
  assert.ok(!bad.output().includes('wrong-password'), 'the password is never printed');
  assert.ok(Date.now() - started < 30_000, `failed after ${Date.now() - started} ms`);
});

test('a topology capture task (PostgreSQL source) snapshots and streams into a SASL_SSL cluster', async () => {
  process.env.TRIBUTARY_TEST_KAFKA_PASSWORD = PASSWORD;
  const id = uniqueName('authcap').replace(/-/g, '_');
  const db = new pg.Client({
    connectionString: 'postgres://tributary:tributary@127.0.0.1:5432/tributary',
  });
  await db.connect();
  let service: ReturnType<typeof createTask> | undefined;
  try {
    await db.query(`CREATE SCHEMA ${id}`);
    await db.query(`CREATE TABLE ${id}.items (id int PRIMARY KEY, name text NOT NULL)`);
    await db.query(`INSERT INTO ${id}.items SELECT g, 'i' || g FROM generate_series(1, 5) g`);
    const topology = parseTopology({
      version: 1,
      name: 'authcap',
      kafka: {
        brokers: [sslBroker],
        offsetsTopic: `${id}.offsets`,
        tls: { ca: `\${file:${join(dir, 'kafka', 'tls', 'ca.pem')}}` },
        sasl: {
          mechanism: 'scram-sha-512',
          username: 'tributary',
          password: '${env:TRIBUTARY_TEST_KAFKA_PASSWORD}',
        },
      },
      sources: [
        {
          name: id,
          type: 'postgres',
          connection: { database: 'tributary', user: 'tributary', password: 'tributary' },
          tables: [`${id}.items`],
          topic: { partitions: 1 },
          heartbeatIntervalMs: 0,
        },
      ],
    });
    const task = listTasks(topology).find((t) => t.kind === 'source')!;
    service = createTask(task, { log: () => undefined });
    await service.start();
    await service.ready;
    await db.query(`INSERT INTO ${id}.items SELECT g, 'i' || g FROM generate_series(6, 8) g`);
    const config = kafkaConfigFor(topology.kafka, 'verify');
    const keys = await readKeys(config, `${id}.${id}.items`, 8);
    assert.equal(keys.length, 8, '5 snapshot rows and 3 streamed inserts, each once');
  } finally {
    await service?.stop();
    await db
      .query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [`tributary_${id}`],
      )
      .catch(() => undefined);
    await db.query(`DROP PUBLICATION IF EXISTS tributary_${id}`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS ${id} CASCADE`).catch(() => undefined);
    await db.end();
  }
});
