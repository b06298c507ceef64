import { existsSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fromKafkaRecord, stringifyJson } from '../../core/events/index.ts';
import { TransactionalProducer } from '../../core/kafka/index.ts';
import type {
  FetchedPartition,
  GroupGeneration,
  IncomingRecord,
  KafkaConfig,
  KafkaPartitionConsumer,
  KafkaProducer,
  OutgoingRecord,
  TopicPartition,
  TopicPartitionOffset,
} from '../../core/kafka/index.ts';
import { keyString } from '../api/index.ts';
import type { ChainNode } from './chain.ts';
import { readCheckpoint, removeFile, writeCheckpoint } from './checkpoint.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { RuntimeConfig } from './config.ts';
import type { PipelineMetrics, RecordPipeline } from './pipeline.ts';
import { combinedMetrics, stagePipelines } from './stages.ts';
import type { Stage } from './stages.ts';
import { RocksBackend } from './stores/rocksdb-backend.ts';
import { StagedStore } from './stores/staged-store.ts';

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/** A local store of the task: where it lives and which changelog partition backs it. */
export interface LocalStoreSpec {
  name: string;
  changelog: string;
  /** Filled from this co-partitioned table topic instead of by processors. */
  fromTopic?: string;
}

export interface TaskEnv {
  config: RuntimeConfig;
  kafka: KafkaConfig;
  nodes: ChainNode[];
  /** The chain cut at its repartition topics (one stage when there is none). */
  stages: Stage[];
  localStores: LocalStoreSpec[];
  globalStores: Map<string, StagedStore>;
  member: KafkaPartitionConsumer;
  /** Reader for changelog restores (no group). */
  reader: KafkaPartitionConsumer;
  /** Shared idempotent producer (at-least-once only). */
  sharedProducer: KafkaProducer | undefined;
  outputTopic: string | undefined;
  dlqTopic: string;
  /**
   * Set under exactly-once only: compacted topic (one partition per task) where every
   * transaction also records the task's consumed positions; read back when the task starts.
   */
  positionsTopic?: string;
  log: (msg: string) => void;
}

export type CommitResult = 'ok' | 'idle' | 'aborted' | 'fenced' | 'failed';

/**
 * One task = partition N of every input (and co-partitioned table) topic. Owns a processor
 * chain instance, its local stores and, under exactly-once, its own transactional producer
 * (transactional.id "<app>-task-<N>": whoever starts the task fences the previous owner and
 * makes the broker finish its open transaction before the committed offsets are read).
 *
 * Per batch: records are processed into staged outputs and staged store writes; commit()
 * sends outputs + changelog records + consumed positions in one transaction, then applies the
 * store writes locally. An abort forgets the staged work and rewinds to the committed
 * positions. Lifecycle: initialize() -> (enqueue/process/commit)* -> close(clean).
 */
export class StreamTask {
  readonly id: string;
  private producer: TransactionalProducer | undefined;
  private stores = new Map<string, StagedStore>();
  private backends: RocksBackend[] = [];
  /** One pipeline per stage; records of a stage's source topic go to its pipeline. */
  private pipelines: RecordPipeline[] = [];
  private readonly stageOf = new Map<string, number>();
  /** Table partitions' end offsets when the task started: stream records wait until reached. */
  private tableEnds = new Map<string, bigint>();
  private generation!: GroupGeneration;
  /** Next offset to fetch, per input topic-partition. */
  private fetchPositions = new Map<string, bigint>();
  /** Positions covered by the last successful commit. */
  private committedPositions = new Map<string, bigint>();
  private queue: IncomingRecord[] = [];
  private head = 0;
  private staged: OutgoingRecord[] = [];
  private processedSinceCommit = 0;
  private readonly dir: string;
  private readonly dirtyMarker: string;
  private readonly checkpointFile: string;
  private readonly tableTopics: Map<string, StagedStore[]> = new Map();
  commits = 0;
  aborts = 0;

  constructor(
    readonly partition: number,
    readonly inputs: TopicPartition[],
    private readonly env: TaskEnv,
  ) {
    this.id = `${env.config.name}-task-${partition}`;
    this.dir = join(env.config.stateDir, env.config.name, `task-${partition}`);
    this.dirtyMarker = join(this.dir, '.dirty');
    this.checkpointFile = join(this.dir, 'checkpoint.json');
  }

  get exactlyOnce(): boolean {
    return this.env.config.guarantee === 'exactly_once';
  }

  get metrics(): PipelineMetrics | undefined {
    return combinedMetrics(this.pipelines);
  }

  /** Number of fetched records not processed yet. */
  get buffered(): number {
    return this.queue.length - this.head;
  }

  async initialize(generation: GroupGeneration): Promise<void> {
    this.generation = generation;
    const { config } = this.env;
    if (this.exactlyOnce) {
      // Fence the previous owner first: its open transaction is finished by the broker before
      // InitProducerId returns, so the offsets and changelog read below are stable.
      this.producer = new TransactionalProducer(this.env.kafka, this.id);
      await this.producer.init();
    }
    await this.openStores();
    const stored = await this.storedPositions();
    const committed = await this.env.member.committed(this.inputs);
    if (this.env.member.unstableOffsets.length)
      this.env.log(
        `task ${this.partition}: the group's committed offsets of ${this.env.member.unstableOffsets.join(', ')} are held by a transaction that never completed (its marker was lost); ${stored.size ? `starting from the positions in ${this.env.positionsTopic}` : 'using the offsets committed before it'}`,
      );
    for (const [k, v] of stored) committed.set(k, v);
    const missing = this.inputs.filter(
      (tp) => committed.get(tpKey(tp.topic, tp.partition)) === undefined,
    );
    const earliest = missing.length
      ? await this.env.member.offsets(missing, 'earliest')
      : new Map<string, bigint>();
    for (const tp of this.inputs) {
      const k = tpKey(tp.topic, tp.partition);
      const pos = committed.get(k) ?? earliest.get(k) ?? 0n;
      this.fetchPositions.set(k, pos);
      this.committedPositions.set(k, pos);
    }
    for (const spec of this.env.localStores)
      if (spec.fromTopic)
        this.tableTopics.set(spec.fromTopic, [
          ...(this.tableTopics.get(spec.fromTopic) ?? []),
          this.stores.get(spec.name)!,
        ]);
    // Table partitions are read up to where they ended when the task started before any stream
    // record is processed, so a join sees every table row written before it started.
    const tableTps = this.inputs.filter((tp) => this.tableTopics.has(tp.topic));
    if (tableTps.length) this.tableEnds = await this.env.member.offsets(tableTps, 'latest');
    const allStores = new Map<string, StagedStore>([...this.env.globalStores, ...this.stores]);
    this.pipelines = stagePipelines(this.env.stages, allStores, this.partition, () => Date.now(), {
      outputTopic: this.env.outputTopic,
      format: config.format,
      inputPolicy: config.errors.policy,
      dlqTopic: this.env.dlqTopic,
    });
    for (const [i, st] of this.env.stages.entries()) if (st.source) this.stageOf.set(st.source, i);
    for (const p of this.pipelines) await p.chain.init();
    // From here until a clean close, the local stores may diverge from the changelog.
    writeFileSync(this.dirtyMarker, `${process.pid}\n`);
  }

  /** Positions to fetch for (empty while enough is buffered). */
  fetchRequests(maxBuffered: number): TopicPartitionOffset[] {
    // Table records are applied when fetched (never buffered), so they are always fetched.
    const full = this.buffered >= maxBuffered;
    const out: TopicPartitionOffset[] = [];
    for (const tp of this.inputs)
      if (!full || this.tableTopics.has(tp.topic))
        out.push({ ...tp, offset: this.fetchPositions.get(tpKey(tp.topic, tp.partition))! });
    return out;
  }

  /** True while a table partition has not reached its end offset as of the task's start. */
  private bootstrapping(): boolean {
    if (this.tableEnds.size === 0) return false;
    for (const [k, end] of this.tableEnds)
      if ((this.fetchPositions.get(k) ?? 0n) < end) return true;
    this.tableEnds.clear();
    return false;
  }

  /** Accepts a fetch result if it starts where this task expects (stale results are dropped). */
  enqueue(f: FetchedPartition, requestedOffset: bigint): void {
    const k = tpKey(f.topic, f.partition);
    if (this.fetchPositions.get(k) !== requestedOffset) return;
    const tables = this.tableTopics.get(f.topic);
    if (tables) {
      // Table updates take effect as soon as they are read, ahead of stream records: they are
      // staged like processors' writes and committed with the next transaction.
      for (const r of f.records) this.applyTableRecord(r, tables);
      this.fetchPositions.set(k, f.nextOffset);
      if (f.records.length) this.processedSinceCommit++;
      return;
    }
    if (this.head > 0 && this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
    for (const r of f.records) this.queue.push(r);
    this.fetchPositions.set(k, f.nextOffset);
  }

  /** Processes buffered records (at most `limit`), staging outputs and store writes. */
  async process(limit: number): Promise<number> {
    if (this.bootstrapping()) return 0;
    let n = 0;
    const single = this.stageOf.size === 0 ? this.pipelines[0]! : undefined;
    while (this.head < this.queue.length && n < limit) {
      const r = this.queue[this.head]!;
      const pipeline = single ?? this.pipelines[this.stageOf.get(r.topic) ?? 0]!;
      const handled = pipeline.handle(r);
      for (const e of handled instanceof Promise ? await handled : handled) this.staged.push(e.out);
      this.head++;
      n++;
    }
    const now = Date.now();
    for (const p of this.pipelines) for (const e of await p.punctuate(now)) this.staged.push(e.out);
    this.processedSinceCommit += n;
    return n;
  }

  /** Whether a commit would do anything. */
  hasWork(): boolean {
    return this.processedSinceCommit > 0 || this.staged.length > 0;
  }

  async commit(abortRatio = 0): Promise<CommitResult> {
    if (!this.hasWork()) return 'idle';
    const positions = this.positionsToCommit();
    const changelog = this.changelogRecords();
    const records = [...this.staged, ...changelog.records];
    if (this.env.positionsTopic)
      records.push({
        topic: this.env.positionsTopic,
        partition: this.partition,
        key: Buffer.from(`task-${this.partition}`),
        value: Buffer.from(
          JSON.stringify({
            version: 1,
            positions: positions.map((p) => ({ ...p, offset: p.offset.toString() })),
          }),
        ),
      });
    try {
      if (this.exactlyOnce) {
        const txn = await this.producer!.begin();
        try {
          await txn.send(records);
          await txn.sendPositions(this.generation, positions);
          if (abortRatio > 0 && Math.random() < abortRatio) {
            await txn.abort();
            this.aborts++;
            this.rewind();
            return 'aborted';
          }
          await txn.commit();
        } catch (err) {
          await txn.abort().catch(() => undefined);
          throw err;
        }
      } else {
        await this.env.sharedProducer!.send(records);
        await this.env.member.commit(positions);
      }
    } catch (err) {
      this.rewind();
      return this.classify(err);
    }
    this.commits++;
    for (const [name, writes] of changelog.writes) await this.stores.get(name)!.flush(writes);
    for (const p of positions) this.committedPositions.set(tpKey(p.topic, p.partition), p.offset);
    this.staged = [];
    this.processedSinceCommit = 0;
    return 'ok';
  }

  /**
   * Closes the task. Staged work is dropped (never committed here). A clean close records the
   * changelog end offsets as the checkpoint and clears the dirty marker, so the next owner on
   * this machine restores only what it lacks; otherwise the stores count as dirty.
   */
  async close(clean: boolean): Promise<void> {
    this.discardStaged();
    for (const p of this.pipelines) await p.chain.close().catch(() => undefined);
    if (clean && this.backends.length > 0) {
      try {
        const cp: Checkpoint = { version: 1, offsets: {} };
        const tps = this.env.localStores.map((s) => ({
          topic: s.changelog,
          partition: this.partition,
        }));
        const ends = await this.env.reader.offsets(tps, 'latest');
        for (const tp of tps)
          cp.offsets[tp.topic] = {
            [String(this.partition)]: ends.get(tpKey(tp.topic, tp.partition)) ?? 0n,
          };
        writeCheckpoint(this.checkpointFile, cp);
        removeFile(this.dirtyMarker);
      } catch (err) {
        this.env.log(`task ${this.partition}: no clean checkpoint (${(err as Error).message})`);
      }
    } else if (clean) removeFile(this.dirtyMarker);
    for (const b of this.backends) await b.close().catch(() => undefined);
    this.backends = [];
    await this.producer?.close();
    this.producer = undefined;
  }

  private applyTableRecord(r: IncomingRecord, stores: StagedStore[]): void {
    try {
      const d = fromKafkaRecord(r);
      const key = keyString(d.kind === 'tombstone' ? d.tombstone.key : d.event.key);
      const after = d.kind === 'change' && d.event.value.op !== 'd' ? d.event.value.after : null;
      for (const s of stores) {
        if (after) s.put(key, after);
        else s.delete(key);
        s.commitRecord();
      }
    } catch (err) {
      this.env.log(
        `task ${this.partition}: table record ${r.topic}[${r.partition}]@${r.offset} ignored: ${(err as Error).message}`,
      );
    }
  }

  /**
   * The positions recorded by the last committed transaction of this task (exactly-once), read
   * from the end of its partition of the positions topic; empty when there is none. They are
   * committed in the same transaction as the group's offsets, but unlike those they do not
   * depend on the commit marker reaching __consumer_offsets, which a broker restart was seen
   * to lose (the group then answers with older offsets, and the transaction's records would
   * be processed again).
   */
  private async storedPositions(): Promise<Map<string, bigint>> {
    const out = new Map<string, bigint>();
    const topic = this.env.positionsTopic;
    if (!topic) return out;
    const reader = this.env.reader;
    const tp = { topic, partition: this.partition };
    const k = tpKey(topic, this.partition);
    const start = (await reader.offsets([tp], 'earliest')).get(k) ?? 0n;
    const end = (await reader.offsets([tp], 'latest')).get(k) ?? 0n; // last stable offset
    // Read backwards in growing windows: aborted transactions and markers take offsets too.
    let last: IncomingRecord | undefined;
    for (let hi = end, span = 64n; hi > start && !last; span *= 4n) {
      const lo = hi - span > start ? hi - span : start;
      for (let pos = lo; pos < hi;) {
        const f = (await reader.fetch([{ ...tp, offset: pos }], 0))[0];
        if (!f || f.nextOffset <= pos) break;
        for (const r of f.records) if (r.offset < hi) last = r;
        pos = f.nextOffset;
      }
      hi = lo;
    }
    if (!last?.value) return out;
    try {
      const parsed = JSON.parse(last.value.toString()) as {
        positions: { topic: string; partition: number; offset: string }[];
      };
      for (const p of parsed.positions) out.set(tpKey(p.topic, p.partition), BigInt(p.offset));
    } catch (err) {
      this.env.log(
        `task ${this.partition}: ignoring the unreadable record ${topic}[${this.partition}]@${last.offset} (${(err as Error).message}); starting from the group's committed offsets`,
      );
      out.clear();
    }
    return out;
  }

  private positionsToCommit(): TopicPartitionOffset[] {
    // The first unprocessed record of each partition, or the fetch position when all of its
    // fetched records were processed (which also steps over control markers).
    const firstUnprocessed = new Map<string, bigint>();
    for (let i = this.head; i < this.queue.length; i++) {
      const r = this.queue[i]!;
      const k = tpKey(r.topic, r.partition);
      if (!firstUnprocessed.has(k)) firstUnprocessed.set(k, r.offset);
    }
    return this.inputs.map((tp) => {
      const k = tpKey(tp.topic, tp.partition);
      return { ...tp, offset: firstUnprocessed.get(k) ?? this.fetchPositions.get(k)! };
    });
  }

  private changelogRecords(): {
    records: OutgoingRecord[];
    writes: Map<string, Array<[string, string | null]>>;
  } {
    const records: OutgoingRecord[] = [];
    const writes = new Map<string, Array<[string, string | null]>>();
    for (const spec of this.env.localStores) {
      const store = this.stores.get(spec.name)!;
      if (!store.hasPending()) continue;
      const w = store.pendingWrites();
      writes.set(spec.name, w);
      for (const [k, v] of w)
        records.push({
          topic: spec.changelog,
          partition: this.partition,
          key: Buffer.from(k),
          value: v === null ? null : Buffer.from(v),
        });
    }
    return { records, writes };
  }

  private rewind(): void {
    this.discardStaged();
    this.queue = [];
    this.head = 0;
    for (const [k, v] of this.committedPositions) this.fetchPositions.set(k, v);
  }

  private discardStaged(): void {
    this.staged = [];
    this.processedSinceCommit = 0;
    for (const s of this.stores.values()) s.discard();
  }

  private classify(err: unknown): CommitResult {
    const e = err as { code?: string; details?: { kafkaCode?: string }; message?: string };
    const kafkaCode = e.details?.kafkaCode ?? '';
    if (e.code === 'PRODUCER_FENCED') return 'fenced';
    if (
      [
        'ILLEGAL_GENERATION',
        'UNKNOWN_MEMBER_ID',
        'REBALANCE_IN_PROGRESS',
        'FENCED_INSTANCE_ID',
      ].includes(kafkaCode) ||
      /ILLEGAL_GENERATION|UNKNOWN_MEMBER_ID|REBALANCE_IN_PROGRESS/.test(e.message ?? '')
    )
      return 'fenced';
    this.env.log(`task ${this.partition}: commit failed: ${e.message ?? String(err)}`);
    return 'failed';
  }

  private async openStores(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    const dirty = existsSync(this.dirtyMarker);
    const cp = dirty && this.exactlyOnce ? undefined : readCheckpoint(this.checkpointFile);
    if (dirty && this.exactlyOnce) {
      // Unclean shutdown under exactly-once: do not trust the local files, rebuild.
      for (const spec of this.env.localStores)
        rmSync(join(this.dir, spec.name), { recursive: true, force: true });
      removeFile(this.checkpointFile);
      if (this.env.localStores.length)
        this.env.log(
          `task ${this.partition}: unclean shutdown detected, rebuilding stores from changelogs`,
        );
    }
    for (const spec of this.env.localStores) {
      const backend = await RocksBackend.open(join(this.dir, spec.name));
      this.backends.push(backend);
      this.stores.set(spec.name, new StagedStore(spec.name, backend));
      await this.restore(spec, backend, cp?.offsets[spec.changelog]?.[String(this.partition)]);
    }
  }

  /** Replays the store's changelog partition from `from` (or the beginning) to its end. */
  private async restore(
    spec: LocalStoreSpec,
    backend: RocksBackend,
    from: bigint | undefined,
  ): Promise<void> {
    const tp = { topic: spec.changelog, partition: this.partition };
    const k = tpKey(tp.topic, tp.partition);
    const earliest = (await this.env.reader.offsets([tp], 'earliest')).get(k) ?? 0n;
    const end = (await this.env.reader.offsets([tp], 'latest')).get(k) ?? 0n;
    let pos = from !== undefined && from > earliest ? from : earliest;
    let applied = 0;
    while (pos < end) {
      const [f] = await this.env.reader.fetch([{ ...tp, offset: pos }], 200);
      if (!f) continue;
      const writes: Array<[string, string | null]> = f.records.map((r) => [
        r.key?.toString() ?? '',
        r.value === null ? null : r.value.toString(),
      ]);
      await backend.write(writes);
      applied += writes.length;
      pos = f.nextOffset;
    }
    if (applied > 0)
      this.env.log(
        `task ${this.partition}: restored ${applied} changelog records into "${spec.name}"`,
      );
  }
}

export { stringifyJson };
