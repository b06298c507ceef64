/**
 * Kafka Connect / Debezium connector configs → Tributary capture configs.
 *
 * A Debezium PostgreSQL connector config is accepted unchanged for the properties listed in
 * PROPERTIES; every other property is reported as unsupported (REST 422) — never ignored
 * silently, because a property the user relies on (a filter, a converter) that quietly does
 * nothing would change what lands in Kafka.
 */
import { derivedNames, PostgresSourceSchema, topicRouter } from '../../capture/postgres/config.ts';
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

/** column.include.list / column.exclude.list: comma-separated schema.table.column regexes. */
const columnList =
  (kind: 'include' | 'exclude') =>
  (v: string, out: Record<string, unknown>, props: Props): string | undefined => {
    if (kind === 'exclude' && props['column.include.list'] !== undefined)
      return 'set either column.include.list or column.exclude.list, not both';
    const list = v
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    if (list.length === 0) return 'lists no column';
    const bad = list.filter((r) => regexProblem(r) !== undefined);
    if (bad.length > 0)
      return `not a valid regular expression: ${bad.join(', ')} (${regexProblem(bad[0]!)})`;
    setIn(out, ['columns', kind], list);
    return undefined;
  };

function regexProblem(r: string): string | undefined {
  try {
    new RegExp(r);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
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
  'column.include.list': {
    apply: columnList('include'),
    doc: 'columns.include (schema.table.column regexes; key columns are always kept)',
  },
  'column.exclude.list': {
    apply: columnList('exclude'),
    doc: 'columns.exclude (schema.table.column regexes; key columns cannot be excluded)',
  },
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
  const transforms = mapTransforms(props, errors, out);
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
  const source = parsed.data;
  if (source.transactionMetadata) {
    // Kafka Connect would route <prefix>.transaction too; Tributary routes change topics only.
    const txTopic = `${derivedNames(source).prefix}.transaction`;
    const route = topicRouter(source.topic.routes)(txTopic);
    if (route.topic !== txTopic)
      errors.push({
        field: 'transforms',
        message: `the route regex matches the transaction topic "${txTopic}", which Tributary never routes (Kafka Connect would): narrow the regex to the change topics`,
      });
    if (errors.length > 0) return { errors };
  }
  return { source, errors };
}

export const REGEX_ROUTER = 'org.apache.kafka.connect.transforms.RegexRouter';
export const LOGICAL_TABLE_ROUTER = 'io.debezium.transforms.ByLogicalTableRouter';
const DEFAULT_KEY_FIELD = '__dbz__physicalTableIdentifier';

/** Per route transform type: its regex and replacement properties and the other options. */
const ROUTERS: Record<string, { regex: string; replacement: string; options: string[] }> = {
  [REGEX_ROUTER]: { regex: 'regex', replacement: 'replacement', options: [] },
  [LOGICAL_TABLE_ROUTER]: {
    regex: 'topic.regex',
    replacement: 'topic.replacement',
    options: ['key.enforce.uniqueness', 'key.field.name'],
  },
};

/**
 * Route transforms: `transforms=<alias>` with `transforms.<alias>.type` RegexRouter or
 * ByLogicalTableRouter becomes one `topic.routes` entry (ByLogicalTableRouter with key
 * uniqueness: `keyField`, default __dbz__physicalTableIdentifier). One route transform per
 * connector: Kafka Connect chains transforms (the second sees the first's output), which one
 * first-match route list does not reproduce. Every other transform type or property is
 * reported by name rather than dropped.
 */
function mapTransforms(
  props: Props,
  errors: FieldError[],
  out: Record<string, unknown>,
): Set<string> {
  const consumed = new Set<string>();
  const list = props.transforms;
  if (list === undefined) return consumed;
  consumed.add('transforms');
  const routes: Array<Record<string, string>> = [];
  for (const alias of list
    .split(',')
    .map((a) => a.trim())
    .filter(Boolean)) {
    const prefix = `transforms.${alias}.`;
    const type = props[`${prefix}type`];
    const own = Object.keys(props).filter((k) => k.startsWith(prefix));
    for (const k of own) consumed.add(k);
    const router = type === undefined ? undefined : ROUTERS[type];
    if (!router) {
      errors.push({
        field: `${prefix}type`,
        message: `unsupported transform ${type ? `"${type}"` : '(no type)'}: Tributary's capture implements ${REGEX_ROUTER} and ${LOGICAL_TABLE_ROUTER} (topic routing); do other transforms with a processor`,
      });
      continue;
    }
    const known = new Set(['type', router.regex, router.replacement, ...router.options]);
    for (const k of own)
      if (!known.has(k.slice(prefix.length)))
        errors.push({
          field: k,
          message: `unsupported ${type!.split('.').at(-1)} option (supported: ${[...known].join(', ')})`,
        });
    const route: Record<string, string> = {};
    for (const [prop, key] of [
      [router.regex, 'match'],
      [router.replacement, 'replace'],
    ] as const) {
      const v = props[prefix + prop];
      if (v === undefined || v === '') errors.push({ field: prefix + prop, message: 'required' });
      else route[key] = v;
    }
    const problem = route.match === undefined ? undefined : regexProblem(route.match);
    if (problem)
      errors.push({
        field: prefix + router.regex,
        message: `not a valid regular expression: ${problem}`,
      });
    if (type === LOGICAL_TABLE_ROUTER) {
      const unique = props[`${prefix}key.enforce.uniqueness`] ?? 'true';
      if (unique !== 'true' && unique !== 'false')
        errors.push({
          field: `${prefix}key.enforce.uniqueness`,
          message: `must be true or false, got "${unique}"`,
        });
      if (unique === 'true') route.keyField = props[`${prefix}key.field.name`] ?? DEFAULT_KEY_FIELD;
    }
    routes.push(route);
  }
  if (routes.length > 1)
    errors.push({
      field: 'transforms',
      message:
        "one route transform per connector is supported (chained routers rewrite each other's output); merge them into one regex",
    });
  if (routes.length > 0) setIn(out, ['topic', 'routes'], routes);
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
    'columns.include': 'column.include.list',
    'columns.exclude': 'column.exclude.list',
    columns: 'column.exclude.list',
    'topic.routes': 'transforms',
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
