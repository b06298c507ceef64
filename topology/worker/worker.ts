/**
 * A Tributary worker: runs the tasks that Kafka assigns to it.
 *
 * Work is spread through Kafka itself. Every task (a connector, or one component of a
 * topology) owns one partition ("slot") of the coordination topic, fixed when its config is
 * created (topology/control). Workers join one consumer group subscribed to that topic; the
 * group's assignment decides which worker runs which task, so a task has exactly one active
 * runner, and when a worker dies its partitions — and tasks — move to the survivors once the
 * group coordinator notices (session timeout). Nothing is read from the coordination topic:
 * its partitions are only units of ownership. There is no home-made consensus.
 *
 * Handoff: a worker whose partition is revoked stops the task cleanly (capture finishes its
 * open Kafka transaction) and then records the task as UNASSIGNED in the status topic. The
 * new owner waits for that record before starting, unless the previous owner is dead (its
 * worker heartbeat is stale), or the wait exceeds the session timeout. Even an overlap is
 * harmless for a capture source: the new instance's transactional producer fences the old one
 * (same transactional.id, derived from the source name), and the replication slot accepts one
 * reader at a time.
 *
 * A worker that loses its group membership (heartbeats failing longer than the session
 * timeout) stops all of its tasks at once, since another worker may already own them.
 *
 * Lifecycle: start() once, stop() once. Everything else runs in the background.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { KafkaAdmin, KafkaPartitionConsumer } from '../../core/kafka/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { RunnableService } from '../../core/service/main.ts';
import { ConfigError } from '../../core/errors/index.ts';
import { ControlStore } from '../control/index.ts';
import type { KafkaSpec } from '../spec/index.ts';
import type {
  ConfigKind,
  ConfigRecord,
  TaskState,
  TaskStatusRecord,
  WorkerRecord,
} from '../control/index.ts';
import { defaultTaskFactory } from './tasks.ts';
import type { TaskFactory } from './tasks.ts';
import { collectSecrets, redactText } from './redact.ts';

export const DEFAULT_WORKER_GROUP = 'tributary-workers';
export const DEFAULT_COORDINATION_TOPIC = 'tributary.control.tasks';

export interface WorkerOptions {
  kafka: KafkaConfig;
  /** The cluster as a topology `kafka` section (TLS/SASL, secret references) for connector tasks. */
  kafkaSpec?: KafkaSpec;
  workerId?: string;
  groupId?: string;
  coordinationTopic?: string;
  /** A store to share (e.g. with the REST API); by default the worker makes its own. */
  store?: ControlStore;
  configsTopic?: string;
  statusTopic?: string;
  taskSlots?: number;
  sessionTimeoutMs?: number;
  /** Worker heartbeat and task status interval in the status topic (ms, default 2000). */
  statusIntervalMs?: number;
  restUrl?: string;
  offsetsTopic?: string;
  taskFactory?: TaskFactory;
  log?: (message: string) => void;
}

interface Running {
  key: string;
  kind: ConfigKind;
  name: string;
  task: string;
  slot: number;
  version: number;
  service: RunnableService;
  stopping: boolean;
  startedAt: number;
}

interface Failure {
  version: number;
  attempts: number;
  retryAt: number;
  trace: string;
  permanent: boolean;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Worker {
  readonly workerId: string;
  readonly store: ControlStore;
  private readonly ownsStore: boolean;
  private readonly groupId: string;
  private readonly topic: string;
  private readonly sessionTimeoutMs: number;
  private readonly statusIntervalMs: number;
  private readonly factory: TaskFactory;
  private readonly log: (m: string) => void;
  private consumer: KafkaPartitionConsumer | undefined;
  private owned = new Set<number>();
  private readonly assignedAt = new Map<number, number>();
  private readonly running = new Map<string, Running>();
  private readonly failures = new Map<string, Failure>();
  private readonly handledRestart = new Map<string, number>();
  private readonly lastState = new Map<string, TaskState>();
  private stopping = false;
  private reconciling = false;
  private reconcileAgain = false;
  private membership: Promise<void> | undefined;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: WorkerOptions) {
    this.workerId =
      options.workerId ?? `${hostname()}-${process.pid}-${randomBytes(2).toString('hex')}`;
    this.groupId = options.groupId ?? DEFAULT_WORKER_GROUP;
    this.topic = options.coordinationTopic ?? DEFAULT_COORDINATION_TOPIC;
    this.sessionTimeoutMs = options.sessionTimeoutMs ?? 10_000;
    this.statusIntervalMs = options.statusIntervalMs ?? 2_000;
    const base = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    this.log = (m) => base(`[worker ${this.workerId}] ${redactText(m, this.secretValues())}`);
    this.ownsStore = options.store === undefined;
    this.store =
      options.store ??
      new ControlStore({
        kafka: options.kafka,
        ...(options.configsTopic ? { configsTopic: options.configsTopic } : {}),
        ...(options.statusTopic ? { statusTopic: options.statusTopic } : {}),
        ...(options.taskSlots ? { taskSlots: options.taskSlots } : {}),
        log: this.log,
      });
    this.factory =
      options.taskFactory ??
      defaultTaskFactory({
        brokers: options.kafka.brokers,
        ...(options.kafkaSpec ? { kafka: options.kafkaSpec } : {}),
        ...(options.offsetsTopic ? { offsetsTopic: options.offsetsTopic } : {}),
      });
  }

  /** Tasks this worker runs now, by `<kind>/<name>/<task>`. */
  runningTasks(): string[] {
    return [...this.running.keys()].sort();
  }

  async start(): Promise<void> {
    const admin = new KafkaAdmin({ ...this.options.kafka, clientId: 'tributary-worker-admin' });
    try {
      await admin.ensureTopics([
        {
          name: this.topic,
          partitions: this.store.taskSlots,
          configs: { 'retention.ms': '60000' },
        },
      ]);
      const count = (await admin.partitionCounts([this.topic])).get(this.topic) ?? 0;
      if (count < this.store.taskSlots)
        throw new ConfigError(
          '--task-slots',
          `the coordination topic "${this.topic}" has ${count} partitions, fewer than ${this.store.taskSlots} task slots; use --task-slots ${count} or another topic`,
        );
    } finally {
      await admin.close().catch(() => undefined);
    }
    this.store.start();
    await this.store.sync(30_000);
    this.store.onChange((r) => {
      if (r.type === 'config' || r.type === 'target' || r.type === 'restart') this.kick();
    });
    this.membership = this.membershipLoop();
    this.every(1_000, () => this.kick());
    this.every(this.statusIntervalMs, () => void this.heartbeat());
    this.log(`started (group ${this.groupId}, ${this.store.taskSlots} task slots)`);
  }

  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const t of this.timers) clearInterval(t);
    while (this.reconciling) await sleep(20);
    await Promise.all([...this.running.values()].map((r) => this.stopTask(r, 'UNASSIGNED')));
    this.owned = new Set();
    await this.heartbeat(true).catch(() => undefined);
    await this.consumer?.close().catch(() => undefined);
    await this.membership?.catch(() => undefined);
    if (this.ownsStore) await this.store.close();
    this.log('stopped');
  }

  // ---- group membership ----

  private async membershipLoop(): Promise<void> {
    let backoff = 500;
    while (!this.stopping) {
      const consumer = new KafkaPartitionConsumer(
        { ...this.options.kafka, clientId: `tributary-worker-${this.workerId}` },
        {
          groupId: this.groupId,
          sessionTimeoutMs: this.sessionTimeoutMs,
          rebalanceTimeoutMs: this.sessionTimeoutMs,
          heartbeatIntervalMs: Math.max(200, Math.floor(this.sessionTimeoutMs / 5)),
          assignor: 'round-robin',
        },
      );
      this.consumer = consumer;
      consumer.onAssignment((a) => {
        const now = Date.now();
        const next = new Set(
          a.partitions.filter((p) => p.topic === this.topic).map((p) => p.partition),
        );
        for (const p of next) if (!this.owned.has(p)) this.assignedAt.set(p, now);
        this.owned = next;
        this.log(
          `generation ${a.generation.generationId}: slots [${[...next].sort((x, y) => x - y).join(', ')}]`,
        );
        this.kick();
      });
      try {
        await consumer.join([this.topic]);
        backoff = 500;
        while (!this.stopping) {
          await sleep(200);
          consumer.throwIfFailed();
          if (consumer.heartbeatAgeMs() > this.sessionTimeoutMs)
            throw new Error(
              `no successful heartbeat for ${consumer.heartbeatAgeMs()} ms (session timeout ${this.sessionTimeoutMs} ms)`,
            );
        }
      } catch (err) {
        if (this.stopping) break;
        this.log(`lost group membership, stopping all tasks: ${(err as Error).message}`);
        this.owned = new Set();
        this.kick();
        await consumer.close().catch(() => undefined);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5_000);
      }
    }
  }

  // ---- reconciliation: make the running tasks match configs, target states and ownership ----

  private kick(): void {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = true;
    void (async () => {
      try {
        do {
          this.reconcileAgain = false;
          await this.reconcile();
        } while (this.reconcileAgain && !this.stopping);
      } catch (err) {
        this.log(`reconcile failed: ${(err as Error).message}`);
      } finally {
        this.reconciling = false;
      }
    })();
  }

  private async reconcile(): Promise<void> {
    if (this.stopping) return;
    const wanted = new Map<string, { config: ConfigRecord; task: string; slot: number }>();
    for (const config of this.store.listConfigs())
      for (const [task, slot] of Object.entries(config.slots))
        wanted.set(`${config.kind}/${config.name}/${task}`, { config, task, slot });

    // Stop what must not run here any more.
    const stops: Promise<void>[] = [];
    for (const r of this.running.values()) {
      if (r.stopping) continue;
      const w = wanted.get(r.key);
      if (!w) stops.push(this.stopTask(r, 'deleted'));
      else if (!this.owned.has(w.slot)) stops.push(this.stopTask(r, 'UNASSIGNED'));
      else if (this.store.targetState(r.kind, r.name) === 'PAUSED')
        stops.push(this.stopTask(r, 'PAUSED'));
      else if (w.config.version !== r.version) stops.push(this.stopTask(r, 'restart'));
      else if (this.restartDue(r.key, w.config, 'RUNNING')) stops.push(this.stopTask(r, 'restart'));
    }
    await Promise.all(stops);

    // Start what should run here.
    for (const [key, w] of wanted) {
      if (this.stopping || !this.owned.has(w.slot) || this.running.has(key)) continue;
      const { kind, name } = w.config;
      if (this.store.targetState(kind, name) === 'PAUSED') {
        this.handledRestart.set(key, this.store.restartRequest(kind, name)?.requestId ?? 0);
        await this.writeStatus(kind, name, w.task, 'PAUSED', w.config.version);
        continue;
      }
      const failure = this.failures.get(key);
      const restart = this.restartDue(key, w.config, failure ? 'FAILED' : 'UNASSIGNED');
      if (failure && failure.version === w.config.version && !restart) {
        if (failure.permanent || Date.now() < failure.retryAt) continue;
      }
      if (restart || (failure && failure.version !== w.config.version)) this.failures.delete(key);
      if (!this.handoffDone(kind, name, w.task, w.slot)) continue;
      this.startTask(key, w.config, w.task, w.slot);
    }
  }

  /** True once per new restart request (requests older than this worker's first look are done). */
  private restartDue(key: string, config: ConfigRecord, state: TaskState): boolean {
    const req = this.store.restartRequest(config.kind, config.name);
    const id = req?.requestId ?? 0;
    const handled = this.handledRestart.get(key);
    if (handled === undefined) {
      this.handledRestart.set(key, id);
      return false;
    }
    if (id <= handled) return false;
    this.handledRestart.set(key, id);
    return !req!.onlyFailed || state === 'FAILED';
  }

  /** Whether the previous owner of a task has let go of it (or is dead, or took too long). */
  private handoffDone(kind: ConfigKind, name: string, task: string, slot: number): boolean {
    const status = this.store.taskStatuses(kind, name).find((s) => s.task === task);
    if (!status || status.workerId === this.workerId || status.state !== 'RUNNING') return true;
    const previous = this.store.worker(status.workerId);
    const liveness = Math.min(3 * this.statusIntervalMs, this.sessionTimeoutMs);
    const alive = previous && !previous.stopped && Date.now() - previous.ts_ms < liveness;
    if (!alive) return true;
    const waited = Date.now() - (this.assignedAt.get(slot) ?? 0);
    if (waited > this.sessionTimeoutMs) {
      this.log(
        `${kind} ${name} task ${task}: previous owner ${status.workerId} has not released it after ${waited} ms; starting anyway (its producer will be fenced)`,
      );
      return true;
    }
    return false;
  }

  private startTask(key: string, config: ConfigRecord, task: string, slot: number): void {
    const { kind, name, version } = config;
    let service: RunnableService;
    try {
      service = this.factory(config, task, (m) => this.log(`${kind} ${name}[${task}] ${m}`));
    } catch (err) {
      // A config the factory refuses cannot succeed by retrying: wait for a new version.
      void this.fail(key, config, task, err, true);
      return;
    }
    const r: Running = {
      key,
      kind,
      name,
      task,
      slot,
      version,
      service,
      stopping: false,
      startedAt: Date.now(),
    };
    this.running.set(key, r);
    this.log(`starting ${kind} ${name} task ${task} (version ${version}, slot ${slot})`);
    void (async () => {
      try {
        await service.start();
        // RUNNING once the task says it is ready (a capture: streaming), not merely started.
        await Promise.race([service.ready, service.done]);
        if (!r.stopping) await this.writeStatus(kind, name, task, 'RUNNING', version);
        await service.done;
        if (!r.stopping) throw new Error('the task stopped on its own');
      } catch (err) {
        if (r.stopping) return;
        this.running.delete(key);
        await service.stop().catch(() => undefined);
        await this.fail(key, config, task, err, false);
      }
    })();
  }

  private async fail(
    key: string,
    config: ConfigRecord,
    task: string,
    err: unknown,
    permanent: boolean,
  ): Promise<void> {
    const prev = this.failures.get(key);
    const attempts = prev && prev.version === config.version ? prev.attempts + 1 : 1;
    const trace = redactText(
      err instanceof Error ? err.message : String(err),
      this.secretValues(),
    ).slice(0, 4_000);
    const delay = Math.min(30_000, 1_000 * 2 ** (attempts - 1));
    this.failures.set(key, {
      version: config.version,
      attempts,
      retryAt: Date.now() + delay,
      trace,
      permanent,
    });
    this.log(
      `${config.kind} ${config.name} task ${task} failed${permanent ? '' : ` (attempt ${attempts}, retry in ${delay} ms)`}: ${trace}`,
    );
    await this.writeStatus(config.kind, config.name, task, 'FAILED', config.version, trace);
  }

  /** Stops a task cleanly and records why: PAUSED, UNASSIGNED (moved), deleted or restart. */
  private async stopTask(
    r: Running,
    reason: 'PAUSED' | 'UNASSIGNED' | 'deleted' | 'restart',
  ): Promise<void> {
    if (r.stopping) return;
    r.stopping = true;
    this.log(`stopping ${r.kind} ${r.name} task ${r.task} (${reason})`);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      r.service.stop().catch((err: Error) => this.log(`stop failed: ${err.message}`)),
      new Promise<void>((res) => (timer = setTimeout(res, 30_000))),
    ]);
    clearTimeout(timer);
    this.running.delete(r.key);
    if (reason === 'deleted') return;
    const state: TaskState = reason === 'restart' ? 'UNASSIGNED' : reason;
    await this.writeStatus(r.kind, r.name, r.task, state, r.version);
    if (reason === 'restart') this.kick();
  }

  // ---- status ----

  private async writeStatus(
    kind: ConfigKind,
    name: string,
    task: string,
    state: TaskState,
    version: number,
    trace?: string,
  ): Promise<void> {
    const key = `${kind}/${name}/${task}`;
    const record: TaskStatusRecord = {
      v: 1,
      type: 'status',
      kind,
      name,
      task,
      state,
      workerId: this.workerId,
      version,
      ts_ms: Date.now(),
    };
    if (trace !== undefined) record.trace = trace;
    const metrics = this.running.get(key)?.service.metrics();
    if (state === 'RUNNING' && metrics && typeof metrics === 'object')
      record.metrics = metrics as Record<string, unknown>;
    if (this.lastState.get(key) === state && state !== 'RUNNING' && state !== 'FAILED') return;
    this.lastState.delete(key);
    try {
      await this.store.putStatus([record]);
      this.lastState.set(key, state);
    } catch (err) {
      this.log(`writing status failed: ${(err as Error).message}`);
    }
  }

  private async heartbeat(stopped = false): Promise<void> {
    const worker: WorkerRecord = {
      v: 1,
      type: 'worker',
      workerId: this.workerId,
      partitions: [...this.owned].sort((a, b) => a - b),
      ts_ms: Date.now(),
      stopped,
    };
    if (this.options.restUrl) worker.restUrl = this.options.restUrl;
    const tasks: TaskStatusRecord[] = [];
    for (const r of this.running.values()) {
      if (r.stopping || this.lastState.get(r.key) !== 'RUNNING') continue;
      const m = r.service.metrics();
      tasks.push({
        v: 1,
        type: 'status',
        kind: r.kind,
        name: r.name,
        task: r.task,
        state: 'RUNNING',
        workerId: this.workerId,
        version: r.version,
        ts_ms: Date.now(),
        ...(m && typeof m === 'object' ? { metrics: m as Record<string, unknown> } : {}),
      });
    }
    await this.store.putStatus([worker, ...tasks]).catch((err: Error) => {
      this.log(`writing heartbeat failed: ${err.message}`);
    });
  }

  /** Secret values of the current configs, to scrub from log lines and error traces. */
  private secretValues(): string[] {
    if (!this.store) return [];
    return collectSecrets(this.store.listConfigs().map((c) => c.config));
  }

  private every(ms: number, fn: () => void): void {
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }
}
