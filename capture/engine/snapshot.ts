/**
 * Incremental snapshots with the DBLog watermark algorithm (Netflix, arXiv 2010.12597),
 * interleaved with the change stream: for each primary-key chunk the coordinator writes a low
 * watermark into the stream, selects the chunk, writes a high watermark, and when the high
 * watermark comes back through the stream, emits the chunk's rows except those whose key
 * changed between the two watermarks (the stream already carried a newer value). No locks,
 * no gap, and never a stale snapshot row after a newer change of the same key.
 *
 * Progress (tables done, last key of the table in progress) is stored with the offsets in the
 * same Kafka transaction as the chunk's rows, so a crash resumes at the last chunk.
 */
import { randomUUID } from 'node:crypto';
import { stringifyJson } from '../../core/events/index.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import type {
  SnapshotChunk,
  SnapshotProgress,
  SnapshotReader,
  SnapshotRowContext,
  WatermarkKind,
} from './types.ts';

export interface SnapshotWindowHost {
  /** Publishes the chunk's surviving rows plus progress in one Kafka transaction. */
  publishChunk(
    events: Array<{ event: ChangeEvent; index: number }>,
    order: number,
    progress: SnapshotProgress,
  ): Promise<void>;
  /** Stores progress that changed without a chunk (tables queued by a signal). */
  saveProgress(progress: SnapshotProgress): void;
  log(message: string): void;
}

interface OpenWindow {
  id: string;
  table: string;
  chunk: SnapshotChunk | null;
  open: boolean;
  lowOrder: number;
  /** Position of the high watermark, once it came back (with a release watermark to follow). */
  highOrder: number | null;
  /** Keys changed since the low watermark. */
  changed: Set<string>;
  /** Changes seen since the window was created (before the chunk read), for visibility checks. */
  seen: Array<{ key: string; event: ChangeEvent }>;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface SnapshotStats {
  tables: number;
  tablesDone: number;
  /** Rows emitted (after dropping those changed inside their chunk window). */
  rows: number;
  /** Rows read from the database by this process. */
  read: number;
  dropped: number;
  chunks: number;
  startedAt: number;
}

export class SnapshotCoordinator {
  private window: OpenWindow | null = null;
  private stopped = false;
  private running = false;
  private progress: SnapshotProgress;
  private markerFirstPending: boolean;
  readonly stats: SnapshotStats;

  constructor(
    private readonly reader: SnapshotReader,
    private readonly host: SnapshotWindowHost,
    private readonly chunkSize: number,
    resumeFrom: SnapshotProgress | null,
  ) {
    const all = reader.tables().map((t) => t.name);
    this.progress =
      resumeFrom && !resumeFrom.completed
        ? resumeFrom
        : { done: [], lastKey: {}, pending: all, completed: false };
    this.markerFirstPending =
      this.progress.done.length === 0 && Object.keys(this.progress.lastKey).length === 0;
    this.stats = {
      tables: all.length,
      tablesDone: this.progress.done.length,
      rows: 0,
      read: 0,
      dropped: 0,
      chunks: 0,
      startedAt: Date.now(),
    };
  }

  get currentProgress(): SnapshotProgress {
    return this.progress;
  }

  /** True while run() is reading chunks: enqueue() is accepted only then. */
  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Queues more tables (an ad-hoc snapshot signal) while run() is going: they are read after
   * the tables already pending, and the new progress is stored right away (with the signal that
   * asked for it), so a crash does not forget them. A table already pending is not queued twice;
   * one already done in this run is read again. Returns the tables queued.
   */
  enqueue(tables: string[], signal: SnapshotProgress['signal']): string[] {
    const pending = this.progress.pending;
    const added = tables.filter((t) => !pending.includes(t));
    this.progress = {
      ...this.progress,
      done: this.progress.done.filter((t) => !added.includes(t)),
      pending: [...pending, ...added],
      completed: false,
      adhoc: true,
      signal,
    };
    this.stats.tables += added.length;
    this.host.saveProgress(this.progress);
    return added;
  }

  /** Runs chunks until every table is done (or stop()). */
  async run(): Promise<SnapshotProgress> {
    this.running = true;
    try {
      return await this.runChunks();
    } finally {
      this.running = false;
    }
  }

  private async runChunks(): Promise<SnapshotProgress> {
    while (!this.stopped && this.progress.pending.length > 0) {
      const table = this.progress.pending[0]!;
      const afterKey = this.progress.lastKey[table] ?? null;
      if (
        this.stats.chunks === 0 &&
        this.stats.read === 0 &&
        (afterKey || this.progress.done.length > 0)
      ) {
        const where = afterKey ? `after key ${JSON.stringify(afterKey)}` : 'from its start';
        this.host.log(
          `snapshot: resuming (${this.progress.done.length} table(s) already done) at ${table} ${where}`,
        );
      }
      await this.runChunk(table, afterKey);
    }
    if (!this.stopped && this.progress.pending.length === 0 && !this.progress.completed) {
      this.progress = { ...this.progress, completed: true };
    }
    return this.progress;
  }

  stop(): void {
    this.stopped = true;
    this.window?.reject(new Error('snapshot stopped'));
  }

  /** Called by the engine for every stream change, before it is published. */
  observeChange(table: string, event: ChangeEvent): void {
    const w = this.window;
    if (!w || w.table !== table) return;
    const key = stringifyJson(event.key);
    if (w.open) w.changed.add(key);
    w.seen.push({ key, event });
  }

  /**
   * Called by the engine when a watermark comes back through the stream. Without a release
   * step the chunk is decided at the high watermark (plain DBLog). With one (the reader has
   * awaitRunningTransactions), the window stays open until the release watermark: every
   * transaction that was running at the high watermark has ended by then, so each of its
   * changes has been seen, including those written before the high watermark and committed
   * after it, which would otherwise follow the chunk's rows with lower versions.
   */
  watermark(id: string, kind: WatermarkKind, order: number): void {
    const w = this.window;
    if (!w || w.id !== id) return; // a watermark of a chunk from before a restart: ignore
    if (kind === 'low') {
      w.open = true;
      w.lowOrder = order;
      return;
    }
    if (!w.open || !w.chunk) {
      w.reject(
        new Error(`snapshot watermark ${id}: ${kind} before low or before the chunk was read`),
      );
      return;
    }
    if (kind === 'high' && this.reader.awaitRunningTransactions) {
      w.highOrder = order;
      return;
    }
    if (kind === 'release' && w.highOrder === null) {
      w.reject(new Error(`snapshot watermark ${id}: release before high`));
      return;
    }
    w.open = false;
    // Rows take the high watermark's position as their version; the chunk is published at
    // the position where it was decided (the release, when there is one).
    this.emitChunk(w, w.highOrder ?? order, order).then(w.resolve, w.reject);
  }

  private async runChunk(table: string, afterKey: unknown[] | null): Promise<void> {
    const id = randomUUID();
    const done = new Promise<void>((resolve, reject) => {
      this.window = {
        id,
        table,
        chunk: null,
        open: false,
        lowOrder: 0,
        highOrder: null,
        changed: new Set(),
        seen: [],
        resolve,
        reject,
      };
    });
    const w = this.window!;
    await this.reader.writeWatermark(id, 'low');
    w.chunk = await this.reader.readChunk(table, afterKey, this.chunkSize);
    this.stats.read += w.chunk.rows.length;
    await this.reader.writeWatermark(id, 'high');
    if (this.reader.awaitRunningTransactions) {
      await this.reader.awaitRunningTransactions(() => this.stopped);
      await this.reader.writeWatermark(id, 'release');
    }
    try {
      await done;
    } finally {
      this.window = null;
    }
  }

  private async emitChunk(w: OpenWindow, highOrder: number, order: number): Promise<void> {
    const chunk = w.chunk!;
    const table = w.table;
    const lastTable = this.progress.pending.length === 1;
    const adhoc = this.progress.adhoc === true;
    let drop = w.changed;
    if (chunk.visible) {
      drop = new Set(w.changed);
      for (const { key, event } of w.seen) if (!chunk.visible(event)) drop.add(key);
    }
    const survivors = chunk.rows.filter((r) => !drop.has(stringifyJson(r.key)));
    const version = BigInt(highOrder);
    const events = survivors.map((row, i) => {
      const isLastRow = chunk.last && i === survivors.length - 1;
      let marker: SnapshotRowContext['marker'] = 'true';
      if (adhoc) marker = 'incremental';
      else if (this.markerFirstPending && i === 0) marker = 'first';
      else if (isLastRow && lastTable) marker = 'last';
      else if (isLastRow) marker = 'last_in_data_collection';
      else if (i === 0 && (this.progress.lastKey[table] ?? null) === null)
        marker = 'first_in_data_collection';
      return { event: row.build({ marker, version }), index: i };
    });
    if (events.length > 0) this.markerFirstPending = false;

    const next: SnapshotProgress = chunk.last
      ? {
          ...this.progress,
          done: [...this.progress.done, table],
          lastKey: Object.fromEntries(
            Object.entries(this.progress.lastKey).filter(([t]) => t !== table),
          ),
          pending: this.progress.pending.slice(1),
          completed: this.progress.pending.length === 1,
        }
      : { ...this.progress, lastKey: { ...this.progress.lastKey, [table]: chunk.lastKey } };
    // Progress moves before the publish is awaited: a signal queueing tables meanwhile extends
    // `next`, not the progress before this chunk (a failed publish stops the engine anyway).
    this.progress = next;
    await this.host.publishChunk(events, order, next);
    this.stats.rows += events.length;
    this.stats.dropped += chunk.rows.length - survivors.length;
    this.stats.chunks++;
    if (chunk.last) {
      this.stats.tablesDone++;
      this.host.log(`snapshot: table ${table} done`);
    }
  }
}
