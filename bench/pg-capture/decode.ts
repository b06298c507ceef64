// The capture thread's per-change work without PostgreSQL or Kafka (not a test): pgoutput
// messages of the pg-capture bench's table are decoded by PgChangeStream, written as change
// event JSON and packed (packEvent into RecordPacks, as the publisher does). Prints the CPU
// time per change of several rounds, so a change to this path can be measured on its own,
// without the noise of the whole pipeline.
//
//   node --import tsx bench/pg-capture/decode.ts [--changes 500000] [--rounds 7]
import { packEvent } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import { RecordPack } from '../../core/kafka/index.ts';
import { PgChangeStream } from '../../capture/postgres/stream.ts';
import type { StreamContext } from '../../capture/postgres/stream.ts';
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

const args = process.argv.slice(2);
const arg = (name: string, dflt: number) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt;
const CHANGES = arg('--changes', 500_000);
const ROUNDS = arg('--rounds', 7);

// The table of bench/pg-capture/run.ts.
const COLUMNS: Array<[string, number, number]> = [
  ['id', PG_OID.INT8, -1],
  ['account', PG_OID.INT4, -1],
  ['status', PG_OID.TEXT, -1],
  ['amount', PG_OID.NUMERIC, ((12 << 16) | 2) + 4],
  ['note', PG_OID.TEXT, -1],
  ['updated_at', PG_OID.TIMESTAMPTZ, -1],
];
const RELATION_ID = 16500;
const meta: TableMeta = {
  schema: 'public',
  table: 'bench',
  oid: RELATION_ID,
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
const catalog = typeCatalogOf([]);
let pack = new RecordPack();
const options = { format: 'json' as const, tombstonesOnDelete: true };
const sink = {
  event: (event: ChangeEvent) => {
    packEvent(pack, event, options);
    if (pack.bytes > 1000 * 1024) {
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
const ctx: StreamContext = {
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
};
const stream = new PgChangeStream({} as ReplicationConnection, sink, ctx);
const feed = (walStart: number, payload: Buffer): void =>
  (stream as unknown as { onData(d: object): void }).onData({ walStart, walEnd: 0, payload });

feed(
  0x1000,
  msg(
    'R',
    [RELATION_ID, 4],
    cstr('public'),
    cstr('bench'),
    'd',
    [COLUMNS.length, 2],
    ...COLUMNS.map(([name, oid, typmod]) =>
      msg([name === 'id' ? 1 : 0, 1], cstr(name), [oid, 4], [typmod, 4]),
    ),
  ),
);
// Inserts, updates and deletes as in the bench's workload, 10 per transaction.
const note = 'x'.repeat(170);
const messages: Buffer[] = [];
for (let i = 0; i < 10_000; i++) {
  const row = [
    String(1_000_000 + i),
    String(i % 1000),
    i % 2 ? 'PAID' : 'NEW',
    `${(i % 10000) / 100}`,
    note,
    `2026-11-26 23:${String(Math.floor(i / 10) % 60).padStart(2, '0')}:55.123456+00`, // one per transaction
  ];
  const kind = i % 4;
  messages.push(
    kind < 2
      ? msg('I', [RELATION_ID, 4], 'N', tuple(row))
      : kind === 2
        ? msg('U', [RELATION_ID, 4], 'N', tuple(row))
        : msg('D', [RELATION_ID, 4], 'K', tuple([row[0]!, null, null, null, null, null])),
  );
}

let lsn = 0x10_0000_0000;
function run(changes: number): void {
  for (let n = 0; n < changes; n += 10) {
    const commitLsn = lsn + 0x1000;
    feed(lsn, msg('B', [commitLsn, 8], [785_000_000_000_000, 8], [n, 4]));
    for (let k = 0; k < 10; k++) feed((lsn += 0x40), messages[(n + k) % messages.length]!);
    feed(commitLsn, msg('C', [0, 1], [commitLsn, 8], [commitLsn + 8, 8], [0, 8]));
    lsn = commitLsn + 0x40;
  }
}

run(50_000); // warm-up
const results: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const cpu0 = process.cpuUsage();
  run(CHANGES);
  const cpu = process.cpuUsage(cpu0);
  results.push(((cpu.user + cpu.system) * 1000) / CHANGES);
}
const sorted = [...results].sort((a, b) => a - b);
console.log(
  `decode + JSON + pack: ${results.map((r) => r.toFixed(0)).join(' ')} ns CPU per change; median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)}, best ${sorted[0]!.toFixed(0)}`,
);
