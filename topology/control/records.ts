/**
 * The control plane's persisted record format. Two compacted topics hold it:
 *  - configs (`tributary.control.configs`): connector and topology configs, their target state
 *    (RUNNING / PAUSED), restart requests and API tokens (hashed), keyed `<type>/<kind>/<name>`;
 *  - status (`tributary.control.status`): the state of each task and each worker's heartbeat.
 *
 * Format: JSON with `v: 1`; fields are only ever added (readers ignore unknown fields).
 * Old formats are kept as fixtures in test/fixtures/topology/control and must keep loading.
 */
import { TributaryError } from '../../core/errors/index.ts';

export const FORMAT_VERSION = 1;

/** What a config describes: a single connector (Kafka Connect style) or a whole topology. */
export type ConfigKind = 'connector' | 'topology';

export interface ConfigRecord {
  v: 1;
  type: 'config';
  kind: ConfigKind;
  name: string;
  /** 1 for the first version, +1 for each update (the REST ETag). */
  version: number;
  /** The config as submitted (connector: Debezium/Kafka Connect properties; topology: spec). */
  config: Record<string, unknown>;
  /** Coordination-topic partitions of this config's tasks, by task id (fixed at creation). */
  slots: Record<string, number>;
  deleted: boolean;
  ts_ms: number;
}

export type TargetState = 'RUNNING' | 'PAUSED';

export interface TargetRecord {
  v: 1;
  type: 'target';
  kind: ConfigKind;
  name: string;
  state: TargetState;
  ts_ms: number;
}

export interface RestartRecord {
  v: 1;
  type: 'restart';
  kind: ConfigKind;
  name: string;
  /** Increases with every request; a worker restarts a task once per new id. */
  requestId: number;
  onlyFailed: boolean;
  includeTasks: boolean;
  ts_ms: number;
}

export type Role = 'viewer' | 'operator' | 'admin';

export interface TokenRecord {
  v: 1;
  type: 'token';
  id: string;
  /** A label for people (who or what uses the token). */
  label: string;
  role: Role;
  /** hex salt and hex SHA-256(salt || secret); the secret itself is never stored. */
  salt: string;
  hash: string;
  revoked: boolean;
  ts_ms: number;
}

export type TaskState = 'UNASSIGNED' | 'RUNNING' | 'PAUSED' | 'FAILED' | 'STOPPED';

export interface TaskStatusRecord {
  v: 1;
  type: 'status';
  kind: ConfigKind;
  name: string;
  task: string;
  state: TaskState;
  workerId: string;
  /** Config version the task runs. */
  version: number;
  /** Last error (redacted) when FAILED. */
  trace?: string;
  metrics?: Record<string, unknown>;
  ts_ms: number;
}

export interface WorkerRecord {
  v: 1;
  type: 'worker';
  workerId: string;
  restUrl?: string;
  /** Coordination partitions this worker holds. */
  partitions: number[];
  ts_ms: number;
  /** true in the last record a worker writes when it stops cleanly. */
  stopped: boolean;
}

export type ControlRecord =
  ConfigRecord | TargetRecord | RestartRecord | TokenRecord | TaskStatusRecord | WorkerRecord;

/** The compaction key of a record: the latest record per key is the current state. */
export function recordKey(r: ControlRecord): string {
  switch (r.type) {
    case 'config':
    case 'target':
    case 'restart':
      return `${r.type}/${r.kind}/${r.name}`;
    case 'token':
      return `token/${r.id}`;
    case 'status':
      return `status/${r.kind}/${r.name}/${r.task}`;
    case 'worker':
      return `worker/${r.workerId}`;
  }
}

export function encodeRecord(r: ControlRecord): Buffer {
  return Buffer.from(JSON.stringify(r));
}

const str = (v: unknown, d = ''): string => (typeof v === 'string' ? v : d);
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
const kindOf = (v: unknown): ConfigKind => (v === 'topology' ? 'topology' : 'connector');

/** Parses a stored record, accepting every version written so far; throws on unknown ones. */
export function parseRecord(text: string, key = '?'): ControlRecord {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TributaryError('CONTROL_RECORD_CORRUPT', `control record "${key}" is not JSON`, {
      cause: err,
    });
  }
  const o = obj(raw);
  if (o.v !== 1)
    throw new TributaryError(
      'CONTROL_RECORD_UNSUPPORTED',
      `control record "${key}" has unsupported format version ${JSON.stringify(o.v)}; upgrade Tributary`,
    );
  const ts_ms = num(o.ts_ms);
  switch (o.type) {
    case 'config':
      return {
        v: 1,
        type: 'config',
        kind: kindOf(o.kind),
        name: str(o.name),
        version: num(o.version, 1),
        config: obj(o.config),
        slots: Object.fromEntries(
          Object.entries(obj(o.slots)).filter(([, p]) => typeof p === 'number'),
        ) as Record<string, number>,
        deleted: o.deleted === true,
        ts_ms,
      };
    case 'target':
      return {
        v: 1,
        type: 'target',
        kind: kindOf(o.kind),
        name: str(o.name),
        state: o.state === 'PAUSED' ? 'PAUSED' : 'RUNNING',
        ts_ms,
      };
    case 'restart':
      return {
        v: 1,
        type: 'restart',
        kind: kindOf(o.kind),
        name: str(o.name),
        requestId: num(o.requestId),
        onlyFailed: o.onlyFailed === true,
        includeTasks: o.includeTasks === true,
        ts_ms,
      };
    case 'token':
      return {
        v: 1,
        type: 'token',
        id: str(o.id),
        label: str(o.label),
        role: o.role === 'admin' || o.role === 'operator' ? o.role : 'viewer',
        salt: str(o.salt),
        hash: str(o.hash),
        revoked: o.revoked === true,
        ts_ms,
      };
    case 'status': {
      const states: TaskState[] = ['UNASSIGNED', 'RUNNING', 'PAUSED', 'FAILED', 'STOPPED'];
      const r: TaskStatusRecord = {
        v: 1,
        type: 'status',
        kind: kindOf(o.kind),
        name: str(o.name),
        task: str(o.task, '0'),
        state: states.includes(o.state as TaskState) ? (o.state as TaskState) : 'UNASSIGNED',
        workerId: str(o.workerId),
        version: num(o.version),
        ts_ms,
      };
      if (typeof o.trace === 'string') r.trace = o.trace;
      if (o.metrics && typeof o.metrics === 'object') r.metrics = obj(o.metrics);
      return r;
    }
    case 'worker': {
      const r: WorkerRecord = {
        v: 1,
        type: 'worker',
        workerId: str(o.workerId),
        partitions: Array.isArray(o.partitions)
          ? o.partitions.filter((p): p is number => typeof p === 'number')
          : [],
        ts_ms,
        stopped: o.stopped === true,
      };
      if (typeof o.restUrl === 'string') r.restUrl = o.restUrl;
      return r;
    }
    default:
      throw new TributaryError(
        'CONTROL_RECORD_UNSUPPORTED',
        `control record "${key}" has unknown type ${JSON.stringify(o.type)}; upgrade Tributary`,
      );
  }
}
