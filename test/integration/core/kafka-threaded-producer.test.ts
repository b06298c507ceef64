// ThreadedTransactionalProducer (producer thread running a PackProducer) against the real broker:
// pipelined multi-pack transactions, fencing, failures and shutdown, each checked by an
// independent read_committed reader (TopicReader).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ProducerFencedError, TributaryError } from '../../../core/errors/index.ts';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  KafkaPartitionConsumer,
  partitionForKey,
  RecordPack,
  startProducerThreadEarly,
  ThreadedTransactionalProducer,
  TopicReader,
} from '../../../core/kafka/index.ts';
import type { IncomingRecord } from '../../../core/kafka/index.ts';
import { ensureServices, REPO, uniqueName } from '../helpers.ts';

const config = defaultKafkaConfig('tributary-test');
let admin: KafkaAdmin;
const topics: string[] = [];
const cleanup: Array<() => Promise<void>> = [];

before(async () => {
  ensureServices('kafka');
  admin = new KafkaAdmin(config);
});

after(async () => {
  for (const c of cleanup.reverse()) await c().catch(() => undefined);
  // The first test writes ~30 MB: the topics go with the run.
  await admin.deleteTopics(topics).catch(() => undefined);
  await admin.close();
});

async function newTopic(prefix: string, partitions: number): Promise<string> {
  const name = uniqueName(prefix);
  await admin.ensureTopics([{ name, partitions }]);
  topics.push(name);
  return name;
}

function newProducer(transactionalId = uniqueName('tp-txid')): ThreadedTransactionalProducer {
  const p = new ThreadedTransactionalProducer(config, transactionalId);
  cleanup.push(() => p.close());
  return p;
}

/** Rejects when `promise` has not settled within `ms` (a hang must fail the test, fast). */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Everything in `names` up to the end (the last stable offset under read_committed). */
async function readAll(
  names: string[],
  isolation: 'read_committed' | 'read_uncommitted' = 'read_committed',
): Promise<IncomingRecord[]> {
  const reader = new TopicReader(config, names, isolation);
  try {
    await reader.open();
    const out: IncomingRecord[] = [];
    await within(
      30_000,
      `reading ${names.join(', ')}`,
      reader.readToEnd((rs) => out.push(...rs)),
    );
    return out;
  } finally {
    await reader.close();
  }
}

function textPack(topic: string, tag: string, n: number): RecordPack {
  const pack = new RecordPack();
  for (let i = 0; i < n; i++) pack.addText(topic, `${tag}-${i}`, `${tag} value ${i}`, { tag });
  return pack;
}

const tags = (records: IncomingRecord[]) => records.map((r) => r.headers.tag?.toString());

interface Expected {
  topic: string;
  partition: number;
  key: string;
  value: string | null;
  txn: string;
  bin?: Buffer;
  timestamp?: bigint;
}

test('many pipelined packs per transaction: every record exactly once, on its murmur2 partition, in order', async () => {
  const main = await newTopic('tp-main', 3);
  const side = await newTopic('tp-side', 2);
  const producer = newProducer();
  await producer.init();

  const expected = new Map<string, Expected>();
  const order = new Map<string, string[]>(); // "topic:partition" -> ids in the order added
  const expect = (id: string, e: Expected) => {
    expected.set(id, e);
    const k = `${e.topic}:${e.partition}`;
    if (!order.has(k)) order.set(k, []);
    order.get(k)!.push(id);
  };
  let n = 0;
  const TRANSACTIONS = 6;
  const PACKS = 5;
  for (let t = 0; t < TRANSACTIONS; t++) {
    for (let j = 0; j < PACKS; j++) {
      const pack = new RecordPack();
      // Packs of ~0.9 MiB, and one of ~2.6 MiB: more than one batch (768 KiB) per partition, so
      // several requests.
      const count = t === 2 && j === 1 ? 6000 : 2000;
      for (let r = 0; r < count; r++, n++) {
        // Keys repeat (per-key order matters) and some are multi-byte UTF-8.
        const key = n % 13 === 0 ? `clé-ü-${n % 4001}` : `key-${n % 7919}`;
        const value =
          n % 11 === 0 ? null : JSON.stringify({ n, t, j, pad: 'x'.repeat(300 + (n % 200)) });
        pack.addText(main, key, value, { id: `m${n}`, txn: String(t) });
        expect(`m${n}`, {
          topic: main,
          partition: partitionForKey(Buffer.from(key), 3),
          key,
          value,
          txn: String(t),
        });
        if (n % 5 === 0) {
          // Ready-made records on a second topic: binary headers, timestamps, some partitions given.
          const sideKey = `side-${n % 101}`;
          const sideValue = n % 3 === 0 ? null : `side value ${n}`;
          const bin = Buffer.from([0, 255, n & 255, (n >> 8) & 255]);
          const timestamp = 1_700_000_000_000n + BigInt(n);
          const given = n % 10 === 0 ? 1 : undefined;
          pack.add({
            topic: side,
            key: Buffer.from(sideKey),
            value: sideValue === null ? null : Buffer.from(sideValue),
            headers: { id: `s${n}`, txn: String(t), bin },
            timestamp,
            ...(given === undefined ? {} : { partition: given }),
          });
          expect(`s${n}`, {
            topic: side,
            partition: given ?? partitionForKey(Buffer.from(sideKey), 2),
            key: sideKey,
            value: sideValue,
            txn: String(t),
            bin,
            timestamp,
          });
        }
      }
      assert.ok(pack.bytes > 850_000, `pack ${t}/${j} is ~1 MiB or more (${pack.bytes} bytes)`);
      if (j < PACKS - 1) await producer.send(pack);
      else await producer.commit(pack);
    }
  }

  const got = await readAll([main, side]);
  assert.equal(got.length, expected.size, 'as many records as were committed');
  const seen = new Map<string, IncomingRecord[]>();
  for (const r of got) {
    const id = r.headers.id?.toString() ?? '';
    const e = expected.get(id);
    assert.ok(e, `record ${id} was produced`);
    assert.equal(r.partition, e.partition, `${id} is on partition ${e.partition}`);
    assert.equal(r.key?.toString(), e.key, `${id}: key`);
    assert.equal(r.value === null ? null : r.value.toString(), e.value, `${id}: value`);
    assert.equal(r.headers.txn?.toString(), e.txn, `${id}: txn header`);
    if (e.bin) assert.deepEqual(r.headers.bin, e.bin, `${id}: binary header`);
    if (e.timestamp !== undefined) assert.equal(r.timestamp, e.timestamp, `${id}: timestamp`);
    const k = `${r.topic}:${r.partition}`;
    if (!seen.has(k)) seen.set(k, []);
    seen.get(k)!.push(r);
  }
  for (const [k, ids] of order) {
    const inLog = (seen.get(k) ?? [])
      .sort((a, b) => (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0))
      .map((r) => r.headers.id!.toString());
    // Same list: nothing missing, nothing twice, and the order records were added in.
    assert.deepEqual(inLog, ids, `${k}: every record once, in the order added`);
  }
  assert.equal(order.size, 5, 'all 3 + 2 partitions received records');
  assert.ok(
    got.some((r) => r.value === null),
    'tombstones survive',
  );
});

test('a second producer with the same transactional.id fences the first; only its records show', async () => {
  const topic = await newTopic('tp-fence', 3);
  const txid = uniqueName('tp-fence-txid');
  const zombie = newProducer(txid);
  const owner = newProducer(txid);

  await zombie.init();
  await zombie.send(textPack(topic, 'zombie', 300));
  await new Promise((r) => setTimeout(r, 300)); // let the zombie's records reach the log

  await owner.init(); // bumps the epoch: the zombie's open transaction is aborted
  await assert.rejects(
    zombie.commit(textPack(topic, 'zombie-late', 50)),
    (err: unknown) =>
      err instanceof ProducerFencedError &&
      err.code === 'PRODUCER_FENCED' &&
      err.retryable === false,
  );
  // A fenced producer stays failed.
  await assert.rejects(zombie.commit(textPack(topic, 'zombie-again', 5)), ProducerFencedError);
  await assert.rejects(zombie.send(textPack(topic, 'zombie-again', 5)), TributaryError);

  await owner.send(textPack(topic, 'owner', 100));
  await owner.commit(textPack(topic, 'owner', 20));

  const committed = await readAll([topic]);
  assert.equal(committed.length, 120);
  assert.deepEqual(new Set(tags(committed)), new Set(['owner']), 'only the owner’s records');
  // The zombie's first records were really written, and hidden by the abort.
  const all = await readAll([topic], 'read_uncommitted');
  assert.equal(tags(all).filter((t) => t === 'zombie').length, 300);
});

test('a pack for a topic that does not exist fails the commit, and every later call', async () => {
  const topic = await newTopic('tp-fail', 2);
  const missing = uniqueName('tp-missing');
  const producer = newProducer();
  await producer.init();

  await producer.send(textPack(topic, 'before', 200));
  const bad = textPack(topic, 'bad', 10);
  bad.addText(missing, 'k', 'v', {});
  const failure = await producer.commit(bad).then(
    () => assert.fail('the commit should have failed'),
    (err: unknown) => err,
  );
  assert.ok(failure instanceof TributaryError, `a TributaryError: ${String(failure)}`);
  assert.ok(
    failure.code === 'UNKNOWN_TOPIC' || failure.code === 'KAFKA_ERROR',
    `code ${failure.code}`,
  );
  assert.match(failure.message, new RegExp(missing), 'the message names the missing topic');

  await assert.rejects(producer.send(textPack(topic, 'later', 5)), TributaryError);
  await assert.rejects(producer.commit(textPack(topic, 'later', 5)), TributaryError);
  await within(10_000, 'close() of a failed producer', producer.close());

  assert.deepEqual(await readAll([topic]), [], 'nothing of the transaction is visible');
  const written = await readAll([topic], 'read_uncommitted');
  assert.equal(tags(written).filter((t) => t === 'before').length, 200, 'written, then aborted');
  assert.ok(!(await admin.listTopics()).includes(missing), 'the missing topic was not created');
});

test('a Produce request failing while later ones are in flight aborts the whole transaction', async () => {
  const topic = await newTopic('tp-inflight', 1);
  const producer = newProducer();
  await producer.init();

  await producer.send(textPack(topic, 'first', 50));
  // One record over the broker's message.max.bytes (1 MiB): its request fails...
  const huge = new RecordPack();
  huge.addText(topic, 'huge', 'x'.repeat(1_500_000), { tag: 'huge' });
  await producer.send(huge);
  // ...while these follow it on the same connection without waiting.
  for (let i = 0; i < 4; i++)
    await producer.send(textPack(topic, `after${i}`, 100)).catch(() => {});
  await assert.rejects(producer.commit(textPack(topic, 'last', 10)), (err: unknown) => {
    assert.ok(err instanceof TributaryError);
    assert.match(err.message, /MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE|larger than/);
    return true;
  });
  await assert.rejects(producer.commit(textPack(topic, 'later', 5)), TributaryError);

  assert.deepEqual(await readAll([topic]), [], 'nothing of the transaction is visible');
  const written = tags(await readAll([topic], 'read_uncommitted'));
  assert.equal(written.filter((t) => t === 'first').length, 50, 'written, then aborted');
  assert.ok(!written.includes('huge'));
});

test('close() ends the producer thread: after a commit, after failures, and before init', async () => {
  const topic = await newTopic('tp-close', 1);
  // In this process: close() resolves, can be repeated, and later calls reject at once.
  const p = newProducer();
  await p.init();
  await p.commit(textPack(topic, 'closing', 3));
  await within(10_000, 'close()', p.close());
  await within(5_000, 'second close()', p.close());
  await assert.rejects(within(5_000, 'commit after close', p.commit(textPack(topic, 'x', 1))));

  // In a child process that never calls process.exit: it exits only if no thread is left.
  const script = `
    const { defaultKafkaConfig, RecordPack, ThreadedTransactionalProducer } = await import(
      ${JSON.stringify(pathToFileURL(join(REPO, 'core/kafka/index.ts')).href)}
    );
    const config = defaultKafkaConfig('tributary-test');
    const topic = process.env.TOPIC;
    const pack = (n, size = 10) => {
      const p = new RecordPack();
      for (let i = 0; i < n; i++) p.addText(topic, 'k' + i, 'v'.repeat(size), {});
      return p;
    };
    const outcome = (promise) => promise.then(() => 'ok', (e) => e.code);
    const results = {};
    // A normal life: init, commit, close.
    const normal = new ThreadedTransactionalProducer(config, 'exit-normal-' + process.pid);
    await normal.init();
    results.normal = await outcome(normal.commit(pack(5)));
    await normal.close();
    // A failed transaction (a record over the broker's size limit), then close.
    const failed = new ThreadedTransactionalProducer(config, 'exit-failed-' + process.pid);
    await failed.init();
    await failed.send(pack(1, 1_500_000));
    results.failed = await outcome(failed.commit(pack(1)));
    await failed.close();
    // A fenced producer, then close.
    const zombie = new ThreadedTransactionalProducer(config, 'exit-fenced-' + process.pid);
    const successor = new ThreadedTransactionalProducer(config, 'exit-fenced-' + process.pid);
    await zombie.init();
    await zombie.send(pack(3));
    await successor.init();
    results.fenced = await outcome(zombie.commit(pack(1)));
    await zombie.close();
    await successor.close();
    // Closed before its thread even finished loading.
    await new ThreadedTransactionalProducer(config, 'exit-early-' + process.pid).close();
    console.log('results ' + JSON.stringify(results));
  `;
  const dir = await mkdtemp(join(tmpdir(), 'tributary-exit-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'producers.mjs');
  await writeFile(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: REPO,
    env: { ...process.env, TOPIC: topic },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  let code: number | null;
  try {
    code = await within(30_000, 'the child process exiting', exited);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  assert.equal(code, 0, `child exited cleanly; stderr: ${stderr.slice(-2000)}`);
  const line = stdout.split('\n').find((l) => l.startsWith('results '));
  assert.ok(line, `child reported its results; stdout: ${stdout}`);
  assert.deepEqual(JSON.parse(line.slice('results '.length)), {
    normal: 'ok',
    failed: 'KAFKA_ERROR',
    fenced: 'PRODUCER_FENCED',
  });
});

// ---------------------------------------------------------------------------------------------
// Found by review, fixed: a failed response is reported classified; an empty commit ends locally.
// ---------------------------------------------------------------------------------------------

test('after a Produce response failed, send() rejects with the classified error (fenced stays fenced)', async () => {
  const topic = await newTopic('tp-fence-send', 3);
  const txid = uniqueName('tp-fence-send-txid');
  const zombie = newProducer(txid);
  const owner = newProducer(txid);
  await zombie.init();
  await zombie.send(textPack(topic, 'zombie', 30)); // adds the partitions to the transaction
  await owner.init();
  // No AddPartitionsToTxn this time: the Produce request itself is refused (old epoch)...
  await zombie.send(textPack(topic, 'zombie', 30));
  await new Promise((r) => setTimeout(r, 500));
  // ...and the next send() reports it: as the fencing it is, like commit() does.
  await assert.rejects(zombie.send(textPack(topic, 'zombie', 30)), ProducerFencedError);
});

test('commit() of an empty pack with nothing sent commits nothing and keeps the producer usable', async () => {
  const topic = await newTopic('tp-empty', 1);
  const producer = newProducer();
  await producer.init();
  await producer.commit(new RecordPack());
  await producer.commit(textPack(topic, 'after-empty', 3));
  assert.equal((await readAll([topic])).length, 3);
});

test('a producer thread started early is taken by the first producer, the next one gets its own', async () => {
  const topic = await newTopic('tp-early', 2);
  startProducerThreadEarly();
  const early = Symbol.for('tributary.producerThread');
  assert.ok((globalThis as Record<symbol, unknown>)[early], 'a thread waits');
  const first = newProducer();
  assert.equal((globalThis as Record<symbol, unknown>)[early], undefined, 'taken');
  const second = newProducer();
  for (const [i, p] of [first, second].entries()) {
    await within(30_000, `producer ${i} init`, p.init());
    await within(30_000, `producer ${i} commit`, p.commit(textPack(topic, `early-${i}`, 5)));
  }
  const keys = (await readAll([topic])).map((r) => r.key!.toString()).sort();
  assert.equal(keys.length, 10);
  assert.equal(new Set(keys).size, 10);
  assert.ok(
    keys.every((k) => /^early-[01]-/.test(k)),
    keys.join(','),
  );
});

test('a transaction adds the partitions the previous one wrote, and only those: no marker piles up on a partition written once', async () => {
  const once = await newTopic('tp-once', 1);
  const often = await newTopic('tp-often', 1);
  const producer = newProducer();
  await producer.init();
  const ends = async (): Promise<bigint> => {
    const c = new KafkaPartitionConsumer(config, { isolation: 'read_uncommitted' });
    try {
      return (await c.offsets([{ topic: once, partition: 0 }], 'latest')).get(`${once}\u00000`)!;
    } finally {
      await c.close();
    }
  };
  await producer.commit(textPack(once, 'first', 3)); // 3 records + its commit marker
  assert.equal(await ends(), 4n);
  // The next transaction writes elsewhere but adds `once` with its first partitions (it was
  // written last time): one more marker there, no record.
  await producer.commit(textPack(often, 'second', 3));
  assert.equal(await ends(), 5n);
  // After that `once` was not written for a transaction: it is no longer added.
  for (let t = 0; t < 3; t++) await producer.commit(textPack(often, `more-${t}`, 3));
  assert.equal(await ends(), 5n);
  assert.deepEqual(
    tags(await readAll([once])),
    ['first', 'first', 'first'],
    'the markers carry no records',
  );
});
