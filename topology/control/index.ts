// The control plane's state in compacted Kafka topics: configs, target states, restart
// requests, API tokens (hashed) and task/worker status. See store.ts for the write protocol.
export {
  ControlConflictError,
  ControlStore,
  DEFAULT_CONFIGS_TOPIC,
  DEFAULT_STATUS_TOPIC,
  DEFAULT_TASK_SLOTS,
  tokenHash,
} from './store.ts';
export type { ControlStoreOptions, PutConfigOptions, PutResult } from './store.ts';
export { encodeRecord, FORMAT_VERSION, parseRecord, recordKey } from './records.ts';
export type {
  ConfigKind,
  ConfigRecord,
  ControlRecord,
  RestartRecord,
  Role,
  TargetRecord,
  TargetState,
  TaskState,
  TaskStatusRecord,
  TokenRecord,
  WorkerRecord,
} from './records.ts';
