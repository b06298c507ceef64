/**
 * Runs a set of tasks in this process: starts them in order (sources, then processors, then
 * sinks, so each stage's inputs exist), tracks each one's state and last error, and pauses,
 * resumes, restarts or stops them. A paused task is stopped cleanly (capture finishes its open
 * Kafka transaction and stops reading the slot, so PostgreSQL retains the WAL from its
 * position; processors and sinks commit and leave their group) and resumed by building a fresh
 * service from the same task, which continues from the stored positions.
 *
 * Lifecycle: start() once -> any of pause/resume/restart (serialised per task) -> stop() once.
 * `done` resolves when every task has stopped after stop(), or — with failFast — rejects with
 * the first task failure (after stopping the others).
 */
import type { RunnableService } from '../../core/service/main.ts';
import type { TaskKind, TaskSpec } from '../spec/tasks.ts';
import { createTask } from './task.ts';
import type { TaskOptions } from './task.ts';

export type TaskState = 'pending' | 'starting' | 'running' | 'paused' | 'failed' | 'stopped';

export interface TaskStatus {
  id: string;
  kind: TaskKind;
  name: string;
  state: TaskState;
  lastError?: string;
  /** ms since epoch of the last (re)start. */
  startedAt?: number;
  restarts: number;
  metrics: unknown;
}

export interface SupervisorOptions {
  /** Stop everything when a task fails (development runs); default false. */
  failFast?: boolean;
  log?: (taskId: string, message: string) => void;
  onStateChange?: (status: TaskStatus) => void;
  /** Builds a task's service (default: createTask); tests and embedders may wrap it. */
  factory?: (task: TaskSpec, options: TaskOptions) => RunnableService;
}

interface Slot {
  task: TaskSpec;
  service?: RunnableService;
  state: TaskState;
  lastError?: string;
  startedAt?: number;
  restarts: number;
  /** Serialises lifecycle operations on this task. */
  chain: Promise<void>;
  lastMetrics: unknown;
}

const ORDER: TaskKind[] = ['source', 'processor', 'sink'];

export class Supervisor {
  private readonly slots = new Map<string, Slot>();
  private stopping = false;
  private failure: Error | undefined;
  private resolveDone!: () => void;
  private rejectDone!: (err: Error) => void;
  readonly done = new Promise<void>((res, rej) => {
    this.resolveDone = res;
    this.rejectDone = rej;
  });

  constructor(
    tasks: TaskSpec[],
    private readonly options: SupervisorOptions = {},
  ) {
    void this.done.catch(() => undefined);
    for (const task of tasks)
      this.slots.set(task.id, {
        task,
        state: 'pending',
        restarts: 0,
        chain: Promise.resolve(),
        lastMetrics: {},
      });
  }

  /** Starts every task, stage by stage; resolves when all are started (not necessarily ready). */
  async start(): Promise<void> {
    for (const kind of ORDER) {
      const slots = [...this.slots.values()].filter((s) => s.task.kind === kind);
      await Promise.all(slots.map((s) => this.enqueue(s, () => this.launch(s))));
      if (this.stopping) return;
    }
  }

  /**
   * Resolves once every task is running (or deliberately paused or stopped); rejects as soon as
   * one has failed, or after `timeoutMs`.
   */
  async ready(timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const slots = [...this.slots.values()];
      const failed = slots.find((s) => s.state === 'failed');
      if (failed)
        throw new Error(`${failed.task.id} failed: ${failed.lastError ?? 'unknown error'}`);
      if (
        slots.every((s) => s.state === 'running' || s.state === 'paused' || s.state === 'stopped')
      )
        return;
      if (Date.now() > deadline) {
        const waiting = slots
          .filter((s) => s.state !== 'running')
          .map((s) => `${s.task.id} (${s.state})`);
        throw new Error(`not ready after ${timeoutMs} ms: ${waiting.join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  pause(id: string): Promise<void> {
    const s = this.slot(id);
    return this.enqueue(s, async () => {
      if (s.state !== 'running' && s.state !== 'starting') return;
      await this.halt(s);
      this.setState(s, 'paused');
    });
  }

  resume(id: string): Promise<void> {
    const s = this.slot(id);
    return this.enqueue(s, async () => {
      if (s.state === 'paused') await this.launch(s);
    });
  }

  /** Stops the task (if running) and starts it again from its stored positions. */
  restart(id: string): Promise<void> {
    const s = this.slot(id);
    return this.enqueue(s, async () => {
      if (this.stopping) return;
      await this.halt(s);
      s.restarts++;
      await this.launch(s);
    });
  }

  /** Stops every task: sources first so downstream stages see their last records. */
  async stop(): Promise<void> {
    if (this.stopping) return this.done.catch(() => undefined);
    this.stopping = true;
    for (const kind of ORDER) {
      const slots = [...this.slots.values()].filter((s) => s.task.kind === kind);
      await Promise.all(
        slots.map((s) =>
          this.enqueue(s, async () => {
            await this.halt(s);
            if (s.state !== 'failed') this.setState(s, 'stopped');
          }),
        ),
      );
    }
    if (this.failure) this.rejectDone(this.failure);
    else this.resolveDone();
  }

  status(): TaskStatus[] {
    return [...this.slots.values()].map((s) => this.statusOf(s));
  }

  private statusOf(s: Slot): TaskStatus {
    if (s.service && s.state === 'running') s.lastMetrics = safeMetrics(s.service);
    return {
      id: s.task.id,
      kind: s.task.kind,
      name: s.task.name,
      state: s.state,
      ...(s.lastError ? { lastError: s.lastError } : {}),
      ...(s.startedAt ? { startedAt: s.startedAt } : {}),
      restarts: s.restarts,
      metrics: s.lastMetrics,
    };
  }

  private slot(id: string): Slot {
    const s = this.slots.get(id);
    if (!s) throw new Error(`unknown task "${id}"; tasks: ${[...this.slots.keys()].join(', ')}`);
    return s;
  }

  private enqueue(s: Slot, op: () => Promise<void>): Promise<void> {
    const next = s.chain.then(op);
    s.chain = next.catch(() => undefined);
    return next;
  }

  private async launch(s: Slot): Promise<void> {
    if (this.stopping) return;
    const log = (m: string) =>
      this.options.log
        ? this.options.log(s.task.id, m)
        : process.stderr.write(`[${s.task.id}] ${m}\n`);
    this.setState(s, 'starting');
    s.lastError = undefined;
    s.startedAt = Date.now();
    let service: RunnableService;
    try {
      service = (this.options.factory ?? createTask)(s.task, { log });
      s.service = service;
      await service.start();
    } catch (err) {
      this.fail(s, err as Error);
      return;
    }
    service.done.then(
      () => {
        // Stopped by itself (e.g. a snapshot-only capture finished) rather than by us.
        if (s.service === service && s.state === 'running') {
          s.lastMetrics = safeMetrics(service);
          this.setState(s, 'stopped');
        }
      },
      (err: Error) => {
        if (s.service === service) this.fail(s, err);
      },
    );
    service.ready.then(
      () => {
        if (s.service === service && s.state === 'starting') this.setState(s, 'running');
      },
      () => undefined,
    );
  }

  private async halt(s: Slot): Promise<void> {
    const service = s.service;
    if (!service) return;
    s.lastMetrics = safeMetrics(service);
    s.service = undefined;
    await service.stop().catch(() => undefined);
  }

  private fail(s: Slot, err: Error): void {
    s.lastError = err.message;
    s.lastMetrics = s.service ? safeMetrics(s.service) : s.lastMetrics;
    s.service = undefined;
    this.setState(s, 'failed');
    if (this.options.failFast && !this.stopping) {
      this.failure = new Error(`${s.task.id} failed: ${err.message}`);
      void this.stop();
    }
  }

  private setState(s: Slot, state: TaskState): void {
    s.state = state;
    this.options.onStateChange?.(this.statusOf(s));
  }
}

function safeMetrics(service: RunnableService): unknown {
  try {
    return service.metrics();
  } catch {
    return {};
  }
}
