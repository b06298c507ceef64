/**
 * Turns one task of a topology (a capture source, a processor application or a sink) into a
 * RunnableService. Secret references are resolved here, when the task is built — never when
 * the topology is validated or stored — and the component validates its own config again
 * (so a task built from a stored topology gets the same checks as one from a file).
 *
 * A RunnableService is single-use: start() once, stop() once; to restart a task, build a new
 * one with createTask. stop() is safe to call before start() finished and more than once.
 */
import { createPostgresCapture, parsePostgresSource } from '../../capture/postgres/index.ts';
import { resolveSecrets } from '../../core/config/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { RunnableService } from '../../core/service/main.ts';
import { ProcessorRuntime } from '../../processors/runtime/runtime.ts';
import { SinkRuntime } from '../../sinks/runtime/runtime.ts';
import type { KafkaSpec } from '../spec/schema.ts';
import type { SourceTask, TaskSpec } from '../spec/tasks.ts';

export interface TaskOptions {
  /** One line of progress or diagnostics (default: stderr with a `[<task id>]` prefix). */
  log?: (message: string) => void;
  /** Capture progress lines every N ms (0 = off; default 0: the supervisor reports progress). */
  progressIntervalMs?: number;
}

/**
 * Kafka client settings of a task, secrets resolved (TLS PEMs and the SASL password are
 * usually `${file:...}` / `${env:...}` references in the topology).
 */
export function kafkaConfigFor(kafka: KafkaSpec, clientId: string): KafkaConfig {
  const resolved = resolveSecrets(kafka, 'kafka') as KafkaSpec;
  const { tls, sasl } = resolved;
  return {
    brokers: resolved.brokers,
    clientId: `${resolved.clientId ?? 'tributary'}-${clientId}`,
    ...(resolved.requestTimeoutMs ? { requestTimeoutMs: resolved.requestTimeoutMs } : {}),
    ...(tls?.enabled
      ? {
          tls: {
            rejectUnauthorized: tls.rejectUnauthorized,
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            ...(tls.servername ? { servername: tls.servername } : {}),
          },
        }
      : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism.toUpperCase() as NonNullable<
              KafkaConfig['sasl']
            >['mechanism'],
            username: sasl.username,
            password: sasl.password,
          },
        }
      : {}),
  };
}

export function createTask(task: TaskSpec, options: TaskOptions = {}): RunnableService {
  const log = options.log ?? ((m: string) => process.stderr.write(`[${task.id}] ${m}\n`));
  switch (task.kind) {
    case 'source':
      return new CaptureService(task, log, options.progressIntervalMs ?? 0);
    case 'processor':
      return new ProcessorRuntime(resolveSecrets(task.config, task.id) as typeof task.config, {
        kafka: kafkaConfigFor(task.kafka, `processor-${task.config.name}`),
        baseDir: task.baseDir,
        log,
      });
    case 'sink':
      return new SinkRuntime(resolveSecrets(task.config, task.id) as typeof task.config, {
        kafka: kafkaConfigFor(task.kafka, `sink-${task.config.name}`),
        log,
      });
  }
}

/** A capture engine as a RunnableService: ready once the replication stream is open. */
class CaptureService implements RunnableService {
  private engine: ReturnType<typeof createPostgresCapture> | undefined;
  private run: Promise<void> | undefined;
  private stopRequested = false;
  private readyResolve!: () => void;
  private readyReject!: (err: Error) => void;
  readonly ready = new Promise<void>((res, rej) => {
    this.readyResolve = res;
    this.readyReject = rej;
  });

  constructor(
    private readonly task: SourceTask,
    private readonly log: (m: string) => void,
    private readonly progressIntervalMs: number,
  ) {
    void this.ready.catch(() => undefined);
  }

  async start(): Promise<void> {
    const config = parsePostgresSource(this.task.config, `sources[${this.task.name}]`);
    const engine = createPostgresCapture(config, {
      kafka: kafkaConfigFor(this.task.kafka, `capture-${config.name}`),
      log: this.log,
      progressIntervalMs: this.progressIntervalMs,
    });
    this.engine = engine;
    this.run = engine.run();
    this.run.then(
      () => this.readyReject(new Error('capture stopped before it was streaming')),
      (err: Error) => this.readyReject(err),
    );
    // The engine has no ready signal of its own: it is streaming once the first health check
    // (run right after the replication stream opened) has measured the slot lag.
    const poll = setInterval(() => {
      if (engine.stats.lagBytes !== undefined) {
        clearInterval(poll);
        this.readyResolve();
      }
    }, 50);
    this.run.finally(() => clearInterval(poll)).catch(() => undefined);
    if (this.stopRequested) await engine.stop();
  }

  async stop(): Promise<void> {
    this.stopRequested = true;
    await this.engine?.stop();
    await this.run?.catch(() => undefined);
  }

  get done(): Promise<void> {
    return this.run ?? Promise.resolve();
  }

  metrics(): unknown {
    const s = this.engine?.stats;
    if (!s) return {};
    return {
      events: s.events,
      transactions: s.transactions,
      skipped: s.skipped,
      lagBytes: s.lagBytes,
      walStatus: s.walStatus,
      snapshotCompleted: s.snapshotCompleted,
      snapshotRows: s.snapshot?.rows,
    };
  }
}
