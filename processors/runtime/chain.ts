import type {
  Cancellable,
  ChangeEvent,
  ErrorPolicy,
  ForwardOptions,
  KeyValueStore,
  PlainRecord,
  ProcessorContext,
  ProcessorDefinition,
  RecordMetadata,
} from '../api/index.ts';
import { isChangeEvent, storeName } from '../api/index.ts';
import { TributaryError } from '../../core/errors/index.ts';
import type { StagedStore } from './stores/staged-store.ts';

/** One processor of a chain, with its error policy. */
export interface ChainNode {
  definition: ProcessorDefinition;
  policy: ErrorPolicy;
}

/** Something the chain emitted for the output. */
export interface ChainOutput {
  record: ChangeEvent | PlainRecord;
  topic: string | undefined;
}

export type RecordOutcome =
  | { ok: true; outputs: ChainOutput[] }
  | { ok: false; policy: 'skip' | 'dlq'; error: Error; processor: string };

/** A processor threw and its policy is `fail` (or a record failed before any processor ran). */
export class ProcessorError extends TributaryError {
  constructor(
    readonly processor: string,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super('PROCESSOR_FAILED', `processor "${processor}": ${message}`, {
      ...options,
      retryable: false,
    });
  }
}

/** A processor asked for a store it did not declare. */
export class UndeclaredStoreError extends TributaryError {
  constructor(processor: string, store: string, declared: string[]) {
    super(
      'STORE_NOT_DECLARED',
      `processor "${processor}" asked for store "${store}", which it does not declare; declared stores: ${
        declared.length ? declared.map((d) => `"${d}"`).join(', ') : '(none)'
      }. Add it to the processor's \`stores\`.`,
    );
  }
}

type Walked = RecordOutcome | undefined | Promise<RecordOutcome | undefined>;

interface Scheduled {
  node: number;
  intervalMs: number;
  next: number;
  fn: (ctx: ProcessorContext, now: number) => void | Promise<void>;
  cancelled: boolean;
}

/**
 * Runs a chain of processor instances for one task: the same code path for the runtime and the
 * test kit. Each input record runs depth-first through the chain; what a processor forwards is
 * handed to the next one after its process() resolved. A record that fails is rolled back as a
 * whole (its outputs and store writes are dropped) and reported with the failing processor's
 * policy. Not reentrant: one process()/runScheduled() at a time.
 */
export class ProcessorChain {
  private readonly instances: ProcessorDefinition[];
  private readonly contexts: NodeContext[];
  private readonly scheduled: Scheduled[] = [];
  private current: RecordMetadata | undefined;
  private readonly storesOf: Map<string, StagedStore>[];

  constructor(
    readonly nodes: ChainNode[],
    private readonly stores: Map<string, StagedStore>,
    readonly partition: number,
    private readonly clock: () => number,
  ) {
    // Object.create gives each task its own `this` while methods stay on the definition.
    this.instances = nodes.map((n) => Object.create(n.definition) as ProcessorDefinition);
    this.contexts = nodes.map((_, i) => new NodeContext(this, i));
    this.storesOf = nodes.map(() => new Map());
  }

  async init(): Promise<void> {
    for (let i = 0; i < this.instances.length; i++) {
      const inst = this.instances[i]!;
      try {
        await inst.init?.call(inst, this.contexts[i]!);
      } catch (err) {
        throw new ProcessorError(inst.name, `init failed: ${(err as Error).message}`, {
          cause: err,
        });
      }
    }
  }

  async close(): Promise<void> {
    for (const s of this.scheduled) s.cancelled = true;
    for (const inst of this.instances) {
      try {
        await inst.close?.call(inst);
      } catch {
        // close errors must not stop the other processors from closing
      }
    }
  }

  /**
   * `topic`: the output topic already chosen for the event (by a stage before a repartition).
   * Synchronous when every processor the record reaches is (no promise, no microtask); a
   * promise as soon as one of them returns one.
   */
  process(
    event: ChangeEvent,
    meta: RecordMetadata,
    topic?: string,
  ): RecordOutcome | Promise<RecordOutcome> {
    this.current = meta;
    let outcome: RecordOutcome | Promise<RecordOutcome>;
    try {
      outcome = this.runFrom(0, [{ record: event, topic }]);
    } catch (err) {
      this.current = undefined;
      throw err;
    }
    if (!(outcome instanceof Promise)) {
      this.current = undefined;
      return outcome;
    }
    return outcome.finally(() => {
      this.current = undefined;
    });
  }

  /** Runs every scheduled callback that is due at `now`. */
  async runScheduled(now: number): Promise<RecordOutcome[]> {
    const outcomes: RecordOutcome[] = [];
    for (const s of [...this.scheduled]) {
      while (!s.cancelled && s.next <= now) {
        const at = s.next;
        s.next += s.intervalMs;
        const ctx = this.contexts[s.node]!;
        ctx.collected = [];
        const outcome = await this.guard(s.node, async () => {
          await s.fn(ctx, at);
        });
        if (outcome) {
          outcomes.push(outcome);
          continue;
        }
        const downstream = ctx.collected;
        outcomes.push(await this.runFrom(s.node + 1, downstream));
      }
    }
    return outcomes;
  }

  /** The record being processed (for contexts). */
  get record(): RecordMetadata | undefined {
    return this.current;
  }

  now(): number {
    return this.clock();
  }

  storeFor(node: number, name: string): KeyValueStore {
    // A processor asks for its store once per record: the checked answer is kept per node.
    const known = this.storesOf[node]!.get(name);
    if (known) return known;
    const def = this.nodes[node]!.definition;
    const declared = (def.stores ?? []).map(storeName);
    if (!declared.includes(name)) throw new UndeclaredStoreError(def.name, name, declared);
    const store = this.stores.get(name);
    if (!store)
      throw new TributaryError('STORE_MISSING', `store "${name}" was declared but not created`);
    this.storesOf[node]!.set(name, store);
    return store;
  }

  schedule(node: number, intervalMs: number, fn: Scheduled['fn']): Cancellable {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0)
      throw new TypeError('schedule(intervalMs, fn): intervalMs must be a positive number');
    const s: Scheduled = {
      node,
      intervalMs,
      next: this.clock() + intervalMs,
      fn,
      cancelled: false,
    };
    this.scheduled.push(s);
    return {
      cancel: () => {
        s.cancelled = true;
        this.scheduled.splice(this.scheduled.indexOf(s), 1);
      },
    };
  }

  private runFrom(start: number, inputs: ChainOutput[]): RecordOutcome | Promise<RecordOutcome> {
    const outputs: ChainOutput[] = [];
    const failed = this.walk(start, inputs, outputs, 0);
    if (failed instanceof Promise) return failed.then((f) => this.finish(f, outputs));
    return this.finish(failed, outputs);
  }

  private finish(failed: RecordOutcome | undefined, outputs: ChainOutput[]): RecordOutcome {
    if (failed) {
      for (const s of this.stores.values()) s.rollbackRecord();
      return failed;
    }
    for (const s of this.stores.values()) s.commitRecord();
    return { ok: true, outputs };
  }

  /**
   * Runs `items` (from index `from`) through processors node.. depth-first. Hot path: no
   * closures per record, and synchronous until a processor returns a promise; the rest of
   * the walk then continues asynchronously (walkAfter / walkRest), in the same order.
   */
  private walk(node: number, items: ChainOutput[], outputs: ChainOutput[], from: number): Walked {
    for (let i = from; i < items.length; i++) {
      const item = items[i]!;
      if (node >= this.instances.length || !isChangeEvent(item.record)) {
        outputs.push(item);
        continue;
      }
      const ctx = this.contexts[node]!;
      const collected: ChainOutput[] = [];
      ctx.collected = collected;
      ctx.inheritedTopic = item.topic;
      const inst = this.instances[node]!;
      let r: void | Promise<void>;
      try {
        r = inst.process.call(inst, item.record, ctx);
      } catch (err) {
        return this.failure(node, err);
      }
      if (r !== undefined) return this.walkAfter(r, node, items, outputs, i, collected);
      if (collected.length === 0) continue;
      const res = this.walk(node + 1, collected, outputs, 0);
      if (res instanceof Promise) return this.walkRest(res, node, items, outputs, i + 1);
      if (res) return res;
    }
    return undefined;
  }

  /** items[i] is in an asynchronous process() at `node`: wait for it, then go on. */
  private async walkAfter(
    r: unknown,
    node: number,
    items: ChainOutput[],
    outputs: ChainOutput[],
    i: number,
    collected: ChainOutput[],
  ): Promise<RecordOutcome | undefined> {
    try {
      await r;
    } catch (err) {
      return this.failure(node, err);
    }
    if (collected.length > 0) {
      const res = await this.walk(node + 1, collected, outputs, 0);
      if (res) return res;
    }
    return this.walk(node, items, outputs, i + 1);
  }

  /** The walk below `node` went asynchronous: wait for it, then continue with items[next..]. */
  private async walkRest(
    pending: Promise<RecordOutcome | undefined>,
    node: number,
    items: ChainOutput[],
    outputs: ChainOutput[],
    next: number,
  ): Promise<RecordOutcome | undefined> {
    const res = await pending;
    if (res) return res;
    return this.walk(node, items, outputs, next);
  }

  private async guard(node: number, fn: () => Promise<void>): Promise<RecordOutcome | undefined> {
    try {
      await fn();
      return undefined;
    } catch (err) {
      return this.failure(node, err);
    }
  }

  /** A processor threw: its policy decides (fail throws ProcessorError). */
  private failure(node: number, err: unknown): RecordOutcome {
    const { policy, definition } = this.nodes[node]!;
    const error = err instanceof Error ? err : new Error(String(err));
    if (policy === 'fail' || err instanceof UndeclaredStoreError) {
      for (const s of this.stores.values()) s.rollbackRecord();
      const where = this.current
        ? ` at ${this.current.topic}[${this.current.partition}]@${this.current.offset}`
        : ' in a scheduled callback';
      throw new ProcessorError(definition.name, `${error.message}${where}`, {
        cause: err,
        details: { errorClass: error.constructor.name },
      });
    }
    return { ok: false, policy, error, processor: definition.name };
  }
}

class NodeContext implements ProcessorContext {
  collected: ChainOutput[] = [];
  inheritedTopic: string | undefined;

  constructor(
    private readonly chain: ProcessorChain,
    private readonly node: number,
  ) {}

  get processorName(): string {
    return this.chain.nodes[this.node]!.definition.name;
  }

  get partition(): number {
    return this.chain.partition;
  }

  get record(): RecordMetadata | undefined {
    return this.chain.record;
  }

  forward(record: ChangeEvent | PlainRecord, options?: ForwardOptions): void {
    if (!record || typeof record !== 'object')
      throw new TypeError(`${this.processorName}: forward() needs a ChangeEvent or a plain record`);
    const own = isChangeEvent(record) ? undefined : record.topic;
    const topic = options?.topic ?? own ?? this.inheritedTopic;
    this.collected.push({ record, topic });
  }

  store<V = unknown>(name: string): KeyValueStore<V> {
    return this.chain.storeFor(this.node, name) as KeyValueStore<V>;
  }

  schedule(
    intervalMs: number,
    fn: (ctx: ProcessorContext, now: number) => void | Promise<void>,
  ): Cancellable {
    return this.chain.schedule(this.node, intervalMs, fn);
  }

  now(): number {
    return this.chain.now();
  }
}
