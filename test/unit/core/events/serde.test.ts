import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ChangeEventError } from '../../../../core/errors/index.ts';
import {
  encodeKey,
  encodeValue,
  fromKafkaRecord,
  stringifyJson,
  toKafkaRecords,
  validateEnvelope,
  VERSION_HEADER,
} from '../../../../core/events/index.ts';
import type { ChangeEvent, EncodedRecord, JsonFormat } from '../../../../core/events/index.ts';
import { DELETE, INSERT, READ, TRUNCATE, UPDATE } from './sample-events.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../../../fixtures/events/', import.meta.url));

/** Compares bytes with a golden file; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: Buffer | null): void {
  const path = GOLDEN_DIR + name;
  const text = actual === null ? 'null' : actual.toString('utf8');
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, text + '\n');
  assert.equal(text, readFileSync(path, 'utf8').trimEnd(), `golden file ${name} differs`);
}

const cases: Array<[string, ChangeEvent]> = [
  ['insert', INSERT],
  ['update', UPDATE],
  ['delete', DELETE],
  ['read', READ],
];

for (const [name, event] of cases) {
  for (const format of ['json', 'json-schema'] as JsonFormat[]) {
    test(`golden ${name} (${format}): key and value bytes are pinned`, () => {
      golden(`${name}.${format}.key.json`, encodeKey(event, format));
      golden(`${name}.${format}.value.json`, encodeValue(event, format));
    });
  }
}

test('golden truncate (json): keyless, before/after null', () => {
  golden('truncate.json.value.json', encodeValue(TRUNCATE, 'json'));
});

test('a delete is followed by a tombstone with the same key and version header', () => {
  const records = toKafkaRecords(DELETE, { format: 'json' });
  assert.equal(records.length, 2);
  const [del, tomb] = records as [EncodedRecord, EncodedRecord];
  assert.notEqual(del.value, null);
  assert.equal(tomb.value, null);
  assert.deepEqual(tomb.key, del.key);
  assert.equal(tomb.headers[VERSION_HEADER], '23044300');
  assert.equal(toKafkaRecords(DELETE, { format: 'json', tombstonesOnDelete: false }).length, 1);
  assert.equal(toKafkaRecords(INSERT, { format: 'json' }).length, 1);
});

for (const format of ['json', 'json-schema'] as JsonFormat[]) {
  test(`round trip through Kafka records (${format}) keeps every field, int64 exact`, () => {
    for (const [, event] of cases) {
      const [rec] = toKafkaRecords(event, { format });
      const decoded = fromKafkaRecord(rec!);
      assert.equal(decoded.kind, 'change');
      if (decoded.kind !== 'change') return;
      assert.deepEqual(decoded.event.key, event.key);
      assert.deepEqual(decoded.event.value, event.value);
      assert.equal(decoded.event.version, event.version);
      assert.equal(decoded.event.topic, event.topic);
    }
  });
}

test('int64 beyond 2^53 survives as bigint (9223372036854775807)', () => {
  const [rec] = toKafkaRecords(INSERT, { format: 'json' });
  assert.match(rec!.value!.toString(), /"big":9223372036854775807,/);
  const decoded = fromKafkaRecord(rec!);
  assert.ok(decoded.kind === 'change');
  assert.equal(decoded.event.value.after?.big, 9223372036854775807n);
});

test('a tombstone decodes as a tombstone with its key and version', () => {
  const [, tomb] = toKafkaRecords(DELETE, { format: 'json-schema' });
  const decoded = fromKafkaRecord(tomb!);
  assert.deepEqual(decoded, {
    kind: 'tombstone',
    tombstone: { topic: 'shop.public.orders', key: { id: 1 }, version: 23044300n },
  });
});

function valueWith(patch: Record<string, unknown>, drop: string[] = []): Record<string, unknown> {
  const v: Record<string, unknown> = {
    ...JSON.parse(
      encodeValue(UPDATE, 'json')
        .toString()
        .replace(/"big":\d+/g, '"big":1'),
    ),
    ...patch,
  };
  for (const d of drop) delete v[d];
  return v;
}

test('a missing op is rejected with an error naming value.op', () => {
  assert.throws(
    () => validateEnvelope(valueWith({}, ['op'])),
    (err: unknown) =>
      err instanceof ChangeEventError &&
      err.code === 'CHANGE_EVENT_INVALID' &&
      /^value\.op: missing; expected one of c, u, d, r, t/.test(err.message),
  );
});

test('an unknown op is rejected with an error naming the value and the valid ops', () => {
  assert.throws(
    () => validateEnvelope(valueWith({ op: 'x' })),
    /value\.op: unknown op "x"; expected one of c, u, d, r, t/,
  );
  assert.throws(() => validateEnvelope(valueWith({ op: 7 })), /value\.op: unknown op 7/);
});

test('contract violations name the field', () => {
  assert.throws(
    () => validateEnvelope(valueWith({ op: 'c', after: null })),
    /value\.after: must be a row object for op "c"/,
  );
  assert.throws(
    () => validateEnvelope(valueWith({ op: 'd' })),
    /value\.after: must be null for op "d"/,
  );
  assert.throws(
    () => validateEnvelope(valueWith({ source: { connector: 'postgresql' } })),
    /value\.source\.version: must be a string/,
  );
  assert.throws(
    () => validateEnvelope(valueWith({ ts_ms: 'soon' })),
    /value\.ts_ms: must be an integer/,
  );
  assert.throws(
    () => validateEnvelope(valueWith({ transaction: { id: 5 } })),
    /value\.transaction\.id: must be a string/,
  );
  assert.throws(() => validateEnvelope([]), /value: must be a JSON object/);
});

test('decoding rejects bad records with the field: key, JSON, version header', () => {
  const [rec] = toKafkaRecords(INSERT, { format: 'json' });
  assert.throws(() => fromKafkaRecord({ ...rec!, key: null }), /key: missing/);
  assert.throws(
    () => fromKafkaRecord({ ...rec!, value: Buffer.from('{"op":') }),
    /value: not valid JSON/,
  );
  assert.throws(
    () => fromKafkaRecord({ ...rec!, headers: {} }),
    /headers\.tributary\.version: missing/,
  );
  assert.throws(
    () => fromKafkaRecord({ ...rec!, headers: { [VERSION_HEADER]: '-1' } }),
    /must be an unsigned 64-bit decimal/,
  );
  assert.throws(
    () => fromKafkaRecord({ ...rec!, headers: { [VERSION_HEADER]: '18446744073709551616' } }),
    /unsigned 64-bit/,
  );
});

test("the 'json-schema' form needs schemas and says so", () => {
  assert.throws(
    () => encodeValue(TRUNCATE, 'json-schema'),
    /schemas: required for the 'json-schema' format/,
  );
});

test('record bytes are the UTF-8 of the JSON text: non-ASCII, large values, many records', () => {
  const notes = ['plain', 'ünïcödé', '日本語 and emoji 🎉', 'x'.repeat(300_000), 'y'.repeat(1000)];
  // More than a megabyte in total, so the encoder's buffer slab is renewed on the way.
  for (let i = 0; i < 1500; i++) {
    const note = notes[i % notes.length]! + i;
    const event: ChangeEvent = {
      ...INSERT,
      key: { id: i, tag: note.slice(0, 20) },
      value: { ...INSERT.value, after: { ...INSERT.value.after, note } },
    };
    const [r] = toKafkaRecords(event, { format: 'json' });
    assert.ok(r!.key.equals(Buffer.from(stringifyJson(event.key))));
    const text = r!.value!.toString('utf8');
    assert.ok(r!.value!.equals(Buffer.from(text)));
    assert.equal(JSON.parse(text).after.note, note);
  }
});
