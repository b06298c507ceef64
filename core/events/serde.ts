/**
 * ChangeEvent <-> Kafka record serde.
 *
 * Two JSON forms, both byte-compatible with Debezium:
 *   - 'json': the plain value, as Kafka Connect's JsonConverter writes with schemas.enable=false;
 *   - 'json-schema': `{schema, payload}`, as JsonConverter writes with schemas.enable=true.
 * A delete is followed by a tombstone (same key, null value) unless disabled, so compacted
 * topics drop the key. The per-key version travels in the `tributary.version` header.
 * Decoding validates the envelope and throws ChangeEventError naming the offending field.
 */
import { ChangeEventError } from '../errors/index.ts';
import { OPS, VERSION_HEADER, MAX_VERSION } from './change-event.ts';
import type {
  ChangeEvent,
  Envelope,
  EventSchemas,
  Op,
  RowKey,
  SourceInfo,
  TransactionBlock,
} from './change-event.ts';
import { canonicalSchema, envelopeSchema } from './connect-schema.ts';
import type { ConnectSchema } from './connect-schema.ts';
import { parseJson, stringifyFlat, stringifyJson, stringifyNumber } from './json.ts';

export type JsonFormat = 'json' | 'json-schema';

export interface SerdeOptions {
  format: JsonFormat;
  /** Emit a tombstone after each delete (Debezium's tombstones.on.delete, default true). */
  tombstonesOnDelete?: boolean;
}

/** A Kafka record in Tributary's neutral shape (what core/kafka produces and consumes). */
export interface EncodedRecord {
  topic: string;
  key: Buffer;
  value: Buffer | null;
  headers: Record<string, string>;
}

/** A tombstone: the key is deleted, compaction may drop every earlier record of it. */
export interface Tombstone {
  topic: string;
  key: RowKey;
  version: bigint;
}

export type DecodedRecord =
  { kind: 'change'; event: ChangeEvent } | { kind: 'tombstone'; tombstone: Tombstone };

/** Schema JSON per EventSchemas object: a table's schemas are shared by all its events. */
const schemaJson = new WeakMap<EventSchemas, { key: string; value: string }>();

function schemaTexts(s: EventSchemas): { key: string; value: string } {
  let t = schemaJson.get(s);
  if (!t) {
    t = {
      key: stringifyJson(canonicalSchema(s.key)),
      value: stringifyJson(canonicalSchema(envelopeSchema(s.row, s.source, s.envelopeName))),
    };
    schemaJson.set(s, t);
  }
  return t;
}

/** The value JSON, always in Debezium's field order (pinned by the golden files). */
function envelopeJson(v: Envelope): string {
  let out =
    '{"before":' +
    stringifyFlat(v.before) +
    ',"after":' +
    stringifyFlat(v.after) +
    ',"source":' +
    stringifyFlat(v.source) +
    ',"transaction":' +
    (v.transaction === null ? 'null' : stringifyJson(v.transaction)) +
    ',"op":' +
    JSON.stringify(v.op) +
    ',"ts_ms":' +
    stringifyNumber(v.ts_ms);
  if (v.ts_us !== undefined) out += ',"ts_us":' + stringifyNumber(v.ts_us);
  if (v.ts_ns !== undefined) out += ',"ts_ns":' + stringifyNumber(v.ts_ns);
  return out + '}';
}

/**
 * An event may carry its JSON already, written by the connector straight from the source data
 * (PostgreSQL capture): it then has a method under this symbol on its PROTOTYPE returning the
 * texts, which must be exactly what stringifying its key and value would give. A copy made with
 * spread ({...event, value}) does not inherit the method, so a changed copy is encoded afresh.
 */
export const PRE_ENCODED: unique symbol = Symbol('tributary.preEncoded');

/** What an event's PRE_ENCODED method returns. */
export interface PreEncodedJson {
  /** stringifyJson(event.key) */
  readonly keyJson: string;
  /** The value payload (the 'json' form of the envelope). */
  readonly valueJson: string;
  /**
   * Set when the connector wrote the value payload as UTF-8 bytes: they lie at
   * valueBuffer[valueStart..valueEnd), and valueJson is decoded from them when asked for.
   */
  readonly valueBuffer?: Buffer;
  readonly valueStart?: number;
  readonly valueEnd?: number;
  /** event.version.toString() */
  readonly versionText: string;
  /** event.version as a number, when it is a non-negative safe integer (packed without text). */
  readonly versionNumber?: number;
  /** event.value.op */
  readonly op: Op;
}

function preEncoded(event: object): PreEncodedJson | undefined {
  const f = (event as { [PRE_ENCODED]?: () => PreEncodedJson })[PRE_ENCODED];
  return f === undefined ? undefined : f.call(event);
}

export function encodeKey(event: Pick<ChangeEvent, 'key' | 'schemas'>, format: JsonFormat): Buffer {
  return keyBuffer(event, preEncoded(event)?.keyJson ?? stringifyFlat(event.key), format);
}

export function encodeValue(
  event: Pick<ChangeEvent, 'value' | 'schemas'>,
  format: JsonFormat,
): Buffer {
  return valueBuffer(event, preEncoded(event)?.valueJson ?? envelopeJson(event.value), format);
}

/**
 * The UTF-8 bytes of `text` as a Buffer carved from a 1 MiB slab (like Buffer.from's 8 KiB pool,
 * but 128x fewer ArrayBuffers for the GC to track, and written in one pass: the slab always has
 * room for the worst case of 3 bytes per UTF-16 unit, so no length is counted first).
 */
function textBuffer(text: string): Buffer {
  const worst = text.length * 3;
  if (worst > SLAB_SIZE - slabUsed) {
    if (worst > SLAB_SIZE / 8) return Buffer.from(text);
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  const start = slabUsed;
  const n = (slab as unknown as SlabWrite).utf8Write(text, start);
  slabUsed = (start + n + 7) & ~7; // keep slices 8-byte aligned, like Buffer's pool
  return slab.subarray(start, start + n);
}
const SLAB_SIZE = 1024 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;
/** Buffer's own utf8Write (what write(text, offset) ends in), returning the bytes written. */
interface SlabWrite {
  utf8Write(text: string, offset: number): number;
}

function keyText(event: Pick<ChangeEvent, 'schemas'>, key: string, format: JsonFormat): string {
  if (format === 'json') return key;
  return `{"schema":${schemaTexts(requireSchemas(event.schemas)).key},"payload":${key}}`;
}

function valueText(
  event: Pick<ChangeEvent, 'schemas'>,
  payload: string,
  format: JsonFormat,
): string {
  if (format === 'json') return payload;
  return `{"schema":${schemaTexts(requireSchemas(event.schemas)).value},"payload":${payload}}`;
}

function keyBuffer(event: Pick<ChangeEvent, 'schemas'>, key: string, format: JsonFormat): Buffer {
  return textBuffer(keyText(event, key, format));
}

function valueBuffer(
  event: Pick<ChangeEvent, 'schemas'>,
  payload: string,
  format: JsonFormat,
): Buffer {
  return textBuffer(valueText(event, payload, format));
}

/** The headers of an event's record(s): its own plus the version. */
function recordHeaders(event: ChangeEvent, version: string): Record<string, string> {
  return event.headers
    ? { ...event.headers, [VERSION_HEADER]: version }
    : { 'tributary.version': version }; // VERSION_HEADER, as a literal: a fast object shape
}

function tombstoneFollows(op: Op, options: SerdeOptions): boolean {
  return op === 'd' && options.tombstonesOnDelete !== false;
}

/** The Kafka record(s) for one event: the event itself, plus a tombstone after a delete. */
export function toKafkaRecords(event: ChangeEvent, options: SerdeOptions): EncodedRecord[] {
  const pre = preEncoded(event);
  let version: string;
  let key: Buffer;
  let value: Buffer;
  if (pre) {
    version = pre.versionText;
    key = keyBuffer(event, pre.keyJson, options.format);
    value =
      pre.valueBuffer !== undefined && options.format === 'json'
        ? // a copy: the connector's buffer may be written over (JsonBytes)
          Buffer.from(pre.valueBuffer.subarray(pre.valueStart, pre.valueEnd))
        : valueBuffer(event, pre.valueJson, options.format);
  } else {
    checkVersion(event.version, 'version');
    version = event.version.toString();
    key = encodeKey(event, options.format);
    value = encodeValue(event, options.format);
  }
  const headers = recordHeaders(event, version);
  const record: EncodedRecord = { topic: event.topic, key, value, headers };
  if (tombstoneFollows(pre ? pre.op : event.value.op, options)) {
    return [record, { topic: event.topic, key, value: null, headers: { ...headers } }];
  }
  return [record];
}

/** Where packEvent writes: core/kafka's RecordPack. */
export interface RecordPacker {
  add(record: EncodedRecord): void;
  /**
   * A record from texts (UTF-8 encoded by the packer; a null value is a tombstone) with the
   * headers `{...extra, [name]: version}`, without building that object.
   */
  addVersioned(
    topic: string,
    key: string,
    value: string | null,
    name: string,
    version: string | number,
    extra: Record<string, string> | undefined,
  ): void;
  /** addVersioned with the value given as UTF-8 bytes, value[start..end) (copied). */
  addVersionedBytes(
    topic: string,
    key: string,
    value: Buffer,
    start: number,
    end: number,
    name: string,
    version: string | number,
    extra: Record<string, string> | undefined,
  ): void;
}

/**
 * Adds the Kafka record(s) of one event to `pack`: the same records as toKafkaRecords, but an
 * event that carries its JSON (PRE_ENCODED) is written into the pack as text, with no Buffer
 * or record object made for it.
 */
export function packEvent(pack: RecordPacker, event: ChangeEvent, options: SerdeOptions): void {
  const pre = preEncoded(event);
  if (!pre) {
    for (const r of toKafkaRecords(event, options)) pack.add(r);
    return;
  }
  const key = keyText(event, pre.keyJson, options.format);
  const version = pre.versionNumber ?? pre.versionText;
  const bytes = pre.valueBuffer;
  if (bytes !== undefined && options.format === 'json') {
    pack.addVersionedBytes(
      event.topic,
      key,
      bytes,
      pre.valueStart!,
      pre.valueEnd!,
      VERSION_HEADER,
      version,
      event.headers,
    );
  } else {
    const value = valueText(event, pre.valueJson, options.format);
    pack.addVersioned(event.topic, key, value, VERSION_HEADER, version, event.headers);
  }
  if (tombstoneFollows(pre.op, options))
    pack.addVersioned(event.topic, key, null, VERSION_HEADER, version, event.headers);
}

/**
 * Decodes a consumed record. Accepts both JSON forms (detected per record). The version header
 * is required: every Tributary record carries it.
 */
export function fromKafkaRecord(
  record: {
    topic: string;
    key: Buffer | null;
    value: Buffer | null;
    headers: Record<string, string | Buffer | undefined>;
  },
  options: { keepSchemas?: boolean } = {},
): DecodedRecord {
  if (record.key === null || record.key.length === 0)
    throw new ChangeEventError('key', 'missing; every change event is keyed by its primary key');
  const rawKey = parseText(record.key, 'key');
  const key = unwrapPayload(rawKey, 'key');
  if (key === null || typeof key !== 'object' || Array.isArray(key)) {
    throw new ChangeEventError('key', 'must be a JSON object of primary-key columns');
  }
  const rawVersion = record.headers[VERSION_HEADER];
  if (rawVersion === undefined)
    throw new ChangeEventError(
      `headers.${VERSION_HEADER}`,
      'missing; the per-key version header is required',
    );
  const version = parseVersion(rawVersion.toString());
  if (record.value === null)
    return { kind: 'tombstone', tombstone: { topic: record.topic, key: key as RowKey, version } };
  const parsed = parseText(record.value, 'value');
  const value = validateEnvelope(unwrapPayload(parsed, 'value'), 'value');
  const event: ChangeEvent = { topic: record.topic, key: key as RowKey, value, version };
  if (options.keepSchemas) {
    const schemas = schemasOf(rawKey, parsed);
    if (schemas) event.schemas = schemas;
  }
  for (const [name, raw] of Object.entries(record.headers)) {
    if (name === VERSION_HEADER || raw === undefined) continue;
    (event.headers ??= {})[name] = raw.toString();
  }
  return { kind: 'change', event };
}

/** Checks that `v` satisfies the envelope contract; returns it typed, in canonical order. */
export function validateEnvelope(v: unknown, path = 'value'): Envelope {
  const obj = asObject(
    v,
    path,
    'must be a JSON object {before, after, source, transaction, op, ts_ms}',
  );
  const op = obj.op;
  if (op === undefined || op === null)
    throw new ChangeEventError(`${path}.op`, `missing; expected one of ${OPS.join(', ')}`);
  if (typeof op !== 'string' || !(OPS as readonly string[]).includes(op)) {
    throw new ChangeEventError(
      `${path}.op`,
      `unknown op ${JSON.stringify(op)}; expected one of ${OPS.join(', ')} (c=create, u=update, d=delete, r=read, t=truncate)`,
    );
  }
  const before = optionalRow(obj.before, `${path}.before`);
  const after = optionalRow(obj.after, `${path}.after`);
  switch (op as Op) {
    case 'c':
    case 'r':
    case 'u':
      if (after === null)
        throw new ChangeEventError(`${path}.after`, `must be a row object for op "${op}"`);
      break;
    case 'd':
      if (after !== null) throw new ChangeEventError(`${path}.after`, 'must be null for op "d"');
      break;
    case 't':
      if (before !== null || after !== null)
        throw new ChangeEventError(`${path}.before`, 'before and after must be null for op "t"');
      break;
  }
  const source = validateSource(obj.source, `${path}.source`);
  const tsMs = obj.ts_ms;
  if (typeof tsMs !== 'number' || !Number.isInteger(tsMs))
    throw new ChangeEventError(`${path}.ts_ms`, 'must be an integer (epoch milliseconds)');
  const transaction = validateTransaction(obj.transaction, `${path}.transaction`);
  const out: Envelope = { before, after, source, transaction, op: op as Op, ts_ms: tsMs };
  if (obj.ts_us !== undefined && obj.ts_us !== null)
    out.ts_us = integerField(obj.ts_us, `${path}.ts_us`) as number;
  if (obj.ts_ns !== undefined && obj.ts_ns !== null)
    out.ts_ns = integerField(obj.ts_ns, `${path}.ts_ns`);
  return out;
}

function validateSource(v: unknown, path: string): SourceInfo {
  const s = asObject(v, path, 'must be an object with version, connector, name, ts_ms, db');
  for (const f of ['version', 'connector', 'name', 'db'] as const) {
    if (typeof s[f] !== 'string') throw new ChangeEventError(`${path}.${f}`, 'must be a string');
  }
  if (typeof s.ts_ms !== 'number')
    throw new ChangeEventError(`${path}.ts_ms`, 'must be an integer (epoch milliseconds)');
  return s as SourceInfo;
}

function validateTransaction(v: unknown, path: string): TransactionBlock | null {
  if (v === undefined || v === null) return null;
  const t = asObject(v, path, 'must be null or {id, total_order, data_collection_order}');
  if (typeof t.id !== 'string') throw new ChangeEventError(`${path}.id`, 'must be a string');
  integerField(t.total_order, `${path}.total_order`);
  integerField(t.data_collection_order, `${path}.data_collection_order`);
  return t as unknown as TransactionBlock;
}

function optionalRow(v: unknown, path: string): Record<string, unknown> | null {
  if (v === undefined || v === null) return null;
  return asObject(v, path, 'must be null or a row object');
}

function asObject(v: unknown, path: string, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new ChangeEventError(path, what);
  return v as Record<string, unknown>;
}

function integerField(v: unknown, path: string): number | bigint {
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) return v;
  throw new ChangeEventError(path, 'must be an integer');
}

function parseText(buf: Buffer, path: string): unknown {
  try {
    return parseJson(buf.toString('utf8'));
  } catch (err) {
    throw new ChangeEventError(path, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
}

/**
 * The Connect schemas of a record in the `{schema, payload}` form (key schema, and the row and
 * source schemas taken from the envelope schema); undefined for the plain form.
 */
function schemasOf(key: unknown, value: unknown): EventSchemas | undefined {
  const schemaOf = (v: unknown) =>
    v !== null && typeof v === 'object' && 'schema' in v && 'payload' in v
      ? (v as { schema: ConnectSchema | null }).schema
      : null;
  const keySchema = schemaOf(key);
  const envelope = schemaOf(value);
  const fields = Array.isArray(envelope?.fields) ? envelope.fields : [];
  const row = fields.find((f) => f.field === 'after') ?? fields.find((f) => f.field === 'before');
  const source = fields.find((f) => f.field === 'source');
  if (!keySchema || !envelope || !row || !source) return undefined;
  const member = (f: ConnectSchema): ConnectSchema => {
    const s = { ...f };
    delete s.field;
    return s;
  };
  return {
    key: keySchema,
    row: member(row),
    source: member(source),
    envelopeName: envelope.name ?? '',
  };
}

/** Unwraps the `{schema, payload}` form; plain JSON passes through. */
function unwrapPayload(v: unknown, path: string): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && 'payload' in v && 'schema' in v) {
    const schema = (v as { schema: unknown }).schema;
    if (schema !== null && (typeof schema !== 'object' || Array.isArray(schema))) {
      throw new ChangeEventError(`${path}.schema`, 'must be a Kafka Connect schema object');
    }
    return (v as { payload: unknown }).payload;
  }
  return v;
}

function parseVersion(text: string): bigint {
  if (!/^\d{1,20}$/.test(text))
    throw new ChangeEventError(
      `headers.${VERSION_HEADER}`,
      `must be an unsigned 64-bit decimal, got ${JSON.stringify(text)}`,
    );
  const v = BigInt(text);
  checkVersion(v, `headers.${VERSION_HEADER}`);
  return v;
}

function checkVersion(v: bigint, path: string): void {
  if (typeof v !== 'bigint' || v < 0n || v > MAX_VERSION)
    throw new ChangeEventError(path, 'must be an unsigned 64-bit integer (bigint)');
}

function requireSchemas(s: EventSchemas | undefined): EventSchemas {
  if (!s)
    throw new ChangeEventError(
      'schemas',
      "required for the 'json-schema' format; the connector must attach key/row/source schemas",
    );
  return s;
}

export type { ConnectSchema };
