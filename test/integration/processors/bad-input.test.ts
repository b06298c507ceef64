// Bad input: a module path that does not exist or does not export a processor, a store name
// that is not declared, a record that is not a ChangeEvent — each a clear error or a DLQ entry.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { ConfigError } from '../../../core/errors/index.ts';
import { toKafkaRecords } from '../../../core/events/index.ts';
import { defaultKafkaConfig, KafkaAdmin, KafkaProducer } from '../../../core/kafka/index.ts';
import { ProcessorRuntime } from '../../../processors/runtime/runtime.ts';
import { DLQ_HEADERS } from '../../../processors/runtime/pipeline.ts';
import { ensureServices, uniqueName } from '../helpers.ts';
import { readCommitted, sequencedEvents, tempDir } from './harness.ts';

const kafka = defaultKafkaConfig('bad-input-test');
let dir: string;
let admin: KafkaAdmin;

before(() => {
  ensureServices('kafka');
  dir = tempDir('tributary-bad-');
  admin = new KafkaAdmin(kafka);
});

after(async () => {
  await admin.close();
  rmSync(dir, { recursive: true, force: true });
});

async function topic(): Promise<string> {
  const t = uniqueName('bad-in');
  await admin.ensureTopics([{ name: t, partitions: 1 }]);
  return t;
}

const quiet = () => undefined;

test('a module path that does not exist, or a module without a processor, is a config error naming the path', async () => {
  const input = await topic();
  const missing = new ProcessorRuntime(
    {
      name: uniqueName('bad'),
      inputs: [input],
      output: `${input}.out`,
      stateDir: dir,
      processors: [{ builtin: 'filter', config: {} }, { module: 'nope/missing.ts' }],
    },
    { kafka, log: quiet },
  );
  await assert.rejects(
    missing.start(),
    (e: unknown) =>
      e instanceof ConfigError &&
      /^processors\[1\]\.module: cannot load processor module "nope\/missing.ts": no such file/.test(
        (e as Error).message,
      ),
  );
  const notProcessor = new ProcessorRuntime(
    {
      name: uniqueName('bad'),
      inputs: [input],
      output: `${input}.out`,
      stateDir: dir,
      processors: [{ module: 'test/fixtures/processors/not-a-processor.ts' }],
    },
    { kafka, log: quiet },
  );
  await assert.rejects(
    notProcessor.start(),
    (e: unknown) =>
      e instanceof ConfigError &&
      /does not export a processor.*exports: hello/.test((e as Error).message),
  );
  assert.throws(
    () =>
      new ProcessorRuntime({
        name: 'x',
        inputs: [input],
        processors: [{ builtin: 'mask', errors: 'ignore' }],
      } as never),
    (e: unknown) => e instanceof ConfigError && /^processors\[0\]/.test((e as Error).message),
  );
});

test(
  'asking for an undeclared store stops the runtime with an error naming processor and store',
  { timeout: 60_000 },
  async () => {
    const input = await topic();
    const producer = new KafkaProducer(kafka);
    await producer.send(
      sequencedEvents(input, 3, 3).flatMap((e) => toKafkaRecords(e, { format: 'json' })),
    );
    await producer.close();
    const rt = new ProcessorRuntime(
      {
        name: uniqueName('bad'),
        inputs: [input],
        output: `${input}.out`,
        stateDir: dir,
        errors: { policy: 'dlq' },
        processors: [{ module: 'test/fixtures/processors/undeclared-store.ts' }],
      },
      { kafka, log: quiet },
    );
    await rt.start();
    const stopper = setTimeout(() => void rt.stop(), 30_000); // never hang the suite
    await assert.rejects(rt.done, (e: unknown) =>
      /processor "undeclared-store" asked for store "theirs", which it does not declare; declared stores: "mine"/.test(
        (e as Error).message,
      ),
    );
    clearTimeout(stopper);
  },
);

test(
  'records that are not change events go to the DLQ with headers; good ones flow on',
  { timeout: 60_000 },
  async () => {
    const input = await topic();
    const output = `${input}.out`;
    const good = sequencedEvents(input, 5, 5).flatMap((e) => toKafkaRecords(e, { format: 'json' }));
    const producer = new KafkaProducer(kafka);
    await producer.send([
      good[0]!,
      {
        topic: input,
        key: Buffer.from('{"id":1}'),
        value: Buffer.from('not json'),
        headers: { 'tributary.version': '1' },
      },
      good[1]!,
      {
        topic: input,
        key: Buffer.from('{"id":2}'),
        value: Buffer.from('{"op":"x"}'),
        headers: { 'tributary.version': '1' },
      },
      { topic: input, key: Buffer.from('{"id":3}'), value: good[2]!.value },
      ...good.slice(2),
    ]);
    await producer.close();
    const name = uniqueName('bad');
    const rt = new ProcessorRuntime(
      {
        name,
        inputs: [input],
        output,
        stateDir: dir,
        errors: { policy: 'dlq' },
        processors: [{ module: 'test/fixtures/processors/tag.ts' }],
      },
      { kafka, log: quiet },
    );
    await rt.start();
    const results = await Promise.all([
      readCommitted(kafka, output, 5, 30_000),
      readCommitted(kafka, `${name}.dlq`, 3, 30_000),
    ]).finally(() => rt.stop());
    const [out, dlq] = results;
    const metrics = rt.metrics();
    assert.equal(out.length, 5);
    assert.equal(dlq.length, 3);
    assert.deepEqual(
      dlq.map((r) => r.headers[DLQ_HEADERS.offset]!.toString()),
      ['1', '3', '4'],
    );
    for (const r of dlq) {
      assert.equal(r.headers[DLQ_HEADERS.topic]!.toString(), input);
      assert.equal(r.headers[DLQ_HEADERS.partition]!.toString(), '0');
      assert.equal(r.headers[DLQ_HEADERS.processor]!.toString(), '(input)');
      assert.match(r.headers[DLQ_HEADERS.errorClass]!.toString(), /ChangeEventError/);
    }
    assert.equal(dlq[0]!.value!.toString(), 'not json', 'the original record is kept');
    assert.match(dlq[1]!.headers[DLQ_HEADERS.message]!.toString(), /value\.op: unknown op "x"/);
    assert.match(dlq[2]!.headers[DLQ_HEADERS.message]!.toString(), /tributary\.version.*missing/);
    assert.equal(metrics.deadLettered['(input)'], 3);
  },
);

test('a repartitioning join: a repartition topic of another partition count, or a table that is not co-partitioned with it, is a config error', async () => {
  const input = await topic();
  const customers = uniqueName('bad-customers');
  const other = uniqueName('bad-other');
  await admin.ensureTopics([
    { name: customers, partitions: 3 },
    { name: other, partitions: 2 },
  ]);
  const name = uniqueName('bad-rekey');
  const join = (store: string, table: string) => ({
    builtin: 'join',
    config: { store, table, mode: 'repartition', on: 'customer_id', as: store },
  });
  // A repartition topic left over with 2 partitions while the table now has 3.
  await admin.ensureTopics([{ name: `${name}-customers-repartition`, partitions: 2 }]);
  const stale = new ProcessorRuntime(
    {
      name,
      inputs: [input],
      output: `${input}.out`,
      stateDir: dir,
      processors: [join('customers', customers)],
    },
    { kafka, log: quiet },
  );
  await assert.rejects(
    stale.start(),
    (e: unknown) =>
      e instanceof ConfigError &&
      /repartition topic ".*-customers-repartition" exists with 2 partitions, expected 3/.test(
        (e as Error).message,
      ),
  );
  // A second join after the hop whose table has another partition count than the hop's topic.
  const mismatched = new ProcessorRuntime(
    {
      name: uniqueName('bad-rekey'),
      inputs: [input],
      output: `${input}.out`,
      stateDir: dir,
      processors: [
        join('customers', customers),
        {
          builtin: 'join',
          name: 'join-other',
          config: { store: 'other', table: other, mode: 'co-partitioned', on: 'x', as: 'o' },
        },
      ],
    },
    { kafka, log: quiet },
  );
  await assert.rejects(
    mismatched.start(),
    (e: unknown) =>
      e instanceof ConfigError &&
      /table topic ".*" has 2 partitions but the repartition topic it is joined through has 3/.test(
        (e as Error).message,
      ),
  );
});
