import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, stringifyJson } from '../../../../core/events/json.ts';

test('integers beyond 2^53 are parsed as bigint and written back as bare digits', () => {
  const text =
    '{"a":9223372036854775807,"b":-9007199254740993,"c":9007199254740991,"d":1.5e300,"e":[18446744073709551615]}';
  const v = parseJson(text) as Record<string, unknown>;
  assert.equal(v.a, 9223372036854775807n);
  assert.equal(v.b, -9007199254740993n);
  assert.equal(v.c, 9007199254740991); // still safe: a number
  assert.equal(v.d, 1.5e300);
  assert.deepEqual(v.e, [18446744073709551615n]);
  assert.equal(stringifyJson(v), text.replace('1.5e300', '1.5e+300'));
});

test('strings that look like numbers or markers are left alone', () => {
  const v = {
    s: '12345678901234567890',
    t: 'x\u0000bigint:5',
    u: 'quote " and \\ backslash',
    n: null,
  };
  const text = stringifyJson(v);
  assert.deepEqual(parseJson(text), v);
  assert.deepEqual(parseJson(text), JSON.parse(text));
});

test('the lossless parser agrees with JSON.parse on ordinary documents', () => {
  const doc = {
    a: [1, 2.5, -3e-7, true, false, null, 'ü\n\t"', { nested: { deep: [[]] } }],
    b: {},
    big: 0,
  };
  // An integer literal beyond 2^53 written into the text (a JS number literal would round).
  const text = JSON.stringify(doc).replace('"big":0', '"big":12345678901234567');
  const parsed = parseJson(text) as Record<string, unknown>;
  assert.deepEqual({ ...parsed, big: undefined }, { ...JSON.parse(text), big: undefined });
  assert.equal(parsed.big, 12345678901234567n);
});

test('malformed JSON with long digit runs is rejected with a position', () => {
  assert.throws(() => parseJson('{"a": 12345678901234567890,}'), /invalid JSON at position \d+/);
  assert.throws(() => parseJson('[12345678901234567890'), /invalid JSON/);
  assert.throws(() => parseJson('12345678901234567890 x'), /trailing characters/);
});

test('stringifyFlat equals stringifyJson for rows with top-level and nested bigints', async () => {
  const { stringifyFlat } = await import('../../../../core/events/json.ts');
  const rows: Array<Record<string, unknown> | null> = [
    null,
    { a: 1, b: 'x"y', c: null, d: true },
    { a: 9223372036854775807n, b: [1n, 2], c: { scale: 2, value: 'AQ==' }, u: undefined },
    { arr: [18446744073709551615n], s: 'é' },
  ];
  for (const r of rows) assert.equal(stringifyFlat(r), stringifyJson(r));
});

test('numbers of any length parse as JSON.parse reads them (no window on the token)', () => {
  const long = `0.${'3'.repeat(500)}`;
  const text = `{"a":${long},"b":${'9'.repeat(450)},"c":1${'0'.repeat(30)}e-30}`;
  const v = parseJson(text) as Record<string, unknown>;
  assert.equal(v.a, JSON.parse(long));
  assert.equal(v.b, BigInt('9'.repeat(450)));
  assert.equal(v.c, 1);
});
