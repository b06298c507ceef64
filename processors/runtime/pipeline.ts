import { fromKafkaRecord, stringifyJson, toKafkaRecords } from '../../core/events/index.ts';
import type { ChangeEvent, JsonFormat } from '../../core/events/index.ts';
import type { IncomingRecord, OutgoingRecord } from '../../core/kafka/index.ts';
import type { ErrorPolicy, PlainRecord } from '../api/index.ts';
import { isChangeEvent } from '../api/index.ts';
import type { ChainOutput, ProcessorChain, RecordOutcome } from './chain.ts';
import { ProcessorError } from './chain.ts';

/** What the pipeline emitted for one input (or one scheduled run). */
export interface Emitted {
  out: OutgoingRecord;
  kind: 'event' | 'tombstone' | 'plain' | 'dlq';
  event?: ChangeEvent;
  plain?: PlainRecord;
}

/** Counters exposed as metrics; skip and DLQ counts are per processor. */
export interface PipelineMetrics {
  processed: number;
  emitted: number;
  inputTombstones: number;
  skipped: Record<string, number>;
  deadLettered: Record<string, number>;
}

export interface PipelineOptions {
  outputTopic: string | undefined;
  format: JsonFormat;
  /** Policy for records that are not change events and for output encoding failures. */
  inputPolicy: ErrorPolicy;
  dlqTopic: string;
}

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
  readonly metrics: PipelineMetrics = {
    processed: 0,
    emitted: 0,
    inputTombstones: 0,
    skipped: {},
    deadLettered: {},
  };

  constructor(
    readonly chain: ProcessorChain,
    private readonly options: PipelineOptions,
  ) {}

  async handle(record: IncomingRecord): Promise<Emitted[]> {
    this.metrics.processed++;
    let event: ChangeEvent;
    try {
      const decoded = fromKafkaRecord(record);
      if (decoded.kind === 'tombstone') {
        this.metrics.inputTombstones++;
        return [];
      }
      event = decoded.event;
    } catch (err) {
      return this.failed(record, INPUT_STAGE, this.options.inputPolicy, err);
    }
    const outcome = await this.chain.process(event, {
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      timestamp: record.timestamp,
      headers: record.headers,
    });
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
      const emitted = outcome.outputs.flatMap((o) => this.encode(o));
      this.metrics.emitted += emitted.length;
      return emitted;
    } catch (err) {
      if (!record) throw err;
      return this.failed(record, OUTPUT_STAGE, this.options.inputPolicy, err);
    }
  }

  private encode(o: ChainOutput): Emitted[] {
    const topic = o.topic ?? this.options.outputTopic;
    if (!topic)
      throw new ProcessorError(
        OUTPUT_STAGE,
        'no output topic: set `output` in the processor config or forward with { topic }',
      );
    if (isChangeEvent(o.record)) {
      const event = { ...o.record, topic };
      return toKafkaRecords(event, { format: this.options.format }).map((out) =>
        out.value === null
          ? { out, kind: 'tombstone' as const }
          : { out, kind: 'event' as const, event },
      );
    }
    const p = o.record;
    const out: OutgoingRecord = {
      topic,
      key: p.key === null || p.key === undefined ? null : Buffer.from(stringifyJson(p.key)),
      value: p.value === null || p.value === undefined ? null : Buffer.from(stringifyJson(p.value)),
    };
    if (p.headers) out.headers = p.headers;
    return [{ out, kind: 'plain', plain: { ...p, topic } }];
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

function errorClass(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.constructor.name}(${code})` : err.constructor.name;
  }
  return typeof err;
}
