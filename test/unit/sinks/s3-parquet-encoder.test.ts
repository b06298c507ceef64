// The S3 Parquet sink's own Parquet encoder (file-builder.ts, column.ts, thrift.ts), read back
// by hyparquet (an independent reader): every value, nulls in runs and scattered, several row
// groups and pages, dictionary columns, and the footer statistics against the values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { SchemaElement } from 'hyparquet';
import { ParquetFileBuilder, compressorFor } from '../../../sinks/s3-parquet/file-builder.ts';
import type { Compression } from '../../../sinks/s3-parquet/file-builder.ts';

const opt = (e: Omit<SchemaElement, 'repetition_type'>): SchemaElement => ({
  ...e,
  repetition_type: 'OPTIONAL',
});
const req = (e: Omit<SchemaElement, 'repetition_type'>): SchemaElement => ({
  ...e,
  repetition_type: 'REQUIRED',
});

const SCHEMA: SchemaElement[] = [
  opt({ name: 'flag', type: 'BOOLEAN' }),
  opt({ name: 'i32', type: 'INT32' }),
  opt({ name: 'i64', type: 'INT64' }),
  opt({ name: 'f64', type: 'DOUBLE' }),
  opt({ name: 'f32', type: 'FLOAT' }),
  opt({ name: 'text', type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  opt({ name: 'long', type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  opt({ name: 'raw', type: 'BYTE_ARRAY' }),
  opt({ name: 'maybe_dict', type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  req({ name: 'op', type: 'BYTE_ARRAY', converted_type: 'UTF8' }),
  req({ name: 'version', type: 'INT64', converted_type: 'UINT_64' }),
];
const DICT = new Set(['maybe_dict', 'op']);
const TEXTS = [
  'a',
  'zeta',
  'émile',
  'Zürich',
  '日本語',
  '😀 smile',
  'plain ascii',
  '',
  'ÿ',
  '\u{e000}',
];

function rand(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** Rows with nulls in runs (rows 100..299) and scattered, every kind of value. */
function makeRows(n: number): unknown[][] {
  const r = rand(7);
  const out: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    const nullRun = i >= 100 && i < 300;
    const scattered = () => nullRun || r() < 0.1;
    const big = r() < 0.3;
    out.push([
      scattered() ? null : r() < 0.5,
      scattered() ? null : Math.floor(r() * 2 ** 32) - 2 ** 31,
      scattered()
        ? null
        : big
          ? BigInt(Math.floor(r() * 2 ** 50)) * 4096n * (r() < 0.5 ? -1n : 1n)
          : Math.floor(r() * 2 ** 53) - 2 ** 52,
      scattered() ? null : ([NaN, -0, 0, Infinity, -Infinity][i % 50] ?? (r() - 0.5) * 1e6),
      scattered() ? null : (r() - 0.5) * 1000,
      scattered() ? null : TEXTS[Math.floor(r() * TEXTS.length)]!,
      scattered() ? null : `${'long text '.repeat(40)}${i}`,
      scattered() ? null : Uint8Array.from([i & 0xff, 0, 255, (i >> 8) & 0xff]),
      i % 7 === 0 ? null : ['x', 'y', 'zz'][i % 3],
      ['c', 'u', 'd'][Math.floor(i / 1000) % 3],
      i === 5 ? (1n << 64n) - 1n : BigInt(1_000_000 + i),
    ]);
  }
  return out;
}

/** The value as hyparquet returns it. */
function expected(col: number, v: unknown): unknown {
  if (v === null) return undefined;
  if (col === 2 && typeof v === 'number') return BigInt(v);
  if (col === 4) return Math.fround(v as number);
  return v;
}

/** The file as an ArrayBuffer of its own (what hyparquet reads). */
function arrayBuffer(file: Uint8Array): ArrayBuffer {
  return Uint8Array.prototype.slice.call(file).buffer as ArrayBuffer;
}

async function build(rows: unknown[][], codec: Compression, rowGroupRows: number) {
  const b = new ParquetFileBuilder(
    SCHEMA,
    { codec, compress: await compressorFor(codec), rowGroupRows },
    DICT,
  );
  for (const row of rows) b.add(row);
  return b.finish({ 'tributary-end-offset': String(rows.length - 1) });
}

for (const codec of ['snappy', 'zstd'] as const) {
  test(`${codec}: every value reads back, over row groups, pages and null runs`, async () => {
    // (zstd-wasm initialised before the file is built: a second init() in between broke reads.)
    const z = await import('@bokuweb/zstd-wasm');
    await z.init();
    const rows = makeRows(9_000);
    const file = await build(rows, codec, 4_000);
    const buf = arrayBuffer(file);
    const meta = parquetMetadata(buf);
    assert.equal(meta.row_groups.length, 3);
    assert.equal(meta.num_rows, 9_000n);
    assert.deepEqual(meta.key_value_metadata, [{ key: 'tributary-end-offset', value: '8999' }]);
    // The long text column of a 4,000-row group is ~1.6 MB: two data pages.
    const read = await parquetReadObjects({
      file: buf,
      utf8: false,
      compressors: { ZSTD: (input: Uint8Array) => z.decompress(input) },
    });
    assert.equal(read.length, rows.length);
    for (let i = 0; i < rows.length; i++) {
      for (let c = 0; c < SCHEMA.length; c++) {
        const want = expected(c, rows[i]![c]);
        const got = read[i]![SCHEMA[c]!.name];
        if (c === 7 && want !== undefined)
          assert.deepEqual([...(got as Uint8Array)], [...(want as Uint8Array)], `row ${i} raw`);
        else if (c === 10) assert.equal(got, want, `row ${i} version`);
        else assert.deepEqual(got ?? undefined, want, `row ${i} column ${SCHEMA[c]!.name}`);
      }
    }
  });
}

test('statistics: null counts, and min/max equal to the values of each row group', async () => {
  const rows = makeRows(9_000);
  const file = await build(rows, 'snappy', 4_000);
  const meta = parquetMetadata(arrayBuffer(file));
  const utf8 = (s: string) => Buffer.from(s, 'utf8');
  meta.row_groups.forEach((g, gi) => {
    const group = rows.slice(gi * 4_000, (gi + 1) * 4_000);
    g.columns.forEach((c, ci) => {
      const name = SCHEMA[ci]!.name;
      const values = group.map((r) => r[ci]).filter((v) => v !== null);
      const s = c.meta_data!.statistics!;
      assert.equal(s.null_count, BigInt(group.length - values.length), `${name} null count`);
      let min: unknown;
      let max: unknown;
      if (name === 'raw' || name === 'long') {
        // Binary and long text carry no bounds.
        assert.equal(s.min_value, undefined, name);
        assert.equal(s.max_value, undefined, name);
        return;
      }
      if (name === 'text' || name === 'maybe_dict' || name === 'op') {
        const sorted = (values as string[]).sort((a, b) => Buffer.compare(utf8(a), utf8(b)));
        [min, max] = [sorted[0], sorted[sorted.length - 1]];
      } else if (name === 'version') {
        const u = (values as bigint[]).map((v) => BigInt.asUintN(64, v));
        [min, max] = [u.reduce((a, b) => (b < a ? b : a)), u.reduce((a, b) => (b > a ? b : a))];
      } else {
        const nums = values
          .map((v) => (name === 'f32' ? Math.fround(v as number) : v))
          .filter((v) => !(typeof v === 'number' && Number.isNaN(v)));
        min = nums.reduce((a, b) => ((b as number) < (a as number) ? b : a));
        max = nums.reduce((a, b) => ((b as number) > (a as number) ? b : a));
        if (name === 'i64') [min, max] = [BigInt(min as number), BigInt(max as number)];
      }
      const read = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString() : v);
      assert.deepEqual(read(s.min_value), min, `${name} min of group ${gi}`);
      assert.deepEqual(read(s.max_value), max, `${name} max of group ${gi}`);
    });
  });
});

test('a value its column cannot hold is refused and adds nothing to the file', async () => {
  const b = new ParquetFileBuilder(
    SCHEMA,
    { codec: 'snappy', compress: await compressorFor('snappy'), rowGroupRows: 10 },
    DICT,
  );
  const rows = makeRows(3);
  b.add(rows[0]!);
  const bad: Array<[number, unknown]> = [
    [1, 2 ** 31],
    [2, 1n << 63n],
    [2, 1.5],
    [3, 'text'],
    [5, 12],
    [9, null],
    [10, -(1n << 64n)],
  ];
  for (const [col, v] of bad) {
    const row = [...rows[1]!];
    row[col] = v;
    assert.throws(() => b.add(row), Error, `column ${SCHEMA[col]!.name} value ${String(v)}`);
    assert.equal(b.rows, 1);
  }
  b.add(rows[2]!);
  const file = b.finish({});
  const read = await parquetReadObjects({
    file: arrayBuffer(file),
  });
  assert.deepEqual(
    read.map((r) => r.i32),
    [rows[0]![1], rows[2]![1]].map((v) => v ?? null),
  );
});
