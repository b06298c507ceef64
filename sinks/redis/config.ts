import { z } from 'zod';

/** Redis sink settings (`sink: { type: redis, ... }`). */
export const redisSinkConfigSchema = z
  .object({
    type: z.literal('redis'),
    /** redis:// URL, e.g. redis://127.0.0.1:6379/0. */
    url: z.string().regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL'),
    /**
     * Redis key per record. `${topic}`, `${table}` (last topic segment), `${key}` (primary-key
     * values joined by ':', in key column order) and `${key.<column>}`.
     */
    key: z.string().min(1).default('${table}:${key}'),
    /**
     * `json`: the after-row as one JSON string (GET); `hash`: one hash field per column (HGETALL),
     * strings as they are, other values as JSON text.
     */
    valueFormat: z.enum(['json', 'hash']).default('json'),
    /** Suffix of the key that keeps the per-key version (kept after a delete). */
    versionSuffix: z.string().min(1).default(':__version'),
    /** Expire values after this many seconds (0 = never). Versions expire with them. */
    ttlSeconds: z.number().int().min(0).default(0),
  })
  .strict();

export type RedisSinkConfig = z.infer<typeof redisSinkConfigSchema>;
