/**
 * Kafka Connect / Debezium connector configs → Tributary capture configs.
 *
 * A Debezium PostgreSQL connector config is accepted unchanged for the properties listed in
 * PROPERTIES; every other property is reported as unsupported (REST 422) — never ignored
 * silently, because a property the user relies on (a filter, a converter) that quietly does
 * nothing would change what lands in Kafka.
 */
import { PostgresSourceSchema } from '../../capture/postgres/config.ts';
import type { PostgresSourceConfig } from '../../capture/postgres/config.ts';

export const POSTGRES_CONNECTOR_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';

export interface FieldError {
  field: string;
  message: string;
}

export interface ConnectorMapping {
  /** The capture config (secret references still unresolved), when there were no errors. */
  source?: PostgresSourceConfig;
  errors: FieldError[];
}

type Props = Record<string, string>;
type Apply = (value: string, out: Record<string, unknown>, props: Props) => string | undefined;

const setIn = (out: Record<string, unknown>, path: string[], value: unknown) => {
  let o = out;
  for (const p of path.slice(0, -1)) o = (o[p] ??= {}) as Record<string, unknown>;
  o[path.at(-1)!] = value;
};
const to = (path: string) => (v: string, out: Record<string, unknown>) => {
  setIn(out, path.split('.'), v);
  return undefined;
};
const toInt =
  (path: string, min = 0) =>
  (v: string, out: Record<string, unknown>) => {
    const n = Number(v);
    if (!/^\d+$/.test(v.trim()) || n < min) return `must be an integer ≥ ${min}, got "${v}"`;
    setIn(out, path.split('.'), n);
    return undefined;
  };
const toBool = (path: string) => (v: string, out: Record<string, unknown>) => {
  if (v !== 'true' && v !== 'false') return `must be true or false, got "${v}"`;
  setIn(out, path.split('.'), v === 'true');
  return undefined;
};
const oneOf =
  (path: string, values: Record<string, string>) => (v: string, out: Record<string, unknown>) => {
    const mapped = values[v];
    if (mapped === undefined)
      return `unsupported value "${v}"; supported: ${Object.keys(values).join(', ')}`;
    setIn(out, path.split('.'), mapped);
    return undefined;
  };
const only = (allowed: string[], why: string) => (v: string) =>
  allowed.includes(v) ? undefined : `only ${allowed.join(' or ')} is supported (${why})`;

/** A Debezium include-list entry is a regex; plain `schema.table` names are what we support. */
function tableList(v: string, out: Record<string, unknown>): string | undefined {
  const tables = v
    .split(',')
    .map((t) => t.trim().replace(/\\\./g, '.'))
    .filter(Boolean);
  const bad = tables.filter((t) => !/^[A-Za-z0-9_$]+\.[A-Za-z0-9_$]+$/.test(t));
  if (bad.length > 0)
    return `regular expressions are not supported; list tables as schema.table (offending: ${bad.join(', ')})`;
  if (tables.length === 0) return 'lists no table';
  out.tables = tables;
  return undefined;
}

function schemaList(v: string, out: Record<string, unknown>): string | undefined {
  const schemas = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (schemas.length !== 1 || !/^[A-Za-z0-9_$]+$/.test(schemas[0]!))
    return 'exactly one schema name (no regular expression) is supported';
  out.schema = schemas[0];
  return undefined;
}

/** Supported properties and how each maps onto the capture config. */
export const PROPERTIES: Record<string, { apply: Apply; doc: string }> = {
  'connector.class': { apply: () => undefined, doc: `${POSTGRES_CONNECTOR_CLASS} (required)` },
  name: { apply: () => undefined, doc: 'must equal the connector name when present' },
  'tasks.max': { apply: only(['1'], 'a capture source has one active task'), doc: '1' },
  'database.hostname': { apply: to('connection.host'), doc: 'connection.host' },
  'database.port': { apply: toInt('connection.port', 1), doc: 'connection.port' },
  'database.user': { apply: to('connection.user'), doc: 'connection.user' },
  'database.password': { apply: to('connection.password'), doc: 'connection.password (secret)' },
  'database.dbname': { apply: to('connection.database'), doc: 'connection.database' },
  'topic.prefix': { apply: to('topic.prefix'), doc: 'topic.prefix' },
  'database.server.name': {
    apply: (v, out) => {
      const t = (out.topic ??= {}) as Record<string, unknown>;
      t.prefix ??= v;
      return undefined;
    },
    doc: 'topic.prefix (Debezium 1.x name; topic.prefix wins when both are set)',
  },
  'table.include.list': { apply: tableList, doc: 'tables (plain schema.table names)' },
  'schema.include.list': { apply: schemaList, doc: 'schema (one schema)' },
  'slot.name': { apply: to('slot'), doc: 'slot' },
  'publication.name': { apply: to('publication'), doc: 'publication' },
  'plugin.name': { apply: only(['pgoutput'], 'logical decoding plugin'), doc: 'pgoutput' },
  'snapshot.mode': {
    apply: oneOf('snapshot.mode', {
      initial: 'initial',
      always: 'always',
      never: 'never',
      no_data: 'never',
      when_needed: 'when_needed',
      initial_only: 'initial_only',
    }),
    doc: 'snapshot.mode (no_data = never)',
  },
  'incremental.snapshot.chunk.size': {
    apply: toInt('snapshot.chunkSize', 1),
    doc: 'snapshot.chunkSize',
  },
  'heartbeat.interval.ms': { apply: toInt('heartbeatIntervalMs'), doc: 'heartbeatIntervalMs' },
  'tombstones.on.delete': { apply: toBool('tombstonesOnDelete'), doc: 'tombstonesOnDelete' },
  'provide.transaction.metadata': {
    apply: toBool('transactionMetadata'),
    doc: 'transactionMetadata',
  },
  'decimal.handling.mode': {
    apply: oneOf('types.decimalHandling', {
      precise: 'precise',
      string: 'string',
      double: 'double',
    }),
    doc: 'types.decimalHandling',
  },
  'time.precision.mode': {
    apply: oneOf('types.timePrecision', {
      adaptive: 'adaptive',
      adaptive_time_microseconds: 'adaptive_time_microseconds',
      connect: 'connect',
    }),
    doc: 'types.timePrecision',
  },
  'interval.handling.mode': {
    apply: oneOf('types.intervalHandling', { numeric: 'numeric', string: 'string' }),
    doc: 'types.intervalHandling',
  },
  'binary.handling.mode': {
    apply: oneOf('types.binaryHandling', { bytes: 'bytes', base64: 'base64', hex: 'hex' }),
    doc: 'types.binaryHandling',
  },
  'unavailable.value.placeholder': {
    apply: to('types.unavailableValuePlaceholder'),
    doc: 'types.unavailableValuePlaceholder',
  },
  'topic.creation.default.partitions': {
    apply: toInt('topic.partitions', 1),
    doc: 'topic.partitions',
  },
  'topic.creation.default.replication.factor': {
    apply: toInt('topic.replicationFactor', 1),
    doc: 'topic.replicationFactor',
  },
  'key.converter': {
    apply: only(['org.apache.kafka.connect.json.JsonConverter'], 'JSON on the wire'),
    doc: 'JsonConverter',
  },
  'value.converter': {
    apply: only(['org.apache.kafka.connect.json.JsonConverter'], 'JSON on the wire'),
    doc: 'JsonConverter',
  },
  'key.converter.schemas.enable': {
    apply: (v, _out, props) =>
      v === (props['value.converter.schemas.enable'] ?? 'true')
        ? undefined
        : 'must equal value.converter.schemas.enable (one format for keys and values)',
    doc: 'same as value.converter.schemas.enable',
  },
  'value.converter.schemas.enable': {
    apply: (v, out) => {
      if (v !== 'true' && v !== 'false') return `must be true or false, got "${v}"`;
      out.format = v === 'true' ? 'json-schema' : 'json';
      return undefined;
    },
    doc: 'format: true → json-schema ({schema, payload}), false → json',
  },
};

/** Properties whose values are secrets: never echoed by the REST API or written to logs. */
export function isSecretProperty(key: string): boolean {
  return /password|secret|token|credential|jaas|private|apikey|api\.key|\.key$|^key$/i.test(key);
}

/**
 * Maps a Debezium PostgreSQL connector config onto a capture config and validates it with the
 * capture's own schema. Values may be strings (as Kafka Connect stores them), numbers or
 * booleans. `kafka` is the worker's cluster (a connector has no brokers of its own).
 */
export function mapConnectorConfig(
  name: string,
  raw: Record<string, unknown>,
  kafka: { brokers: string[]; offsetsTopic?: string },
): ConnectorMapping {
  const errors: FieldError[] = [];
  const props: Props = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v === 'string') props[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') props[k] = String(v);
    else errors.push({ field: k, message: 'must be a string, number or boolean' });
  }
  const cls = props['connector.class'];
  if (cls === undefined)
    errors.push({ field: 'connector.class', message: `required; use ${POSTGRES_CONNECTOR_CLASS}` });
  else if (cls !== POSTGRES_CONNECTOR_CLASS && cls !== 'PostgresConnector')
    errors.push({
      field: 'connector.class',
      message: `unsupported connector class "${cls}"; supported: ${POSTGRES_CONNECTOR_CLASS}`,
    });
  if (props.name !== undefined && props.name !== name)
    errors.push({ field: 'name', message: `"${props.name}" differs from the connector name` });
  const out: Record<string, unknown> = { name, connection: {} };
  const transforms = mapTransforms(props, errors);
  for (const [k, v] of Object.entries(props)) {
    if (transforms.has(k)) continue;
    const p = PROPERTIES[k];
    if (!p) {
      errors.push({ field: k, message: 'unsupported property (Tributary does not implement it)' });
      continue;
    }
    const problem = p.apply(v, out, props);
    if (problem) errors.push({ field: k, message: problem });
  }
  if (props['table.include.list'] === undefined && props['schema.include.list'] === undefined)
    errors.push({
      field: 'table.include.list',
      message: 'required: list the tables to capture (or schema.include.list with one schema)',
    });
  if (props['table.include.list'] !== undefined && props['schema.include.list'] !== undefined)
    errors.push({
      field: 'schema.include.list',
      message: 'set either table.include.list or schema.include.list, not both',
    });
  out.kafka = { brokers: kafka.brokers, offsetsTopic: kafka.offsetsTopic ?? 'tributary.offsets' };
  if (errors.length > 0) return { errors };
  const parsed = PostgresSourceSchema.safeParse(out);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      errors.push({ field: debeziumField(issue.path.map(String)), message: issue.message });
    return { errors };
  }
  return { source: parsed.data, errors };
}

/**
 * Route transforms: `transforms=<alias>` with `transforms.<alias>.type`. None is implemented by
 * the capture yet, so each one is reported by name (with the properties it would consume)
 * rather than dropped.
 */
function mapTransforms(props: Props, errors: FieldError[]): Set<string> {
  const consumed = new Set<string>();
  const list = props.transforms;
  if (list === undefined) return consumed;
  consumed.add('transforms');
  for (const alias of list
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)) {
    const type = props[`transforms.${alias}.type`];
    for (const k of Object.keys(props)) if (k.startsWith(`transforms.${alias}.`)) consumed.add(k);
    errors.push({
      field: `transforms.${alias}.type`,
      message: `unsupported transform ${type ? `"${type}"` : '(no type)'}: topic routing (ByLogicalTableRouter, RegexRouter) is not implemented by Tributary's capture; set topic.prefix, or route with a processor`,
    });
  }
  return consumed;
}

const REVERSE: Record<string, string> = Object.fromEntries(
  Object.entries({
    'connection.host': 'database.hostname',
    'connection.port': 'database.port',
    'connection.user': 'database.user',
    'connection.password': 'database.password',
    'connection.database': 'database.dbname',
    'topic.prefix': 'topic.prefix',
    tables: 'table.include.list',
    schema: 'schema.include.list',
    slot: 'slot.name',
    publication: 'publication.name',
    name: 'name',
  }),
);

function debeziumField(path: string[]): string {
  for (let n = path.length; n > 0; n--) {
    const k = path.slice(0, n).join('.');
    if (REVERSE[k]) return REVERSE[k];
  }
  return path.join('.') || '(config)';
}

/** A copy of `config` with every secret property's value replaced by "[hidden]". */
export function redactConfig(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k, isSecretProperty(k) ? '[hidden]' : v]),
  );
}
