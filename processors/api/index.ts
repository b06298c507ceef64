/**
 * The processor API: what a data engineer imports (package export "tributary/processors/api").
 *
 * A processor module exports a definition made with defineProcessor(). The runtime creates one
 * instance per task (one task per input partition), so `this` inside init/process/close is
 * private to the task. Lifecycle, per task: init(ctx) once, then process(event, ctx) for every
 * input event in partition order (never concurrently), scheduled callbacks between events,
 * close() once when the task is closed. ctx.forward, ctx.store and ctx.schedule are the only
 * side-effect channels: everything they do becomes visible atomically when the task's
 * transaction commits, or not at all.
 */
import type { ChangeEvent, RowKey } from '../../core/events/index.ts';
import { stringifyFlat } from '../../core/events/json.ts';

export type {
  ChangeEvent,
  Envelope,
  Op,
  Row,
  RowKey,
  SourceInfo,
} from '../../core/events/index.ts';

/**
 * A record that is not a change-event envelope (unwrap's flat rows, outbox events). It goes
 * straight to the output: processors after the one that forwards it do not see it.
 */
export interface PlainRecord {
  kind: 'plain';
  topic?: string;
  /** JSON-serializable key (null for none). */
  key: unknown;
  /** JSON-serializable value; null is a tombstone. */
  value: unknown;
  headers?: Record<string, string>;
}

export interface ForwardOptions {
  /** Output topic for this event (default: the processor config's output topic). */
  topic?: string;
}

/** Where the input event being processed came from. */
export interface RecordMetadata {
  topic: string;
  partition: number;
  offset: bigint;
  timestamp: bigint;
  headers: Record<string, Buffer>;
}

/**
 * A named key-value store. Writes are staged and become durable (local RocksDB + changelog
 * topic) when the task's transaction commits; reads see the task's own staged writes.
 * Keys are strings: use keyString(event.key) for a row key.
 */
export interface KeyValueStore<V = unknown> {
  get(key: string): Promise<V | undefined>;
  put(key: string, value: V): void;
  delete(key: string): void;
  /** Entries in key order (UTF-8 byte order), optionally bounded: gte <= key < lt, or by prefix. */
  range(options?: { gte?: string; lt?: string; prefix?: string }): AsyncIterable<[string, V]>;
}

export interface Cancellable {
  cancel(): void;
}

export interface ProcessorContext {
  /** The processor's name (from its definition). */
  readonly processorName: string;
  /** The task this instance belongs to (the input partition number). */
  readonly partition: number;
  /** The input record being processed; undefined inside scheduled callbacks. */
  readonly record: RecordMetadata | undefined;
  /** Passes an event to the next processor of the chain (or to the output after the last one). */
  forward(event: ChangeEvent | PlainRecord, options?: ForwardOptions): void;
  /** A store declared in the definition's `stores`; any other name is an error. */
  store<V = unknown>(name: string): KeyValueStore<V>;
  /** Calls fn every intervalMs of wall-clock time (virtual time in the test kit). */
  schedule(
    intervalMs: number,
    fn: (ctx: ProcessorContext, now: number) => void | Promise<void>,
  ): Cancellable;
  /** Current time in epoch ms (wall clock; the test kit's virtual clock in tests). */
  now(): number;
}

/** A store a processor uses. A string is a local store (per task, with a changelog topic). */
export type StoreDeclaration =
  | string
  | {
      name: string;
      /**
       * Fill the store from a topic of change events (key: keyString(event.key), value: the
       * `after` row; a delete removes the key). Without `global` the topic must be
       * co-partitioned with the input (same key, same partition count).
       */
      fromTopic?: string;
      /** Materialize the whole topic on every instance (read-only; needs fromTopic). */
      global?: boolean;
    };

export type ErrorPolicy = 'fail' | 'skip' | 'dlq';

/**
 * Re-keying in front of a processor (a stream–table join on a column the stream is not
 * partitioned by). The runtime cuts the chain before this processor: what the processors
 * before it forward is written, inside the same Kafka transaction, to the internal topic
 * `<app>-<name>-repartition` keyed by `key(event)`, and the task owning that partition runs this
 * processor and the rest of the chain on it, co-partitioned with `coPartitionWith`.
 */
export interface RepartitionSpec {
  /** Names the internal topic `<app>-<name>-repartition` (unique within the application). */
  name: string;
  /**
   * The new key: records with equal keys land on the same partition, the partition of the
   * table row with that key (same JSON bytes as the table topic's key). undefined keeps the
   * event's own key (e.g. a null join column; the processor then finds no table row).
   */
  key(event: ChangeEvent): RowKey | undefined;
  /** A topic the repartition topic is co-partitioned with (its partition count is copied). */
  coPartitionWith?: string;
}

export interface ProcessorDefinition {
  name: string;
  stores?: StoreDeclaration[];
  /** Re-key the stream through a repartition topic before this processor (see RepartitionSpec). */
  repartition?: RepartitionSpec;
  init?(ctx: ProcessorContext): void | Promise<void>;
  process(event: ChangeEvent, ctx: ProcessorContext): void | Promise<void>;
  close?(): void | Promise<void>;
}

const BRAND = Symbol.for('tributary.processor');

/** Declares a processor. Validates the shape so mistakes surface when the module loads. */
export function defineProcessor<T extends ProcessorDefinition>(definition: T): T {
  if (!definition || typeof definition !== 'object')
    throw new TypeError('defineProcessor expects an object { name, process, ... }');
  if (typeof definition.name !== 'string' || definition.name.length === 0)
    throw new TypeError('defineProcessor: `name` must be a non-empty string');
  if (typeof definition.process !== 'function')
    throw new TypeError(`defineProcessor(${definition.name}): \`process\` must be a function`);
  for (const f of ['init', 'close'] as const)
    if (definition[f] !== undefined && typeof definition[f] !== 'function')
      throw new TypeError(`defineProcessor(${definition.name}): \`${f}\` must be a function`);
  Object.defineProperty(definition, BRAND, { value: true, enumerable: false });
  return definition;
}

/** True for objects made by defineProcessor. */
export function isProcessorDefinition(x: unknown): x is ProcessorDefinition {
  return !!x && typeof x === 'object' && (x as Record<symbol, unknown>)[BRAND] === true;
}

/** The store key of a row key: its JSON text, as the row key appears on the wire. */
export function keyString(key: RowKey): string {
  // stringifyFlat: the same text as stringifyJson, without a replacer when no bigint is present.
  return stringifyFlat(key);
}

export function storeName(d: StoreDeclaration): string {
  return typeof d === 'string' ? d : d.name;
}

export function isChangeEvent(x: ChangeEvent | PlainRecord): x is ChangeEvent {
  return (x as PlainRecord).kind !== 'plain';
}
