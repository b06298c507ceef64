/**
 * The e-commerce demo (`bash bin/demo`, or `tributary demo`): loads examples/ecommerce/schema.sql
 * into the local PostgreSQL with sample customers and orders, runs the topology
 * examples/ecommerce/topology.yaml with `tributary run` (capture → mask emails → enrich orders
 * with their customer → Redis, ClickHouse, Parquet files), changes rows while it runs, and then
 * checks every result with its own reads — Redis values, ClickHouse rows with FINAL, Parquet
 * files through DuckDB, emails masked everywhere — ending with `demo OK` or `demo FAIL`.
 * Results are left in place for a look; the next run starts by removing them.
 */
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { Redis } from 'ioredis';
import pg from 'pg';
import { readConfigFile } from '../../core/config/index.ts';
import { KafkaAdmin, KafkaPartitionConsumer, defaultKafkaConfig } from '../../core/kafka/index.ts';
import { readCheckpoint } from '../../processors/runtime/checkpoint.ts';
import { desiredTopics } from '../../topology/planner/index.ts';
import { parseTopology, processorAppId, sourceNames } from '../../topology/spec/index.ts';
import type { Topology } from '../../topology/spec/index.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const TOPOLOGY = join(HERE, 'topology.yaml');
const PARQUET_DIR = '/tmp/tributary-ecommerce/parquet';
const RUN_LOG = join(REPO, '.data', 'logs', 'ecommerce-demo-run.log');
const REDIS_URL = 'redis://127.0.0.1:6379/0';
const CLICKHOUSE = 'http://127.0.0.1:8123';

export interface DemoOptions {
  customers: number;
  orders: number;
  /** Give up waiting for the stores to converge after this long (ms). */
  timeoutMs: number;
}

const say = (m: string) => console.log(`[demo] ${m}`);

export async function runEcommerceDemo(o: DemoOptions): Promise<number> {
  const secret = (process.env.MASK_SECRET ??= 'demo-mask-secret');
  process.env.PG_PASSWORD ??= 'tributary';
  const topology = parseTopology(readConfigFile(TOPOLOGY), { baseDir: HERE });
  const rel = relative(process.cwd(), TOPOLOGY) || TOPOLOGY;
  say(`topology ${rel}: PostgreSQL tables ecommerce.customers and ecommerce.orders`);
  say(
    '  → mask-customers (emails → HMAC-SHA-256) → enrich-orders (join each order with its masked customer)',
  );
  say('  → Redis, ClickHouse and Parquet files');

  const db = new pg.Client({
    host: '127.0.0.1',
    port: 5432,
    user: 'tributary',
    password: process.env.PG_PASSWORD,
    database: 'tributary',
  });
  await db.connect();
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  await redis.connect();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await resetPreviousRun(topology, db, redis);

    say(
      `loading examples/ecommerce/schema.sql and ${o.customers} customers (read by the initial snapshot)`,
    );
    await db.query(readFileSync(join(HERE, 'schema.sql'), 'utf8'));
    await db.query(
      `INSERT INTO ecommerce.customers (id, name, email, country)
       SELECT g, 'Customer ' || g, 'customer' || g || '@example.com', (ARRAY['NL','DE','FR','US'])[1 + g % 4]
         FROM generate_series(1, $1::int) g`,
      [o.customers],
    );

    say(`starting: tributary run ${rel}  (full output: ${relative(process.cwd(), RUN_LOG)})`);
    mkdirSync(dirname(RUN_LOG), { recursive: true });
    const log = createWriteStream(RUN_LOG);
    child = spawn(
      process.execPath,
      [join(REPO, 'bin', 'tributary.js'), 'run', TOPOLOGY, '--progress-interval-ms', '5000'],
      {
        cwd: REPO,
        env: process.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const exited = new Promise<number | null>((res) => child!.once('exit', (code) => res(code)));
    let output = '';
    let running = false;
    const onData = (chunk: Buffer) => {
      const text = chunk.toString();
      log.write(text);
      output += text;
      for (const line of text.split('\n'))
        if (/^\[run\] (all|starting|deploy|stopped|SIGINT)|failed|error|global store/i.test(line))
          console.log(`  run> ${line}`);
      if (!running && output.includes('[run] all ')) running = true;
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const started = Date.now();
    while (!running) {
      if (child.exitCode !== null)
        throw new Error(`tributary run exited with ${child.exitCode}; see ${RUN_LOG}`);
      if (Date.now() - started > o.timeoutMs)
        throw new Error(`tasks not running after ${o.timeoutMs} ms; see ${RUN_LOG}`);
      await sleep(200);
    }

    // The join enriches an order with the customer rows it has seen so far; the customers are
    // in place before orders arrive, as in a shop (an order of an unknown customer would be
    // kept with customer: null).
    await converge(
      async () => ((await redis.exists(`ecommerce:customers:${o.customers}`)) ? [] : ['wait']),
      o.timeoutMs,
    );
    // The join reads the masked customers through its own copy (a global store that follows
    // shop.masked.customers): wait until it holds them as well, as in a shop where customers
    // exist before their orders.
    await waitForJoinStores(topology, o.timeoutMs);
    say(
      `customers are in Redis and in the join's store; ${o.orders} orders placed while the topology runs (streamed from the WAL)`,
    );
    await db.query(
      `INSERT INTO ecommerce.orders (id, customer_id, status, total)
       SELECT g, 1 + g % $1::int, 'NEW', round((5 + (g * 7.31) % 200)::numeric, 2)
         FROM generate_series(1, $2::int) g`,
      [o.customers, o.orders],
    );
    say(
      'more live changes: 5 emails changed, 10 orders paid, 5 orders deleted, 1 customer and 10 orders added',
    );
    await db.query(`UPDATE ecommerce.customers SET email = 'new.' || email WHERE id <= 5`);
    await db.query(
      `UPDATE ecommerce.orders SET status = 'PAID', total = total + 1 WHERE id BETWEEN 11 AND 20`,
    );
    await db.query('DELETE FROM ecommerce.orders WHERE id BETWEEN 21 AND 25');
    const newCustomer = o.customers + 1;
    await db.query(
      `INSERT INTO ecommerce.customers (id, name, email, country) VALUES ($1, 'Late Customer', 'late@example.com', 'NL')`,
      [newCustomer],
    );
    await converge(
      async () => ((await redis.exists(`ecommerce:customers:${newCustomer}`)) ? [] : ['wait']),
      o.timeoutMs,
    );
    await db.query(
      `INSERT INTO ecommerce.orders (id, customer_id, status, total)
       SELECT $2::int + g, $1::int, 'NEW', 42.00 FROM generate_series(1, 10) g`,
      [newCustomer, o.orders],
    );

    say('waiting until Redis and ClickHouse hold exactly the current tables (independent reads)');
    const expected = await tableState(db);
    const problems = await converge(() => checkStores(expected, redis, secret), o.timeoutMs);
    const parquet = await checkParquet();
    problems.push(...parquet.problems);

    say('stopping tributary run (SIGINT: sources first, open transactions finished)');
    child.kill('SIGINT');
    const code = await Promise.race([exited, sleep(30_000).then(() => 'timeout' as const)]);
    if (code !== 0) problems.push(`tributary run exited with ${code} after SIGINT; see ${RUN_LOG}`);

    // A stopped capture's slot makes PostgreSQL keep WAL for it: drop it (results stay).
    for (const src of topology.sources) {
      const { slot } = sourceNames(src);
      await db.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
        [slot],
      );
      say(`dropped replication slot ${slot} so PostgreSQL does not keep WAL for the stopped demo`);
    }
    const sample = await redis.get('ecommerce:orders:11');
    console.log('');
    say(
      `checked ${expected.customers.size} customers and ${expected.orders.size} orders in Redis and ClickHouse, ${parquet.files} Parquet files (${parquet.rows} rows)`,
    );
    say(`sample enriched order in Redis (ecommerce:orders:11): ${sample}`);
    console.log('');
    console.log('Where to look:');
    const look: Array<[string, string]> = [
      ['redis-cli GET ecommerce:customers:1', 'a masked customer (email is an HMAC)'],
      ['redis-cli GET ecommerce:orders:11', 'an order with its masked customer embedded'],
      [
        `curl -s ${CLICKHOUSE} --data 'SELECT id, status, total FROM ecommerce_orders FINAL WHERE __deleted = 0 ORDER BY id LIMIT 5 FORMAT PrettyCompact'`,
        'ClickHouse rows',
      ],
      [`ls ${PARQUET_DIR}/*/`, 'Parquet files <topic>+<partition>+<start offset>.parquet'],
      [
        `PG_PASSWORD=tributary MASK_SECRET=${secret} node bin/tributary.js run ${rel}`,
        'run the topology yourself (Ctrl-C stops it)',
      ],
    ];
    for (const [cmd, what] of look) console.log(`  # ${what}\n  ${cmd}`);
    console.log(`  full log of the run: ${relative(process.cwd(), RUN_LOG)}`);
    console.log('');
    if (problems.length) {
      for (const p of problems.slice(0, 20)) console.log(`  FAIL: ${p}`);
      if (problems.length > 20) console.log(`  … and ${problems.length - 20} more`);
      console.log('demo FAIL');
      return 1;
    }
    console.log('demo OK');
    return 0;
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await db.end().catch(() => undefined);
    redis.disconnect();
  }
}

interface RedisOrder {
  customer_id: number;
  status: string;
  total: string;
  customer: { id: number; email: string } | null;
}

interface Expected {
  customers: Map<number, { name: string; email: string }>;
  orders: Map<number, { customer_id: number; status: string; total: string }>;
}

async function tableState(db: pg.Client): Promise<Expected> {
  const c = await db.query<{ id: number; name: string; email: string }>(
    'SELECT id, name, email FROM ecommerce.customers',
  );
  const o = await db.query<{ id: number; customer_id: number; status: string; total: string }>(
    'SELECT id, customer_id, status, total::text AS total FROM ecommerce.orders',
  );
  return {
    customers: new Map(c.rows.map((r) => [r.id, { name: r.name, email: r.email }])),
    orders: new Map(
      o.rows.map((r) => [r.id, { customer_id: r.customer_id, status: r.status, total: r.total }]),
    ),
  };
}

/** Every difference between the tables and the stores (empty = converged). */
async function checkStores(e: Expected, redis: Redis, secret: string): Promise<string[]> {
  const problems: string[] = [];
  const hmac = (v: string) => createHmac('sha256', secret).update(v).digest('hex');
  // Redis: one JSON value per row; deleted rows have no value.
  const customerKeys = await redis.keys('ecommerce:customers:*');
  const orderKeys = await redis.keys('ecommerce:orders:*');
  const values = (keys: string[]) => (keys.length ? redis.mget(...keys) : Promise.resolve([]));
  const rc = new Map<number, Record<string, unknown>>();
  const cv = await values(customerKeys.filter((k) => !k.endsWith(':__version')));
  customerKeys
    .filter((k) => !k.endsWith(':__version'))
    .forEach((k, i) => cv[i] && rc.set(Number(k.split(':')[2]), JSON.parse(cv[i]!)));
  const ro = new Map<number, RedisOrder>();
  const ov = await values(orderKeys.filter((k) => !k.endsWith(':__version')));
  orderKeys
    .filter((k) => !k.endsWith(':__version'))
    .forEach((k, i) => ov[i] && ro.set(Number(k.split(':')[2]), JSON.parse(ov[i]!)));
  for (const [id, c] of e.customers) {
    const r = rc.get(id);
    if (!r) problems.push(`redis: customer ${id} missing`);
    else if (r.email !== hmac(c.email) || r.name !== c.name)
      problems.push(
        `redis: customer ${id} is ${JSON.stringify(r)}, expected name ${c.name} and email HMAC(${c.email})`,
      );
  }
  for (const id of rc.keys())
    if (!e.customers.has(id)) problems.push(`redis: customer ${id} should not exist`);
  for (const [id, o] of e.orders) {
    const r = ro.get(id);
    if (!r) problems.push(`redis: order ${id} missing`);
    else if (r.status !== o.status || r.total !== o.total || r.customer_id !== o.customer_id)
      problems.push(`redis: order ${id} is ${JSON.stringify(r)}, expected ${JSON.stringify(o)}`);
    else if (
      !r.customer ||
      r.customer.id !== o.customer_id ||
      !/^[0-9a-f]{64}$/.test(String(r.customer.email))
    )
      problems.push(
        `redis: order ${id} is not enriched with its masked customer: ${JSON.stringify(r.customer)}`,
      );
  }
  for (const id of ro.keys())
    if (!e.orders.has(id)) problems.push(`redis: order ${id} should have been deleted`);

  // ClickHouse: ReplacingMergeTree(__version) read with FINAL; deleted rows carry __deleted = 1.
  const chCustomers = await clickhouse(
    'SELECT id, name, email FROM ecommerce_customers FINAL WHERE __deleted = 0',
  );
  const chOrders = await clickhouse(
    'SELECT id, customer_id, status, total, customer FROM ecommerce_orders FINAL WHERE __deleted = 0',
  );
  if (chCustomers.length !== e.customers.size)
    problems.push(`clickhouse: ${chCustomers.length} customers, expected ${e.customers.size}`);
  for (const r of chCustomers) {
    const c = e.customers.get(Number(r.id));
    if (!c || r.email !== hmac(c.email))
      problems.push(`clickhouse: customer ${String(r.id)} is ${JSON.stringify(r)}`);
  }
  if (chOrders.length !== e.orders.size)
    problems.push(`clickhouse: ${chOrders.length} orders, expected ${e.orders.size}`);
  for (const r of chOrders) {
    const o = e.orders.get(Number(r.id));
    if (
      !o ||
      r.status !== o.status ||
      r.total !== o.total ||
      Number(r.customer_id) !== o.customer_id
    )
      problems.push(
        `clickhouse: order ${String(r.id)} is ${JSON.stringify(r)}, expected ${JSON.stringify(o)}`,
      );
    else if (String(r.customer).includes('@'))
      problems.push(`clickhouse: order ${String(r.id)} holds a plain email`);
  }
  return problems;
}

async function clickhouse(sql: string): Promise<Array<Record<string, unknown>>> {
  const res = await fetch(`${CLICKHOUSE}/?default_format=JSONEachRow`, {
    method: 'POST',
    body: sql,
  });
  const text = await res.text();
  if (!res.ok) {
    if (/UNKNOWN_TABLE|doesn't exist/.test(text)) return [];
    throw new Error(`clickhouse: ${text.trim()}`);
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Parquet files are complete only when a roll limit is reached (10 rows here): check those. */
async function checkParquet(): Promise<{ files: number; rows: number; problems: string[] }> {
  const files = listFiles(PARQUET_DIR).filter((f) => f.endsWith('.parquet'));
  if (files.length === 0)
    return { files: 0, rows: 0, problems: [`parquet: no files under ${PARQUET_DIR}`] };
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const one = async (sql: string) =>
      ((await (await conn.run(sql)).getRowObjectsJS()) as Array<Record<string, unknown>>)[0]!;
    const from = (topic: string) =>
      `read_parquet('${PARQUET_DIR}/${topic}/*.parquet', union_by_name = true)`;
    const problems: string[] = [];
    const c = await one(
      `SELECT count(*)::INTEGER AS n, count(*) FILTER (WHERE regexp_full_match(email, '[0-9a-f]{64}'))::INTEGER AS masked FROM ${from('shop.masked.customers')}`,
    );
    if (c.n === 0) problems.push('parquet: no complete file of customers');
    if (c.masked !== c.n)
      problems.push(
        `parquet: ${Number(c.n) - Number(c.masked)} customer rows without a masked email`,
      );
    const ord = await one(
      `SELECT count(*)::INTEGER AS n, count(*) FILTER (WHERE customer LIKE '%@%')::INTEGER AS plain FROM ${from('shop.enriched.orders')}`,
    );
    if (ord.n === 0) problems.push('parquet: no complete file of orders');
    if (ord.plain !== 0)
      problems.push(`parquet: ${String(ord.plain)} order rows embed a plain email`);
    // Each Kafka record is in exactly one file: file names carry offsets, rolls are deterministic.
    const dup = await one(
      `SELECT count(*)::INTEGER AS n FROM (SELECT __topic, __partition, __offset FROM read_parquet('${PARQUET_DIR}/*/*.parquet', union_by_name = true) GROUP BY ALL HAVING count(*) > 1)`,
    );
    if (dup.n !== 0)
      problems.push(`parquet: ${String(dup.n)} Kafka records appear in more than one file`);
    return { files: files.length, rows: Number(c.n) + Number(ord.n), problems };
  } catch (err) {
    return {
      files: files.length,
      rows: 0,
      problems: [`parquet: cannot read the files with DuckDB: ${(err as Error).message}`],
    };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

function listFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? listFiles(join(dir, d.name)) : [join(dir, d.name)],
  );
}

/** Removes what a previous demo run left: topics, slot, publication, store contents, files. */
async function resetPreviousRun(
  t: ReturnType<typeof parseTopology>,
  db: pg.Client,
  redis: Redis,
): Promise<void> {
  say(
    'removing what a previous demo run left (topics, slot, publication, Redis keys, ClickHouse tables, Parquet files)',
  );
  for (const s of t.sources) {
    const { slot, publication } = sourceNames(s);
    await db.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active',
      [slot],
    );
    await db.query(`DROP PUBLICATION IF EXISTS "${publication}"`);
  }
  const admin = new KafkaAdmin(defaultKafkaConfig('tributary-demo'));
  try {
    const mine = new Set(desiredTopics(t).map((x) => x.name));
    const apps = t.processors.map((p) => processorAppId(t, p));
    const existing = await admin.listTopics();
    const doomed = existing.filter((n) => mine.has(n) || apps.some((a) => n.startsWith(`${a}-`)));
    if (doomed.length) {
      await admin.deleteTopics(doomed);
      const deadline = Date.now() + 60_000;
      while ((await admin.listTopics()).some((n) => doomed.includes(n))) {
        if (Date.now() > deadline)
          throw new Error(`Kafka did not delete ${doomed.join(', ')} within 60 s`);
        await sleep(250);
      }
    }
  } finally {
    await admin.close();
  }
  for (const p of t.processors)
    rmSync(join(REPO, p.stateDir, processorAppId(t, p)), { recursive: true, force: true });
  const keys = await redis.keys('ecommerce:*');
  for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
  await clickhouse('DROP TABLE IF EXISTS ecommerce_customers');
  await clickhouse('DROP TABLE IF EXISTS ecommerce_orders');
  rmSync(PARQUET_DIR, { recursive: true, force: true });
}

/**
 * Waits until every join's global store has read its table topic up to the committed end (its
 * checkpoint file holds the next offset per partition). Throws, naming the store and the run
 * log, when one does not get there in time.
 */
async function waitForJoinStores(t: Topology, timeoutMs: number): Promise<void> {
  const reader = new KafkaPartitionConsumer(defaultKafkaConfig('tributary-demo'));
  try {
    for (const p of t.processors)
      for (const step of p.chain) {
        const c = (step as { builtin?: string; config?: Record<string, unknown> }).config;
        if ((step as { builtin?: string }).builtin !== 'join' || !c) continue;
        if (c.mode !== undefined && c.mode !== 'global') continue;
        const store = String(c.store);
        const table = String(c.table);
        const count = (await reader.partitionCounts([table])).get(table) ?? 0;
        const tps = Array.from({ length: count }, (_, partition) => ({ topic: table, partition }));
        const end = await reader.offsets(tps, 'latest');
        const file = join(
          REPO,
          p.stateDir,
          processorAppId(t, p),
          'global',
          store,
          'checkpoint.json',
        );
        const behind = () => {
          const cp = readCheckpoint(file);
          return tps.filter(
            (tp) =>
              (cp?.offsets[table]?.[String(tp.partition)] ?? 0n) <
              end.get(`${table}\u0000${tp.partition}`)!,
          );
        };
        const problems = await converge(
          async () => behind().map((tp) => `partition ${tp.partition}`),
          timeoutMs,
        );
        if (problems.length)
          throw new Error(
            `processor ${p.name}: its store "${store}" did not read ${table} (${problems.join(', ')}) within ${timeoutMs} ms; see ${RUN_LOG}`,
          );
      }
  } finally {
    await reader.close();
  }
}

async function converge(check: () => Promise<string[]>, timeoutMs: number): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let problems = await check();
  while (problems.length && Date.now() < deadline) {
    await sleep(1_000);
    problems = await check();
  }
  return problems;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
