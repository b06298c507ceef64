// The PostgreSQL change stream writes each event's key and value JSON straight from the pgoutput
// tuple (no intermediate row objects). Those bytes must be exactly what the generic serde writes
// for the same event's key and value objects, in both JSON forms, for every kind of change.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { packEvent, toKafkaRecords } from '../../../../core/events/index.ts';
import { RecordPack, unpackRecords } from '../../../../core/kafka/index.ts';
import type { ChangeEvent, JsonFormat } from '../../../../core/events/index.ts';
import { PgChangeStream } from '../../../../capture/postgres/stream.ts';
import type { StreamContext } from '../../../../capture/postgres/stream.ts';
import type { ReplicationConnection } from '../../../../capture/postgres/connection/replication.ts';
import { TableSchema } from '../../../../capture/postgres/schema.ts';
import type { TableMeta } from '../../../../capture/postgres/schema.ts';
import {
  DEFAULT_TYPE_MAPPING_OPTIONS,
  PG_OID,
  typeCatalogOf,
} from '../../../../capture/postgres/types.ts';
import type { StreamPosition, StreamSink } from '../../../../capture/engine/types.ts';
import { cstr, msg, tuple } from './pgoutput-messages.ts';

type Cell = string | null | 'TOAST';
// Column names include an integer-like one ("2"), which JS objects enumerate first.
const COLUMNS: Array<[string, number, number]> = [
  ['id', PG_OID.INT8, -1],
  ['region', PG_OID.TEXT, -1],
  ['2', PG_OID.INT4, -1],
  ['amount', PG_OID.NUMERIC, ((12 << 16) | 2) + 4],
  ['ratio', PG_OID.NUMERIC, -1],
  ['flag', PG_OID.BOOL, -1],
  ['doc', PG_OID.JSONB, -1],
  ['at', PG_OID.TIMESTAMPTZ, -1],
  ['score', PG_OID.FLOAT8, -1],
  ['tags', 1009 /* text[] */, -1],
  ['big', PG_OID.INT8, -1],
];
const RELATION_ID = 16400;

function setup(options: {
  transactionMetadata: boolean;
  keyField?: boolean;
  onEvent?: (event: ChangeEvent) => void;
}) {
  const meta: TableMeta = {
    schema: 'public',
    table: 'orders',
    oid: RELATION_ID,
    replicaIdentity: 'f',
    columns: COLUMNS.map(([name, typeOid, typmod]) => ({
      name,
      typeOid,
      typmod,
      notNull: name === 'id' || name === 'region',
      sqlType: 'x',
    })),
    keyColumns: ['region', 'id'],
  };
  const events: Array<{ event: ChangeEvent; position: StreamPosition }> = [];
  const failures: Error[] = [];
  const sink = {
    event: (event: ChangeEvent, position: StreamPosition) => {
      events.push({ event, position });
      options.onEvent?.(event);
      return true;
    },
    record: () => true,
    unitEnd: () => undefined,
    watermark: () => undefined,
    signal: () => undefined,
    idle: () => undefined,
    fail: (err: Error) => failures.push(err),
  } as unknown as StreamSink;
  const catalog = typeCatalogOf([
    { oid: 1009, name: '_text', schema: 'pg_catalog', kind: 'array', elementOid: PG_OID.TEXT },
  ]);
  const ctx: StreamContext = {
    name: 'shop "eu"',
    database: 'db',
    prefix: 'shop',
    tables: new Map([['public.orders', meta]]),
    buildSchema: (m, relation) =>
      new TableSchema(m, relation.columns, catalog, DEFAULT_TYPE_MAPPING_OPTIONS, {
        prefix: 'shop',
        ...(options.keyField ? { route: () => ({ topic: 'all', keyField: '__dbz__table' }) } : {}),
      }),
    transactionMetadata: options.transactionMetadata,
    log: () => undefined,
  };
  const stream = new PgChangeStream({} as ReplicationConnection, sink, ctx);
  let walStart = 0x5000;
  const feed = (payload: Buffer): void => {
    walStart += 0x40;
    (stream as unknown as { onData(d: object): void }).onData({ walStart, walEnd: 0, payload });
  };
  return { stream, feed, events, failures };
}

const relation = () =>
  msg(
    'R',
    [RELATION_ID, 4],
    cstr('public'),
    cstr('orders'),
    'f',
    [COLUMNS.length, 2],
    ...COLUMNS.map(([name, oid, typmod]) =>
      msg([name === 'id' || name === 'region' ? 1 : 0, 1], cstr(name), [oid, 4], [typmod, 4]),
    ),
  );
const begin = (commitLsn: number, xid: number) =>
  msg('B', [commitLsn, 8], [785_000_000_000_000, 8], [xid, 4]);
const commit = (commitLsn: number) => msg('C', [0, 1], [commitLsn, 8], [commitLsn + 8, 8], [0, 8]);

const ROW_A: Cell[] = [
  '1',
  'eu-1',
  '-42',
  '12.30',
  '1.500',
  't',
  '{"a": [1, "x\\"y"]}',
  '2026-11-26 10:15:01.5+01',
  'NaN',
  '{a,"b c",NULL}',
  '9007199254740993',
];
const ROW_B: Cell[] = [
  '2',
  'ünïcode "quoted"\n\ttab',
  '0',
  '-0.05',
  '0',
  'f',
  'null',
  'infinity',
  '-1.5e-10',
  '{}',
  '-9223372036854775808',
];

function feedWorkload(feed: (b: Buffer) => void): void {
  feed(relation());
  feed(begin(0x9000, 700));
  feed(msg('I', [RELATION_ID, 4], 'N', tuple(ROW_A)));
  feed(msg('I', [RELATION_ID, 4], 'N', tuple(ROW_B)));
  // Update with the full old row (REPLICA IDENTITY FULL), an unchanged TOAST value in the new.
  const newA = [...ROW_A];
  newA[1 + 0] = 'eu-1';
  newA[6] = 'TOAST';
  newA[4] = '2.25';
  feed(msg('U', [RELATION_ID, 4], 'O', tuple(ROW_A), 'N', tuple(newA)));
  // Update without an old tuple.
  feed(msg('U', [RELATION_ID, 4], 'N', tuple(ROW_B)));
  feed(commit(0x9000));
  feed(begin(0xa000, 701));
  // Primary-key change: a delete of the old key and a create of the new one.
  const moved = [...ROW_B];
  moved[0] = '3';
  feed(msg('U', [RELATION_ID, 4], 'O', tuple(ROW_B), 'N', tuple(moved)));
  // Delete with the key only (other columns null), then a truncate.
  const keyOnly: Cell[] = COLUMNS.map((_, i) => (i === 0 ? '1' : i === 1 ? 'eu-1' : null));
  feed(msg('D', [RELATION_ID, 4], 'K', tuple(keyOnly)));
  feed(msg('T', [1, 4], [0, 1], [RELATION_ID, 4]));
  feed(commit(0xa000));
}

/** A plain copy: the serde encodes it from the key and value objects. */
function plain(event: ChangeEvent): ChangeEvent {
  const copy: ChangeEvent = {
    topic: event.topic,
    key: event.key,
    value: event.value,
    version: event.version,
  };
  if (event.schemas) copy.schemas = event.schemas;
  if (event.headers) copy.headers = event.headers;
  return copy;
}

function records(event: ChangeEvent, format: JsonFormat) {
  return toKafkaRecords(event, { format, tombstonesOnDelete: true }).map((r) => ({
    topic: r.topic,
    key: r.key.toString('utf8'),
    value: r.value?.toString('utf8') ?? null,
    headers: r.headers,
  }));
}

describe('PostgreSQL change stream JSON', () => {
  for (const transactionMetadata of [false, true]) {
    for (const keyField of [false, true]) {
      test(`pre-encoded bytes equal the serde's (transaction metadata ${transactionMetadata}, key field ${keyField})`, () => {
        const { feed, events, failures } = setup({ transactionMetadata, keyField });
        feedWorkload(feed);
        assert.deepEqual(failures, []);
        assert.deepEqual(
          events.map((e) => e.event.value.op),
          ['c', 'c', 'u', 'u', 'd', 'c', 'd', 't'],
        );
        for (const { event } of events) {
          for (const format of ['json', 'json-schema'] as const) {
            const fast = records(event, format);
            assert.deepEqual(fast, records(plain(event), format));
            // Also byte-equal as raw buffers (the latin1 fast path must not change bytes).
            const a = toKafkaRecords(event, { format });
            const b = toKafkaRecords(plain(event), { format });
            assert.ok(a[0]!.value!.equals(b[0]!.value!));
            assert.ok(a[0]!.key.equals(b[0]!.key));
          }
        }
      });
    }
  }

  test('the value JSON is in Debezium shape (pinned)', () => {
    const { feed, events } = setup({ transactionMetadata: false });
    feedWorkload(feed);
    const [first] = records(events[0]!.event, 'json');
    const value = JSON.parse(first!.value!) as Record<string, unknown>;
    assert.equal(
      first!.key,
      '{"region":"eu-1","id":1}',
      'key columns in key order, integer-like names not involved',
    );
    assert.deepEqual(Object.keys(value), [
      'before',
      'after',
      'source',
      'transaction',
      'op',
      'ts_ms',
      'ts_us',
      'ts_ns',
    ]);
    assert.match(
      first!.value!,
      /^\{"before":null,"after":\{"2":-42,"id":1,"region":"eu-1","amount":"BM4=","ratio":\{"scale":1,"value":"Dw=="\},"flag":true,"doc":"\{\\"a\\": \[1, \\"x\\\\\\"y\\"\]\}","at":"2026-11-26T09:15:01\.500000Z","score":"NaN","tags":\["a","b c",null\],"big":9007199254740993\},"source":\{"version":"[^"]+","connector":"postgresql","name":"shop \\"eu\\"","ts_ms":1731684800000,"snapshot":"false","db":"db","sequence":"\[null,\\"20672\\"\]","ts_us":1731684800000000,"ts_ns":1731684800000000000,"schema":"public","table":"orders","txId":700,"lsn":20672,"xmin":null\},"transaction":null,"op":"c","ts_ms":\d+,"ts_us":\d+000,"ts_ns":\d+000000\}$/,
    );
    assert.equal(first!.headers['tributary.version'], '20672');
    const update = records(events[2]!.event, 'json')[0]!;
    assert.equal(update.headers['tributary.unavailable'], 'doc');
    assert.match(update.value!, /"doc":"__debezium_unavailable_value"/);
    const second = records(events[6]!.event, 'json')[0]!;
    assert.match(second.value!, /"sequence":"\[\\"36864\\",\\"/);
  });
});

/** 1,500 inserts of ~2 KB values in one transaction: they fill the 1 MiB stream buffer ~3 times. */
function feedLargeInserts(feed: (b: Buffer) => void): void {
  feed(relation());
  feed(begin(0x9000, 700));
  for (let i = 1; i <= 1500; i++) {
    const row = [...ROW_A];
    row[0] = String(i);
    row[1] = `region-${i}-${'x'.repeat(1000)}`;
    feed(msg('I', [RELATION_ID, 4], 'N', tuple(row)));
  }
  feed(commit(0x9000));
}

test('values written over in the stream buffer are made again from the message, byte-equal', () => {
  // ~2 KB values: 1,500 of them fill the 1 MiB buffer about three times over.
  const { feed, events, failures } = setup({ transactionMetadata: true });
  feedLargeInserts(feed);
  assert.deepEqual(failures, []);
  assert.equal(events.length, 1500);
  const pre = (e: ChangeEvent) => e as unknown as { valueBuffer: Buffer };
  const last = pre(events.at(-1)!.event).valueBuffer;
  // The first events' bytes were written over: they have buffers of their own now.
  assert.notEqual(pre(events[0]!.event).valueBuffer, last);
  assert.equal(pre(events.at(-2)!.event).valueBuffer, last, 'a recent event still shares it');
  for (const { event } of events)
    assert.deepEqual(records(event, 'json'), records(plain(event), 'json'));
});

test('packed as the publisher packs them (packEvent), the records are the serde records of plain copies', () => {
  for (const transactionMetadata of [false, true]) {
    const { feed, events } = setup({ transactionMetadata });
    feedWorkload(feed);
    for (const { event } of events) {
      const pack = new RecordPack();
      packEvent(pack, event, { format: 'json', tombstonesOnDelete: true });
      const packed = unpackRecords(pack.finish()).map((r) => ({
        topic: r.topic,
        key: r.key!.toString('utf8'),
        value: r.value?.toString('utf8') ?? null,
        headers: Object.fromEntries(
          Object.entries(r.headers ?? {}).map(([k, v]) => [k, v.toString()]),
        ),
      }));
      assert.deepEqual(packed, records(plain(event), 'json'));
    }
  }
});

test('records made when an event arrives (toKafkaRecords) keep their bytes after the stream buffer is written over', () => {
  // Each event's record is made as it arrives: once read at once (as text), once held as a
  // Buffer and read only after ~3 MB more values went through the stream's buffer.
  const made: string[] = [];
  const held: Buffer[] = [];
  const { feed, events } = setup({
    transactionMetadata: false,
    onEvent: (event) => {
      const value = toKafkaRecords(event, { format: 'json' })[0]!.value!;
      made.push(value.toString('utf8'));
      held.push(value);
    },
  });
  feedLargeInserts(feed);
  assert.equal(held.length, 1500);
  for (let i = 0; i < held.length; i++) {
    assert.equal(held[i]!.toString('utf8'), made[i], `record ${i}`);
    assert.equal(made[i], records(plain(events[i]!.event), 'json')[0]!.value);
  }
});
