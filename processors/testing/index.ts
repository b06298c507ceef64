/**
 * The processor test kit (package export "tributary/processors/testing"): runs a processor chain
 * in memory, in the spirit of Kafka Streams' TopologyTestDriver. Events go through the same
 * decode -> chain -> encode pipeline and error policies as in the runtime, so what a test sees
 * is what the output topics would hold; no Kafka is needed.
 *
 *   const driver = await ProcessorTestDriver.create({ processors: [myProcessor], output: 'out' });
 *   await driver.pipe(event);
 *   driver.readOutput('out');      // what was written to 'out' since the last read
 *   await driver.storeEntries('counts');
 *   await driver.advanceTime(60_000); // fires ctx.schedule callbacks that are due
 */
import { toKafkaRecords } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import type { IncomingRecord } from '../../core/kafka/index.ts';
import type { ErrorPolicy, PlainRecord } from '../api/index.ts';
import { keyString, storeName } from '../api/index.ts';
import { loadProcessors } from '../runtime/loader.ts';
import type { ProcessorSpec } from '../runtime/loader.ts';
import type { Emitted, PipelineMetrics, RecordPipeline } from '../runtime/pipeline.ts';
import { combinedMetrics, splitStages, stagePipelines } from '../runtime/stages.ts';
import { MemoryBackend } from '../runtime/stores/backend.ts';
import { StagedStore } from '../runtime/stores/staged-store.ts';
import { stringifyJson } from '../../core/events/index.ts';

export interface TestDriverOptions {
  processors: ProcessorSpec[];
  /** Default output topic. */
  output?: string;
  /** Default error policy (per-processor `errors` in config entries override it). */
  errors?: ErrorPolicy;
  dlqTopic?: string;
  /** The task's partition number, as seen by ctx.partition. */
  partition?: number;
  /** Virtual clock start (epoch ms). */
  startTime?: number;
  /** Directory module paths are resolved against (default: cwd). */
  baseDir?: string;
}

/** One record written to an output topic. */
export interface TestOutput {
  topic: string;
  /** Row key (change events) or the plain record's key. */
  key: unknown;
  /** Envelope, plain value, or null for a tombstone. */
  value: unknown;
  headers: Record<string, string>;
  kind: Emitted['kind'];
  /** The change event, for event outputs. */
  event?: ChangeEvent;
}

export class ProcessorTestDriver {
  private now: number;
  private offset = 0n;
  private readonly outputs: TestOutput[] = [];
  private readonly unread = new Map<string, TestOutput[]>();

  private repartitionOffset = 0n;

  private constructor(
    /** One per stage: a repartitioning processor starts a new stage (see splitStages). */
    private readonly pipelines: RecordPipeline[],
    private readonly stores: Map<string, StagedStore>,
    private readonly tables: Map<string, StagedStore[]>,
    private readonly inputTopic: string,
    private readonly partition: number,
    startTime: number,
    private readonly setClock: (f: () => number) => void,
  ) {
    this.now = startTime;
    setClock(() => this.now);
  }

  static async create(options: TestDriverOptions): Promise<ProcessorTestDriver> {
    const nodes = await loadProcessors(
      options.processors,
      options.errors ?? 'fail',
      options.baseDir,
    );
    const stores = new Map<string, StagedStore>();
    const tables = new Map<string, StagedStore[]>();
    for (const n of nodes)
      for (const d of n.definition.stores ?? []) {
        const name = storeName(d);
        if (stores.has(name)) continue;
        const global = typeof d === 'object' && d.global === true;
        const store = new StagedStore(name, new MemoryBackend(), global);
        stores.set(name, store);
        if (typeof d === 'object' && d.fromTopic)
          tables.set(d.fromTopic, [...(tables.get(d.fromTopic) ?? []), store]);
      }
    let clock: () => number = () => Date.now();
    const partition = options.partition ?? 0;
    // Repartitioning processors run after an in-memory hop through the same record encoding as
    // the runtime's repartition topic (the test kit has one task: every key is local).
    const pipelines = stagePipelines(splitStages(nodes, 'test'), stores, partition, () => clock(), {
      outputTopic: options.output,
      format: 'json',
      inputPolicy: options.errors ?? 'fail',
      dlqTopic: options.dlqTopic ?? 'test.dlq',
    });
    const driver = new ProcessorTestDriver(
      pipelines,
      stores,
      tables,
      'test-input',
      partition,
      options.startTime ?? Date.UTC(2026, 0, 1),
      (f) => (clock = f),
    );
    for (const p of pipelines) await p.chain.init();
    return driver;
  }

  /** Feeds change events (or raw records, to test bad input) through the chain, in order. */
  async pipe(input: ChangeEvent | ChangeEvent[]): Promise<void> {
    for (const event of Array.isArray(input) ? input : [input]) {
      for (const rec of toKafkaRecords(event, { format: 'json', tombstonesOnDelete: false }))
        await this.pipeRaw({
          topic: event.topic,
          key: rec.key,
          value: rec.value,
          headers: rec.headers,
        });
    }
  }

  /** Feeds one raw Kafka record (e.g. something that is not a change event). */
  async pipeRaw(record: {
    topic?: string;
    key: Buffer | null;
    value: Buffer | null;
    headers?: Record<string, string | Buffer>;
  }): Promise<void> {
    const headers: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(record.headers ?? {}))
      headers[k] = Buffer.isBuffer(v) ? v : Buffer.from(v);
    const incoming: IncomingRecord = {
      topic: record.topic ?? this.inputTopic,
      partition: this.partition,
      offset: this.offset++,
      key: record.key,
      value: record.value,
      headers,
      timestamp: BigInt(this.now),
    };
    await this.collect(await this.pipelines[0]!.handle(incoming), 0);
    await this.commitStores();
  }

  /**
   * Feeds a change event of a table topic into the stores filled from that topic (join
   * tables): the store holds the event's after-row under keyString(event.key).
   */
  async pipeTable(topic: string, event: ChangeEvent): Promise<void> {
    const stores = this.tables.get(topic);
    if (!stores) throw new Error(`no store is filled from topic "${topic}"`);
    const key = keyString(event.key);
    const value = event.value.op === 'd' ? null : stringifyJson(event.value.after);
    for (const s of stores) await s.backend.write([[key, value]]);
  }

  /** Moves the virtual clock forward and runs the scheduled callbacks that became due. */
  async advanceTime(ms: number): Promise<void> {
    this.now += ms;
    for (const [i, p] of this.pipelines.entries())
      await this.collect(await p.punctuate(this.now), i);
    await this.commitStores();
  }

  /** Outputs written to `topic` (all topics when omitted) since the last read of it. */
  readOutput(topic?: string): TestOutput[] {
    if (topic !== undefined) {
      const out = this.unread.get(topic) ?? [];
      this.unread.delete(topic);
      return out;
    }
    const all = [...this.unread.values()].flat();
    this.unread.clear();
    return all;
  }

  /** Every output so far, in order (not affected by readOutput). */
  allOutputs(): TestOutput[] {
    return [...this.outputs];
  }

  /** Entries of a store, in key order. */
  async storeEntries<V = unknown>(name: string): Promise<Map<string, V>> {
    const s = this.stores.get(name);
    if (!s)
      throw new Error(
        `no store "${name}"; stores: ${[...this.stores.keys()].join(', ') || '(none)'}`,
      );
    const out = new Map<string, V>();
    for await (const [k, v] of s.range()) out.set(k, v as V);
    return out;
  }

  /** Counters of the whole chain (`processed` counts inputs, not repartition hops). */
  get metrics(): PipelineMetrics {
    return combinedMetrics(this.pipelines)!;
  }

  async close(): Promise<void> {
    for (const p of this.pipelines) await p.chain.close();
  }

  private async collect(emitted: Emitted[], stage: number): Promise<void> {
    for (const e of emitted) {
      if (e.kind === 'repartition') {
        const headers: Record<string, Buffer> = {};
        for (const [k, v] of Object.entries(e.out.headers ?? {}))
          headers[k] = Buffer.isBuffer(v) ? v : Buffer.from(v);
        const hop: IncomingRecord = {
          topic: e.out.topic,
          partition: this.partition,
          offset: this.repartitionOffset++,
          key: e.out.key,
          value: e.out.value,
          headers,
          timestamp: BigInt(this.now),
        };
        await this.collect(await this.pipelines[stage + 1]!.handle(hop), stage + 1);
        continue;
      }
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(e.out.headers ?? {})) headers[k] = v.toString();
      const out: TestOutput = {
        topic: e.out.topic,
        key: e.event ? e.event.key : e.plain ? e.plain.key : (e.out.key?.toString() ?? null),
        value: e.event
          ? e.event.value
          : e.plain
            ? (e.plain.value ?? null)
            : e.out.value
              ? e.out.value.toString()
              : null,
        headers,
        kind: e.kind,
      };
      if (e.event) out.event = e.event;
      this.outputs.push(out);
      const list = this.unread.get(out.topic) ?? [];
      list.push(out);
      this.unread.set(out.topic, list);
    }
  }

  private async commitStores(): Promise<void> {
    for (const s of this.stores.values()) if (s.hasPending()) await s.flush();
  }
}

export type { PlainRecord };
