// loadOffset against the real broker: the offsets topic is read from its end a window at a time
// (capture/engine/offsets.ts). Every answer is checked against an independent read of the whole
// topic from its start (TopicReader.readToEnd, read_committed), and the number of records read
// back is counted, so a search that read everything would fail too.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ensureOffsetsTopic,
  loadOffset,
  offsetRecord,
  parseStoredOffset,
  READ_BACK_WINDOW,
} from '../../../../capture/engine/offsets.ts';
import type { StoredOffset } from '../../../../capture/engine/types.ts';
import {
  defaultKafkaConfig,
  KafkaAdmin,
  TopicReader,
  TransactionalProducer,
} from '../../../../core/kafka/index.ts';
import type { IncomingRecord, OutgoingRecord } from '../../../../core/kafka/index.ts';
import { ensureServices, uniqueName } from '../../helpers.ts';

const config = defaultKafkaConfig('tributary-test');
let admin: KafkaAdmin;
const topics: string[] = [];

before(async () => {
  ensureServices('kafka');
  admin = new KafkaAdmin(config);
});

after(async () => {
  await admin.deleteTopics(topics).catch(() => undefined);
  await admin.close();
});

function offset(source: string, ack: number): StoredOffset {
  return {
    v: 1,
    source,
    position: { order: ack, index: 0 },
    ack,
    snapshot: null,
    connector: {},
    ts_ms: 1_700_000_000_000 + ack,
  };
}

/** Writes `batches` of records, each in one transaction (committed, or aborted when asked). */
async function write(
  topic: string,
  batches: Array<{ records: OutgoingRecord[]; abort?: boolean }>,
): Promise<void> {
  const producer = new TransactionalProducer(config, uniqueName('offsets-writer'));
  try {
    for (const b of batches) {
      const txn = await producer.begin();
      await txn.send(b.records);
      if (b.abort) await txn.abort();
      else await txn.commit();
    }
  } finally {
    await producer.close();
  }
}

/** The latest offset of each source, reading the whole topic from its start. */
async function wholeTopic(topic: string): Promise<Map<string, StoredOffset | null>> {
  const latest = new Map<string, StoredOffset | null>();
  const reader = new TopicReader(config, [topic], 'read_committed');
  try {
    await reader.open();
    await reader.readToEnd((records: IncomingRecord[]) => {
      for (const r of records) {
        const source = r.key!.toString();
        latest.set(source, r.value === null ? null : parseStoredOffset(r.value.toString(), source));
      }
    });
  } finally {
    await reader.close();
  }
  return latest;
}

test('the latest offset of a source is found from the end of the topic, in windows, as a read of the whole topic finds it', async () => {
  const topic = uniqueName('offsets');
  topics.push(topic);
  await ensureOffsetsTopic(admin, topic);
  const others = (n: number, from: number): OutgoingRecord[] =>
    Array.from({ length: n }, (_, i) => offsetRecord(topic, offset(`other-${i % 7}`, from + i)));
  await write(topic, [
    // old: behind 5 windows' worth of other sources' records
    { records: [offsetRecord(topic, offset('old', 1)), offsetRecord(topic, offset('old', 2))] },
    { records: others(READ_BACK_WINDOW * 5, 100) },
    // deleted: an offset, then its tombstone
    { records: [offsetRecord(topic, offset('deleted', 3))] },
    { records: [{ topic, key: Buffer.from('deleted'), value: null }] },
    { records: others(READ_BACK_WINDOW + 10, 10_000) },
    // recent: in the last window; a newer one in an aborted transaction must not count
    { records: [offsetRecord(topic, offset('recent', 4))] },
    { records: others(20, 20_000) },
    { records: [offsetRecord(topic, offset('recent', 5)), ...others(5, 30_000)], abort: true },
  ]);
  const whole = await wholeTopic(topic);
  assert.equal(whole.get('old')?.ack, 2);
  assert.equal(whole.get('deleted'), null);
  assert.equal(whole.get('recent')?.ack, 4);

  for (const source of ['old', 'deleted', 'recent', 'other-3', 'never-written']) {
    const found = await loadOffset(config, topic, source);
    assert.deepEqual(found, whole.get(source) ?? null, source);
  }
});

test('a search reads only the windows it needs: the last one for a running source', async () => {
  const topic = uniqueName('offsets');
  topics.push(topic);
  await ensureOffsetsTopic(admin, topic);
  await write(topic, [
    {
      records: Array.from({ length: READ_BACK_WINDOW * 24 }, (_, i) =>
        offsetRecord(topic, offset(`busy-${i % 3}`, i)),
      ),
    },
  ]);
  // Count what the backward read hands over, through the same reader loadOffset uses.
  const seen: number[] = [];
  const reader = new TopicReader(config, [topic], 'read_committed');
  try {
    await reader.open();
    await reader.readBackwards(READ_BACK_WINDOW, (records) => {
      seen.push(records.length);
      return records.some((r) => r.key?.toString() === 'busy-1');
    });
  } finally {
    await reader.close();
  }
  // One window (its last offset is the transaction's commit marker, not a record).
  assert.equal(seen.length, 1);
  assert.ok(seen[0]! >= READ_BACK_WINDOW - 1 && seen[0]! <= READ_BACK_WINDOW, `${seen[0]}`);
  const found = await loadOffset(config, topic, 'busy-1');
  assert.equal(found?.ack, (await wholeTopic(topic)).get('busy-1')?.ack);

  // A source that never wrote: every window, doubling, back to the start; nothing found.
  const windows: bigint[][] = [];
  const reader2 = new TopicReader(config, [topic], 'read_committed');
  try {
    await reader2.open();
    await reader2.readBackwards(READ_BACK_WINDOW, (records) => {
      windows.push(records.map((r) => r.offset));
      return false;
    });
  } finally {
    await reader2.close();
  }
  // Windows of 256 and 4,096 offsets, then the 1,793 left (6,144 records and the commit marker):
  // every record read once, none twice, each window before the one read before it.
  assert.equal(windows.length, 3);
  const offsets = windows.flat();
  assert.equal(offsets.length, READ_BACK_WINDOW * 24);
  assert.equal(new Set(offsets).size, offsets.length);
  for (let w = 1; w < windows.length; w++)
    assert.ok(windows[w]!.at(-1)! < windows[w - 1]![0]!, `window ${w} lies before window ${w - 1}`);
  assert.equal(await loadOffset(config, topic, 'never-written'), null);
});
