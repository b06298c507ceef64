// The sinks' per-row fast paths give exactly what the plain forms they replaced give: key
// identities (canonical JSON of the sorted key) and ClickHouse's JSONEachRow rows.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringifyJson } from '../../../core/events/index.ts';
import type { Row, RowKey } from '../../../core/events/index.ts';
import { clickhouseRow, encodeValue } from '../../../sinks/clickhouse/sink.ts';
import type { KeyedWrite } from '../../../sinks/runtime/sink.ts';
import { keyIdentity } from '../../../sinks/runtime/sink.ts';

/** The key identity as first written: sorted copy, then stringifyJson. */
function plainIdentity(key: RowKey): string {
  return stringifyJson(
    Object.fromEntries(Object.entries(key).sort(([a], [b]) => (a < b ? -1 : 1))),
  );
}

/** The ClickHouse row as first built: the row then the key spread, each value encoded. */
function plainRow(w: KeyedWrite, types: Map<string, string>): string {
  const row: Record<string, unknown> = {};
  for (const [c, v] of Object.entries({ ...w.row, ...w.key }))
    row[c] = encodeValue(v, types.get(c));
  row.__version = w.version.toString();
  row.__deleted = w.row === null ? 1 : 0;
  return JSON.stringify(row);
}

function write(key: RowKey, row: Row | null, version = 7n): KeyedWrite {
  return { topic: 't', key, keyId: keyIdentity(key), version, row, unavailable: [], index: 0 };
}

describe('sink fast paths', () => {
  it('key identities equal the sorted canonical JSON (order, numeric names, bigints, nesting)', () => {
    const keys: RowKey[] = [
      { id: 1 },
      { id: 'x"\\y' },
      { a: 1, b: 'two' },
      { b: 'two', a: 1 },
      { tenant: 3, id: 9007199254740993n },
      { id: 2n ** 70n },
      { '10': 1, '9': 2, z: 3 },
      { '1': 'a', b: 2 },
      { b: { n: 2n ** 64n, m: [1, 'x'] }, a: null },
      { a: { n: [1n, 2] } },
      { é: 1, e: 2 },
    ];
    for (const k of keys)
      assert.equal(keyIdentity(k), plainIdentity(k), JSON.stringify(Object.keys(k)));
  });

  it('ClickHouse rows equal the spread-and-encode form, Float columns with 17 digits', () => {
    const types = new Map([
      ['id', 'Int64'],
      ['price', 'Nullable(Float64)'],
      ['ratio', 'Float32'],
      ['note', 'Nullable(String)'],
      ['big', 'Nullable(String)'],
    ]);
    const floats = new Set([...types].filter(([, t]) => t.includes('Float')).map(([c]) => c));
    const writes = [
      write({ id: 1 }, { id: 1, price: 3.47, ratio: 2, note: 'a"b', big: 2n ** 70n }),
      write({ id: 2 }, { price: 0.1, note: 3.47, doc: { n: 2n ** 64n, l: [1, 2.5] }, flag: true }),
      write({ id: 3 }, { id: 999, price: null, ratio: 1e21, note: null }), // key wins over row
      write({ id: 4 }, null, 2n ** 63n), // a delete: key columns only
      write({ tenant: 'x', id: 5n }, { x: -0.5, __version: 'mine', __deleted: 'mine' }),
      write({ id: 6 }, { price: Number.NaN, ratio: Number.POSITIVE_INFINITY }),
    ];
    for (const w of writes)
      assert.equal(JSON.stringify(clickhouseRow(w, floats)), plainRow(w, types));
    assert.match(JSON.stringify(clickhouseRow(writes[0]!, floats)), /"price":"3.4700000000000002"/);
  });
});
