import {
  VERSION_HEADER,
  encodeKey,
  encodeValue,
  fromKafkaRecord,
  stringifyJson,
  toKafkaRecords,
} from '../../core/events/index.ts';
import type { ChangeEvent, JsonFormat, RowKey, SerdeOptions } from '../../core/events/index.ts';
import type { IncomingRecord, OutgoingRecord } from '../../core/kafka/index.ts';
import type { ErrorPolicy, PlainRecord } from '../api/index.ts';
import { isChangeEvent } from '../api/index.ts';
import type { ChainOutput, ProcessorChain, RecordOutcome } from './chain.ts';
import { ProcessorError } from './chain.ts';

/** What the pipeline emitted for one input (or one scheduled run). */
export interface Emitted {
  out: OutgoingRecord;
  kind: 'event' | 'tombstone' | 'plain' | 'dlq' | 'repartition';
  event?: ChangeEvent;
  plain?: PlainRecord;
}

/** Counters exposed as metrics; skip and DLQ counts are per processor. */
export interface PipelineMetrics {
  processed: number;
  emitted: number;
  /** Events written to a repartition topic (they are counted in `emitted` after the hop). */
  repartitioned: number;
  inputTombstones: number;
  skipped: Record<string, number>;
  deadLettered: Record<string, number>;
}

/** All counters at zero. */
export function emptyMetrics(): PipelineMetrics {
  return {
    processed: 0,
    emitted: 0,
    repartitioned: 0,
    inputTombstones: 0,
    skipped: {},
    deadLettered: {},
  };
}

export interface PipelineOptions {
  outputTopic: string | undefined;
  format: JsonFormat;
  /** Policy for records that are not change events and for output encoding failures. */
  inputPolicy: ErrorPolicy;
  dlqTopic: string;
  /** This stage ends at a repartition topic: its change events are re-keyed and written there. */
  repartition?: { topic: string; key(event: ChangeEvent): RowKey | undefined };
  /** This stage reads a repartition topic (records written by an earlier stage). */
  fromRepartition?: boolean;
}

/**
 * Headers of a repartition record: the event's own key (the record key is the join key), the
 * topic it came from and the output topic chosen so far (ctx.forward's `topic`), so the stage
 * after the hop sees exactly the event the stage before it forwarded.
 */
export const REPARTITION_HEADERS = {
  key: 'tributary.repartition.key',
  topic: 'tributary.repartition.topic',
  forward: 'tributary.repartition.forward',
} as const;

/** Pseudo-processor names used in DLQ headers for failures outside any processor. */
export const INPUT_STAGE = '(input)';
export const OUTPUT_STAGE = '(output)';

export const DLQ_HEADERS = {
  topic: 'tributary.dlq.source.topic',
  partition: 'tributary.dlq.source.partition',
  offset: 'tributary.dlq.source.offset',
  processor: 'tributary.dlq.processor',
  errorClass: 'tributary.dlq.error.class',
  message: 'tributary.dlq.error.message',
} as const;

/**
 * decode -> processor chain -> encode for one input record, with the error policies applied:
 * `fail` throws ProcessorError, `skip` counts and drops the record, `dlq` counts it and emits
 * the original record to the dead-letter topic with headers saying where it came from and why.
 * Input tombstones are counted and dropped: the output serializer writes a tombstone after
 * every delete it emits. Shared by the runtime's tasks and the test kit.
 */
export class RecordPipeline {
  readonly metrics: PipelineMetrics = emptyMetrics();

  private readonly serde: SerdeOptions;

  constructor(
    readonly chain: ProcessorChain,
    private readonly options: PipelineOptions,
  ) {
    this.serde = { format: options.format };
  }

  /** Synchronous when every processor the record reaches is (see ProcessorChain.process). */
  handle(record: IncomingRecord): Emitted[] | Promise<Emitted[]> {
    this.metrics.processed++;
    let event: ChangeEvent;
    let forwardTopic: string | undefined;
    try {
      if (this.options.fromRepartition) {
        ({ event, forwardTopic } = decodeRepartitioned(record));
      } else {
        const decoded = fromKafkaRecord(record);
        if (decoded.kind === 'tombstone') {
          this.metrics.inputTombstones++;
          return [];
        }
        event = decoded.event;
      }
    } catch (err) {
      return this.failed(record, INPUT_STAGE, this.options.inputPolicy, err);
    }
    const outcome = this.chain.process(
      event,
      {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
        timestamp: record.timestamp,
        headers: record.headers,
      },
      forwardTopic,
    );
    if (outcome instanceof Promise) return outcome.then((o) => this.settle(o, record));
    return this.settle(outcome, record);
  }

  /** Runs due scheduled callbacks; a failing one with skip/dlq policy is counted. */
  async punctuate(now: number): Promise<Emitted[]> {
    const out: Emitted[] = [];
    for (const outcome of await this.chain.runScheduled(now))
      out.push(...this.settle(outcome, undefined));
    return out;
  }

  private settle(outcome: RecordOutcome, record: IncomingRecord | undefined): Emitted[] {
    if (!outcome.ok) {
      if (!record) {
        this.count(outcome.policy === 'dlq' ? 'deadLettered' : 'skipped', outcome.processor);
        return [];
      }
      return this.failed(record, outcome.processor, outcome.policy, outcome.error);
    }
    try {
      const emitted: Emitted[] = [];
      for (const o of outcome.outputs) this.encode(o, emitted);
      for (const e of emitted)
        if (e.kind === 'repartition') this.metrics.repartitioned++;
        else this.metrics.emitted++;
      return emitted;
    } catch (err) {
      if (!record) throw err;
      return this.failed(record, OUTPUT_STAGE, this.options.inputPolicy, err);
    }
  }

  /** Appends the record(s) of one chain output to `emitted`. */
  private encode(o: ChainOutput, emitted: Emitted[]): void {
    const rp = this.options.repartition;
    if (rp && isChangeEvent(o.record)) {
      emitted.push(encodeRepartitioned(o.record, o.topic, rp));
      return;
    }
    const topic = o.topic ?? this.options.outputTopic;
    if (!topic)
      throw new ProcessorError(
        OUTPUT_STAGE,
        'no output topic: set `output` in the processor config or forward with { topic }',
      );
    if (isChangeEvent(o.record)) {
      const event = { ...o.record, topic };
      for (const out of toKafkaRecords(event, this.serde))
        emitted.push(
          out.value === null ? { out, kind: 'tombstone' } : { out, kind: 'event', event },
        );
      return;
    }
    const p = o.record;
    const out: OutgoingRecord = {
      topic,
      key: p.key === null || p.key === undefined ? null : Buffer.from(stringifyJson(p.key)),
      value: p.value === null || p.value === undefined ? null : Buffer.from(stringifyJson(p.value)),
    };
    if (p.headers) out.headers = p.headers;
    emitted.push({ out, kind: 'plain', plain: { ...p, topic } });
  }

  private failed(
    record: IncomingRecord,
    processor: string,
    policy: ErrorPolicy,
    err: unknown,
  ): Emitted[] {
    const error = err instanceof Error ? err : new Error(String(err));
    if (policy === 'fail') {
      if (err instanceof ProcessorError) throw err;
      throw new ProcessorError(
        processor,
        `${error.message} at ${record.topic}[${record.partition}]@${record.offset}`,
        { cause: err, details: { errorClass: error.constructor.name } },
      );
    }
    if (policy === 'skip') {
      this.count('skipped', processor);
      return [];
    }
    this.count('deadLettered', processor);
    const headers: Record<string, string | Buffer> = { ...record.headers };
    headers[DLQ_HEADERS.topic] = record.topic;
    headers[DLQ_HEADERS.partition] = String(record.partition);
    headers[DLQ_HEADERS.offset] = record.offset.toString();
    headers[DLQ_HEADERS.processor] = processor;
    headers[DLQ_HEADERS.errorClass] = errorClass(err);
    headers[DLQ_HEADERS.message] = error.message.slice(0, 4000);
    return [
      {
        out: { topic: this.options.dlqTopic, key: record.key, value: record.value, headers },
        kind: 'dlq',
      },
    ];
  }

  private count(what: 'skipped' | 'deadLettered', processor: string): void {
    this.metrics[what][processor] = (this.metrics[what][processor] ?? 0) + 1;
  }
}

/**
 * A change event on its way through a repartition topic: keyed by the new key (JSON, the bytes
 * a `json`-format table topic uses for the same row key, so the default partitioner puts it on
 * the table row's partition), valued by the envelope; the event's own key, topic and output
 * topic travel in headers. No tombstone after a delete: the final output writes it.
 */
function encodeRepartitioned(
  event: ChangeEvent,
  forwardTopic: string | undefined,
  rp: NonNullable<PipelineOptions['repartition']>,
): Emitted {
  const ownKey = encodeKey(event, 'json');
  const newKey = rp.key(event);
  const headers: Record<string, string | Buffer> = event.headers ? { ...event.headers } : {};
  headers[VERSION_HEADER] = event.version.toString();
  headers[REPARTITION_HEADERS.key] = ownKey;
  headers[REPARTITION_HEADERS.topic] = event.topic;
  if (forwardTopic !== undefined) headers[REPARTITION_HEADERS.forward] = forwardTopic;
  return {
    out: {
      topic: rp.topic,
      key: newKey === undefined ? ownKey : encodeKey({ key: newKey }, 'json'),
      value: encodeValue(event, 'json'),
      headers,
    },
    kind: 'repartition',
    event,
  };
}

/** The event a repartition record carries, as the stage before the hop forwarded it. */
export function decodeRepartitioned(record: IncomingRecord): {
  event: ChangeEvent;
  forwardTopic: string | undefined;
} {
  const h = record.headers;
  const ownKey = h[REPARTITION_HEADERS.key];
  const topic = h[REPARTITION_HEADERS.topic];
  if (!ownKey || !topic)
    throw new ProcessorError(
      INPUT_STAGE,
      `repartition record without the ${REPARTITION_HEADERS.key} / ${REPARTITION_HEADERS.topic} headers`,
    );
  const decoded = fromKafkaRecord({
    topic: topic.toString(),
    key: ownKey,
    value: record.value,
    headers: h,
  });
  if (decoded.kind !== 'change')
    throw new ProcessorError(INPUT_STAGE, 'repartition record without a value');
  const event = decoded.event;
  const forward = h[REPARTITION_HEADERS.forward]?.toString();
  if (event.headers) {
    for (const name of Object.values(REPARTITION_HEADERS)) delete event.headers[name];
    if (Object.keys(event.headers).length === 0) delete event.headers;
  }
  return { event, forwardTopic: forward };
}

function errorClass(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.constructor.name}(${code})` : err.constructor.name;
  }
  return typeof err;
}
