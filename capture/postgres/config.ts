/**
 * Configuration of one PostgreSQL source. Validated at the edge (defaults applied) before any
 * connection is made; errors name the exact path. The same schema documents the options
 * (docs/capture-postgres.md).
 */
import { z } from 'zod';
import { readConfigFile, resolveSecrets, validateConfig } from '../../core/config/index.ts';

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
      })
      .strict()
      .default({ partitions: 3, replicationFactor: 1 }),
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

export function parsePostgresSource(input: unknown, root = ''): PostgresSourceConfig {
  return validateConfig(PostgresSourceSchema, resolveSecrets(input, root), root);
}

export function loadPostgresSource(path: string): PostgresSourceConfig {
  return parsePostgresSource(readConfigFile(path));
}
