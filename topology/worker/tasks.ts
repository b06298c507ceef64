/**
 * Turns a stored config (a connector or a topology) and one of its task ids into a runnable
 * task, through the topology supervisor's createTask — so a task runs the same way under
 * `tributary run` and on a worker.
 */
import type { RunnableService } from '../../core/service/main.ts';
import { ConfigError } from '../../core/errors/index.ts';
import type { ConfigRecord } from '../control/index.ts';
import { kafkaSpecSchema, listTasks, parseTopology } from '../spec/index.ts';
import type { KafkaSpec, SourceTask } from '../spec/index.ts';
import { createTask } from '../supervisor/index.ts';
import { mapConnectorConfig } from './connectors.ts';

/** Builds a task; throws (a ConfigError) when the config cannot run at all. */
export type TaskFactory = (
  config: ConfigRecord,
  task: string,
  log: (message: string) => void,
) => RunnableService;

/** The task ids of a topology config (one per source, processor and sink). */
export function topologyTaskIds(spec: unknown): string[] {
  return listTasks(parseTopology(spec)).map((t) => t.id);
}

export function defaultTaskFactory(cluster: {
  brokers: string[];
  offsetsTopic?: string;
  /** The worker's `kafka` section (TLS, SASL) for connector tasks; default: plaintext brokers. */
  kafka?: KafkaSpec;
}): TaskFactory {
  return (config, task, log) => {
    if (config.kind === 'connector') {
      const mapped = mapConnectorConfig(config.name, config.config, cluster);
      if (!mapped.source)
        throw new ConfigError(
          `connectors.${config.name}`,
          mapped.errors.map((e) => `${e.field}: ${e.message}`).join('; '),
        );
      const spec: SourceTask = {
        id: `connector/${config.name}`,
        topology: config.name,
        name: config.name,
        kafka: cluster.kafka ?? kafkaSpecSchema.parse({ brokers: cluster.brokers }),
        baseDir: process.cwd(),
        kind: 'source',
        config: mapped.source,
      };
      return createTask(spec, { log });
    }
    const spec = listTasks(parseTopology(config.config)).find((t) => t.id === task);
    if (!spec) throw new ConfigError(`topologies.${config.name}`, `has no task "${task}" any more`);
    return createTask(spec, { log });
  };
}
