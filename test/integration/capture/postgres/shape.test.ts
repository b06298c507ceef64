// Column filtering and topic routing end to end (real PostgreSQL and Kafka, read back with an
// independent read_committed reader): excluded columns are absent from rows and schemas in
// snapshot and stream; two tables routed into one topic keep unique keys and per-key order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KafkaAdmin, defaultKafkaConfig } from '../../../../core/kafka/index.ts';
import {
  CaptureProcess,
  changes,
  captureTestContext,
  perKey,
  readTopics,
  sourceConfig,
  uniqueSource,
  writeConfig,
} from './harness.ts';

const ctx = captureTestContext();

test('excluded columns vanish from before/after and the schemas, in snapshot and stream', async () => {
  const source = uniqueSource('pgcols');
  ctx.sources.push(source);
  const table = `public.${source}_users`;
  await ctx.db.query(
    `CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, ssn text, card_no text)`,
  );
  await ctx.db.query(`ALTER TABLE ${table} REPLICA IDENTITY FULL`); // before images carry every column
  await ctx.db.query(
    `INSERT INTO ${table} SELECT g, 'n' || g, 'ssn' || g, 'c' || g FROM generate_series(1, 20) g`,
  );
  const cap = new CaptureProcess(
    writeConfig(
      sourceConfig(source, [table], {
        format: 'json-schema',
        columns: { exclude: [`public\\.${source}_USERS\\.(ssn|card_.*)`] }, // case-insensitive
      }),
    ),
  );
  try {
    await cap.waitFor(/snapshot completed/);
    await ctx.db.query(`INSERT INTO ${table} VALUES (21, 'n21', 'ssn21', 'c21')`);
    await ctx.db.query(`UPDATE ${table} SET name = 'renamed', ssn = 'x' WHERE id <= 5`);
    await ctx.db.query(`DELETE FROM ${table} WHERE id = 6`);
    const topic = `${source}.${table}`;
    const seen = await readTopics(
      [topic],
      (s) => changes(s).length >= 20 + 1 + 5 + 1,
      60_000,
      1_500,
      { keepSchemas: true },
    );
    const events = changes(seen);
    assert.deepEqual(
      events.map((e) => e.value.op).sort(),
      [...Array(20).fill('r'), 'c', ...Array(5).fill('u'), 'd'].sort(),
    );
    for (const e of events) {
      for (const row of [e.value.before, e.value.after]) {
        if (row)
          assert.deepEqual(
            Object.keys(row).sort(),
            ['id', 'name'],
            `${e.value.op} ${JSON.stringify(row)}`,
          );
      }
      assert.deepEqual(
        e.schemas?.row.fields?.map((f) => f.field),
        ['id', 'name'],
      );
      assert.deepEqual(Object.keys(e.key), ['id']);
    }
    const updated = events.find((e) => e.value.op === 'u')!;
    assert.equal(updated.value.after?.name, 'renamed');
  } finally {
    await cap.stop();
  }
});

test('excluding a key column is a setup error naming the column', async () => {
  const source = uniqueSource('pgcolkey');
  ctx.sources.push(source);
  const table = `public.${source}_t`;
  await ctx.db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
  const cap = new CaptureProcess(
    writeConfig(sourceConfig(source, [table], { columns: { exclude: ['.*\\.id'] } })),
  );
  const code = await cap.wait();
  assert.notEqual(code, 0);
  assert.match(cap.output.join('\n'), new RegExp(`key column "${table}\\.id" is filtered out`));
});

test('two tables routed into one topic: keys unique, per-key order, routed topics only', async () => {
  const source = uniqueSource('pgroute');
  ctx.sources.push(source);
  const a = `public.${source}_shard_1`;
  const b = `public.${source}_shard_2`;
  for (const t of [a, b]) {
    await ctx.db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v int NOT NULL)`);
    await ctx.db.query(`INSERT INTO ${t} SELECT g, 0 FROM generate_series(1, 30) g`);
  }
  const routed = `${source}.all_shards`;
  const cap = new CaptureProcess(
    writeConfig(
      sourceConfig(source, [a, b], {
        topic: {
          routes: [
            {
              match: `${source}\\.public\\.${source}_shard_(\\d+)`,
              replace: `${source}.all_shards`,
              keyField: '__dbz__physicalTableIdentifier',
            },
          ],
        },
      }),
    ),
  );
  try {
    await cap.waitFor(/snapshot completed/);
    for (let round = 1; round <= 3; round++) {
      await ctx.db.query(`UPDATE ${a} SET v = ${round} WHERE id <= 10`);
      await ctx.db.query(`UPDATE ${b} SET v = ${round * 10} WHERE id <= 10`);
    }
    const total = 60 + 3 * 20;
    const seen = await readTopics([routed], (s) => changes(s).length >= total);
    assert.equal(changes(seen).length, total);
    const keys = perKey(seen);
    assert.equal(keys.size, 60, 'same id in both tables must give two distinct keys');
    for (const [key, events] of keys) {
      const k = JSON.parse(key) as { id: number; __dbz__physicalTableIdentifier: string };
      const table = events[0]!.value.source.table as string;
      assert.equal(k.__dbz__physicalTableIdentifier, `${source}.public.${table}`);
      for (let i = 1; i < events.length; i++)
        assert.ok(events[i]!.version > events[i - 1]!.version, `key ${key} out of order`);
      const last = events[events.length - 1]!.value.after as { v: number };
      const expected = k.id <= 10 ? (table.endsWith('_1') ? 3 : 30) : 0;
      assert.equal(last.v, expected, `key ${key}`);
    }
    const admin = new KafkaAdmin(defaultKafkaConfig('route-check'));
    try {
      const mine = (await admin.listTopics()).filter((t) => t.startsWith(`${source}.`));
      assert.deepEqual(mine, [routed]);
    } finally {
      await admin.close();
    }
  } finally {
    await cap.stop();
  }
});
