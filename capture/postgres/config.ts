/**
 * Configuration of one PostgreSQL source. Validated at the edge (defaults applied) before any
 * connection is made; errors name the exact path. The same schema documents the options
 * (docs/capture-postgres.md).
 */
import { z } from 'zod';
import { readConfigFile, resolveSecrets, validateConfig } from '../../core/config/index.ts';

/** A regular expression (Java/JavaScript syntax in common), checked to compile. */
const regex = z.string().superRefine((v, ctx) => {
  try {
    new RegExp(v);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `not a valid regular expression: ${(err as Error).message}`,
    });
  }
});

/**
 * One topic route (Kafka Connect's RegexRouter / Debezium's ByLogicalTableRouter): when `match`
 * matches the whole default topic name, the topic becomes `replace` ($1.. are its groups).
 * With `keyField`, the key gets that extra field holding the default topic name, so rows of
 * several tables routed into one topic keep distinct keys.
 */
const topicRoute = z
  .object({
    match: regex,
    replace: z.string().min(1),
    keyField: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a field name (letters, digits, _)')
      .optional(),
  })
  .strict();

const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, 'must be a lowercase identifier (letters, digits, _)');

export const PostgresSourceSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'use letters, digits, ".", "_" or "-"'),
    connection: z
      .object({
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(5432),
        database: z.string(),
        user: z.string(),
        password: z.string().default(''),
      })
      .strict(),
    /** Tables as "schema.table"; or `schema` to capture every table of one schema. */
    tables: z
      .array(z.string().regex(/^[^.]+\.[^.]+$/, 'write tables as "schema.table"'))
      .min(1)
      .optional(),
    schema: z.string().optional(),
    slot: identifier.optional(),
    publication: identifier.optional(),
    topic: z
      .object({
        prefix: z.string().optional(),
        partitions: z.number().int().min(1).default(3),
        replicationFactor: z.number().int().min(1).default(1),
        /** Change topics only (not offsets or transaction topics); first match wins. */
        routes: z.array(topicRoute).default([]),
      })
      .strict()
      .default({ partitions: 3, replicationFactor: 1, routes: [] }),
    /**
     * Column filter (Debezium column.include.list / column.exclude.list): regular expressions
     * matched case-insensitively against the whole "schema.table.column" name. Key columns
     * cannot be excluded.
     */
    columns: z
      .object({
        include: z.array(regex).min(1).optional(),
        exclude: z.array(regex).min(1).optional(),
      })
      .strict()
      .refine((c) => c.include === undefined || c.exclude === undefined, {
        message: 'set either "include" or "exclude", not both',
      })
      .optional(),
    snapshot: z
      .object({
        mode: z
          .enum(['initial', 'never', 'always', 'when_needed', 'initial_only'])
          .default('initial'),
        chunkSize: z.number().int().min(1).max(100_000).default(2048),
      })
      .strict()
      .default({ mode: 'initial', chunkSize: 2048 }),
    onSlotLoss: z.enum(['fail', 'resnapshot']).default('fail'),
    heartbeatIntervalMs: z.number().int().min(0).default(10_000),
    slotLagWarnBytes: z
      .number()
      .int()
      .min(0)
      .default(1024 ** 3),
    format: z.enum(['json', 'json-schema']).default('json'),
    /** Debezium's provide.transaction.metadata: BEGIN/END on <prefix>.transaction. */
    transactionMetadata: z.boolean().default(false),
    tombstonesOnDelete: z.boolean().default(true),
    types: z
      .object({
        decimalHandling: z.enum(['precise', 'string', 'double']).default('precise'),
        timePrecision: z
          .enum(['adaptive', 'adaptive_time_microseconds', 'connect'])
          .default('adaptive'),
        intervalHandling: z.enum(['numeric', 'string']).default('numeric'),
        binaryHandling: z.enum(['bytes', 'base64', 'hex']).default('bytes'),
        unavailableValuePlaceholder: z.string().default('__debezium_unavailable_value'),
      })
      .strict()
      .default({
        decimalHandling: 'precise',
        timePrecision: 'adaptive',
        intervalHandling: 'numeric',
        binaryHandling: 'bytes',
        unavailableValuePlaceholder: '__debezium_unavailable_value',
      }),
    kafka: z
      .object({
        brokers: z.array(z.string()).min(1).default(['127.0.0.1:9092']),
        offsetsTopic: z.string().default('tributary.offsets'),
      })
      .strict()
      .default({ brokers: ['127.0.0.1:9092'], offsetsTopic: 'tributary.offsets' }),
    publisher: z
      .object({
        batchSize: z.number().int().min(1).default(5000),
        lingerMs: z.number().int().min(0).default(20),
        maxBuffered: z.number().int().min(1).default(50_000),
      })
      .strict()
      .default({ batchSize: 5000, lingerMs: 20, maxBuffered: 50_000 }),
  })
  .strict()
  .refine((c) => (c.tables === undefined) !== (c.schema === undefined), {
    message:
      'set exactly one of "tables" (a list of schema.table) or "schema" (capture every table of it)',
    path: ['tables'],
  });

export type PostgresSourceConfig = z.infer<typeof PostgresSourceSchema>;

/** Resolved names derived from the config. */
export function derivedNames(c: PostgresSourceConfig): {
  slot: string;
  publication: string;
  prefix: string;
} {
  const safe = c.name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return {
    slot: c.slot ?? `tributary_${safe}`,
    publication: c.publication ?? `tributary_${safe}`,
    prefix: c.topic.prefix ?? c.name,
  };
}

/** True when the column "schema.table.column" is captured under `columns`. */
export function columnFilter(
  columns: PostgresSourceConfig['columns'],
): (qualified: string) => boolean {
  const compile = (list: string[]) => list.map((r) => new RegExp(`^(?:${r})$`, 'i'));
  if (columns?.include) {
    const include = compile(columns.include);
    return (name) => include.some((r) => r.test(name));
  }
  if (columns?.exclude) {
    const exclude = compile(columns.exclude);
    return (name) => !exclude.some((r) => r.test(name));
  }
  return () => true;
}

/** Where a change topic goes: the first route whose `match` matches the whole default name. */
export function topicRouter(
  routes: PostgresSourceConfig['topic']['routes'],
): (topic: string) => { topic: string; keyField?: string } {
  const compiled = routes.map((r) => ({ ...r, re: new RegExp(`^(?:${r.match})$`) }));
  return (topic) => {
    for (const r of compiled) {
      if (r.re.test(topic)) return { topic: topic.replace(r.re, r.replace), keyField: r.keyField };
    }
    return { topic };
  };
}

export function parsePostgresSource(input: unknown, root = ''): PostgresSourceConfig {
  return validateConfig(PostgresSourceSchema, resolveSecrets(input, root), root);
}

export function loadPostgresSource(path: string): PostgresSourceConfig {
  return parsePostgresSource(readConfigFile(path));
}
