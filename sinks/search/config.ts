import { z } from 'zod';

/** OpenSearch / Elasticsearch sink settings (`sink: { type: search, ... }`). */
export const searchSinkConfigSchema = z
  .object({
    type: z.literal('search'),
    /** Which client speaks to the cluster: `opensearch` or `elasticsearch` (8.x servers). */
    flavor: z.enum(['opensearch', 'elasticsearch']).default('opensearch'),
    /** Node URL, e.g. http://127.0.0.1:9200. */
    url: z.string().regex(/^https?:\/\//, 'must be an http:// or https:// URL'),
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    /**
     * Index per topic, lowercased: `${table}` = last topic segment, `${topic}` = whole topic
     * name (dots kept), `${schema}` = the segment before the table.
     */
    index: z.string().min(1).default('${table}'),
    /**
     * `external`: a write lands only when its version is greater than the document's (a replay of
     * the same version is a no-op). `external_gte`: greater or equal (a same-version replay
     * rewrites the same content).
     */
    versionType: z.enum(['external', 'external_gte']).default('external'),
    /**
     * `delete`: deletes remove the document; the delete's version is remembered by the index for
     * `gcDeletes` only. `soft`: a delete indexes `{__deleted: true}` plus the key at its version,
     * so a late older write can never resurrect the key, however late (queries filter
     * `__deleted`).
     */
    deleteMode: z.enum(['delete', 'soft']).default('delete'),
    /** Create missing indexes (with the settings below and, when known, a mapping). */
    createIndex: z.boolean().default(true),
    /**
     * `schema`: a created index gets a mapping derived from the events' Connect schema (when the
     * topic is in the `json-schema` format; otherwise dynamic). `dynamic`: let the cluster infer.
     */
    mapping: z.enum(['schema', 'dynamic']).default('schema'),
    /** Settings of created indexes. */
    indexSettings: z
      .object({
        shards: z.number().int().min(1).default(1),
        replicas: z.number().int().min(0).default(0),
        /** index.gc_deletes: how long a delete's version keeps refusing older writes. */
        gcDeletes: z
          .string()
          .regex(/^\d+(ms|s|m|h|d)$/, 'a duration such as 60s, 12h or 7d')
          .default('24h'),
        /** index.refresh_interval (visibility to search; durability does not depend on it). */
        refreshInterval: z
          .string()
          .regex(/^(-1|\d+(ms|s|m|h))$/, 'a duration such as 1s, or -1')
          .default('1s'),
      })
      .strict()
      .prefault({}),
    /** Concurrent bulk requests per batch, each over a disjoint slice of its keys. */
    parallelism: z.number().int().min(1).max(16).default(1),
    /** Per bulk request (ms); a timeout is retried. */
    requestTimeoutMs: z.number().int().positive().default(60_000),
  })
  .strict();

export type SearchSinkConfig = z.infer<typeof searchSinkConfigSchema>;
