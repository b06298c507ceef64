// The S3 Parquet sink's own Parquet encoder read by DuckDB (the independent reader): every
// value of files with several row groups and pages, nulls in runs and scattered, dictionary
// columns, non-ASCII text, snappy and zstd; and filtered queries, which DuckDB answers by
// skipping row groups on the footer statistics, so a wrong min/max would drop rows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SchemaElement } from 'hyparquet';
import { ParquetFileBuilder, compressorFor } from '../../../sinks/s3-parquet/file-builder.ts';
import { decimalText } from '../../../sinks/s3-parquet/schema.ts';
import { duckdb } from './s3-parquet-helpers.ts';

const SCHEMA: SchemaElement[] = [
  { name: 'id', type: 'INT64', repetition_type: 'REQUIRED' },
  { name: 'i', type: 'INT64', repetition_type: 'OPTIONAL' },
  { name: 'n', type: 'INT32', repetition_type: 'OPTIONAL' },
  { name: 'd', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
  { name: 'b', type: 'BOOLEAN', repetition_type: 'OPTIONAL' },
  { name: 't', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'note', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'op', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'REQUIRED' },
  { name: 'v', type: 'INT64', converted_type: 'UINT_64', repetition_type: 'REQUIRED' },
  {
    name: 'w',
    type: 'FIXED_LEN_BYTE_ARRAY',
    type_length: 16,
    converted_type: 'DECIMAL',
    precision: 30,
    scale: 4,
    logical_type: { type: 'DECIMAL', precision: 30, scale: 4 },
    repetition_type: 'OPTIONAL',
  },
  // Null in every row: pages without values.
  { name: 'z', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
];
const TEXTS = ['alpha', 'Zürich', 'émile', '日本', '😀', 'zz', '', 'b'];
const ROWS = 12_000;

interface Row {
  id: number;
  i: number | null;
  n: number | null;
  d: number | null;
  b: boolean | null;
  t: string | null;
  note: string | null;
  op: string;
  v: bigint;
  w: bigint | null;
  z: null;
}

function makeRows(): Row[] {
  let s = 3;
  const r = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  return Array.from({ length: ROWS }, (_, id) => {
    const gap = (id >= 2_000 && id < 2_500) || r() < 0.05;
    return {
      id,
      // Increasing with the row, so row groups have disjoint ranges and filters can skip them.
      i: gap ? null : id * 1_000_000 + Math.floor(r() * 1000) - 2 ** 40,
      n: gap ? null : Math.floor(r() * 2 ** 31) * (r() < 0.5 ? -1 : 1),
      d: gap ? null : id / 7 - 500,
      b: gap ? null : r() < 0.3,
      t: gap ? null : TEXTS[(id >> 10) % TEXTS.length]!,
      note: gap ? null : `${'note '.repeat(60)}#${id}`,
      op: ['c', 'u', 'd', 'r'][(id >> 11) % 4]!,
      v: id === 7 ? (1n << 64n) - 2n : BigInt(1_000_000 + id),
      // 16-byte decimals, negative ones too (two's complement).
      w: gap ? null : (BigInt(id) * 10n ** 25n + 12345n) * (id % 2 ? -1n : 1n),
      z: null,
    };
  });
}

describe('s3-parquet encoder read by DuckDB', () => {
  for (const codec of ['snappy', 'zstd'] as const) {
    it(`${codec}: every value, and filtered counts that skip row groups on the statistics`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 's3p-encoder-'));
      try {
        const rows = makeRows();
        const b = new ParquetFileBuilder(
          SCHEMA,
          { codec, compress: await compressorFor(codec), rowGroupRows: 2_500 },
          new Set(['op', 't']),
        );
        for (const row of rows) b.add(SCHEMA.map((e) => row[e.name as keyof Row]));
        const file = join(dir, 'f.parquet');
        writeFileSync(file, b.finish({ k: 'v' }));
        const src = `read_parquet('${file}')`;

        const types = await duckdb(`DESCRIBE SELECT * FROM ${src}`);
        assert.deepEqual(
          types.map((t) => `${String(t.column_name)}:${String(t.column_type)}`),
          [
            'id:BIGINT',
            'i:BIGINT',
            'n:INTEGER',
            'd:DOUBLE',
            'b:BOOLEAN',
            't:VARCHAR',
            'note:VARCHAR',
            'op:VARCHAR',
            'v:UBIGINT',
            'w:DECIMAL(30,4)',
            'z:VARCHAR',
          ],
        );
        const got = await duckdb(
          `SELECT id, i::VARCHAR AS i, n, d, b, t, note, op, v::VARCHAR AS v, w::VARCHAR AS w, z FROM ${src} ORDER BY id`,
        );
        assert.equal(got.length, rows.length);
        for (const row of rows) {
          const g = got[row.id]!;
          assert.deepEqual(
            { ...g, id: Number(g.id) },
            {
              ...row,
              i: row.i === null ? null : String(row.i),
              v: String(BigInt.asUintN(64, row.v)),
              w: row.w === null ? null : decimalText(row.w, 4),
            },
            `row ${row.id}`,
          );
        }

        const count = async (where: string) =>
          Number((await duckdb(`SELECT count(*) AS c FROM ${src} WHERE ${where}`))[0]!.c);
        const expect = (f: (r: Row) => boolean) => rows.filter(f).length;
        const checks: Array<[string, (r: Row) => boolean]> = [
          [`i > ${3_000 * 1_000_000 - 2 ** 40}`, (r) => r.i !== null && r.i > 3_000e6 - 2 ** 40],
          [`i < ${9_000 * 1_000_000 - 2 ** 40}`, (r) => r.i !== null && r.i < 9_000e6 - 2 ** 40],
          [
            `i BETWEEN ${5_000e6 - 2 ** 40} AND ${5_001e6 - 2 ** 40}`,
            (r) => r.i !== null && r.i >= 5_000e6 - 2 ** 40 && r.i <= 5_001e6 - 2 ** 40,
          ],
          ['n < 0', (r) => r.n !== null && r.n < 0],
          ['d >= 1000.5', (r) => r.d !== null && r.d >= 1000.5],
          ['d < -400', (r) => r.d !== null && r.d < -400],
          ['b', (r) => r.b === true],
          ["t = 'Zürich'", (r) => r.t === 'Zürich'],
          [
            "t > 'z'",
            (r) => r.t !== null && Buffer.compare(Buffer.from(r.t), Buffer.from('z')) > 0,
          ],
          ["t = '😀'", (r) => r.t === '😀'],
          ["op = 'u'", (r) => r.op === 'u'],
          ["op IN ('c', 'r')", (r) => r.op === 'c' || r.op === 'r'],
          ['v >= 1005000', (r) => BigInt.asUintN(64, r.v) >= 1_005_000n],
          [
            'v > 18000000000000000000',
            (r) => BigInt.asUintN(64, r.v) > 18_000_000_000_000_000_000n,
          ],
          ['i IS NULL', (r) => r.i === null],
          ["note LIKE '%#11999'", (r) => r.note?.endsWith('#11999') ?? false],
        ];
        for (const [where, f] of checks) assert.equal(await count(where), expect(f), where);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
