// PostgreSQL text values → Debezium's JSON form, type by type. Expected values are Debezium's
// documented outputs or worked out by hand from Debezium's converters (noted where it matters).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../../../../core/errors/index.ts';
import { stringifyJson } from '../../../../core/events/index.ts';
import { JsonBytes } from '../../../../core/events/json-bytes.ts';
import {
  converterFor,
  DEFAULT_TYPE_MAPPING_OPTIONS,
  parseArrayLiteral,
  PgValueConversionError,
  typeCatalogOf,
} from '../../../../capture/postgres/types.ts';
import type {
  ColumnConverter,
  PgTypeInfo,
  TypeMappingOptions,
} from '../../../../capture/postgres/types.ts';

const MOOD = 70001;
const MOOD_ARRAY = 70002;
const PRICE_DOMAIN = 70003; // CREATE DOMAIN price AS numeric(12,2)
const POSITIVE_INT = 70004; // CREATE DOMAIN positive_int AS int4
const PRICE_ARRAY = 70005;
const NESTED_DOMAIN = 70006; // CREATE DOMAIN cheap AS price
const CITEXT = 70007;
const COMPLEX = 70008; // a composite type: unmapped
const catalog = typeCatalogOf([
  { oid: MOOD, name: 'mood', schema: 'public', kind: 'enum', enumLabels: ['sad', 'ok', 'happy'] },
  {
    oid: MOOD_ARRAY,
    name: '_mood',
    schema: 'public',
    kind: 'array',
    elementOid: MOOD,
    delimiter: ',',
  },
  {
    oid: PRICE_DOMAIN,
    name: 'price',
    schema: 'public',
    kind: 'domain',
    baseOid: 1700,
    baseTypmod: numericTypmod(12, 2),
  },
  {
    oid: POSITIVE_INT,
    name: 'positive_int',
    schema: 'public',
    kind: 'domain',
    baseOid: 23,
    baseTypmod: -1,
  },
  {
    oid: PRICE_ARRAY,
    name: '_price',
    schema: 'public',
    kind: 'array',
    elementOid: PRICE_DOMAIN,
    delimiter: ',',
  },
  {
    oid: NESTED_DOMAIN,
    name: 'cheap',
    schema: 'public',
    kind: 'domain',
    baseOid: PRICE_DOMAIN,
    baseTypmod: -1,
  },
  { oid: CITEXT, name: 'citext', schema: 'public', kind: 'base' },
  { oid: COMPLEX, name: 'complex', schema: 'public', kind: 'composite' },
] satisfies PgTypeInfo[]);

function numericTypmod(precision: number, scale: number): number {
  return ((precision << 16) | (scale & 0x7ff)) + 4;
}

function conv(
  typeOid: number,
  typmod = -1,
  options: Partial<TypeMappingOptions> = {},
): ColumnConverter {
  return converterFor({ typeOid, typmod }, catalog, {
    ...DEFAULT_TYPE_MAPPING_OPTIONS,
    ...options,
  });
}

/** fromText for each text, written as JSON (bigints exact), for compact comparison. */
function json(c: ColumnConverter, ...texts: string[]): string[] {
  return texts.map((t) => stringifyJson(c.fromText(t)));
}

const b64 = (hex: string): string => Buffer.from(hex, 'hex').toString('base64');
const PLACEHOLDER = '__debezium_unavailable_value';

describe('integers', () => {
  test('int2 → int16, int4 → int32, with negatives and limits', () => {
    assert.deepEqual(conv(21).schema, { type: 'int16' });
    assert.deepEqual(json(conv(21), '-32768', '32767', '0'), ['-32768', '32767', '0']);
    assert.deepEqual(conv(23).schema, { type: 'int32' });
    assert.deepEqual(json(conv(23), '-2147483648', '2147483647'), ['-2147483648', '2147483647']);
  });

  test('int8 → int64: a number while exact, a bigint beyond 2^53 (written exactly)', () => {
    const c = conv(20);
    assert.deepEqual(c.schema, { type: 'int64' });
    assert.equal(c.fromText('9007199254740991'), 9007199254740991);
    assert.equal(c.fromText('9007199254740993'), 9007199254740993n);
    assert.equal(c.fromText('-9223372036854775808'), -9223372036854775808n);
    assert.deepEqual(json(c, '9223372036854775807', '-42'), ['9223372036854775807', '-42']);
  });

  test('oid → int64 (Debezium), values above 2^31', () => {
    assert.deepEqual(conv(26).schema, { type: 'int64' });
    assert.equal(conv(26).fromText('4294967295'), 4294967295);
  });
});

describe('floating point', () => {
  test('float8 → float64; NaN/Infinity as the strings JsonConverter (Jackson) writes', () => {
    const c = conv(701);
    assert.deepEqual(c.schema, { type: 'float64' });
    assert.deepEqual(json(c, '1.5', '-0.1', '1e-07', '1.7976931348623157e+308'), [
      '1.5',
      '-0.1',
      '1e-7',
      '1.7976931348623157e+308',
    ]);
    assert.deepEqual(json(c, 'NaN', 'Infinity', '-Infinity'), [
      '"NaN"',
      '"Infinity"',
      '"-Infinity"',
    ]);
    // extra_float_digits=3 output reads back to the same double
    assert.equal(c.fromText('0.10000000000000001'), 0.1);
  });

  test('float4 → float32, printed as the shortest decimal of the float (Float.toString)', () => {
    const c = conv(700);
    assert.deepEqual(c.schema, { type: 'float32' });
    assert.equal(c.fromText('3.14'), 3.14);
    assert.equal(c.fromText('3.14000010'), 3.14); // extra_float_digits=3
    assert.equal(c.fromText('16777216'), 16777216);
    assert.equal(c.fromText('-1.17549435e-38'), -1.1754944e-38);
    assert.deepEqual(json(c, 'NaN', '-Infinity'), ['"NaN"', '"-Infinity"']);
  });
});

describe('numeric', () => {
  const n10_2 = numericTypmod(10, 2);

  test("precise, numeric(10,2): Connect Decimal, base64 two's-complement unscaled, scale+precision parameters", () => {
    const c = conv(1700, n10_2);
    assert.deepEqual(c.schema, {
      type: 'bytes',
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2', 'connect.decimal.precision': '10' },
    });
    assert.equal(c.fromText('12.30'), b64('04ce')); // 1230
    assert.equal(c.fromText('-12.30'), b64('fb32')); // -1230
    assert.equal(c.fromText('0.00'), b64('00'));
    assert.equal(c.fromText('1.28'), b64('0080')); // 128 needs a sign byte
    assert.equal(c.fromText('-1.28'), b64('80')); // -128 does not
    assert.equal(c.fromText('-0.01'), b64('ff'));
    assert.equal(c.fromText('99999999.99'), b64('02540be3ff'));
    assert.equal(c.fromText('5'), b64('01f4'), 'rescaled to the column scale');
  });

  test('precise, huge and negative-scale numerics', () => {
    const big = conv(1700, numericTypmod(38, 0));
    assert.equal(
      big.fromText('-170141183460469231731687303715884105728'),
      b64('80' + '00'.repeat(15)),
    );
    const negScale = conv(1700, numericTypmod(5, -2)); // PostgreSQL 15: numeric(5,-2)
    assert.deepEqual(negScale.schema.parameters, { scale: '-2', 'connect.decimal.precision': '5' });
    assert.equal(negScale.fromText('12300'), b64('7b')); // 123 × 10^2
  });

  test('precise, unconstrained numeric: VariableScaleDecimal {scale, value}, trailing zeros stripped', () => {
    const c = conv(1700);
    assert.deepEqual(c.schema, {
      type: 'struct',
      fields: [
        { type: 'int32', optional: false, field: 'scale' },
        { type: 'bytes', optional: false, field: 'value' },
      ],
      name: 'io.debezium.data.VariableScaleDecimal',
      version: 1,
      doc: 'Variable scaled decimal',
    });
    assert.deepEqual(c.fromText('1.50'), { scale: 1, value: b64('0f') });
    assert.deepEqual(c.fromText('100'), { scale: 0, value: b64('64') }); // 1E+2 → scale 0
    assert.deepEqual(c.fromText('-0.000'), { scale: 0, value: b64('00') });
    assert.deepEqual(c.fromText('-123.456'), { scale: 3, value: b64('fe1dc0') });
  });

  test('precise: NaN/Infinity fail like Debezium, naming the setting that captures them', () => {
    for (const typmod of [-1, n10_2]) {
      assert.throws(
        () => conv(1700, typmod).fromText('NaN'),
        (e: unknown) =>
          e instanceof PgValueConversionError &&
          e.code === 'PG_VALUE_CONVERSION' &&
          !e.retryable &&
          /decimalHandling to 'string' or 'double'/.test(e.message),
      );
    }
    assert.throws(() => conv(1700).fromText('-Infinity'), PgValueConversionError);
  });

  test('string: java BigDecimal.toString (scientific below 1E-6), NaN → "NAN"', () => {
    const c = conv(1700, -1, { decimalHandling: 'string' });
    assert.deepEqual(c.schema, { type: 'string' });
    assert.deepEqual(
      json(c, '-12.345', '0.000001', '0.0000001', '0.00000015', '123456789012345678901234567890'),
      ['"-12.345"', '"0.000001"', '"1E-7"', '"1.5E-7"', '"123456789012345678901234567890"'],
    );
    assert.deepEqual(json(c, 'NaN', 'Infinity', '-Infinity'), [
      '"NAN"',
      '"POSITIVE_INFINITY"',
      '"NEGATIVE_INFINITY"',
    ]);
    const scaled = conv(1700, numericTypmod(20, 10), { decimalHandling: 'string' });
    assert.deepEqual(json(scaled, '1.5000000000', '0.0000000000', '0.0000001000'), [
      '"1.5000000000"',
      '"0E-10"',
      '"1.000E-7"',
    ]);
  });

  test('double: float64 numbers, NaN as "NaN"', () => {
    const c = conv(1700, n10_2, { decimalHandling: 'double' });
    assert.deepEqual(c.schema, { type: 'float64' });
    assert.deepEqual(json(c, '12.30', '-0.01', 'NaN'), ['12.3', '-0.01', '"NaN"']);
  });
});

describe('money', () => {
  test('precise: Decimal with scale 2 (money.fraction.digits), no precision parameter', () => {
    const c = conv(790);
    assert.deepEqual(c.schema, {
      type: 'bytes',
      name: 'org.apache.kafka.connect.data.Decimal',
      version: 1,
      parameters: { scale: '2' },
    });
    assert.equal(c.fromText('$1,234.56'), b64('01e240'));
    assert.equal(c.fromText('-$1,234.56'), b64('fe1dc0'));
    assert.equal(c.fromText('$0.00'), b64('00'));
  });

  test('string and double modes; another fraction digit setting rounds half up', () => {
    assert.deepEqual(json(conv(790, -1, { decimalHandling: 'string' }), '-$1,234.56'), [
      '"-1234.56"',
    ]);
    assert.deepEqual(json(conv(790, -1, { decimalHandling: 'double' }), '$12.50'), ['12.5']);
    assert.equal(conv(790, -1, { moneyFractionDigits: 1 }).fromText('$0.25'), b64('03'));
  });
});

describe('text-like types', () => {
  test('text, varchar, bpchar (padding kept), name, "char" → string as is', () => {
    for (const oid of [25, 1043, 1042, 19, 18]) {
      const c = conv(oid, oid === 1042 ? 14 : -1);
      assert.deepEqual(c.schema, { type: 'string' });
      assert.equal(c.fromText('héllo ✓  '), 'héllo ✓  ');
      assert.equal(c.unavailable, PLACEHOLDER);
    }
  });

  test('uuid → io.debezium.data.Uuid, json/jsonb → io.debezium.data.Json, xml → io.debezium.data.Xml', () => {
    assert.deepEqual(conv(2950).schema, {
      type: 'string',
      name: 'io.debezium.data.Uuid',
      version: 1,
    });
    assert.equal(
      conv(2950).fromText('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    for (const oid of [114, 3802]) {
      assert.deepEqual(conv(oid).schema, {
        type: 'string',
        name: 'io.debezium.data.Json',
        version: 1,
      });
      assert.equal(conv(oid).fromText('{"a": [1, 2.5, null]}'), '{"a": [1, 2.5, null]}');
    }
    assert.deepEqual(conv(142).schema, {
      type: 'string',
      name: 'io.debezium.data.Xml',
      version: 1,
    });
  });

  test('inet, cidr, macaddr, ranges → plain strings (Debezium)', () => {
    for (const oid of [869, 650, 829, 774, 3904, 3926, 3906, 3908, 3910, 3912]) {
      assert.deepEqual(conv(oid).schema, { type: 'string' }, `OID ${oid}`);
    }
    assert.equal(conv(3912).fromText('[2020-01-01,2020-02-01)'), '[2020-01-01,2020-02-01)');
  });

  test('bool → boolean from t/f', () => {
    assert.deepEqual(conv(16).schema, { type: 'boolean' });
    assert.deepEqual(json(conv(16), 't', 'f'), ['true', 'false']);
  });
});

describe('bytea and bits', () => {
  test('bytes (default): hex text → bytes, written base64; empty value', () => {
    const c = conv(17);
    assert.deepEqual(c.schema, { type: 'bytes' });
    assert.equal(c.fromText('\\x00ff10'), 'AP8Q');
    assert.equal(c.fromText('\\x'), '');
    assert.equal(c.unavailable, Buffer.from(PLACEHOLDER).toString('base64'));
  });

  test('base64 and hex modes are strings; hex is lowercase', () => {
    const base64 = conv(17, -1, { binaryHandling: 'base64' });
    assert.deepEqual(base64.schema, { type: 'string' });
    assert.equal(base64.fromText('\\x00ff10'), 'AP8Q');
    const hex = conv(17, -1, { binaryHandling: 'hex' });
    assert.deepEqual(hex.schema, { type: 'string' });
    assert.equal(hex.fromText('\\x00FF10'), '00ff10');
    assert.equal(hex.unavailable, PLACEHOLDER);
  });

  test('escape format (bytea_output = escape) is refused with the fix in the message', () => {
    assert.throws(() => conv(17).fromText('abc\\000'), /set bytea_output = hex/);
  });

  test('bit(1) → boolean; bit(n) and varbit → io.debezium.data.Bits, little-endian bytes', () => {
    assert.deepEqual(conv(1560, 1).schema, { type: 'boolean' });
    assert.deepEqual(json(conv(1560, 1), '1', '0'), ['true', 'false']);
    const bits = conv(1560, 10);
    assert.deepEqual(bits.schema, {
      type: 'bytes',
      name: 'io.debezium.data.Bits',
      version: 1,
      parameters: { length: '10' },
    });
    assert.equal(bits.fromText('1000000001'), b64('0102')); // bit 0 and bit 9
    assert.equal(bits.fromText('0000000000'), '');
    assert.deepEqual(conv(1562).schema.parameters, { length: '2147483647' });
  });
});

describe('date', () => {
  const c = conv(1082);

  test('io.debezium.time.Date: days since epoch, leap days, pre-1970', () => {
    assert.deepEqual(c.schema, { type: 'int32', name: 'io.debezium.time.Date', version: 1 });
    assert.deepEqual(
      json(c, '1970-01-01', '2000-02-29', '2024-02-29', '1969-12-31', '1900-03-01'),
      ['0', '11016', '19782', '-1', '-25508'],
    );
  });

  test('agrees with JavaScript Date.UTC for every day from 1600 to 2400', () => {
    const d = new Date(Date.UTC(1600, 0, 1));
    while (d.getUTCFullYear() < 2400) {
      const text = d.toISOString().slice(0, 10);
      assert.equal(c.fromText(text), d.getTime() / 86_400_000, text);
      d.setUTCDate(d.getUTCDate() + 1);
    }
  });

  test('BC dates use the proleptic Gregorian calendar (1 BC = year 0); years beyond 9999', () => {
    const year0 = new Date(0);
    year0.setUTCFullYear(0, 0, 1);
    assert.equal(c.fromText('0001-01-01 BC'), year0.getTime() / 86_400_000);
    assert.equal(c.fromText('0001-01-01 BC'), -719528);
    assert.equal(c.fromText('4714-11-24 BC'), -2440588); // Julian day 0 ('J0'::date)
    assert.equal(c.fromText('10000-01-01'), 2932897);
  });

  test("±infinity → Debezium's sentinels (epoch days of -5877611-06-21 / -5877611-06-22)", () => {
    assert.deepEqual(json(c, 'infinity', '-infinity'), ['-2147472692', '-2147472691']);
  });

  test('connect mode: org.apache.kafka.connect.data.Date, same day numbers', () => {
    const connect = conv(1082, -1, { timePrecision: 'connect' });
    assert.deepEqual(connect.schema, {
      type: 'int32',
      name: 'org.apache.kafka.connect.data.Date',
      version: 1,
    });
    assert.equal(connect.fromText('2000-02-29'), 11016);
  });

  test('non-ISO DateStyle is refused with a clear error', () => {
    assert.throws(() => c.fromText('02/29/2000'), /DateStyle must be ISO/);
  });
});

describe('time', () => {
  test('adaptive: time(0..3) → io.debezium.time.Time (ms), time(4..6)/time → MicroTime (µs)', () => {
    const ms = conv(1083, 3);
    assert.deepEqual(ms.schema, { type: 'int32', name: 'io.debezium.time.Time', version: 1 });
    assert.deepEqual(json(ms, '12:34:56.789', '00:00:00', '23:59:59.999'), [
      '45296789',
      '0',
      '86399999',
    ]);
    assert.deepEqual(conv(1083, 0).schema.name, 'io.debezium.time.Time');
    const us = conv(1083);
    assert.deepEqual(us.schema, { type: 'int64', name: 'io.debezium.time.MicroTime', version: 1 });
    assert.deepEqual(json(us, '12:34:56.123456', '00:00:00.000001', '12:00:00.5'), [
      '45296123456',
      '1',
      '43200500000',
    ]);
    assert.equal(conv(1083, 4).schema.name, 'io.debezium.time.MicroTime');
  });

  test('24:00:00 is one full day (Debezium accepts it in adaptive modes)', () => {
    assert.equal(conv(1083).fromText('24:00:00'), 86_400_000_000);
    assert.equal(conv(1083, 0).fromText('24:00:00'), 86_400_000);
  });

  test('adaptive_time_microseconds: always MicroTime; connect: Connect Time in ms', () => {
    assert.equal(
      conv(1083, 2, { timePrecision: 'adaptive_time_microseconds' }).schema.name,
      'io.debezium.time.MicroTime',
    );
    const connect = conv(1083, 6, { timePrecision: 'connect' });
    assert.deepEqual(connect.schema, {
      type: 'int32',
      name: 'org.apache.kafka.connect.data.Time',
      version: 1,
    });
    assert.equal(connect.fromText('12:34:56.789999'), 45296789); // truncated to ms
  });
});

describe('timetz', () => {
  const c = conv(1266);

  test('io.debezium.time.ZonedTime: shifted to UTC, only the fraction digits needed', () => {
    assert.deepEqual(c.schema, { type: 'string', name: 'io.debezium.time.ZonedTime', version: 1 });
    assert.deepEqual(
      json(c, '12:00:00+05:30', '01:00:00.5+05:30', '23:30:00-02', '10:15:30.123456+00'),
      ['"06:30:00Z"', '"19:30:00.5Z"', '"01:30:00Z"', '"10:15:30.123456Z"'],
    );
    assert.equal(c.fromText('12:00:00+00:19:32'), '11:40:28Z');
  });

  test('24:00:00+00 stays "24:00:00Z" (Debezium boundary); with an offset it is shifted', () => {
    assert.equal(c.fromText('24:00:00+00'), '24:00:00Z');
    assert.equal(c.fromText('24:00:00+05'), '19:00:00Z');
  });
});

describe('timestamp', () => {
  test('MicroTimestamp by default: the Debezium documentation example', () => {
    const c = conv(1114);
    assert.deepEqual(c.schema, {
      type: 'int64',
      name: 'io.debezium.time.MicroTimestamp',
      version: 1,
    });
    assert.equal(c.fromText('2018-06-20 15:13:16.945104'), 1529507596945104);
  });

  test('pre-1970, leap day, BC, far future (bigint beyond 2^53)', () => {
    const c = conv(1114);
    assert.deepEqual(
      json(c, '1969-12-31 23:59:59.999999', '2024-02-29 00:00:00', '1900-01-01 00:00:00'),
      ['-1', '1709164800000000', '-2208988800000000'],
    );
    assert.equal(c.fromText('0044-03-15 12:00:00 BC'), -63517780800000000n);
    assert.equal(c.fromText('9999-12-31 23:59:59.999999'), 253402300799999999n);
  });

  test('timestamp(0..3) → io.debezium.time.Timestamp (ms); connect mode → Connect Timestamp (ms)', () => {
    const ms = conv(1114, 3);
    assert.deepEqual(ms.schema, { type: 'int64', name: 'io.debezium.time.Timestamp', version: 1 });
    assert.deepEqual(json(ms, '2018-06-20 15:13:16.945', '1969-12-31 23:59:59.999'), [
      '1529507596945',
      '-1',
    ]);
    const connect = conv(1114, -1, { timePrecision: 'connect' });
    assert.deepEqual(connect.schema, {
      type: 'int64',
      name: 'org.apache.kafka.connect.data.Timestamp',
      version: 1,
    });
    assert.equal(connect.fromText('1969-12-31 23:59:59.999999'), -1); // floor to ms
    assert.equal(
      conv(1114, 6, { timePrecision: 'adaptive_time_microseconds' }).schema.name,
      'io.debezium.time.MicroTimestamp',
    );
  });

  test('±infinity → 9223372036825200000 / -9223372036832400000 µs (Debezium docs), /1000 in ms', () => {
    assert.deepEqual(json(conv(1114), 'infinity', '-infinity'), [
      '9223372036825200000',
      '-9223372036832400000',
    ]);
    assert.deepEqual(json(conv(1114, 3), 'infinity', '-infinity'), [
      '9223372036825200',
      '-9223372036832400',
    ]);
  });
});

describe('timestamptz', () => {
  test('io.debezium.time.ZonedTimestamp in UTC with the column precision as fraction width', () => {
    const c = conv(1184);
    assert.deepEqual(c.schema, {
      type: 'string',
      name: 'io.debezium.time.ZonedTimestamp',
      version: 1,
    });
    assert.deepEqual(
      json(c, '2020-01-01 05:00:00+05:30', '2020-03-01 01:00:00.123+03', '2019-12-31 20:00:00-05'),
      [
        '"2019-12-31T23:30:00.000000Z"',
        '"2020-02-29T22:00:00.123000Z"',
        '"2020-01-01T01:00:00.000000Z"',
      ],
    );
    assert.equal(conv(1184, 3).fromText('2020-01-01 00:00:00.5+00'), '2020-01-01T00:00:00.500Z');
    assert.equal(conv(1184, 0).fromText('2020-01-01 00:00:00+00'), '2020-01-01T00:00:00Z');
  });

  test('LMT offsets with seconds, BC and 5-digit years', () => {
    const c = conv(1184);
    assert.equal(c.fromText('1900-01-01 00:00:00+00:19:32'), '1899-12-31T23:40:28.000000Z');
    assert.equal(c.fromText('0044-03-15 12:00:00+00 BC'), '-0043-03-15T12:00:00.000000Z');
    assert.equal(c.fromText('0001-01-01 00:00:00+01 BC'), '-0001-12-31T23:00:00.000000Z');
    assert.equal(c.fromText('10000-01-01 00:00:00+00'), '+10000-01-01T00:00:00.000000Z');
  });

  test('±infinity stay "infinity" / "-infinity"', () => {
    assert.deepEqual(json(conv(1184), 'infinity', '-infinity'), ['"infinity"', '"-infinity"']);
  });
});

describe('interval', () => {
  test('numeric: MicroDuration µs with 30.4375-day months (Debezium arithmetic)', () => {
    const c = conv(1186);
    assert.deepEqual(c.schema, {
      type: 'int64',
      name: 'io.debezium.time.MicroDuration',
      version: 1,
    });
    assert.deepEqual(json(c, '00:00:00', '1 mon', '1 year', '1 day', '04:05:06.789'), [
      '0',
      '2629800000000',
      '31557600000000',
      '86400000000',
      '14706789000',
    ]);
    assert.equal(c.fromText('1 year 2 mons 3 days 04:05:06.789'), 37091106789000);
    assert.equal(c.fromText('-1 years -2 mons +3 days -04:05:06.5'), -36572706500000);
    assert.equal(c.fromText('-00:00:00.000001'), -1);
    assert.equal(c.fromText('100:00:00'), 360000000000);
    assert.equal(c.fromText('200000 years'), 6311520000000000000n);
    assert.equal(c.fromText('178000000 years'), 9223372036854775807n); // Java's (long) saturates
  });

  test('iso_8601 IntervalStyle is read too; sql_standard is refused', () => {
    assert.equal(conv(1186).fromText('P1Y2M3DT4H5M6.789S'), 37091106789000);
    assert.equal(conv(1186).fromText('P-1Y-2M3DT-4H-5M-6.5S'), -36572706500000);
    assert.throws(
      () => conv(1186).fromText('1-2 +3 4:05:06'),
      /IntervalStyle postgres or iso_8601/,
    );
  });

  test('string: io.debezium.time.Interval, P<y>Y<m>M<d>DT<h>H<m>M<s>S', () => {
    const c = conv(1186, -1, { intervalHandling: 'string' });
    assert.deepEqual(c.schema, { type: 'string', name: 'io.debezium.time.Interval', version: 1 });
    assert.deepEqual(
      json(
        c,
        '1 year 2 mons 3 days 04:05:06.78',
        '00:00:00',
        '-1 years -2 mons +3 days -04:05:06.5',
        '00:00:00.000001',
      ),
      [
        '"P1Y2M3DT4H5M6.78S"',
        '"P0Y0M0DT0H0M0S"',
        '"P-1Y-2M3DT-4H-5M-6.5S"',
        '"P0Y0M0DT0H0M0.000001S"',
      ],
    );
  });
});

describe('arrays', () => {
  test('parseArrayLiteral: quotes, escapes, NULL vs "NULL", empty strings, spaces, braces', () => {
    assert.deepEqual(parseArrayLiteral('{"a b",NULL,"NULL","","x\\"y","c\\\\d","{}",null}'), [
      'a b',
      null,
      'NULL',
      '',
      'x"y',
      'c\\d',
      '{}',
      null,
    ]);
    assert.deepEqual(parseArrayLiteral('{}'), []);
    assert.deepEqual(parseArrayLiteral('{ a , b c ,"d" }'), ['a', 'b c', 'd']);
    assert.deepEqual(parseArrayLiteral('{{1,2},{3,NULL}}'), [
      ['1', '2'],
      ['3', null],
    ]);
    assert.deepEqual(parseArrayLiteral('[2:3]={1,2}'), ['1', '2']);
    assert.deepEqual(parseArrayLiteral('{(1,1),(0,0);(3,3),(2,2)}', ';'), [
      '(1,1),(0,0)',
      '(3,3),(2,2)',
    ]);
    assert.throws(() => parseArrayLiteral('{1,2'), PgValueConversionError);
    assert.throws(() => parseArrayLiteral('{"a}'), PgValueConversionError);
  });

  test('int4[] → array of optional int32, NULL elements stay null; multi-dimensional nests', () => {
    const c = conv(1007);
    assert.deepEqual(c.schema, { type: 'array', items: { type: 'int32', optional: true } });
    assert.deepEqual(c.fromText('{1,NULL,-3}'), [1, null, -3]);
    assert.deepEqual(c.fromText('{}'), []);
    assert.deepEqual(c.fromText('{{1,2},{3,4}}'), [
      [1, 2],
      [3, 4],
    ]);
  });

  test('text[] with quoted/escaped elements; int8[] beyond 2^53', () => {
    assert.deepEqual(conv(1009).fromText('{"a b",NULL,"NULL","","x\\"y","c\\\\d"}'), [
      'a b',
      null,
      'NULL',
      '',
      'x"y',
      'c\\d',
    ]);
    assert.deepEqual(json(conv(1016), '{9223372036854775807,1}'), ['[9223372036854775807,1]']);
  });

  test('element schemas follow the element type and the column typmod', () => {
    assert.deepEqual(conv(1231, numericTypmod(10, 2)).schema, {
      type: 'array',
      items: {
        type: 'bytes',
        name: 'org.apache.kafka.connect.data.Decimal',
        version: 1,
        parameters: { scale: '2', 'connect.decimal.precision': '10' },
        optional: true,
      },
    });
    assert.deepEqual(conv(1231, numericTypmod(10, 2)).fromText('{1.50,NULL}'), [b64('0096'), null]);
    assert.deepEqual(conv(1115, 3).schema.items?.name, 'io.debezium.time.Timestamp');
    assert.deepEqual(conv(1115).fromText('{"2020-01-01 00:00:00.5",NULL}'), [
      1577836800500000,
      null,
    ]);
    assert.deepEqual(conv(1185).fromText('{"2020-01-01 05:30:00+05:30"}'), [
      '2020-01-01T00:00:00.000000Z',
    ]);
    assert.deepEqual(conv(1001).fromText('{"\\\\x01ff",NULL}'), ['Af8=', null]);
    assert.deepEqual(conv(1000).fromText('{t,f,NULL}'), [true, false, null]);
    assert.deepEqual(conv(2951).schema.items, {
      type: 'string',
      name: 'io.debezium.data.Uuid',
      version: 1,
      optional: true,
    });
    assert.deepEqual(conv(199).fromText('{"{\\"a\\": 1}","[]"}'), ['{"a": 1}', '[]']);
    assert.deepEqual(conv(1187).fromText('{"1 day","-00:00:01"}'), [86400000000, -1000000]);
  });
});

describe('enums and domains', () => {
  test('enum → io.debezium.data.Enum with `allowed` labels in declared order', () => {
    const c = conv(MOOD);
    assert.deepEqual(c.schema, {
      type: 'string',
      name: 'io.debezium.data.Enum',
      version: 1,
      parameters: { allowed: 'sad,ok,happy' },
    });
    assert.equal(c.fromText('happy'), 'happy');
    assert.equal(c.unavailable, PLACEHOLDER);
  });

  test('enum[] → array of (required) Enum elements, like Debezium', () => {
    const c = conv(MOOD_ARRAY);
    assert.deepEqual(c.schema, {
      type: 'array',
      items: {
        type: 'string',
        name: 'io.debezium.data.Enum',
        version: 1,
        parameters: { allowed: 'sad,ok,happy' },
        optional: false,
      },
    });
    assert.deepEqual(c.fromText('{sad,happy}'), ['sad', 'happy']);
    assert.deepEqual(c.unavailable, [PLACEHOLDER]);
  });

  test('domains map as their base type, inheriting the domain typmod (also through nesting)', () => {
    assert.deepEqual(conv(POSITIVE_INT).schema, { type: 'int32' });
    assert.equal(conv(POSITIVE_INT).fromText('7'), 7);
    const price = conv(PRICE_DOMAIN);
    assert.deepEqual(price.schema.parameters, { scale: '2', 'connect.decimal.precision': '12' });
    assert.equal(price.fromText('12.30'), b64('04ce'));
    assert.deepEqual(conv(NESTED_DOMAIN).schema.parameters, {
      scale: '2',
      'connect.decimal.precision': '12',
    });
    assert.deepEqual(conv(PRICE_ARRAY).fromText('{12.30,NULL}'), [b64('04ce'), null]);
  });
});

describe('unknown types', () => {
  test('fall back to the text form as a string, with a note saying so', () => {
    const c = conv(COMPLEX);
    assert.deepEqual(c.schema, { type: 'string' });
    assert.equal(c.fromText('(1,2)'), '(1,2)');
    assert.match(c.note ?? '', /public\.complex has no mapping here.*include\.unknown\.datatypes/);
    assert.match(conv(99999).note ?? '', /type OID 99999/);
    assert.match(conv(1017).note ?? '', /array elements: PostgreSQL type point/);
    assert.equal(conv(CITEXT).note, undefined);
    assert.deepEqual(conv(CITEXT).schema, { type: 'string' });
  });
});

describe('unchanged TOAST placeholders', () => {
  test("Debezium's forms: string, base64 bytes, [placeholder] for text arrays, byte numbers for int arrays", () => {
    const bytes = [...Buffer.from(PLACEHOLDER)];
    assert.equal(conv(25).unavailable, PLACEHOLDER);
    assert.equal(conv(3802).unavailable, PLACEHOLDER);
    assert.equal(conv(17).unavailable, Buffer.from(PLACEHOLDER).toString('base64'));
    assert.equal(
      conv(17, -1, { binaryHandling: 'base64' }).unavailable,
      Buffer.from(PLACEHOLDER).toString('base64'),
    );
    assert.deepEqual(conv(1009).unavailable, [PLACEHOLDER]);
    assert.deepEqual(conv(3807).unavailable, [PLACEHOLDER]);
    assert.deepEqual(conv(1007).unavailable, bytes);
    assert.deepEqual(conv(1016).unavailable, bytes);
    assert.deepEqual(conv(1182).unavailable, bytes);
    // Debezium sends the bare string for these (it does not fit the schema; see the docs)
    assert.equal(conv(1700).unavailable, PLACEHOLDER);
    assert.equal(conv(1000).unavailable, PLACEHOLDER);
  });

  test('the placeholder is configurable; non-ASCII bytes become negative numbers like Java bytes', () => {
    assert.equal(conv(25, -1, { unavailableValuePlaceholder: 'n/a' }).unavailable, 'n/a');
    assert.deepEqual(conv(1007, -1, { unavailableValuePlaceholder: 'é' }).unavailable, [-61, -87]);
  });
});

describe('options', () => {
  test('an unknown option value is a ConfigError naming the path', () => {
    assert.throws(
      () => conv(1700, -1, { decimalHandling: 'exact' as never }),
      (e: unknown) =>
        e instanceof ConfigError &&
        /^types\.decimalHandling: unknown value "exact"/.test(e.message),
    );
  });

  test('conversion errors are permanent TributaryErrors that name the type', () => {
    assert.throws(
      () => conv(1114).fromText('2020-13-01 00:00:00'),
      (e: unknown) =>
        e instanceof PgValueConversionError &&
        e.retryable === false &&
        /^cannot convert PostgreSQL timestamp value/.test(e.message),
    );
  });
});

describe('toJson', () => {
  /** toJson(text), or the error message; must equal stringifyJson(fromText(text)). */
  const outcome = (f: () => unknown): string => {
    try {
      return String(f());
    } catch (e) {
      return `error: ${(e as Error).message}`;
    }
  };
  const same = (c: ColumnConverter, texts: string[]) => {
    for (const t of texts)
      assert.equal(
        outcome(() => c.toJson(t)),
        outcome(() => stringifyJson(c.fromText(t))),
        JSON.stringify(t),
      );
  };

  test('integers: the canonical text is the JSON; anything else goes through the value', () => {
    const ints = ['0', '-0', '7', '-32768', '007', '+5', ' 5', '', '-', '1e3', 'abc'];
    same(conv(21), ints);
    same(conv(23), [...ints, '123456789012345', '1234567890123456', '99999999999999999999']);
    same(conv(20), [
      ...ints,
      '9007199254740991',
      '9007199254740993',
      '-9223372036854775808',
      '9223372036854775807',
      '99999999999999999999',
      '0x10',
    ]);
    same(conv(16), ['t', 'f', 'true', 'false']);
  });

  test('numeric with a scale: the fast path agrees with the general one', () => {
    const texts = [
      '0',
      '0.00',
      '-0.00',
      '12.30',
      '-12.30',
      '12.3',
      '12.345',
      '127.99',
      '-128.00',
      '32767.99',
      '99999999999999.99',
      '-9999999999999.99',
      '999999999999999.99',
      '.50',
      '-.50',
      '1.',
      '12',
      '1-2.00',
      '12.3a',
      'NaN',
      'Infinity',
      '',
    ];
    for (const [p, s] of [
      [10, 2],
      [12, 0],
      [5, -2],
      [38, 10],
      [3, 3],
    ] as const)
      same(conv(1700, numericTypmod(p, s)), [...texts, '12300', '-100']);
    same(conv(1700), texts);
    same(conv(1700, numericTypmod(10, 2), { decimalHandling: 'string' }), texts);
  });

  test('timestamptz, text, json and arrays', () => {
    const tz = conv(1184);
    const stamps = [
      '2026-11-26 10:15:01.123456+00',
      '2026-11-26 10:15:01.123456+00',
      '2026-11-26 10:15:01+05:30',
      'infinity',
      '2026-11-26 10:15:01.123456+00',
      'garbage',
    ];
    same(tz, stamps);
    same(conv(1184, 3), stamps);
    same(conv(25), ['plain', 'quote " and \\ and \n', 'ünï', '']);
    same(conv(3802), ['{"a": 1}']);
    same(conv(1009), ['{a,"b c",NULL}', '{}']);
  });
});

describe('writeJson (the capture writes values from their bytes)', () => {
  /** What writeJson wrote for `text` (undefined when it declined, having written nothing). */
  function written(c: ColumnConverter, text: string): string | undefined {
    const out = new JsonBytes();
    out.begin();
    out.byte(0x5b); // a byte before, so an offset into the slab is exercised
    const src = Buffer.concat([Buffer.from('\u0000xx'), Buffer.from(text), Buffer.from('yy')]);
    const start = 3;
    const ok = c.writeJson!(src, start, start + Buffer.byteLength(text), out);
    const bytes = out.buf.toString('utf8', out.start + 1, out.pos);
    if (!ok) {
      assert.equal(out.pos, out.start + 1, `declined "${text}" but wrote ${bytes}`);
      return undefined;
    }
    return bytes;
  }

  const cases: Array<[string, ColumnConverter, string[], string[]]> = [
    // [name, converter, texts it writes itself, texts it leaves to toJson]
    ['int2', conv(21), ['0', '-32768', '32767', '7'], ['007', '-0', '+1', '', '1.0']],
    ['int4', conv(23), ['-2147483648', '2147483647', '10'], ['0x10', ' 1', '1e3']],
    [
      'int8',
      conv(20),
      ['9223372036854775807', '-9223372036854775808', '9007199254740993', '42'],
      ['00', '-', '12a'],
    ],
    ['oid', conv(26), ['4294967295', '0'], ['-0']],
    ['bool', conv(16), ['t', 'f'], ['true', 'false', '']],
    [
      'text',
      conv(25),
      ['', 'plain ascii', 'x'.repeat(300), 'tilde ~ and del \u007f', "it's"],
      ['quote " inside', 'back\\slash', 'tab\there', 'new\nline', 'ünïcode', '日本', '\u0001'],
    ],
    ['varchar', conv(1043, 14), ['NEW', 'PAID'], ['é']],
    ['uuid', conv(2950), ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'], []],
    ['jsonb', conv(3802), ['123', 'null'], ['{"a": 1}']],
    ['enum', conv(MOOD), ['happy'], []],
    [
      'numeric(12,2)',
      conv(1700, numericTypmod(12, 2)),
      ['0.00', '12.34', '-12.34', '9999999999.99', '0.01', '-0.01', '1.50'],
      ['12.3', '12', '1e5', 'NaN', '12.345', '99999999999999.99'],
    ],
    [
      'timestamptz',
      conv(1184),
      [
        '2026-11-26 10:15:01.123456+00',
        '2026-11-26 10:15:01.123456+00',
        '2026-11-26 10:15:02+00',
        '1999-01-08 04:05:06-08',
        'infinity',
      ],
      ['2026-11-26 10:15:01 Europe/Zürich'],
    ],
  ];

  for (const [name, c, own, left] of cases) {
    test(`${name}: exactly toJson's bytes, or nothing`, () => {
      assert.ok(c.writeJson, `${name} has a byte writer`);
      for (const text of own) assert.equal(written(c, text), c.toJson(text), `${name} "${text}"`);
      for (const text of left) assert.equal(written(c, text), undefined, `${name} "${text}"`);
    });
  }

  test('types without a byte writer convert through toJson', () => {
    for (const oid of [700, 701, 17, 1082, 1083, 1114, 1186, 1007])
      assert.equal(conv(oid).writeJson, undefined, `type ${oid}`);
    // numeric without a declared scale (VariableScaleDecimal) and the string/double modes
    assert.equal(conv(1700).writeJson, undefined);
    assert.equal(
      conv(1700, numericTypmod(12, 2), { decimalHandling: 'string' }).writeJson,
      undefined,
    );
  });
});
