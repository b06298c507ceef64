// The sink framework's surface: the Sink behaviour a store adapter implements, its record and
// error types, and the service that runs adapters (docs/sinks.md).
export type {
  CopiedRecord,
  KeyedWrite,
  PartitionPosition,
  PositionedSink,
  RawRecordSink,
  RejectedRecord,
  Sink,
  SinkRecord,
  UndecodedRecord,
  WriteResult,
} from './sink.ts';
export {
  isPositionedSink,
  isRawRecordSink,
  RecordRejectedError,
  RetryableSinkError,
  keyIdentity,
  keyedWrite,
  latestPerKey,
  partialRowError,
} from './sink.ts';
export { SINK_DLQ_HEADERS, SinkRuntime } from './runtime.ts';
export type { SinkMetrics, SinkRuntimeOptions } from './runtime.ts';
export { parseSinkRuntimeConfig, sinkRuntimeConfigSchema } from './config.ts';
export type { SinkRuntimeConfig, SinkRuntimeConfigInput, SinkSpec } from './config.ts';
