/**
 * What a validated topology turns into: the names it derives (consumer groups, topics, slots)
 * and its tasks — one per source, processor application and sink. A task carries everything
 * needed to run it on any worker (its component config with secret references still
 * unresolved, the Kafka connection and the directory module paths are relative to), so a task
 * can be stored as JSON and started elsewhere.
 */
import { derivedNames, topicRouter } from '../../capture/postgres/config.ts';
import type { PostgresSourceConfig } from '../../capture/postgres/config.ts';
import type { RuntimeConfigInput } from '../../processors/runtime/config.ts';
import type { SinkRuntimeConfigInput } from '../../sinks/runtime/config.ts';
import type { KafkaSpec, ProcessorSpec, SinkSpecEntry, SourceSpec, Topology } from './schema.ts';

export type TaskKind = 'source' | 'processor' | 'sink';

interface TaskBase {
  /** `<topology>/<kind>/<name>`: unique across topologies. */
  id: string;
  topology: string;
  name: string;
  kafka: KafkaSpec;
  /** Directory the topology file is in: module paths are relative to it. */
  baseDir: string;
}

/** The capture config (secrets unresolved); `kafka.brokers` comes from the topology. */
export interface SourceTask extends TaskBase {
  kind: 'source';
  config: PostgresSourceConfig;
}
export interface ProcessorTask extends TaskBase {
  kind: 'processor';
  config: RuntimeConfigInput;
}
export interface SinkTask extends TaskBase {
  kind: 'sink';
  config: SinkRuntimeConfigInput;
}
export type TaskSpec = SourceTask | ProcessorTask | SinkTask;

export function taskId(topology: string, kind: TaskKind, name: string): string {
  return `${topology}/${kind}/${name}`;
}

/** The processor application id (consumer group, transactional-id and changelog prefix). */
export function processorAppId(t: Pick<Topology, 'name'>, p: Pick<ProcessorSpec, 'name'>): string {
  return `${t.name}.${p.name}`;
}

/** The sink's consumer group. */
export function sinkGroup(t: Pick<Topology, 'name'>, s: Pick<SinkSpecEntry, 'name'>): string {
  return `${t.name}.${s.name}`;
}

export function processorDlqTopic(t: Topology, p: ProcessorSpec): string {
  return p.errors.dlqTopic ?? `${processorAppId(t, p)}.dlq`;
}

export function sinkDlqTopic(t: Topology, s: SinkSpecEntry): string {
  return s.dlqTopic ?? `${sinkGroup(t, s)}.dlq`;
}

/** The capture config of a source, as capture/postgres expects it. */
export function sourceConfig(t: Topology, s: SourceSpec): PostgresSourceConfig {
  const rest: Record<string, unknown> = { ...s };
  delete rest.type;
  const kafka = s.kafka;
  return {
    ...(rest as Omit<SourceSpec, 'type' | 'kafka'>),
    kafka: { brokers: t.kafka.brokers, offsetsTopic: kafka?.offsetsTopic ?? t.kafka.offsetsTopic },
  };
}

export function sourceNames(s: SourceSpec): { slot: string; publication: string; prefix: string } {
  return derivedNames(s as unknown as PostgresSourceConfig);
}

/** Topics a source writes: exact names, and prefixes when it captures a whole schema. */
export function sourceTopics(s: SourceSpec): { exact: string[]; prefixes: string[] } {
  const { prefix } = sourceNames(s);
  // Change topics go where the source's topic routes send them (the capture applies the same).
  const route = topicRouter(s.topic?.routes ?? []);
  const exact = [...new Set((s.tables ?? []).map((table) => route(`${prefix}.${table}`).topic))];
  if (s.transactionMetadata) exact.push(`${prefix}.transaction`);
  return { exact, prefixes: s.schema ? [`${prefix}.${s.schema}.`] : [] };
}

export function processorConfig(t: Topology, p: ProcessorSpec): RuntimeConfigInput {
  const rest: Partial<ProcessorSpec> = { ...p };
  delete rest.chain;
  return {
    ...(rest as Omit<ProcessorSpec, 'chain'>),
    name: processorAppId(t, p),
    processors: p.chain,
  };
}

export function sinkConfig(t: Topology, s: SinkSpecEntry): SinkRuntimeConfigInput {
  return { ...s, name: sinkGroup(t, s) };
}

/** Every task of the topology: sources first, then processors, then sinks (start order). */
export function listTasks(t: Topology, baseDir = process.cwd()): TaskSpec[] {
  const base = (kind: TaskKind, name: string) => ({
    id: taskId(t.name, kind, name),
    topology: t.name,
    name,
    kafka: t.kafka,
    baseDir,
  });
  return [
    ...t.sources.map((s): SourceTask => ({
      ...base('source', s.name),
      kind: 'source',
      config: sourceConfig(t, s),
    })),
    ...t.processors.map((p): ProcessorTask => ({
      ...base('processor', p.name),
      kind: 'processor',
      config: processorConfig(t, p),
    })),
    ...t.sinks.map((s): SinkTask => ({
      ...base('sink', s.name),
      kind: 'sink',
      config: sinkConfig(t, s),
    })),
  ];
}
