// Type mapping against a real PostgreSQL: one column per type (plus array/enum/domain variants),
// rows with typical values, edge values and NULLs, read back as `col::text` (the type output
// function, which is what pgoutput protocol 1 sends) with the OID/typmod from pg_attribute, and
// converted. The row JSON and the schemas are pinned by golden files (test/fixtures/capture/
// postgres/types/); UPDATE_GOLDEN=1 rewrites them. A pgoutput slot on the same table checks that
// the replication stream carries byte-identical text and the same OIDs/typmods.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { canonicalSchema, stringifyJson } from '../../../../core/events/index.ts';
import type { ConnectSchema } from '../../../../core/events/index.ts';
import {
  converterFor,
  DEFAULT_TYPE_MAPPING_OPTIONS,
  loadTypeCatalog,
  PG_BUILTIN_ARRAYS,
  PG_OID,
  PgValueConversionError,
} from '../../../../capture/postgres/types.ts';
import type {
  PgColumnType,
  PgTypeCatalog,
  TypeMappingOptions,
} from '../../../../capture/postgres/types.ts';
import { ensureServices, uniqueName } from '../../helpers.ts';

const PG = {
  host: '127.0.0.1',
  port: 5432,
  database: 'tributary',
  user: 'tributary',
  password: 'tributary',
};
const GOLDEN_DIR = fileURLToPath(
  new URL('../../../fixtures/capture/postgres/types/', import.meta.url),
);

/** Compares text with a golden file; UPDATE_GOLDEN=1 rewrites the file instead. */
function golden(name: string, actual: string): void {
  const path = GOLDEN_DIR + name;
  if (process.env.UPDATE_GOLDEN === '1')
    writeFileSync(path, actual.endsWith('\n') ? actual : actual + '\n');
  assert.equal(
    actual.trimEnd(),
    readFileSync(path, 'utf8').trimEnd(),
    `golden file ${name} differs`,
  );
}

const base = uniqueName('types').replace(/-/g, '_');
const TABLE = base;
const MOOD = `${base}_mood`;
const PRICE = `${base}_price`;
const POSINT = `${base}_posint`;
const SLOT = `${base}_slot`;
const PUBLICATION = `${base}_pub`;

// Column name → SQL type. Names are stable (they appear in the golden files); types of the
// unique enum/domain are substituted.
const COLUMNS: Array<[string, string]> = [
  ['id', 'int4 PRIMARY KEY'],
  ['c_int2', 'int2'],
  ['c_int4', 'int4'],
  ['c_int8', 'int8'],
  ['c_oid', 'oid'],
  ['c_float4', 'float4'],
  ['c_float8', 'float8'],
  ['c_numeric', 'numeric'],
  ['c_numeric_10_2', 'numeric(10,2)'],
  ['c_numeric_38_0', 'numeric(38,0)'],
  ['c_money', 'money'],
  ['c_bool', 'bool'],
  ['c_text', 'text'],
  ['c_varchar', 'varchar(20)'],
  ['c_char', 'char(5)'],
  ['c_name', 'name'],
  ['c_bytea', 'bytea'],
  ['c_uuid', 'uuid'],
  ['c_json', 'json'],
  ['c_jsonb', 'jsonb'],
  ['c_xml', 'xml'],
  ['c_inet', 'inet'],
  ['c_cidr', 'cidr'],
  ['c_macaddr', 'macaddr'],
  ['c_int4range', 'int4range'],
  ['c_tstzrange', 'tstzrange'],
  ['c_bit', 'bit(1)'],
  ['c_bit10', 'bit(10)'],
  ['c_varbit', 'varbit'],
  ['c_date', 'date'],
  ['c_time', 'time'],
  ['c_time3', 'time(3)'],
  ['c_time0', 'time(0)'],
  ['c_timetz', 'timetz'],
  ['c_timestamp', 'timestamp'],
  ['c_timestamp3', 'timestamp(3)'],
  ['c_timestamptz', 'timestamptz'],
  ['c_timestamptz3', 'timestamptz(3)'],
  ['c_timestamptz0', 'timestamptz(0)'],
  ['c_interval', 'interval'],
  ['c_int4_arr', 'int4[]'],
  ['c_int8_arr', 'int8[]'],
  ['c_text_arr', 'text[]'],
  ['c_numeric_arr', 'numeric(10,2)[]'],
  ['c_numeric_var_arr', 'numeric[]'],
  ['c_bool_arr', 'bool[]'],
  ['c_float8_arr', 'float8[]'],
  ['c_bytea_arr', 'bytea[]'],
  ['c_uuid_arr', 'uuid[]'],
  ['c_jsonb_arr', 'jsonb[]'],
  ['c_date_arr', 'date[]'],
  ['c_time_arr', 'time[]'],
  ['c_timestamp_arr', 'timestamp(3)[]'],
  ['c_timestamptz_arr', 'timestamptz[]'],
  ['c_interval_arr', 'interval[]'],
  ['c_int4_2d', 'int4[][]'],
  ['c_mood', MOOD],
  ['c_mood_arr', `${MOOD}[]`],
  ['c_price', PRICE],
  ['c_price_arr', `${PRICE}[]`],
  ['c_posint', POSINT],
  ['c_point', 'point'],
];

// Rows as SQL literals per column (missing = NULL). Inserted with TimeZone UTC.
const ROWS: Array<Record<string, string>> = [
  {
    id: '1',
    c_int2: '1',
    c_int4: '42',
    c_int8: '1234567890123',
    c_oid: '4000000000',
    c_float4: '3.14',
    c_float8: '2.718281828459045',
    c_numeric: '1.50',
    c_numeric_10_2: '12.3',
    c_numeric_38_0: '12345678901234567890123456789012345678',
    c_money: '1234.56',
    c_bool: 'true',
    c_text: `'héllo, "wörld" ✓'`,
    c_varchar: `'abc'`,
    c_char: `'ab'`,
    c_name: `'a_name'`,
    c_bytea: `'\\x00ff10'`,
    c_uuid: `'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'`,
    c_json: `'{"b": 1, "a": [1, 2.5, null]}'`,
    c_jsonb: `'{"b": 1, "a": [1, 2.5, null]}'`,
    c_xml: `'<a x="1">t</a>'`,
    c_inet: `'192.168.0.1/24'`,
    c_cidr: `'10.0.0.0/8'`,
    c_macaddr: `'08:00:2b:01:02:03'`,
    c_int4range: `'[1,10)'`,
    c_tstzrange: `'[2020-01-01 00:00+00,2021-01-01 00:00+00)'`,
    c_bit: `B'1'`,
    c_bit10: `B'1000000001'`,
    c_varbit: `B'101'`,
    c_date: `'2024-02-29'`,
    c_time: `'12:34:56.123456'`,
    c_time3: `'12:34:56.789'`,
    c_time0: `'12:34:56'`,
    c_timetz: `'12:00:00+05:30'`,
    c_timestamp: `'2018-06-20 15:13:16.945104'`,
    c_timestamp3: `'2018-06-20 15:13:16.945'`,
    c_timestamptz: `'2020-01-01 05:00:00+05:30'`,
    c_timestamptz3: `'2020-01-01 00:00:00.5+00'`,
    c_timestamptz0: `'2020-01-01 00:00:00+00'`,
    c_interval: `'1 year 2 mons 3 days 04:05:06.789'`,
    c_int4_arr: `'{1,NULL,3}'`,
    c_int8_arr: `'{9223372036854775807,-1}'`,
    c_text_arr: `ARRAY['a b', NULL, 'NULL', '', 'x"y', 'c\\d', '{}', ' lead']`,
    c_numeric_arr: `'{1.5,NULL,-2.25}'`,
    c_numeric_var_arr: `'{1.50,100,NULL,-0.001}'`,
    c_bool_arr: `'{t,f,NULL}'`,
    c_float8_arr: `'{1.5,NaN,-Infinity}'`,
    c_bytea_arr: `ARRAY['\\x01ff'::bytea, NULL, '\\x'::bytea]`,
    c_uuid_arr: `'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'`,
    c_jsonb_arr: `ARRAY['{"a": 1}'::jsonb, '[]', 'null']`,
    c_date_arr: `'{2020-01-01,NULL,infinity}'`,
    c_time_arr: `'{12:00:00.5,24:00:00}'`,
    c_timestamp_arr: `'{"2020-01-01 00:00:00.5",NULL}'`,
    c_timestamptz_arr: `'{"2020-01-01 05:30:00+05:30",-infinity}'`,
    c_interval_arr: `'{"1 day","-00:00:01"}'`,
    c_int4_2d: `'{{1,2},{3,NULL}}'`,
    c_mood: `'happy'`,
    c_mood_arr: `'{sad,"so so"}'`,
    c_price: '12.3',
    c_price_arr: `'{1.5,NULL}'`,
    c_posint: '7',
    c_point: `'(1,2)'`,
  },
  {
    id: '2',
    c_int2: '-32768',
    c_int4: '-2147483648',
    c_int8: '-9223372036854775808',
    c_oid: '0',
    c_float4: `'NaN'`,
    c_float8: `'-Infinity'`,
    c_numeric: '-0.0000001',
    c_numeric_10_2: '-99999999.99',
    c_numeric_38_0: '-1',
    c_money: '-0.01',
    c_bool: 'false',
    c_text: `''`,
    c_varchar: `' spaces '`,
    c_char: `''`,
    c_name: `''`,
    c_bytea: `'\\x'`,
    c_uuid: `'00000000-0000-0000-0000-000000000000'`,
    c_json: `'null'`,
    c_jsonb: `'"x"'`,
    c_xml: `''`,
    c_inet: `'::1'`,
    c_cidr: `'::/0'`,
    c_macaddr: `'ff:ff:ff:ff:ff:ff'`,
    c_int4range: `'empty'`,
    c_tstzrange: `'(,)'`,
    c_bit: `B'0'`,
    c_bit10: `B'0000000000'`,
    c_varbit: `B''`,
    c_date: `'0001-01-01 BC'`,
    c_time: `'24:00:00'`,
    c_time3: `'00:00:00'`,
    c_time0: `'23:59:59'`,
    c_timetz: `'24:00:00+00'`,
    c_timestamp: `'infinity'`,
    c_timestamp3: `'1969-12-31 23:59:59.999'`,
    c_timestamptz: `'0044-03-15 12:00:00+00 BC'`,
    c_timestamptz3: `'-infinity'`,
    c_timestamptz0: `'1900-01-01 00:00:00+00'`,
    c_interval: `'-1 years -2 mons +3 days -04:05:06.5'`,
    c_int4_arr: `'{}'`,
    c_int8_arr: `'{}'`,
    c_text_arr: `'{}'`,
    c_numeric_arr: `'{}'`,
    c_numeric_var_arr: `'{}'`,
    c_bool_arr: `'{}'`,
    c_float8_arr: `'{}'`,
    c_bytea_arr: `'{}'`,
    c_uuid_arr: `'{}'`,
    c_jsonb_arr: `'{}'`,
    c_date_arr: `'{}'`,
    c_time_arr: `'{}'`,
    c_timestamp_arr: `'{}'`,
    c_timestamptz_arr: `'{}'`,
    c_interval_arr: `'{}'`,
    c_int4_2d: `'{}'`,
    c_mood: `'sad'`,
    c_mood_arr: `'{}'`,
    c_price: '0',
    c_price_arr: `'{}'`,
    c_posint: '-1',
    c_point: `'(-1.5,0)'`,
  },
  { id: '3' },
  {
    id: '4',
    c_int8: '9007199254740993',
    c_float4: `'-Infinity'`,
    c_float8: '1e-7',
    c_numeric: `'NaN'`,
    c_numeric_10_2: `'NaN'`,
    c_numeric_38_0: '0',
    c_date: `'-infinity'`,
    c_time: `'00:00:00.000001'`,
    c_timetz: `'00:30:00+05:30'`,
    c_timestamp: `'-infinity'`,
    c_timestamp3: `'9999-12-31 23:59:59.999'`,
    c_timestamptz: `'infinity'`,
    c_timestamptz3: `'10000-01-01 00:00:00+00'`,
    c_timestamptz0: `'1969-12-31 23:59:59+00'`,
    c_interval: `'00:00:00'`,
    c_numeric_var_arr: `'{NaN}'`,
    c_timestamp_arr: `'{infinity}'`,
  },
];

/**
 * The golden input is read with TimeZone UTC, the setting the capture connection should use:
 * range types (tstzrange) are passed through as text and carry the session's offsets, as in
 * Debezium. Other zones are checked to give the same result for every other column.
 */
const READ_TIMEZONE = 'UTC';

const ALT_OPTIONS: Record<string, TypeMappingOptions> = {
  default: DEFAULT_TYPE_MAPPING_OPTIONS,
  'string-connect-hex': {
    ...DEFAULT_TYPE_MAPPING_OPTIONS,
    decimalHandling: 'string',
    timePrecision: 'connect',
    intervalHandling: 'string',
    binaryHandling: 'hex',
  },
  'double-micro-base64': {
    ...DEFAULT_TYPE_MAPPING_OPTIONS,
    decimalHandling: 'double',
    timePrecision: 'adaptive_time_microseconds',
    binaryHandling: 'base64',
    unavailableValuePlaceholder: 'n/a',
  },
};

let client: pg.Client;
let catalog: PgTypeCatalog;
let columns: Array<{ name: string } & PgColumnType>;
let texts: Array<Array<string | null>>;

async function connect(): Promise<pg.Client> {
  const c = new pg.Client(PG);
  await c.connect();
  return c;
}

/**
 * The rows' values in PostgreSQL's text format, read with the given session settings. The values
 * come over the wire in text format untouched (no type parsers), so they are the type output
 * functions' results, as in pgoutput. Note `col::text` is not always the same: bool::text says
 * "true" (output: "t"), bpchar::text drops the padding, inet::text always adds the netmask.
 */
async function readTexts(settings: Record<string, string>): Promise<Array<Array<string | null>>> {
  const c = await connect();
  try {
    for (const [k, v] of Object.entries(settings)) await c.query(`SET ${k} = '${v}'`);
    const r = await c.query({
      text: `SELECT ${COLUMNS.map(([name]) => name).join(', ')} FROM ${TABLE} ORDER BY id`,
      rowMode: 'array',
      types: { getTypeParser: () => (text: string) => text },
    });
    return r.rows as Array<Array<string | null>>;
  } finally {
    await c.end();
  }
}

/** A row converted with `options`: null for NULL, {$error} where Debezium would fail too. */
function convertRows(rows: Array<Array<string | null>>, options: TypeMappingOptions): string[] {
  const converters = columns.map((c) => converterFor(c, catalog, options));
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    row.forEach((text, i) => {
      const name = columns[i]!.name;
      if (text === null) {
        out[name] = null;
        return;
      }
      try {
        out[name] = converters[i]!.fromText(text);
      } catch (e) {
        if (!(e instanceof PgValueConversionError)) throw e;
        out[name] = { $error: e.message };
      }
    });
    return stringifyJson(out);
  });
}

function rowSchema(options: TypeMappingOptions): ConnectSchema {
  return canonicalSchema({
    type: 'struct',
    fields: columns.map((c) => ({
      ...converterFor(c, catalog, options).schema,
      optional: c.name !== 'id',
      field: c.name,
    })),
    optional: false,
    name: 'tributary.public.types.Value',
  });
}

before(async () => {
  ensureServices('postgres');
  client = await connect();
  await client.query(`SET TimeZone = 'UTC'`);
  await client.query(`CREATE TYPE ${MOOD} AS ENUM ('sad', 'ok', 'happy', 'so so')`);
  await client.query(`CREATE DOMAIN ${PRICE} AS numeric(12,2) CHECK (VALUE >= 0)`);
  await client.query(`CREATE DOMAIN ${POSINT} AS int4`);
  await client.query(`CREATE TABLE ${TABLE} (${COLUMNS.map(([n, t]) => `${n} ${t}`).join(', ')})`);
  await client.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${TABLE}`);
  await client.query(`SELECT pg_create_logical_replication_slot($1, 'pgoutput')`, [SLOT]);
  for (const row of ROWS) {
    const names = Object.keys(row);
    await client.query(
      `INSERT INTO ${TABLE} (${names.join(', ')}) VALUES (${names.map((n) => row[n]).join(', ')})`,
    );
  }
  const attrs = await client.query<{ attname: string; atttypid: number; atttypmod: number }>(
    `SELECT attname, atttypid::int4 AS atttypid, atttypmod FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum`,
    [TABLE],
  );
  columns = attrs.rows.map((r) => ({ name: r.attname, typeOid: r.atttypid, typmod: r.atttypmod }));
  catalog = await loadTypeCatalog(client);
  texts = await readTexts({ TimeZone: READ_TIMEZONE });
});

after(async () => {
  if (!client) return;
  const drops = [
    `SELECT pg_drop_replication_slot('${SLOT}') FROM pg_replication_slots WHERE slot_name = '${SLOT}'`,
    `DROP PUBLICATION IF EXISTS ${PUBLICATION}`,
    `DROP TABLE IF EXISTS ${TABLE}`,
    `DROP DOMAIN IF EXISTS ${PRICE}`,
    `DROP DOMAIN IF EXISTS ${POSINT}`,
    `DROP TYPE IF EXISTS ${MOOD}`,
  ];
  for (const sql of drops) await client.query(sql).catch(() => undefined);
  await client.end();
});

describe('type catalog', () => {
  test('builtin OIDs and array element OIDs in the module match pg_type', async () => {
    const r = await client.query<{ oid: number; typname: string; elem: number }>(
      `SELECT oid::int4 AS oid, typname, typelem::int4 AS elem FROM pg_type WHERE oid = ANY($1::oid[])`,
      [[...Object.values(PG_OID), ...PG_BUILTIN_ARRAYS.keys()]],
    );
    const byOid = new Map(r.rows.map((row) => [row.oid, row]));
    for (const [name, oid] of Object.entries(PG_OID)) {
      assert.equal(byOid.get(oid)?.typname, name.toLowerCase(), `PG_OID.${name}`);
    }
    for (const [arrayOid, elemOid] of PG_BUILTIN_ARRAYS) {
      assert.equal(byOid.get(arrayOid)?.elem, elemOid, `array OID ${arrayOid}`);
    }
  });

  test('loads enums with labels in order, domains with base type and typmod, arrays of both', () => {
    const oidOf = (name: string) => columns.find((c) => c.name === name)!.typeOid;
    const mood = catalog.get(oidOf('c_mood'));
    assert.equal(mood?.kind, 'enum');
    assert.equal(mood?.name, MOOD);
    assert.deepEqual(mood?.enumLabels, ['sad', 'ok', 'happy', 'so so']);
    const moodArray = catalog.get(oidOf('c_mood_arr'));
    assert.equal(moodArray?.kind, 'array');
    assert.equal(moodArray?.elementOid, mood?.oid);
    const price = catalog.get(oidOf('c_price'));
    assert.equal(price?.kind, 'domain');
    assert.equal(price?.baseOid, PG_OID.NUMERIC);
    assert.equal(price?.baseTypmod, ((12 << 16) | 2) + 4);
    assert.equal(catalog.get(oidOf('c_price_arr'))?.elementOid, price?.oid);
    assert.equal(catalog.get(1020)?.delimiter, ';', 'box[] uses ";" between elements');
    assert.ok(catalog.size > 100);
  });

  test('ensure() refreshes only for an unknown OID; refresh() picks up new enum labels', async () => {
    const moodOid = columns.find((c) => c.name === 'c_mood')!.typeOid;
    assert.equal(await catalog.ensure([moodOid, PG_OID.INT4, 1007], client), false);
    const other = `${base}_other`;
    const oidOf = async (): Promise<number> =>
      (await client.query<{ oid: number }>(`SELECT $1::regtype::oid::int4 AS oid`, [other]))
        .rows[0]!.oid;
    try {
      await client.query(`CREATE TYPE ${other} AS ENUM ('x')`);
      const oid = await oidOf();
      const local = await loadTypeCatalog(client);
      assert.deepEqual(local.get(oid)?.enumLabels, ['x']);
      await client.query(`ALTER TYPE ${other} ADD VALUE 'y'`);
      assert.equal(await local.ensure([oid], client), false, 'known OID: no refresh');
      assert.deepEqual(local.get(oid)?.enumLabels, ['x']);
      await local.refresh(client);
      assert.deepEqual(local.get(oid)?.enumLabels, ['x', 'y']);
      const col = { typeOid: oid, typmod: -1 };
      assert.equal(
        converterFor(col, local, DEFAULT_TYPE_MAPPING_OPTIONS).schema.parameters?.allowed,
        'x,y',
      );
      await client.query(`DROP TYPE ${other}`);
      await client.query(`CREATE TYPE ${other} AS ENUM ('z')`);
      const newOid = await oidOf();
      assert.equal(local.get(newOid), undefined);
      assert.equal(await local.ensure([newOid], client), true);
      assert.deepEqual(local.get(newOid)?.enumLabels, ['z']);
    } finally {
      await client.query(`DROP TYPE IF EXISTS ${other}`);
    }
  });
});

describe('golden rows and schemas', () => {
  test("the text PostgreSQL produced (the converters' input) is pinned", () => {
    golden('input-text.jsonl', texts.map((row) => JSON.stringify(row)).join('\n'));
  });

  for (const [name, options] of Object.entries(ALT_OPTIONS)) {
    test(`${name}: row schema and converted rows match the golden files`, () => {
      golden(`schema.${name}.json`, JSON.stringify(rowSchema(options), null, 2));
      golden(`rows.${name}.jsonl`, convertRows(texts, options).join('\n'));
      const unavailable: Record<string, unknown> = {};
      for (const c of columns) unavailable[c.name] = converterFor(c, catalog, options).unavailable;
      golden(`unavailable.${name}.json`, stringifyJson(unavailable));
    });
  }

  // The capture writes JSON straight from the text (toJson, TableSchema.tupleJson): it must be
  // exactly the JSON of the converted value the golden rows pin, errors included.
  for (const [name, options] of Object.entries(ALT_OPTIONS)) {
    test(`${name}: toJson(text) is the JSON of fromText(text) for every golden input`, () => {
      const converters = columns.map((c) => converterFor(c, catalog, options));
      const outcome = (f: () => unknown): string => {
        try {
          return String(f());
        } catch (e) {
          if (!(e instanceof PgValueConversionError)) throw e;
          return `error: ${e.message}`;
        }
      };
      let compared = 0;
      for (const row of texts) {
        row.forEach((text, i) => {
          if (text === null) return;
          const c = converters[i]!;
          const expected = outcome(() => stringifyJson(c.fromText(text)));
          assert.equal(
            outcome(() => c.toJson(text)),
            expected,
            `${columns[i]!.name}: ${text}`,
          );
          compared++;
        });
      }
      assert.ok(compared > 100, `compared ${compared} values`);
    });
  }

  test('only the unmapped point column carries a fallback note', () => {
    const noted = columns.filter(
      (c) => converterFor(c, catalog, DEFAULT_TYPE_MAPPING_OPTIONS).note,
    );
    assert.deepEqual(
      noted.map((c) => c.name),
      ['c_point'],
    );
  });
});

describe('session settings do not change the result', () => {
  // extra_float_digits < 1 makes PostgreSQL print float8 with 15 digits, which loses precision
  // (for Debezium too): the capture connection must keep the default (1) or use 2..3.
  const variants: Array<Record<string, string>> = [
    { TimeZone: 'Asia/Kolkata' }, // +05:30, and LMT +05:53:28 for the 44 BC timestamptz
    { TimeZone: 'America/St_Johns', IntervalStyle: 'iso_8601', extra_float_digits: '3' },
    { TimeZone: 'Pacific/Kiritimati', DateStyle: 'ISO, DMY' },
  ];
  const rangeColumn = COLUMNS.findIndex(([name]) => name === 'c_tstzrange');
  const withoutRange = (rows: Array<Array<string | null>>) =>
    rows.map((row) => row.map((v, i) => (i === rangeColumn ? null : v)));
  for (const settings of variants) {
    test(`${JSON.stringify(settings)} converts to the same rows (tstzrange text aside)`, async () => {
      const other = await readTexts(settings);
      assert.notDeepEqual(other, texts, 'the settings change the text PostgreSQL sends');
      for (const options of Object.values(ALT_OPTIONS)) {
        assert.deepEqual(
          convertRows(withoutRange(other), options),
          convertRows(withoutRange(texts), options),
        );
      }
    });
  }
});

describe('pgoutput carries the same text', () => {
  test('Relation OIDs/typmods equal pg_attribute; Insert tuples equal the text values read by SELECT', async () => {
    const c = await connect();
    let changes: Buffer[];
    try {
      await c.query(`SET TimeZone = '${READ_TIMEZONE}'`);
      const r = await c.query<{ data: Buffer }>(
        `SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL,
           'proto_version', '1', 'publication_names', $2)`,
        [SLOT, PUBLICATION],
      );
      changes = r.rows.map((row) => row.data);
    } finally {
      await c.end();
    }
    const relations = changes.filter((m) => m[0] === 0x52).map(decodeRelation);
    assert.equal(relations.length, 1);
    assert.deepEqual(
      relations[0],
      columns.map((col) => ({ name: col.name, typeOid: col.typeOid, typmod: col.typmod })),
    );
    const inserts = changes.filter((m) => m[0] === 0x49).map(decodeInsert);
    assert.deepEqual(inserts, texts);
  });
});

/** pgoutput Relation: 'R', relid, namespace, name, replica identity, columns. */
function decodeRelation(m: Buffer): Array<{ name: string } & PgColumnType> {
  let pos = 5;
  const cstring = (): string => {
    const end = m.indexOf(0, pos);
    const s = m.toString('utf8', pos, end);
    pos = end + 1;
    return s;
  };
  cstring(); // namespace
  cstring(); // relation name
  pos += 1; // replica identity
  const n = m.readInt16BE(pos);
  pos += 2;
  const cols: Array<{ name: string } & PgColumnType> = [];
  for (let i = 0; i < n; i++) {
    pos += 1; // flags
    const name = cstring();
    const typeOid = m.readUInt32BE(pos);
    const typmod = m.readInt32BE(pos + 4);
    pos += 8;
    cols.push({ name, typeOid, typmod });
  }
  return cols;
}

/** pgoutput Insert: 'I', relid, 'N', TupleData (n × ('n' | 't' len bytes)). */
function decodeInsert(m: Buffer): Array<string | null> {
  let pos = 6;
  const n = m.readInt16BE(pos);
  pos += 2;
  const values: Array<string | null> = [];
  for (let i = 0; i < n; i++) {
    const kind = String.fromCharCode(m[pos]!);
    pos += 1;
    if (kind === 'n') {
      values.push(null);
    } else if (kind === 't') {
      const len = m.readInt32BE(pos);
      values.push(m.toString('utf8', pos + 4, pos + 4 + len));
      pos += 4 + len;
    } else {
      throw new Error(`unexpected tuple kind ${kind}`);
    }
  }
  return values;
}
