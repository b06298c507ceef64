// Micro-benchmark of the capture thread's CPU path (not a test): pgoutput messages of the
// run.ts table shape go through decoding, PgChangeStream and packEvent into RecordPacks (what
// the publisher does), in-process, no database or Kafka. Prints CPU microseconds per change; compare checkouts with the same
// command in each (CPU time moves much less with machine load than wall time).
//
//   node --import tsx bench/pg-capture/encode.ts [changes=500000] [rounds=5]
import { packEvent } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { RecordPack } from '../../core/kafka/index.ts';
import { PgChangeStream } from '../../capture/postgres/stream.ts';
import type { ReplicationConnection } from '../../capture/postgres/connection/replication.ts';
import { TableSchema } from '../../capture/postgres/schema.ts';
import type { TableMeta } from '../../capture/postgres/schema.ts';
import {
  DEFAULT_TYPE_MAPPING_OPTIONS,
  PG_OID,
  typeCatalogOf,
} from '../../capture/postgres/types.ts';
import type { StreamSink } from '../../capture/engine/types.ts';
import { cstr, msg, tuple } from '../../test/unit/capture/postgres/pgoutput-messages.ts';

const total = Number(process.argv[2] ?? 500_000);
const rounds = Number(process.argv[3] ?? 5);

// The table of run.ts: id bigint PK, account int, status text, amount numeric(12,2), note text,
// updated_at timestamptz.
const COLUMNS: Array<[string, number, number]> = [
  ['id', PG_OID.INT8, -1],
  ['account', PG_OID.INT4, -1],
  ['status', PG_OID.TEXT, -1],
  ['amount', PG_OID.NUMERIC, ((12 << 16) | 2) + 4],
  ['note', PG_OID.TEXT, -1],
  ['updated_at', PG_OID.TIMESTAMPTZ, -1],
];
const REL = 16500;
const meta: TableMeta = {
  schema: 'public',
  table: 'bench',
  oid: REL,
  replicaIdentity: 'd',
  columns: COLUMNS.map(([name, typeOid, typmod]) => ({
    name,
    typeOid,
    typmod,
    notNull: true,
    sqlType: 'x',
  })),
  keyColumns: ['id'],
};
const note = 'x'.repeat(170);
const row = (g: number, status: string) => [
  String(g),
  String(g % 1000),
  status,
  ((g % 10000) / 100).toFixed(2),
  note,
  '2026-11-26 10:15:01.123456+00',
];
const messages: Buffer[] = [
  msg(
    'R',
    [REL, 4],
    cstr('public'),
    cstr('bench'),
    'd',
    [COLUMNS.length, 2],
    ...COLUMNS.map(([name, oid, typmod]) =>
      msg([name === 'id' ? 1 : 0, 1], cstr(name), [oid, 4], [typmod, 4]),
    ),
  ),
  msg('B', [0x100000, 8], [785_000_000_000_000, 8], [700, 4]),
];
for (let g = 1; g <= total; g++) {
  const k = g % 4;
  if (k < 2) messages.push(msg('I', [REL, 4], 'N', tuple(row(g, 'NEW'))));
  else if (k === 2) messages.push(msg('U', [REL, 4], 'N', tuple(row(g, 'PAID'))));
  else {
    const key = COLUMNS.map((_, i) => (i === 0 ? String(g) : null));
    messages.push(msg('D', [REL, 4], 'K', tuple(key)));
  }
}

let bytes = 0;
let pack = new RecordPack();
const serde = { format: 'json' as const, tombstonesOnDelete: true };
const sink = {
  event: (event: ChangeEvent) => {
    packEvent(pack, event, serde);
    // Handed over at ~1000 KiB, like the publisher (the buffers are dropped here).
    if (pack.bytes >= 1000 * 1024) {
      bytes += pack.bytes;
      pack.finish();
      pack = new RecordPack();
    }
    return true;
  },
  record: () => true,
  unitEnd: () => undefined,
  watermark: () => undefined,
  signal: () => undefined,
  idle: () => undefined,
  fail: (err: Error) => {
    throw err;
  },
} as unknown as StreamSink;
const catalog = typeCatalogOf([]);

for (let round = 0; round < rounds; round++) {
  const stream = new PgChangeStream({} as ReplicationConnection, sink, {
    name: 'bench',
    database: 'tributary',
    prefix: 'bench',
    tables: new Map([['public.bench', meta]]),
    buildSchema: (m, relation) =>
      new TableSchema(m, relation.columns, catalog, DEFAULT_TYPE_MAPPING_OPTIONS, {
        prefix: 'bench',
      }),
    transactionMetadata: false,
    log: () => undefined,
  });
  const onData = (stream as unknown as { onData(d: object): void }).onData.bind(stream);
  bytes = 0;
  const c0 = process.cpuUsage();
  let lsn = 0x200000;
  for (const payload of messages) onData({ walStart: (lsn += 0x80), walEnd: 0, payload });
  const c = process.cpuUsage(c0);
  bytes += pack.bytes;
  const us = (c.user + c.system) / total;
  console.log(
    `round ${round + 1}: ${us.toFixed(2)} us CPU per change (${total} changes, ${(bytes / total).toFixed(0)} packed bytes/change)`,
  );
}
