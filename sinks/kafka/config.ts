import { z } from 'zod';

/** Kafka → Kafka forwarding settings (`sink: { type: kafka, ... }`). */
export const kafkaSinkConfigSchema = z
  .object({
    type: z.literal('kafka'),
    /**
     * Target cluster (host:port list). Default: the source cluster (TRIBUTARY_KAFKA_BROKERS),
     * which needs `topic` or `rename` to give other topic names.
     */
    brokers: z
      .array(z.string().regex(/^[^\s:]+:\d+$/, 'host:port'))
      .min(1)
      .optional(),
    /**
     * Target topic per source topic: `${topic}` = the source topic, `${table}` = its last
     * segment, `${schema}` the one before, `${prefix}` the first.
     */
    topic: z.string().min(1).default('${topic}'),
    /** Explicit source → target names; win over `topic`. */
    rename: z.record(z.string().min(1), z.string().min(1)).default({}),
    /**
     * Value format of the forwarded records: `same` keeps each record's form (the
     * `{schema, payload}` form when the source carried schemas), `json` drops the schemas,
     * `json-schema` requires them (records without are dead-lettered). Avro is planned.
     */
    format: z.enum(['same', 'json', 'json-schema']).default('same'),
    /** Create missing target topics with the source topic's partition count. */
    createTopics: z.boolean().default(true),
    /**
     * Prefix of the transactional ids, one per source partition:
     * `<prefix>-<source topic>-<partition>`. Default `tributary-forward-<sink name>`.
     */
    transactionalIdPrefix: z.string().min(1).optional(),
    /**
     * Consumer group on the TARGET cluster whose offsets record, per target topic partition,
     * the next source offset to forward; written in the same transaction as the records.
     * Default `<sink name>.forwarded`.
     */
    positionsGroup: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.brokers === undefined && c.topic === '${topic}' && Object.keys(c.rename).length === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['topic'],
        message:
          'forwarding within the source cluster needs other topic names: set topic (e.g. "${topic}.copy"), rename, or brokers',
      });
  });

export type KafkaSinkConfig = z.infer<typeof kafkaSinkConfigSchema>;
