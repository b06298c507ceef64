// The topology spec: schema (version 1), validation with exact paths, derived names and tasks.
export {
  TOPOLOGY_VERSION,
  kafkaSpecSchema,
  topicSpecSchema,
  sourceSpecSchema,
  processorSpecSchema,
  sinkSpecEntrySchema,
  topologySchema,
} from './schema.ts';
export type {
  KafkaSpec,
  ProcessorSpec,
  SinkSpecEntry,
  SourceSpec,
  TopicSpecEntry,
  Topology,
  TopologyInput,
} from './schema.ts';
export {
  checkTopology,
  inlineSecretWarnings,
  knownTopics,
  parseTopology,
  problemsError,
  readTopologyFile,
} from './validate.ts';
export type { CheckOptions, TopologyCheck } from './validate.ts';
export {
  listTasks,
  processorAppId,
  processorConfig,
  processorDlqTopic,
  sinkConfig,
  sinkDlqTopic,
  sinkGroup,
  sourceConfig,
  sourceNames,
  sourceTopics,
  taskId,
} from './tasks.ts';
export type { ProcessorTask, SinkTask, SourceTask, TaskKind, TaskSpec } from './tasks.ts';
