/**
 * The capture engine: runs one source connector into Kafka with exactly-once effect.
 *
 * Start-up order matters: the transactional producer is initialised first (fencing any older
 * instance of the same source), then the stored offset is read back with read_committed,
 * then the connector checks that it can resume from it (e.g. the replication slot is intact),
 * then the stream opens and — when the snapshot mode asks for it — the DBLog snapshot runs
 * interleaved with it. Each Kafka transaction carries change events plus the offset of the
 * last one; the source is acknowledged only after that transaction commits.
 */
import { TributaryError, toTributaryError } from '../../core/errors/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import type { JsonFormat } from '../../core/events/index.ts';
import { KafkaAdmin, ThreadedTransactionalProducer } from '../../core/kafka/index.ts';
import type { KafkaConfig, OutgoingRecord, TopicSpec } from '../../core/kafka/index.ts';
import { ensureOffsetsTopic, loadOffset } from './offsets.ts';
import { TransactionalPublisher } from './publisher.ts';
import { parseSignal, signalAtOrBefore } from './signal.ts';
import { SnapshotCoordinator } from './snapshot.ts';
import type {
  ChangeStream,
  SnapshotProgress,
  SnapshotReader,
  StoredOffset,
  StreamPosition,
  StreamSink,
} from './types.ts';

export type SnapshotMode = 'initial' | 'never' | 'always' | 'when_needed' | 'initial_only';

export interface ResumeCheck {
  ok: boolean;
  /** Why the stored position cannot be resumed (slot lost, dropped, recreated). */
  reason?: string;
}

export interface SourceHealth {
  lagBytes?: number;
  walStatus?: string;
  warning?: string;
  /** Set when the source can no longer be captured without loss (e.g. wal_status = lost). */
  fatal?: string;
}

/** What a database connector provides to the engine. */
export interface CaptureConnector {
  readonly name: string;
  /** Checks the source setup and creates what is missing (publication, slot). Clear errors. */
  prepare(): Promise<void>;
  /** Topics the connector writes to, created before streaming. */
  topics(): TopicSpec[];
  /** Facts stored with each offset and checked on resume. */
  facts(): Record<string, unknown>;
  /** Can the stream resume from `stored` without losing changes? */
  checkResume(stored: StoredOffset | null): Promise<ResumeCheck>;
  /** Recreates the source-side position after a loss (e.g. a new slot), before a re-snapshot. */
  resetAfterLoss(): Promise<void>;
  openStream(sink: StreamSink, from: StoredOffset | null): Promise<ChangeStream>;
  snapshotReader(): SnapshotReader | null;
  health?(): Promise<SourceHealth>;
  close(): Promise<void>;
}

export interface EngineOptions {
  source: string;
  kafka: KafkaConfig;
  offsetsTopic: string;
  format: JsonFormat;
  tombstonesOnDelete: boolean;
  batchSize: number;
  lingerMs: number;
  maxBuffered: number;
  snapshotMode: SnapshotMode;
  snapshotChunkSize: number;
  onSlotLoss: 'fail' | 'resnapshot';
  heartbeatIntervalMs: number;
  healthIntervalMs: number;
  progressIntervalMs: number;
  log: (message: string) => void;
}

export interface EngineStats {
  events: number;
  skipped: number;
  transactions: number;
  startedAt: number;
  lagBytes?: number;
  walStatus?: string;
  snapshot?: SnapshotCoordinator['stats'];
  snapshotCompleted: boolean;
  /** Signals applied, and signals ignored because they were not valid. */
  signals: number;
  signalsIgnored: number;
}

export class CaptureEngine {
  private stopping = false;
  private stopError: Error | null = null;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  private producer: ThreadedTransactionalProducer | null = null;
  private publisher: TransactionalPublisher | null = null;
  private stream: ChangeStream | null = null;
  private coordinator: SnapshotCoordinator | null = null;
  private reader: SnapshotReader | null = null;
  /** Position of the last signal applied (stored with the snapshot progress). */
  private lastSignal: { order: number; seq: number } | undefined;
  private resumeAfter: StreamPosition | null = null;
  private timers: NodeJS.Timeout[] = [];
  readonly stats: EngineStats = {
    events: 0,
    skipped: 0,
    transactions: 0,
    startedAt: Date.now(),
    snapshotCompleted: false,
    signals: 0,
    signalsIgnored: 0,
  };

  constructor(
    private readonly connector: CaptureConnector,
    private readonly options: EngineOptions,
  ) {}

  /** Runs until stop() or a fatal error (which it rethrows). */
  async run(): Promise<void> {
    try {
      await this.start();
    } catch (err) {
      if (this.stopping && this.stopError === null) {
        // stop() came while starting; the start error is a consequence of it.
        await this.releaseAfterStop();
        await this.stopped;
        return;
      }
      await this.shutdown(err as Error);
      await this.releaseAfterStop();
      throw this.stopError ?? err;
    }
    await this.stopped;
    if (this.stopError) throw this.stopError;
  }

  /** Graceful stop: finishes the open Kafka transaction, acknowledges it, closes everything. */
  async stop(): Promise<void> {
    await this.shutdown(null);
  }

  /**
   * Brings the capture up. stop() or a failure (shutdown) may come while this awaits: shutdown
   * releases what exists at that moment, so after every step that acquires something start()
   * checks `stopping` and releases what it got since (releaseAfterStop) — a replication
   * connection opened after shutdown would otherwise keep the slot active for good.
   */
  private async start(): Promise<void> {
    const o = this.options;
    // The producer thread starts now, so it loads while the source is checked; it registers
    // (and fences) only at init() below.
    this.producer = new ThreadedTransactionalProducer(o.kafka, `tributary-capture-${o.source}`);
    await this.connector.prepare();
    if (await this.releaseIfStopping()) return;

    const admin = new KafkaAdmin(o.kafka);
    try {
      await ensureOffsetsTopic(admin, o.offsetsTopic);
      await admin.ensureTopics(this.connector.topics());
    } finally {
      await admin.close();
    }

    o.log(
      `initialising transactional producer tributary-capture-${o.source} (fences any older instance)`,
    );
    await this.producer.init(); // fences any older instance before we read the offsets back
    if (await this.releaseIfStopping()) return;
    o.log(`reading the stored offset from ${o.offsetsTopic}`);
    let stored = await loadOffset(o.kafka, o.offsetsTopic, o.source);
    o.log(
      stored
        ? `resuming after position ${JSON.stringify(stored.position)} (ack ${stored.ack}, snapshot ${stored.snapshot ? (stored.snapshot.completed ? 'completed' : 'in progress') : 'none'})`
        : 'no stored offset: first start',
    );

    let forceSnapshot = false;
    const check = await this.connector.checkResume(stored);
    if (!check.ok) {
      if (o.onSlotLoss === 'fail' || o.snapshotMode === 'never') {
        throw new TributaryError(
          'SOURCE_POSITION_LOST',
          `${check.reason}. Changes may have been lost, so capture stops. To start over with a fresh snapshot set on_slot_loss: resnapshot (or snapshot mode when_needed).`,
        );
      }
      o.log(
        `${check.reason}; on_slot_loss=resnapshot: recreating the source position and snapshotting again`,
      );
      await this.connector.resetAfterLoss();
      if (await this.releaseIfStopping()) return;
      stored = null;
      forceSnapshot = true;
    }
    this.resumeAfter = stored?.position ?? null;
    this.lastSignal = stored?.snapshot?.signal;

    const snapshotFrom = this.snapshotPlan(stored, forceSnapshot);
    const initial: StoredOffset = stored ?? {
      v: 1,
      source: o.source,
      position: null,
      ack: 0,
      snapshot: null,
      connector: this.connector.facts(),
      ts_ms: Date.now(),
    };
    this.publisher = new TransactionalPublisher(
      this.producer,
      {
        source: o.source,
        offsetsTopic: o.offsetsTopic,
        format: o.format,
        tombstonesOnDelete: o.tombstonesOnDelete,
        batchSize: o.batchSize,
        lingerMs: o.lingerMs,
        maxBuffered: o.maxBuffered,
        connector: this.connector.facts(),
      },
      {
        committed: (offset, events) => {
          this.stats.transactions++;
          crashPointAfterCommit(this.stats.transactions);
          if (events === 0 && offset.ack === 0) return;
          this.stream?.acknowledge(offset.ack);
        },
        drained: () => this.stream?.resume(),
        failed: (err) => void this.shutdown(err),
      },
      { ...initial, snapshot: snapshotFrom === undefined ? initial.snapshot : snapshotFrom },
    );
    this.stats.snapshotCompleted = initial.snapshot?.completed ?? false;

    if (await this.releaseIfStopping()) return;
    this.stream = await this.connector.openStream(this.sink(), stored);
    if (await this.releaseIfStopping()) return;

    const reader = this.connector.snapshotReader();
    this.reader = reader;
    if (snapshotFrom !== undefined && reader) {
      this.startSnapshot(reader, snapshotFrom);
    } else if (o.snapshotMode === 'initial_only' && (stored?.snapshot?.completed ?? false)) {
      o.log('snapshot mode initial_only: the snapshot was already completed; nothing to do');
      void this.shutdown(null);
      return;
    }

    if (reader?.writeHeartbeat && o.heartbeatIntervalMs > 0) {
      this.every(o.heartbeatIntervalMs, () =>
        reader.writeHeartbeat!().catch((err) =>
          o.log(`heartbeat failed: ${(err as Error).message}`),
        ),
      );
    }
    if (this.connector.health && o.healthIntervalMs > 0) {
      const checkHealth = async () => {
        const h = await this.connector.health!();
        this.stats.lagBytes = h.lagBytes;
        this.stats.walStatus = h.walStatus;
        if (h.warning) o.log(`warning: ${h.warning}`);
        if (h.fatal) await this.shutdown(new TributaryError('SOURCE_POSITION_LOST', h.fatal));
      };
      await checkHealth();
      if (await this.releaseIfStopping()) return;
      this.every(o.healthIntervalMs, () =>
        checkHealth().catch((err) => o.log(`health check failed: ${(err as Error).message}`)),
      );
    }
    if (o.progressIntervalMs > 0)
      this.every(o.progressIntervalMs, () => o.log(this.progressLine()));
  }

  /** Starts a snapshot coordinator (initial, resumed, or ad-hoc from a signal). */
  private startSnapshot(reader: SnapshotReader, from: SnapshotProgress | null): void {
    const o = this.options;
    // A fresh full snapshot keeps the last signal's position, so a replay still recognises it.
    const start: SnapshotProgress | null =
      from ??
      (this.lastSignal
        ? {
            done: [],
            lastKey: {},
            pending: reader.tables().map((t) => t.name),
            completed: false,
            signal: this.lastSignal,
          }
        : null);
    const coordinator = new SnapshotCoordinator(
      reader,
      {
        publishChunk: (e, order, p) => this.publishChunk(e, order, p),
        saveProgress: (p) => this.publisher?.setSnapshotProgress(p),
        log: o.log,
      },
      o.snapshotChunkSize,
      start,
    );
    this.coordinator = coordinator;
    this.stats.snapshot = coordinator.stats;
    this.stats.snapshotCompleted = false;
    const kind = coordinator.currentProgress.adhoc ? 'ad-hoc snapshot' : 'snapshot';
    o.log(
      `${kind}: ${coordinator.currentProgress.pending.length} table(s) to read in chunks of ${o.snapshotChunkSize}`,
    );
    coordinator.run().then(
      (progress) => {
        // A signal after this coordinator finished started a newer one: that one reports.
        if (this.stopping || this.coordinator !== coordinator) return;
        this.stats.snapshotCompleted = progress.completed;
        this.publisher?.setSnapshotProgress(progress);
        o.log(
          `${progress.adhoc ? 'ad-hoc snapshot' : 'snapshot'} completed: ${coordinator.stats.rows} rows emitted, ${coordinator.stats.read} rows read by this process`,
        );
        if (o.snapshotMode === 'initial_only')
          void this.publisher?.flush().then(() => this.shutdown(null));
      },
      (err) => void (this.stopping ? undefined : this.shutdown(err as Error)),
    );
  }

  /**
   * An `execute-snapshot` signal came through the stream: reads the requested tables (those
   * this source captures) with the same DBLog coordinator, while streaming goes on. The new
   * progress, with the signal's position, is set before the signal's unit ends, so the offset
   * that acknowledges past the signal always carries it; a signal replayed after a restart is
   * recognised by that position and not applied twice.
   */
  private onSignal(payload: string, order: number, seq: number): void {
    const o = this.options;
    if (this.stopping) return;
    const signal = parseSignal(payload);
    if (typeof signal === 'string') {
      this.stats.signalsIgnored++;
      o.log(`signal ignored: ${signal}: ${payload.slice(0, 200)}`);
      return;
    }
    if (signal.source !== o.source) return; // for another source on the same database
    const at = { order, seq };
    if (signalAtOrBefore(at, this.lastSignal)) return; // applied before a restart
    const reader = this.reader;
    if (!reader) {
      this.stats.signalsIgnored++;
      o.log('signal ignored: this connector cannot snapshot');
      return;
    }
    const captured = reader.tables().map((t) => t.name);
    const requested = [...new Set(signal.tables ?? captured)];
    const unknown = requested.filter((t) => !captured.includes(t));
    if (unknown.length > 0)
      o.log(
        `signal: ignoring table(s) this source does not capture: ${unknown.join(', ')} (captured: ${captured.join(', ')})`,
      );
    const tables = requested.filter((t) => captured.includes(t));
    this.lastSignal = at;
    this.stats.signals++;
    if (tables.length === 0) {
      o.log('signal: execute-snapshot with no captured table; nothing to do');
      return;
    }
    const running = this.coordinator?.isRunning ? this.coordinator : null;
    if (running) {
      const added = running.enqueue(tables, at);
      this.stats.snapshotCompleted = false;
      o.log(
        `signal: execute-snapshot queued ${added.length ? added.join(', ') : 'nothing new'} behind the running snapshot`,
      );
      return;
    }
    o.log(`signal: execute-snapshot of ${tables.join(', ')}`);
    const progress: SnapshotProgress = {
      done: [],
      lastKey: {},
      pending: tables,
      completed: false,
      adhoc: true,
      signal: at,
    };
    this.publisher?.setSnapshotProgress(progress);
    this.startSnapshot(reader, progress);
  }

  /** undefined: no snapshot; otherwise the progress to start or resume from (null = fresh). */
  private snapshotPlan(
    stored: StoredOffset | null,
    forced: boolean,
  ): SnapshotProgress | null | undefined {
    const mode = this.options.snapshotMode;
    const inProgress = stored?.snapshot && !stored.snapshot.completed ? stored.snapshot : null;
    if (forced) return null;
    if (inProgress?.adhoc) return inProgress; // a signalled snapshot resumes in every mode
    if (mode === 'never') return undefined;
    if (mode === 'always') return inProgress;
    if (!stored) return null; // initial, when_needed, initial_only: first start
    if (inProgress) return inProgress;
    if (mode === 'initial_only' && !stored.snapshot) return null;
    return undefined;
  }

  private sink(): StreamSink {
    return {
      event: (event: ChangeEvent, position: StreamPosition, table: string) => {
        if (this.alreadyWritten(position)) {
          this.stats.skipped++;
          return true;
        }
        this.coordinator?.observeChange(table, event);
        this.stats.events++;
        return this.publisher!.add(event, position);
      },
      record: (record: OutgoingRecord, position: StreamPosition) => {
        if (this.alreadyWritten(position)) return true;
        return this.publisher!.addRecords([record], position);
      },
      unitEnd: (_order: number, ack: number) => this.publisher?.advanceAck(ack),
      watermark: (id, kind, order) => this.coordinator?.watermark(id, kind, order),
      signal: (payload, order, seq) => this.onSignal(payload, order, seq),
      idle: (ack: number) => this.publisher?.advanceAck(ack),
      fail: (err: Error) => void this.shutdown(err),
    };
  }

  /** True for positions at or before the stored offset (written before a restart). */
  private alreadyWritten(position: StreamPosition): boolean {
    const after = this.resumeAfter;
    return (
      after !== null &&
      (position.order < after.order ||
        (position.order === after.order && position.index <= after.index))
    );
  }

  private async publishChunk(
    events: Array<{ event: ChangeEvent; index: number }>,
    order: number,
    progress: SnapshotProgress,
  ): Promise<void> {
    const publisher = this.publisher!;
    for (const { event, index } of events) publisher.add(event, { order, index });
    publisher.setSnapshotProgress(progress);
    await publisher.flush();
  }

  private progressLine(): string {
    const s = this.stats;
    const secs = (Date.now() - s.startedAt) / 1000;
    const parts = [
      `streaming: ${s.events.toLocaleString('en-US')} events (${Math.round(s.events / Math.max(secs, 0.001)).toLocaleString('en-US')}/s avg), ${s.transactions} Kafka transactions`,
    ];
    if (s.skipped) parts.push(`${s.skipped} replayed events skipped`);
    if (s.lagBytes !== undefined)
      parts.push(
        `slot lag ${formatBytes(s.lagBytes)}${s.walStatus ? ` (wal_status ${s.walStatus})` : ''}`,
      );
    if (s.snapshot && !s.snapshotCompleted) {
      const sn = s.snapshot;
      const rate = sn.rows / Math.max((Date.now() - sn.startedAt) / 1000, 0.001);
      parts.push(
        `snapshot: ${sn.tablesDone}/${sn.tables} tables, ${sn.rows.toLocaleString('en-US')} rows (${Math.round(rate).toLocaleString('en-US')} rows/s)`,
      );
    }
    return parts.join('; ');
  }

  /** During start(): true when shutdown has begun, after releasing what start() acquired. */
  private async releaseIfStopping(): Promise<boolean> {
    if (!this.stopping) return false;
    await this.releaseAfterStop();
    return true;
  }

  /**
   * Closes the stream, producer and connector again (each close is idempotent): shutdown may
   * have run before start() acquired them.
   */
  private async releaseAfterStop(): Promise<void> {
    this.publisher?.close();
    await this.stream?.close().catch(() => undefined);
    await this.producer?.close().catch(() => undefined);
    await this.connector.close().catch(() => undefined);
  }

  private every(ms: number, fn: () => unknown): void {
    if (this.stopping) return;
    const t = setInterval(fn, ms);
    t.unref();
    this.timers.push(t);
  }

  private async shutdown(err: Error | null): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (err) this.stopError = toTributaryError(err);
    for (const t of this.timers) clearInterval(t);
    this.coordinator?.stop();
    this.stream?.pause();
    if (!err && this.publisher) {
      try {
        await this.publisher.flush();
      } catch (e) {
        this.stopError = toTributaryError(e);
      }
    }
    this.publisher?.close();
    await this.stream?.close().catch(() => undefined);
    await this.producer?.close().catch(() => undefined);
    await this.connector.close().catch(() => undefined);
    this.options.log(err ? `stopped with error: ${this.stopError?.message}` : 'stopped cleanly');
    this.resolveStopped();
  }
}

/**
 * Fault injection for crash tests: with TRIBUTARY_CRASH_AFTER_COMMITS=N the process kills
 * itself with SIGKILL right after its N-th Kafka transaction committed, before acknowledging
 * the source — the narrowest crash window there is. Unset in normal operation.
 */
function crashPointAfterCommit(commits: number): void {
  const n = Number(process.env.TRIBUTARY_CRASH_AFTER_COMMITS ?? 0);
  if (n > 0 && commits >= n) process.kill(process.pid, 'SIGKILL');
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
