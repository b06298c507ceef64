import { z } from 'zod';
import { ConfigError } from '../../core/errors/index.ts';

const policy = z.enum(['fail', 'skip', 'dlq']);

const builtinEntry = z
  .object({
    builtin: z.string().min(1),
    /** Name in the chain (metrics, DLQ headers); default the built-in's. Two joins need two names. */
    name: z.string().min(1).optional(),
    config: z.unknown().optional(),
    /** What a record that makes this processor throw does: stop, be skipped, or go to the DLQ. */
    errors: policy.optional(),
  })
  .strict();
const moduleEntry = z
  .object({
    /** Path of a module (relative to the working directory) whose default export is a processor. */
    module: z.string().min(1),
    /** Name in the chain; default the definition's. */
    name: z.string().min(1).optional(),
    config: z.unknown().optional(),
    errors: policy.optional(),
  })
  .strict();

export const processorEntrySchema = z.union([builtinEntry, moduleEntry]);
export type ProcessorEntry = z.infer<typeof processorEntrySchema>;

/** The processor service's configuration (one application = one consumer group). */
export const runtimeConfigSchema = z
  .object({
    /** Application id: the consumer group, the transactional.id prefix, the changelog prefix. */
    name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only'),
    /** Input topics of change events. */
    inputs: z.array(z.string().min(1)).min(1),
    /** Default output topic (events forwarded without a topic go here). */
    output: z.string().min(1).optional(),
    processors: z.array(processorEntrySchema).min(1),
    guarantee: z.enum(['exactly_once', 'at_least_once']).default('exactly_once'),
    /** How often each task commits its transaction (ms). */
    commitIntervalMs: z.number().int().positive().default(100),
    /** Most records one task processes per transaction. */
    maxBatchRecords: z.number().int().positive().default(5000),
    /** Root of the local state: <stateDir>/<name>/task-<partition>/<store>. */
    stateDir: z.string().min(1).default('.data/processors'),
    errors: z
      .object({
        /** Default policy for processors that set none, and for records that are not change events. */
        policy: policy.default('fail'),
        /** Dead-letter topic (default "<name>.dlq"). */
        dlqTopic: z.string().min(1).optional(),
      })
      .strict()
      .default({ policy: 'fail' }),
    /** Serialization of output change events. */
    format: z.enum(['json', 'json-schema']).default('json'),
    /** Partitions of topics the runtime creates (outputs, DLQ); changelogs follow the inputs. */
    outputPartitions: z.number().int().positive().optional(),
    sessionTimeoutMs: z.number().int().min(6000).default(10_000),
    /** Fault injection for tests: abort this fraction of transactions at random. */
    faults: z
      .object({ abortRatio: z.number().min(0).max(1) })
      .strict()
      .optional(),
  })
  .strict();

export type RuntimeConfigInput = z.input<typeof runtimeConfigSchema>;
export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

/** Validates a config, naming the exact path of the first problem. */
export function parseRuntimeConfig(input: unknown): RuntimeConfig {
  const r = runtimeConfigSchema.safeParse(input);
  if (r.success) return r.data;
  throw zodToConfigError(r.error, '');
}

export function zodToConfigError(error: z.ZodError, prefix: string): ConfigError {
  const issue = error.issues[0]!;
  let path = prefix;
  for (const p of issue.path)
    path += typeof p === 'number' ? `[${p}]` : path ? `.${String(p)}` : String(p);
  return new ConfigError(path, issue.message, { cause: error });
}
