import { join } from 'node:path';
import {
  KafkaAdmin,
  KafkaPartitionConsumer,
  KafkaProducer,
  defaultKafkaConfig,
} from '../../core/kafka/index.ts';
import type {
  FetchedPartition,
  GroupAssignment,
  KafkaConfig,
  TopicPartition,
} from '../../core/kafka/index.ts';
import { ConfigError, TributaryError } from '../../core/errors/index.ts';
import { storeName } from '../api/index.ts';
import type { ChainNode } from './chain.ts';
import { ProcessorError } from './chain.ts';
import { parseRuntimeConfig } from './config.ts';
import type { RuntimeConfig, RuntimeConfigInput } from './config.ts';
import { GlobalStore } from './global-store.ts';
import { loadProcessors } from './loader.ts';
import { emptyMetrics } from './pipeline.ts';
import type { PipelineMetrics } from './pipeline.ts';
import { addPipelineMetrics, splitStages } from './stages.ts';
import type { Stage } from './stages.ts';
import { StreamTask } from './task.ts';
import type { LocalStoreSpec, TaskEnv } from './task.ts';
import type { StagedStore } from './stores/staged-store.ts';

export interface RuntimeMetrics extends PipelineMetrics {
  tasks: number;
  commits: number;
  aborts: number;
  rebalances: number;
}

export interface RuntimeOptions {
  kafka?: KafkaConfig;
  /** Directory processor module paths are resolved against (default: cwd). */
  baseDir?: string;
  log?: (msg: string) => void;
}

const MAX_BUFFERED_PER_TASK = 20_000;

interface FetchRequest {
  task: StreamTask;
  topic: string;
  partition: number;
  offset: bigint;
}

/** A fetch in flight while the loop processes and commits. */
interface InflightFetch {
  requests: FetchRequest[];
  result: Promise<FetchedPartition[] | Error>;
  settled: boolean;
}

/**
 * The processor service: one consumer group over the inputs, one StreamTask per input
 * partition index (co-partitioned topics share a task), each committing its batches in its
 * own Kafka transaction every commitIntervalMs. Rebalances close all tasks and start the newly
 * assigned ones (each start fences the previous owner and restores stores before processing).
 * Lifecycle: start() -> [stop()]; done resolves when the loop ends and rejects on a fatal
 * error (a processor with the `fail` policy threw, or the configuration is unusable).
 */
export class ProcessorRuntime {
  readonly config: RuntimeConfig;
  private readonly kafka: KafkaConfig;
  private readonly log: (msg: string) => void;
  private nodes: ChainNode[] = [];
  private member: KafkaPartitionConsumer | undefined;
  private reader: KafkaPartitionConsumer | undefined;
  private sharedProducer: KafkaProducer | undefined;
  private readonly globals: GlobalStore[] = [];
  /** Global stores whose last poll failed: when that error was last logged. */
  private readonly globalErrors = new Map<string, number>();
  private localStores: LocalStoreSpec[] = [];
  private stages: Stage[] = [];
  private tasks = new Map<number, StreamTask>();
  private pendingAssignment: GroupAssignment | undefined;
  private inflight: InflightFetch | undefined;
  private assignment: GroupAssignment | undefined;
  /** Partitions to (re)create when their retry time has come, unless fenced. */
  private retryAt = new Map<number, number>();
  private waitingForAssignment = new Set<number>();
  private revokeRequested = false;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private subscribed: string[] = [];
  private rebalances = 0;
  private waitingSince: number | undefined;
  private closedMetrics = { commits: 0, aborts: 0 };
  /** Counters of tasks that were closed (metrics are cumulative over the runtime's life). */
  private readonly closedPipelines: PipelineMetrics = emptyMetrics();
  private readyResolve!: () => void;
  /** Resolves once the first assignment's tasks are running. */
  readonly ready = new Promise<void>((r) => (this.readyResolve = r));

  constructor(
    config: RuntimeConfigInput | RuntimeConfig,
    private readonly options: RuntimeOptions = {},
  ) {
    this.config = parseRuntimeConfig(config);
    this.kafka = options.kafka ?? defaultKafkaConfig(`tributary-processor-${this.config.name}`);
    this.log =
      options.log ?? ((m) => process.stderr.write(`[processor ${this.config.name}] ${m}\n`));
  }

  get dlqTopic(): string {
    return this.config.errors.dlqTopic ?? `${this.config.name}.dlq`;
  }

  /** Exactly-once: where every transaction also records its task's consumed positions. */
  get positionsTopic(): string | undefined {
    return this.config.guarantee === 'exactly_once' ? `${this.config.name}-positions` : undefined;
  }

  changelogTopic(store: string): string {
    return `${this.config.name}-${store}-changelog`;
  }

  async start(): Promise<void> {
    const c = this.config;
    this.nodes = await loadProcessors(c.processors, c.errors.policy, this.options.baseDir);
    this.stages = splitStages(this.nodes, c.name);
    const repartitions = this.stages.flatMap((st) => (st.sink ? [st.sink] : []));
    if (new Set(repartitions.map((r) => r.topic)).size < repartitions.length)
      throw new ConfigError(
        'processors',
        'two repartitioning processors use the same repartition name; give each its own',
      );
    /** The stage of every processor, to check each co-partitioned table against its stage. */
    const stageOfNode = new Map<ChainNode, number>();
    for (const [s, st] of this.stages.entries()) for (const n of st.nodes) stageOfNode.set(n, s);
    const tableStage = new Map<string, number>();
    const admin = new KafkaAdmin(this.kafka);
    const globalDecls: Array<{ name: string; topic: string }> = [];
    const seen = new Set<string>();
    try {
      for (const [i, n] of this.nodes.entries())
        for (const d of n.definition.stores ?? []) {
          if (typeof d === 'object' && d.fromTopic && !d.global)
            tableStage.set(d.fromTopic, stageOfNode.get(n)!);
          const name = storeName(d);
          if (seen.has(name)) continue;
          seen.add(name);
          if (typeof d === 'object' && d.global) {
            if (!d.fromTopic)
              throw new ConfigError(
                `processors[${i}].stores`,
                `global store "${name}" needs fromTopic`,
              );
            globalDecls.push({ name, topic: d.fromTopic });
          } else {
            const spec: LocalStoreSpec = { name, changelog: this.changelogTopic(name) };
            if (typeof d === 'object' && d.fromTopic) spec.fromTopic = d.fromTopic;
            this.localStores.push(spec);
          }
        }
      const tableTopics = this.localStores.flatMap((s) => (s.fromTopic ? [s.fromTopic] : []));
      const counts = await admin.partitionCounts([
        ...c.inputs,
        ...tableTopics,
        ...globalDecls.map((g) => g.topic),
        ...repartitions.flatMap((r) => (r.spec.coPartitionWith ? [r.spec.coPartitionWith] : [])),
      ]);
      for (const [t, n] of counts)
        if (n === 0)
          throw new ConfigError('inputs', `topic "${t}" does not exist; create it or fix the name`);
      const inputPartitions = Math.max(...c.inputs.map((t) => counts.get(t)!));
      // A repartition topic gets the partition count of the table it is co-partitioned with.
      const stagePartitions = this.stages.map((st, s) => {
        if (s === 0) return inputPartitions;
        const spec = this.stages[s - 1]!.sink!.spec;
        return (spec.coPartitionWith && counts.get(spec.coPartitionWith)) || inputPartitions;
      });
      for (const t of tableTopics) {
        const s = tableStage.get(t) ?? 0;
        const want = stagePartitions[s]!;
        if (counts.get(t) !== want)
          throw new ConfigError(
            'processors',
            s === 0
              ? `table topic "${t}" has ${counts.get(t)} partitions but the inputs have ${want}; a co-partitioned store needs the same count (or use a global store, or a repartitioning join)`
              : `table topic "${t}" has ${counts.get(t)} partitions but the repartition topic it is joined through has ${want}`,
          );
      }
      const taskCount = Math.max(...stagePartitions);
      const outPartitions = c.outputPartitions ?? inputPartitions;
      const positions = this.positionsTopic;
      await admin.ensureTopics([
        ...(c.output ? [{ name: c.output, partitions: outPartitions }] : []),
        { name: this.dlqTopic, partitions: 1 },
        ...this.localStores.map((s) => ({
          name: s.changelog,
          partitions: taskCount,
          configs: { 'cleanup.policy': 'compact' },
        })),
        ...(positions
          ? [{ name: positions, partitions: taskCount, configs: { 'cleanup.policy': 'compact' } }]
          : []),
        ...this.stages.flatMap((st, s) =>
          st.source ? [{ name: st.source, partitions: stagePartitions[s]! }] : [],
        ),
      ]);
      if (positions) {
        const n = (await admin.partitionCounts([positions])).get(positions);
        if (n !== undefined && n < taskCount)
          throw new ConfigError(
            'processors',
            `topic "${positions}" has ${n} partitions but the processor has ${taskCount} tasks; add partitions to it (kafka-topics.sh --alter --partitions ${taskCount}) or delete it when the processor is stopped (the group's committed offsets are then used)`,
          );
      }
      const sources = this.stages.flatMap((st) => (st.source ? [st.source] : []));
      const repartitionCounts = sources.length
        ? await admin.partitionCounts(sources)
        : new Map<string, number>();
      for (const [s, st] of this.stages.entries())
        if (st.source && repartitionCounts.get(st.source) !== stagePartitions[s])
          throw new ConfigError(
            'processors',
            `repartition topic "${st.source}" exists with ${repartitionCounts.get(st.source)} partitions, expected ${stagePartitions[s]}; delete it (it holds no state once the group's offsets are committed) or restore the table's partition count`,
          );
      this.subscribed = [
        ...new Set([
          ...c.inputs,
          ...this.stages.flatMap((st) => (st.source ? [st.source] : [])),
          ...tableTopics,
        ]),
      ];
    } finally {
      await admin.close();
    }
    this.reader = new KafkaPartitionConsumer(this.kafka);
    for (const g of globalDecls) {
      const store = await GlobalStore.open(
        g.name,
        g.topic,
        join(c.stateDir, c.name, 'global', g.name),
        this.kafka,
      );
      store.onSkip = (message) => this.log(message);
      await store.restore();
      this.globals.push(store);
    }
    if (c.guarantee === 'at_least_once') this.sharedProducer = new KafkaProducer(this.kafka);
    await this.joinGroup();
    this.loop = this.run();
  }

  /** Resolves when the runtime stopped; rejects with the fatal error that stopped it. */
  get done(): Promise<void> {
    return this.loop ?? Promise.resolve();
  }

  /** Stops: commits what was processed, closes tasks cleanly, leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop?.catch(() => undefined);
  }

  metrics(): RuntimeMetrics {
    const m: RuntimeMetrics = {
      ...emptyMetrics(),
      tasks: this.tasks.size,
      commits: this.closedMetrics.commits,
      aborts: this.closedMetrics.aborts,
      rebalances: this.rebalances,
    };
    addPipelineMetrics(m, this.closedPipelines);
    for (const t of this.tasks.values()) {
      m.commits += t.commits;
      m.aborts += t.aborts;
      if (t.metrics) addPipelineMetrics(m, t.metrics);
    }
    return m;
  }

  /** Why the group membership must be re-created, or undefined while it is healthy. */
  private membershipLost(): string | undefined {
    const m = this.member!;
    try {
      m.throwIfFailed();
    } catch (err) {
      return (err as Error).message;
    }
    const limit = this.config.sessionTimeoutMs;
    if (m.heartbeatAgeMs() > limit) return `no heartbeat for ${m.heartbeatAgeMs()} ms`;
    if (this.waitingForAssignment.size > 0) {
      this.waitingSince ??= Date.now();
      if (Date.now() - this.waitingSince > limit + 2000 && !this.pendingAssignment)
        return 'tasks were fenced and no new assignment came';
    } else this.waitingSince = undefined;
    return undefined;
  }

  private async joinGroup(): Promise<void> {
    const member = new KafkaPartitionConsumer(this.kafka, {
      groupId: this.config.name,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      rebalanceTimeoutMs: this.config.sessionTimeoutMs,
      heartbeatIntervalMs: Math.min(1000, Math.floor(this.config.sessionTimeoutMs / 5)),
    });
    member.onAssignment((a) => {
      if (this.member === member) this.pendingAssignment = a;
    });
    member.onRevoke(() => {
      if (this.member === member) this.revokeRequested = true;
    });
    this.member = member;
    this.pendingAssignment = await member.join(this.subscribed);
  }

  private env(): TaskEnv {
    return {
      config: this.config,
      kafka: this.kafka,
      nodes: this.nodes,
      stages: this.stages,
      localStores: this.localStores,
      globalStores: new Map<string, StagedStore>(this.globals.map((g) => [g.name, g.store])),
      member: this.member!,
      reader: this.reader!,
      sharedProducer: this.sharedProducer,
      outputTopic: this.config.output,
      dlqTopic: this.dlqTopic,
      positionsTopic: this.positionsTopic,
      log: this.log,
    };
  }

  private async run(): Promise<void> {
    let nextCommit = Date.now() + this.config.commitIntervalMs;
    let nextGlobalPoll = 0;
    let fatal: unknown;
    try {
      while (!this.stopping) {
        const lost = this.membershipLost();
        if (lost) {
          this.log(`group membership lost (${lost}); rejoining`);
          await this.closeAllTasks(false);
          this.inflight = undefined;
          await this.member!.close();
          this.assignment = undefined;
          this.retryAt.clear();
          this.waitingForAssignment.clear();
          try {
            await this.joinGroup();
            this.waitingSince = undefined;
          } catch (err) {
            this.log(`rejoin failed (${(err as Error).message}); retrying`);
            await sleep(1000);
            continue;
          }
        }
        if (this.pendingAssignment) await this.applyAssignment();
        await this.ensureTasks();
        if (this.revokeRequested) {
          this.revokeRequested = false;
          await this.commitAll();
        }
        const now = Date.now();
        if (this.globals.length && now >= nextGlobalPoll) {
          nextGlobalPoll = now + 200;
          for (const g of this.globals) await this.pollGlobal(g);
        }
        await this.fetchAndProcess(nextCommit);
        if (Date.now() >= nextCommit) {
          await this.commitAll();
          nextCommit = Date.now() + this.config.commitIntervalMs;
        }
      }
      await this.commitAll();
    } catch (err) {
      fatal = err;
    }
    await this.closeAllTasks(fatal === undefined);
    await this.member?.close();
    await this.reader?.close();
    await this.sharedProducer?.close();
    for (const g of this.globals) await g.close().catch(() => undefined);
    if (fatal !== undefined) throw fatal;
  }

  /**
   * Applies what arrived on a global store's topic. A failed poll is retried at the next one;
   * the error is logged when it first happens and then every 10 s while it lasts.
   */
  private async pollGlobal(g: GlobalStore): Promise<void> {
    try {
      await g.poll(0);
      if (this.globalErrors.delete(g.name))
        this.log(`global store ${g.name}: reading ${g.topic} again`);
    } catch (err) {
      const now = Date.now();
      const last = this.globalErrors.get(g.name);
      if (last === undefined || now - last >= 10_000) {
        this.globalErrors.set(g.name, now);
        this.log(
          `global store ${g.name}: error reading ${g.topic} (retrying; joins see the rows read so far): ${(err as Error).message}`,
        );
      }
    }
  }

  /**
   * Fetching overlaps processing and committing: the next fetch (from the positions after what
   * is buffered) is sent as soon as the previous one returned, and the loop only waits for it
   * when nothing is buffered (at most until the next commit is due). A result whose task was
   * closed, or whose positions moved (an abort rewound the task), is dropped.
   */
  private async fetchAndProcess(nextCommit: number): Promise<void> {
    if (!this.inflight) this.startFetch();
    const f = this.inflight;
    if (f && !f.settled && ![...this.tasks.values()].some((t) => t.buffered > 0)) {
      const waitMs = Math.max(1, nextCommit - Date.now());
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([f.result, new Promise<void>((r) => (timer = setTimeout(r, waitMs)))]);
      clearTimeout(timer);
    }
    if (f && f.settled && this.inflight === f) {
      this.inflight = undefined;
      const fetched = await f.result;
      if (fetched instanceof Error) {
        // Records deleted under a task's position: retrying would loop forever, skipping loses.
        if (fetched instanceof TributaryError && fetched.code === 'OFFSET_OUT_OF_RANGE')
          throw fetched;
        this.log(`fetch failed: ${fetched.message}`);
        await sleep(500);
      } else {
        for (const x of fetched) {
          const req = f.requests.find((r) => r.topic === x.topic && r.partition === x.partition);
          if (req && this.tasks.get(req.task.partition) === req.task)
            req.task.enqueue(x, req.offset);
        }
        this.startFetch();
      }
    } else if (!f && this.tasks.size === 0) await sleep(100);
    for (const task of this.tasks.values()) {
      try {
        await task.process(this.config.maxBatchRecords);
      } catch (err) {
        if (err instanceof ProcessorError) throw err;
        throw err instanceof TributaryError
          ? err
          : new ProcessorError('(runtime)', (err as Error).message, { cause: err });
      }
    }
  }

  private startFetch(): void {
    const requests: FetchRequest[] = [];
    let anyBuffered = false;
    for (const task of this.tasks.values()) {
      if (task.buffered > 0) anyBuffered = true;
      for (const r of task.fetchRequests(MAX_BUFFERED_PER_TASK)) requests.push({ task, ...r });
    }
    if (requests.length === 0) return;
    const inflight: InflightFetch = {
      requests,
      settled: false,
      result: this.member!.fetch(
        requests.map(({ topic, partition, offset }) => ({ topic, partition, offset })),
        anyBuffered ? 0 : Math.min(100, this.config.commitIntervalMs),
      )
        .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))))
        .finally(() => (inflight.settled = true)),
    };
    this.inflight = inflight;
  }

  private async commitAll(): Promise<void> {
    const abortRatio = this.config.faults?.abortRatio ?? 0;
    const results = await Promise.all(
      [...this.tasks.values()].map(async (t) => [t, await t.commit(abortRatio)] as const),
    );
    for (const [task, result] of results) {
      if (result === 'fenced') {
        this.log(
          `task ${task.partition}: fenced by a newer owner or generation; waiting for the next assignment`,
        );
        await this.dropTask(task, false);
        this.waitingForAssignment.add(task.partition);
      } else if (result === 'failed') {
        // An indefinite error: the producer's state is unknown, so it is closed and the task
        // (with a new producer, which fences the old one) restarts from the committed offsets.
        await this.dropTask(task, false);
        this.retryAt.set(task.partition, Date.now() + 1000);
      }
    }
  }

  private async applyAssignment(): Promise<void> {
    const a = this.pendingAssignment!;
    this.pendingAssignment = undefined;
    this.rebalances++;
    // Eager protocol: the new generation may have moved partitions, so every task restarts
    // from the committed state (tasks that stay here reopen their stores without a rebuild).
    await this.closeAllTasks(true);
    this.inflight = undefined;
    this.assignment = a;
    this.waitingForAssignment.clear();
    this.retryAt.clear();
    for (const p of this.assignedPartitions()) this.retryAt.set(p, 0);
    this.log(
      `assigned partitions [${[...this.assignedPartitions()].join(', ')}] (generation ${a.generation.generationId})`,
    );
  }

  private assignedPartitions(): Set<number> {
    return new Set((this.assignment?.partitions ?? []).map((p) => p.partition));
  }

  private async ensureTasks(): Promise<void> {
    const now = Date.now();
    for (const [p, at] of this.retryAt) {
      if (
        at > now ||
        this.tasks.has(p) ||
        this.waitingForAssignment.has(p) ||
        this.pendingAssignment
      )
        continue;
      const inputs: TopicPartition[] = this.assignment!.partitions.filter(
        (tp) => tp.partition === p,
      );
      const task = new StreamTask(p, inputs, this.env());
      try {
        await task.initialize(this.assignment!.generation);
        this.tasks.set(p, task);
        this.retryAt.delete(p);
      } catch (err) {
        if (err instanceof ProcessorError || err instanceof ConfigError) throw err;
        this.log(`task ${p}: start failed (${(err as Error).message}); retrying`);
        await task.close(false);
        this.retryAt.set(p, Date.now() + 1000);
      }
    }
    if (this.tasks.size > 0 && this.retryAt.size === 0) this.readyResolve();
  }

  private async dropTask(task: StreamTask, clean: boolean): Promise<void> {
    this.tasks.delete(task.partition);
    this.closedMetrics.commits += task.commits;
    this.closedMetrics.aborts += task.aborts;
    if (task.metrics) addPipelineMetrics(this.closedPipelines, task.metrics);
    await task
      .close(clean)
      .catch((err) => this.log(`task ${task.partition}: close failed: ${(err as Error).message}`));
  }

  private async closeAllTasks(clean: boolean): Promise<void> {
    for (const t of [...this.tasks.values()]) await this.dropTask(t, clean);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
