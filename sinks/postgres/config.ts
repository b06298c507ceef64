import { z } from 'zod';

/** PostgreSQL sink settings (`sink: { type: postgres, ... }`). */
export const postgresSinkConfigSchema = z
  .object({
    type: z.literal('postgres'),
    /** libpq-style URL, e.g. postgres://user:pass@127.0.0.1:5432/db (secrets via ${env:NAME}). */
    url: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL'),
    /** Target schema (created when missing). */
    schema: z.string().min(1).default('public'),
    /**
     * Target table name per topic: `${table}` is the last segment of the topic
     * (<prefix>.<schema>.<table>), `${topic}` the whole topic name with dots as underscores.
     */
    table: z.string().min(1).default('${table}'),
    /** Create missing tables from the first event's key and after-row; add new columns as nullable. */
    autoCreate: z.boolean().default(true),
    /** Parallel transactions per batch, each over a disjoint set of keys. */
    parallelism: z.number().int().min(1).max(16).default(4),
    /** Statement timeout per batch transaction (ms); a timeout is retried. */
    statementTimeoutMs: z.number().int().positive().default(30_000),
  })
  .strict();

export type PostgresSinkConfig = z.infer<typeof postgresSinkConfigSchema>;
