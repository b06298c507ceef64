// Compares candidate Parquet writers on the same rows (the measurement behind
// docs/decisions/0004-parquet-writer.md). The candidates are not project dependencies: install
// them in a scratch directory and run the script from there:
//   mkdir /tmp/pq && cd /tmp/pq && npm init -y && npm i hyparquet-writer@0.17.0 \
//     @dsnp/parquetjs@1.9.3 parquetjs-lite@0.8.7 parquet-wasm@0.8.0 apache-arrow@21.2.0 \
//     @duckdb/node-api@1.5.6-r.1
//   node /work/main/bench/s3-parquet/compare-libraries.mjs <library> [rows]
// Run one library per process so peak RSS belongs to that library alone. Each run writes
// snappy-compressed files of ~500-byte rows, then DuckDB reads the file back and checks the
// row count, the column types and a checksum of every value.
import { writeFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const require = createRequire(join(process.cwd(), 'x.js'));
const lib = process.argv[2];
const ROWS = Number(process.argv[3] ?? 200_000);
const file = `/tmp/pq-compare-${lib.replace(/\W/g, '_')}.parquet`;

function makeRows(n) {
  const rows = [];
  for (let i = 0; i < n; i++)
    rows.push({
      id: BigInt(i),
      name: `customer-${i}-${'x'.repeat(20)}`,
      email: `user${i}@example.com`,
      note: `note ${i} `.padEnd(380, 'abcdefghij'),
      amount: (i % 100000) / 100,
      active: i % 3 === 0,
      updated: 1767225600000 + i,
    });
  return rows;
}
const rows = makeRows(ROWS);
const bytesPerRow = Buffer.byteLength(
  JSON.stringify(rows[1], (_, v) => (typeof v === 'bigint' ? Number(v) : v)),
);
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const rssBefore = process.memoryUsage().rss;
const t0 = performance.now();

if (lib.startsWith('hyparquet-writer')) {
  // hyparquet-writer (built-in JS snappy), +hysnappy (wasm snappy), +zstd (@bokuweb/zstd-wasm)
  const { ByteWriter, parquetWrite } = await import(require.resolve('hyparquet-writer'));
  const compressors = {};
  let codec = 'SNAPPY';
  if (lib.endsWith('+hysnappy'))
    compressors.SNAPPY = (await import(require.resolve('hysnappy'))).snappyCompress;
  if (lib.endsWith('+zstd')) {
    const zstd = await import(require.resolve('@bokuweb/zstd-wasm'));
    await zstd.init();
    compressors.ZSTD = (b) => zstd.compress(b, 3);
    codec = 'ZSTD';
  }
  const writer = new ByteWriter();
  const col = (k) => rows.map((r) => r[k]);
  parquetWrite({
    writer,
    columnData: [
      { name: 'id', data: col('id') },
      { name: 'name', data: col('name') },
      { name: 'email', data: col('email') },
      { name: 'note', data: col('note') },
      { name: 'amount', data: col('amount') },
      { name: 'active', data: col('active') },
      { name: 'updated', data: col('updated').map((v) => BigInt(v)) },
    ],
    schema: [
      { name: 'root', num_children: 7 },
      { name: 'id', type: 'INT64', repetition_type: 'REQUIRED' },
      { name: 'name', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'email', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'note', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      { name: 'amount', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'active', type: 'BOOLEAN', repetition_type: 'OPTIONAL' },
      {
        name: 'updated',
        type: 'INT64',
        repetition_type: 'OPTIONAL',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
      },
    ],
    codec,
    compressors,
    statistics: process.env.STATS !== '0',
    rowGroupSize: 50_000,
  });
  writeFileSync(file, new Uint8Array(writer.getBuffer()));
} else if (lib === '@dsnp/parquetjs' || lib === 'parquetjs-lite') {
  const m = require(lib);
  const { ParquetSchema, ParquetWriter } = m.default ?? m;
  const schema = new ParquetSchema({
    id: { type: 'INT64', compression: 'SNAPPY' },
    name: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    email: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    note: { type: 'UTF8', optional: true, compression: 'SNAPPY' },
    amount: { type: 'DOUBLE', optional: true, compression: 'SNAPPY' },
    active: { type: 'BOOLEAN', optional: true, compression: 'SNAPPY' },
    updated: { type: 'TIMESTAMP_MILLIS', optional: true, compression: 'SNAPPY' },
  });
  const w = await ParquetWriter.openFile(schema, file, { rowGroupSize: 50_000 });
  for (const r of rows)
    await w.appendRow({
      ...r,
      id: lib === 'parquetjs-lite' ? Number(r.id) : r.id,
      updated: new Date(r.updated),
    });
  await w.close();
} else if (lib === 'parquet-wasm') {
  const arrow = require('apache-arrow');
  const pw = require('parquet-wasm');
  const col = (k) => rows.map((r) => r[k]);
  const table = arrow.tableFromArrays({
    id: BigInt64Array.from(col('id')),
    name: arrow.vectorFromArray(col('name'), new arrow.Utf8()),
    email: arrow.vectorFromArray(col('email'), new arrow.Utf8()),
    note: arrow.vectorFromArray(col('note'), new arrow.Utf8()),
    amount: Float64Array.from(col('amount')),
    active: arrow.vectorFromArray(col('active'), new arrow.Bool()),
    updated: arrow.vectorFromArray(col('updated'), new arrow.TimestampMillisecond('UTC')),
  });
  const wasmTable = pw.Table.fromIPCStream(arrow.tableToIPC(table, 'stream'));
  const props = new pw.WriterPropertiesBuilder()
    .setCompression(pw.Compression.SNAPPY)
    .setMaxRowGroupSize(50_000)
    .build();
  writeFileSync(file, pw.writeParquet(wasmTable, props));
} else throw new Error(`unknown library ${lib}`);

const ms = performance.now() - t0;
clearInterval(sampler);
peak = Math.max(peak, process.memoryUsage().rss);

// Independent reader.
const { DuckDBInstance } = await import(require.resolve('@duckdb/node-api'));
const db = await DuckDBInstance.create(':memory:');
const conn = await db.connect();
const types = (
  await (await conn.run(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRowObjects()
).map((r) => `${r.column_name}:${r.column_type}`);
const agg = (
  await (
    await conn.run(
      `SELECT count(*)::BIGINT n, sum(id)::BIGINT s, sum(length(note))::BIGINT ln, sum(amount)::DOUBLE a, count(*) FILTER (WHERE active)::BIGINT act, max(epoch_ms(updated::TIMESTAMP))::BIGINT up, max(name) mx FROM read_parquet('${file}')`,
    )
  ).getRowObjects()
)[0];
const expect = {
  n: BigInt(ROWS),
  s: BigInt((ROWS * (ROWS - 1)) / 2),
  ln: BigInt(rows.reduce((a, r) => a + r.note.length, 0)),
  act: BigInt(rows.filter((r) => r.active).length),
  up: BigInt(1767225600000 + ROWS - 1),
};
const ok =
  agg.n === expect.n &&
  agg.s === expect.s &&
  agg.ln === expect.ln &&
  agg.act === expect.act &&
  agg.up === expect.up &&
  Math.abs(agg.a - rows.reduce((a, r) => a + r.amount, 0)) < 1e-3;
console.log(
  JSON.stringify({
    lib,
    rows: ROWS,
    bytesPerRow,
    ms: Math.round(ms),
    rowsPerSec: Math.round((ROWS / ms) * 1000),
    peakRssMB: Math.round(peak / 2 ** 20),
    rssGrowthMB: Math.round((peak - rssBefore) / 2 ** 20),
    fileMB: +(statSync(file).size / 2 ** 20).toFixed(1),
    duckdbOk: ok,
    types: types.join(' '),
  }),
);
