/**
 * Index naming, document ids and the optional index mapping derived from a table's Connect
 * schema (core/events), for OpenSearch and Elasticsearch alike.
 */
import type { ConnectSchema, RowKey } from '../../core/events/index.ts';
import { RecordRejectedError, keyIdentity } from '../runtime/sink.ts';

/** Largest external version the servers accept (a Java long). */
export const MAX_EXTERNAL_VERSION = (1n << 63n) - 1n;

/**
 * Index name for a topic from the template: lowercased, characters the servers refuse
 * (`\ / * ? " < > | , # :` and spaces) as `_`, no leading `-`, `_` or `+`.
 */
export function indexName(template: string, topic: string): string {
  const segments = topic.split('.');
  const name = template
    .replaceAll('${table}', segments[segments.length - 1] ?? topic)
    .replaceAll('${schema}', segments.length > 1 ? segments[segments.length - 2]! : '')
    .replaceAll('${topic}', topic)
    .toLowerCase()
    .replace(/[\\/*?"<>|,#: ]/g, '_')
    .replace(/^[-_+]+/, '');
  if (name === '' || name === '.' || name === '..' || Buffer.byteLength(name) > 255)
    throw new RecordRejectedError(
      `index template "${template}" gives no valid index name for topic ${topic}`,
    );
  return name;
}

/**
 * Document `_id` for a key: the value itself for a one-column key (so `GET index/_doc/42`
 * works), the canonical JSON of the key (columns sorted) for a composite key.
 */
export function documentId(key: RowKey): string {
  const values = Object.values(key);
  const id =
    values.length === 1 && values[0] !== null && typeof values[0] !== 'object'
      ? String(values[0])
      : keyIdentity(key);
  if (Buffer.byteLength(id) > 512)
    throw new RecordRejectedError(`document id longer than 512 bytes (key ${keyIdentity(key)})`);
  return id;
}

const TEXT = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };

/** The field mapping for one Connect schema (Debezium logical types first). */
export function fieldMapping(s: ConnectSchema, keyColumn = false): Record<string, unknown> {
  switch (s.name) {
    case 'io.debezium.time.Timestamp':
    case 'org.apache.kafka.connect.data.Timestamp':
      return { type: 'date', format: 'epoch_millis||strict_date_optional_time' };
    case 'io.debezium.time.ZonedTimestamp':
    case 'io.debezium.time.IsoDate':
    case 'io.debezium.time.IsoTimestamp':
      return { type: 'date' };
    case 'org.apache.kafka.connect.data.Decimal':
    case 'io.debezium.data.Uuid':
    case 'io.debezium.data.Enum':
      return { type: 'keyword' };
    case 'io.debezium.data.VariableScaleDecimal':
    case 'io.debezium.data.Json':
      return { type: 'object', enabled: false };
  }
  switch (s.type) {
    case 'int8':
      return { type: 'byte' };
    case 'int16':
      return { type: 'short' };
    case 'int32':
      return { type: 'integer' };
    case 'int64':
      return { type: 'long' };
    case 'float32':
      return { type: 'float' };
    case 'float64':
      return { type: 'double' };
    case 'boolean':
      return { type: 'boolean' };
    case 'bytes':
      return { type: 'binary' };
    case 'string':
      return keyColumn ? { type: 'keyword' } : TEXT;
    case 'array':
      return s.items ? fieldMapping(s.items) : { type: 'object', enabled: false };
    case 'struct':
      return { properties: propertiesOf(s.fields ?? []) };
    case 'map':
      return { type: 'object', enabled: false };
  }
}

function propertiesOf(
  fields: ConnectSchema[],
  keyColumns: ReadonlySet<string> = new Set(),
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (f.field) out[f.field] = fieldMapping(f, keyColumns.has(f.field));
  return out;
}

/**
 * The `mappings` of a new index for a table whose row schema is `row`. New columns that
 * appear later are still indexed (dynamic mapping stays on).
 */
export function mappingFromSchema(
  row: ConnectSchema,
  keyColumns: string[],
  softDelete: boolean,
): Record<string, unknown> {
  const properties = propertiesOf(row.fields ?? [], new Set(keyColumns));
  if (softDelete) properties.__deleted = { type: 'boolean' };
  return { dynamic: true, properties };
}
