import { z } from 'zod';

/** ClickHouse sink settings (`sink: { type: clickhouse, ... }`). */
export const clickhouseSinkConfigSchema = z
  .object({
    type: z.literal('clickhouse'),
    /** HTTP interface, e.g. http://127.0.0.1:8123. */
    url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL'),
    username: z.string().default('default'),
    password: z.string().default(''),
    database: z.string().min(1).default('default'),
    /** Table per topic: `${table}` = last topic segment, `${topic}` = topic with non-word chars as `_`. */
    table: z.string().min(1).default('${table}'),
    /** Create missing tables (ReplacingMergeTree(__version)) and add new columns as Nullable. */
    autoCreate: z.boolean().default(true),
    requestTimeoutMs: z.number().int().positive().default(60_000),
  })
  .strict();

export type ClickhouseSinkConfig = z.infer<typeof clickhouseSinkConfigSchema>;
