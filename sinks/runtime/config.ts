import { z } from 'zod';
import { validateConfig } from '../../core/config/index.ts';
import { clickhouseSinkConfigSchema } from '../clickhouse/config.ts';
import { kafkaSinkConfigSchema } from '../kafka/config.ts';
import { postgresSinkConfigSchema } from '../postgres/config.ts';
import { redisSinkConfigSchema } from '../redis/config.ts';
import { s3ParquetSinkConfigSchema } from '../s3-parquet/config.ts';
import { searchSinkConfigSchema } from '../search/config.ts';

/** One sink of a store type; the `type` selects the adapter and its settings. */
export const sinkSpecSchema = z.discriminatedUnion('type', [
  postgresSinkConfigSchema,
  redisSinkConfigSchema,
  clickhouseSinkConfigSchema,
  searchSinkConfigSchema,
  s3ParquetSinkConfigSchema,
  kafkaSinkConfigSchema,
]);
export type SinkSpec = z.infer<typeof sinkSpecSchema>;

/** The sink service's configuration (one service = one consumer group = one store). */
export const sinkRuntimeConfigSchema = z
  .object({
    /** Sink name: the consumer group and the default dead-letter topic prefix. */
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
    /** Change-event topics to apply (read_committed). */
    topics: z.array(z.string().min(1)).min(1),
    batch: z
      .object({
        /** Flush when this many records are buffered. */
        maxRecords: z.number().int().positive().default(5000),
        /** Flush when the buffered keys and values reach this many bytes. */
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(8 * 1024 * 1024),
        /** Flush at most this long (ms) after the first buffered record arrived. */
        lingerMs: z.number().int().min(0).default(100),
      })
      .strict()
      .prefault({}),
    retry: z
      .object({
        /** First backoff delay after a retryable store error (ms). */
        initialMs: z.number().int().positive().default(100),
        /** Cap of the backoff delay (ms); a store that stays down is retried at this pace. */
        maxMs: z.number().int().positive().default(30_000),
      })
      .strict()
      .prefault({}),
    /** Dead-letter topic for records the store rejects or that are not change events (default "<name>.dlq"). */
    dlqTopic: z.string().min(1).optional(),
    sessionTimeoutMs: z.number().int().min(6000).default(10_000),
    sink: sinkSpecSchema,
  })
  .strict();

export type SinkRuntimeConfigInput = z.input<typeof sinkRuntimeConfigSchema>;
export type SinkRuntimeConfig = z.infer<typeof sinkRuntimeConfigSchema>;

/** Validates a config with defaults applied; errors name every bad path. */
export function parseSinkRuntimeConfig(input: unknown): SinkRuntimeConfig {
  return validateConfig(sinkRuntimeConfigSchema, input);
}
