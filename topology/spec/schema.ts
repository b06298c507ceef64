/**
 * The topology file, version 1: one Kafka connection, sources, processors, sinks, topics and
 * dead-letter settings. Component sections reuse each component's own schema (capture, processor
 * runtime, sink runtime), so a topology accepts exactly what the component accepts and the
 * reference docs (docs/topology-reference.md) are generated from these schemas.
 *
 * Secrets are never required inline: every string may be a reference `${env:NAME}` or
 * `${file:/path}`, resolved only when a task starts (so stored topologies carry no secrets).
 */
import { z } from 'zod';
import { PostgresSourceSchema } from '../../capture/postgres/config.ts';
import { processorEntrySchema, runtimeConfigSchema } from '../../processors/runtime/config.ts';
import { sinkRuntimeConfigSchema } from '../../sinks/runtime/config.ts';

export const TOPOLOGY_VERSION = 1;

/** Names of components: they become part of consumer groups, slots and topic names. */
export const componentName = z
  .string()
  .regex(
    /^[a-z][a-z0-9_-]*$/,
    'must start with a lowercase letter and use only lowercase letters, digits, "_" and "-"',
  );

const topicName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name: letters, digits, ".", "_", "-"');

export const kafkaSpecSchema = z
  .object({
    brokers: z
      .array(z.string().regex(/^[^:\s]+:\d+$/, 'write brokers as host:port'))
      .min(1)
      .default(['127.0.0.1:9092'])
      .describe('Bootstrap brokers as host:port.'),
    clientId: z
      .string()
      .min(1)
      .optional()
      .describe('Client id prefix (default: tributary-<component>).'),
    tls: z
      .object({
        enabled: z.boolean().default(true).describe('Connect with TLS.'),
        ca: z.string().optional().describe('CA certificate (PEM), usually `${file:/path/ca.pem}`.'),
        cert: z.string().optional().describe('Client certificate (PEM) for mutual TLS.'),
        key: z.string().optional().describe('Client private key (PEM), e.g. `${file:/path}`.'),
        rejectUnauthorized: z
          .boolean()
          .default(true)
          .describe('Verify the broker certificate (turn off only for local tests).'),
        servername: z.string().optional().describe('SNI server name, when not the host.'),
      })
      .strict()
      .optional()
      .describe('TLS settings; omit for plaintext.'),
    sasl: z
      .object({
        mechanism: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']),
        username: z.string().min(1),
        password: z.string().describe('Use a reference: `${env:KAFKA_PASSWORD}`.'),
      })
      .strict()
      .optional()
      .describe('SASL authentication; omit when the brokers need none.'),
    offsetsTopic: topicName
      .default('tributary.offsets')
      .describe('Compacted topic holding the capture positions of the sources.'),
    requestTimeoutMs: z.number().int().positive().optional().describe('Per-request timeout.'),
  })
  .strict();
export type KafkaSpec = z.infer<typeof kafkaSpecSchema>;

export const topicSpecSchema = z
  .object({
    name: topicName.describe('Topic name.'),
    partitions: z
      .number()
      .int()
      .min(1)
      .optional()
      .describe('Partition count (default: the producing component decides, e.g. 3 for sources).'),
    replicationFactor: z.number().int().min(1).default(1).describe('Replicas per partition.'),
    retentionMs: z
      .number()
      .int()
      .min(-1)
      .optional()
      .describe('retention.ms; -1 keeps records forever.'),
    retentionBytes: z.number().int().min(-1).optional().describe('retention.bytes per partition.'),
    cleanupPolicy: z
      .enum(['delete', 'compact', 'compact,delete'])
      .optional()
      .describe('cleanup.policy: `compact` keeps the last record per key.'),
    configs: z
      .record(z.string(), z.string())
      .optional()
      .describe('Other topic configs, e.g. `{ "min.insync.replicas": "2" }`.'),
  })
  .strict();
export type TopicSpecEntry = z.infer<typeof topicSpecSchema>;

export const deadLetterSpecSchema = z
  .object({
    partitions: z
      .number()
      .int()
      .min(1)
      .default(1)
      .describe('Partitions of each dead-letter topic.'),
    retentionMs: z
      .number()
      .int()
      .min(-1)
      .default(7 * 24 * 3600 * 1000)
      .describe('retention.ms of dead-letter topics (default 7 days).'),
  })
  .strict();

/** A PostgreSQL source: the capture config (capture/postgres/config.ts) plus its `type`. */
export const postgresSourceSpecSchema = z
  .object({
    ...PostgresSourceSchema.shape,
    type: z.literal('postgres'),
    name: componentName.describe(
      'Source name: the capture name, the default topic prefix and slot/publication suffix.',
    ),
    kafka: z
      .object({ offsetsTopic: topicName.optional() })
      .strict()
      .optional()
      .describe(
        'Per-source override of the offsets topic; brokers come from the top-level `kafka`.',
      ),
  })
  .strict()
  // The capture schema's own rule (its refinements do not carry over when its shape is reused).
  .refine((c) => (c.tables === undefined) !== (c.schema === undefined), {
    message:
      'set exactly one of "tables" (a list of schema.table) or "schema" (capture every table of it)',
    path: ['tables'],
  });

export const sourceSpecSchema = z.discriminatedUnion('type', [postgresSourceSpecSchema]);
export type SourceSpec = z.infer<typeof sourceSpecSchema>;

/** A processor application: the processor runtime's config with the chain under `chain`. */
export const processorSpecSchema = runtimeConfigSchema
  .omit({ processors: true, faults: true, name: true })
  .extend({
    name: componentName.describe(
      'Processor name; the application id is <topology>.<name> (consumer group, transactional ids).',
    ),
    chain: z
      .array(processorEntrySchema)
      .min(1)
      .describe(
        'Processors applied in order: `{ builtin: <name>, config }` or `{ module: ./path.ts, config }`.',
      ),
  });
export type ProcessorSpec = z.infer<typeof processorSpecSchema>;

/** A sink: the sink runtime's config (sinks/runtime/config.ts). */
export const sinkSpecEntrySchema = sinkRuntimeConfigSchema.extend({
  name: componentName.describe('Sink name; the consumer group is <topology>.<name>.'),
});
export type SinkSpecEntry = z.infer<typeof sinkSpecEntrySchema>;

export const topologySchema = z
  .object({
    version: z.literal(TOPOLOGY_VERSION).describe('Schema version of this file: 1.'),
    name: componentName.describe(
      'Topology name; prefixes the consumer groups of its processors and sinks.',
    ),
    description: z.string().optional().describe('Free text shown by `tributary status`.'),
    kafka: kafkaSpecSchema.prefault({}).describe('The Kafka cluster every component uses.'),
    topics: z
      .array(topicSpecSchema)
      .default([])
      .describe(
        'Topics with explicit settings (created by `deploy`); topics the components produce need not be listed.',
      ),
    deadLetter: deadLetterSpecSchema
      .prefault({})
      .describe('Settings of the dead-letter topics of processors and sinks.'),
    sources: z.array(sourceSpecSchema).default([]).describe('Databases captured into Kafka.'),
    processors: z
      .array(processorSpecSchema)
      .default([])
      .describe('Processor applications (consume–transform–produce).'),
    sinks: z.array(sinkSpecEntrySchema).default([]).describe('Stores the change events go to.'),
  })
  .strict();

export type TopologyInput = z.input<typeof topologySchema>;
export type Topology = z.infer<typeof topologySchema>;
