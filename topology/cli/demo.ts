// `tributary demo-capture`: PostgreSQL capture alone, end to end on embedded defaults. It creates a small sample shop
// schema in the local PostgreSQL, captures it into Kafka (initial snapshot interleaved with
// live changes, exactly-once transactions), reads the topics back with an independent
// read_committed reader, and checks that the captured content equals the tables and that
// every key's versions only grow. Everything it creates is removed at the end.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPostgresCapture, parsePostgresSource } from '../../capture/postgres/index.ts';
import { TributaryError } from '../../core/errors/index.ts';
import { fromKafkaRecord } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { defaultKafkaConfig, KafkaAdmin, TopicReader } from '../../core/kafka/index.ts';
import { parseOptions } from './args.ts';

export async function runDemo(args: string[]): Promise<number> {
  const opts = parseOptions(args, {
    customers: 'int',
    orders: 'int',
    brokers: 'string',
    'pg-host': 'string',
    'pg-port': 'int',
  });
  const customers = (opts.customers as number | undefined) ?? 1_000;
  const orders = (opts.orders as number | undefined) ?? 5_000;
  const brokers = opts.brokers ? String(opts.brokers).split(',') : defaultKafkaConfig().brokers;
  const connection = {
    host: String(opts['pg-host'] ?? '127.0.0.1'),
    port: (opts['pg-port'] as number | undefined) ?? 5432,
    database: 'tributary',
    user: 'tributary',
    password: 'tributary',
  };
  const run = `demo_${randomBytes(3).toString('hex')}`;
  const schema = run;
  const db = new pg.Client(connection);
  await db.connect().catch((err: Error) => {
    throw new TributaryError(
      'DEMO_NO_POSTGRES',
      `cannot reach PostgreSQL at ${connection.host}:${connection.port} (${err.message}); start it with: bash infra/up postgres`,
    );
  });
  const topics = [`${run}.${schema}.customers`, `${run}.${schema}.orders`];
  let engine: ReturnType<typeof createPostgresCapture> | null = null;
  let running: Promise<void> | null = null;
  try {
    step(`creating sample schema ${schema}: ${customers} customers, ${orders} orders`);
    await db.query(`CREATE SCHEMA ${schema}`);
    await db.query(
      `CREATE TABLE ${schema}.customers (id int PRIMARY KEY, name text NOT NULL, email text, created_at timestamptz NOT NULL DEFAULT now())`,
    );
    await db.query(
      `CREATE TABLE ${schema}.orders (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES ${schema}.customers, amount numeric(10,2) NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())`,
    );
    await db.query(
      `INSERT INTO ${schema}.customers (id, name, email) SELECT g, 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, $1::int) g`,
      [customers],
    );
    await db.query(
      `INSERT INTO ${schema}.orders (id, customer_id, amount, status) SELECT g, 1 + g % $1::int, (g % 500) + 0.99, 'NEW' FROM generate_series(1, $2::int) g`,
      [customers, orders],
    );

    const config = parsePostgresSource({
      name: run,
      connection,
      schema,
      snapshot: { mode: 'initial', chunkSize: 500 },
      heartbeatIntervalMs: 2_000,
      kafka: { brokers },
    });
    engine = createPostgresCapture(config, {
      log: (m) => step(`capture: ${m}`),
      progressIntervalMs: 2_000,
    });
    const t0 = performance.now();
    running = engine.run();
    running.catch(() => undefined);

    step('changing data while the snapshot runs: paying, cancelling and adding orders');
    await waitFor(
      async () =>
        (
          await db.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [
            `tributary_${run}`,
          ])
        ).rowCount === 1,
      30_000,
      'the replication slot',
    );
    const live = Math.max(10, Math.floor(orders / 10));
    for (let i = 0; i < live; i++) {
      const id = 1 + ((i * 7919) % orders);
      if (i % 5 === 0) await db.query(`DELETE FROM ${schema}.orders WHERE id = $1`, [id]);
      else
        await db.query(
          `UPDATE ${schema}.orders SET status = 'PAID', amount = amount + 1 WHERE id = $1`,
          [id],
        );
    }
    await db.query(
      `INSERT INTO ${schema}.orders (id, customer_id, amount, status) SELECT $2::int + g, 1 + g % $1::int, 9.99, 'NEW' FROM generate_series(1, 100) g`,
      [customers, orders],
    );
    await db.query(`UPDATE ${schema}.customers SET email = NULL WHERE id <= 10`);

    step('reading the topics back with an independent read_committed reader');
    const expected = await tableState(db, schema);
    const prefix = `${run}.${schema}`;
    const seen = await readUntil(topics, brokers, expected, prefix, 120_000);
    const seconds = (performance.now() - t0) / 1000;
    const problems = verify(seen, expected, prefix);
    const all = [...seen.values()].flat();
    const snapshotRows = all.filter((e) => e.value.op === 'r').length;
    const sample = all.find((e) => e.value.op === 'u' && e.topic.endsWith('.orders'));
    console.log('');
    if (sample)
      console.log(
        `  sample change event (value):\n  ${JSON.stringify(sample.value, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)).slice(0, 600)}…\n`,
      );
    console.log(`  topics           ${topics.join(', ')}`);
    console.log(
      `  events           ${all.length} (${snapshotRows} snapshot reads, ${all.length - snapshotRows} streamed changes) in ${seconds.toFixed(1)} s`,
    );
    console.log(
      `  content          ${problems.content.length === 0 ? 'equals the tables' : `DIFFERS (${problems.content.length})`}`,
    );
    console.log(
      `  per-key order    ${problems.order.length === 0 ? 'versions only grow for every key' : `VIOLATED (${problems.order.length})`}`,
    );
    for (const p of [...problems.content, ...problems.order].slice(0, 10))
      console.log(`    - ${p}`);
    console.log('');
    const ok = problems.content.length === 0 && problems.order.length === 0;
    console.log(ok ? 'demo OK' : 'demo FAILED');
    return ok ? 0 : 1;
  } finally {
    if (engine) await engine.stop();
    await running?.catch((err: Error) => step(`capture stopped with: ${err.message}`));
    await db
      .query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
        [`tributary_${run}`],
      )
      .catch(() => undefined);
    await db.query(`DROP PUBLICATION IF EXISTS tributary_${run}`).catch(() => undefined);
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
    await db.end();
    const admin = new KafkaAdmin({ brokers, clientId: 'tributary-demo' });
    await admin.deleteTopics(topics).catch(() => undefined);
    await admin.close();
    step(`removed ${schema}, its slot, publication and topics`);
  }
}

type Rows = Map<string, Map<string, Record<string, unknown>>>; // topic suffix -> key -> row

async function tableState(db: pg.Client, schema: string): Promise<Rows> {
  const out: Rows = new Map();
  for (const table of ['customers', 'orders']) {
    const res = await db.query(
      `SELECT id::text, row_to_json(t)::text AS j FROM ${schema}.${table} t`,
    );
    out.set(
      table,
      new Map(
        res.rows.map((r: { id: string; j: string }) => [
          r.id,
          JSON.parse(r.j) as Record<string, unknown>,
        ]),
      ),
    );
  }
  return out;
}

async function readUntil(
  topics: string[],
  brokers: string[],
  expected: Rows,
  prefix: string,
  timeoutMs: number,
): Promise<Map<string, ChangeEvent[]>> {
  const reader = new TopicReader({ brokers, clientId: 'tributary-demo-verify' }, topics);
  const byKey = new Map<string, ChangeEvent[]>();
  try {
    await reader.open();
    const deadline = Date.now() + timeoutMs;
    let lastReport = Date.now();
    let count = 0;
    while (Date.now() < deadline) {
      const batch = await reader.poll(300);
      for (const r of batch) {
        const d = fromKafkaRecord(r);
        if (d.kind !== 'change') continue;
        const k = `${d.event.topic}|${JSON.stringify(d.event.key)}`;
        byKey.set(k, [...(byKey.get(k) ?? []), d.event]);
        count++;
      }
      if (batch.length === 0 && verify(byKey, expected, prefix).content.length === 0) break;
      if (Date.now() - lastReport > 2_000) {
        step(`  … ${count} events read`);
        lastReport = Date.now();
      }
    }
    return byKey;
  } finally {
    await reader.close();
  }
}

/** Compares the replayed per-key state with the tables (id, status/email) and checks versions. */
function verify(
  byKey: Map<string, ChangeEvent[]>,
  expected: Rows,
  prefix: string,
): { content: string[]; order: string[] } {
  const content: string[] = [];
  const order: string[] = [];
  const state = new Map<string, Record<string, unknown> | null>();
  for (const [k, events] of byKey) {
    for (let i = 1; i < events.length; i++)
      if (events[i]!.version <= events[i - 1]!.version)
        order.push(
          `${k}: ${events[i]!.value.op}@${events[i]!.version} after ${events[i - 1]!.value.op}@${events[i - 1]!.version}`,
        );
    const last = events[events.length - 1]!;
    state.set(k, last.value.op === 'd' ? null : last.value.after);
  }
  for (const [table, rows] of expected) {
    const present = new Set<string>();
    for (const [id, row] of rows) {
      const k = `${prefix}.${table}|{"id":${id}}`;
      present.add(k);
      const got = state.get(k);
      if (!got) content.push(`${table} id ${id}: missing`);
      else if (got.status !== row.status || got.email !== row.email)
        content.push(`${table} id ${id}: differs`);
    }
    for (const [k, s] of state)
      if (k.includes(`.${table}|`) && s && !present.has(k))
        content.push(`${k}: deleted in the table, present downstream`);
  }
  return { content, order };
}

async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new TributaryError('DEMO_TIMEOUT', `timed out waiting for ${what}`);
}

function step(msg: string): void {
  console.log(`[demo] ${msg}`);
}
