/**
 * Kafka Connect schemas, as Kafka Connect's JsonConverter writes them in the `{schema, payload}`
 * JSON form. Property order matters for byte-exact output and follows JsonConverter:
 * type, fields|items|keys+values, optional, name, version, doc, parameters, default, field.
 */
export type ConnectType =
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'float32'
  | 'float64'
  | 'boolean'
  | 'string'
  | 'bytes'
  | 'array'
  | 'map'
  | 'struct';

export const CONNECT_TYPES: readonly ConnectType[] = [
  'int8',
  'int16',
  'int32',
  'int64',
  'float32',
  'float64',
  'boolean',
  'string',
  'bytes',
  'array',
  'map',
  'struct',
];

export interface ConnectSchema {
  type: ConnectType;
  /** Struct members; each carries its `field` name. */
  fields?: ConnectSchema[];
  items?: ConnectSchema;
  keys?: ConnectSchema;
  values?: ConnectSchema;
  optional: boolean;
  /** Logical type or record name, e.g. "io.debezium.time.MicroTimestamp". */
  name?: string;
  version?: number;
  doc?: string;
  parameters?: Record<string, string>;
  default?: unknown;
  /** Set on struct members only. */
  field?: string;
}

/** Returns the schema with properties in JsonConverter's order (for exact JSON output). */
export function canonicalSchema(s: ConnectSchema): ConnectSchema {
  const out: Partial<ConnectSchema> = { type: s.type };
  if (s.type === 'struct') out.fields = (s.fields ?? []).map(canonicalSchema);
  if (s.type === 'array' && s.items) out.items = canonicalSchema(s.items);
  if (s.type === 'map' && s.keys && s.values) {
    out.keys = canonicalSchema(s.keys);
    out.values = canonicalSchema(s.values);
  }
  out.optional = s.optional;
  if (s.name !== undefined) out.name = s.name;
  if (s.version !== undefined) out.version = s.version;
  if (s.doc !== undefined) out.doc = s.doc;
  if (s.parameters !== undefined) out.parameters = s.parameters;
  if (s.default !== undefined) out.default = s.default;
  if (s.field !== undefined) out.field = s.field;
  return out as ConnectSchema;
}

/** A struct member: `schema` with its field name attached. */
export function field(name: string, schema: Omit<ConnectSchema, 'field'>): ConnectSchema {
  return { ...schema, field: name };
}

/** Debezium's transaction block schema (name "event.block", version 1). */
export const TRANSACTION_BLOCK_SCHEMA: ConnectSchema = {
  type: 'struct',
  fields: [
    { type: 'string', optional: false, field: 'id' },
    { type: 'int64', optional: false, field: 'total_order' },
    { type: 'int64', optional: false, field: 'data_collection_order' },
  ],
  optional: true,
  name: 'event.block',
  version: 1,
};

/**
 * Builds the Debezium (2.x/3.x) envelope schema around a row schema and a source schema:
 * before, after, source, transaction, op, ts_ms, ts_us, ts_ns.
 */
export function envelopeSchema(
  row: ConnectSchema,
  source: ConnectSchema,
  envelopeName: string,
): ConnectSchema {
  const optionalRow = { ...row, optional: true };
  return {
    type: 'struct',
    fields: [
      { ...optionalRow, field: 'before' },
      { ...optionalRow, field: 'after' },
      { ...source, optional: false, field: 'source' },
      { ...TRANSACTION_BLOCK_SCHEMA, field: 'transaction' },
      { type: 'string', optional: false, field: 'op' },
      { type: 'int64', optional: true, field: 'ts_ms' },
      { type: 'int64', optional: true, field: 'ts_us' },
      { type: 'int64', optional: true, field: 'ts_ns' },
    ],
    optional: false,
    name: envelopeName,
    version: 2,
  };
}
