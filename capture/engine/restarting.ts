/**
 * Runs a capture and starts it again, in the same process, when it stopped on an error a
 * restart can fix: a retryable Kafka error such as a leader change, a timeout or a lost
 * connection. Each start is a new engine, which reads the stored offset back and skips what
 * was committed, so a restart keeps exactly-once delivery, just as a restart after a crash
 * does.
 *
 * Errors that a restart cannot fix end the run: a fenced producer (another instance took
 * over), a lost replication slot, bad configuration. After `maxRestarts` restarts in a row
 * the last error ends it too. A run that streamed for RESET_AFTER_MS before failing starts
 * the count again. Between restarts it waits 1, 2, 4 … up to 30 s.
 */
import { toTributaryError } from '../../core/errors/index.ts';
import type { CaptureEngine } from './engine.ts';

const RESET_AFTER_MS = 60_000;

export class RestartingCapture {
  private engine: CaptureEngine;
  private stopping = false;
  private wake: (() => void) | null = null;
  /** Restarts so far, over the whole run. */
  restarts = 0;

  constructor(
    private readonly create: () => CaptureEngine,
    private readonly log: (message: string) => void,
    private readonly maxRestarts = 5,
  ) {
    this.engine = create();
  }

  /** The current engine's counters (they start again at every restart). */
  get stats(): CaptureEngine['stats'] {
    return this.engine.stats;
  }

  /** Runs until stop(), or an error that a restart cannot fix (which it rethrows). */
  async run(): Promise<void> {
    let inARow = 0;
    for (;;) {
      const startedAt = Date.now();
      try {
        await this.engine.run();
        return;
      } catch (err) {
        const e = toTributaryError(err);
        if (this.stopping || !e.retryable) throw e;
        if (Date.now() - startedAt >= RESET_AFTER_MS) inARow = 0;
        if (++inARow > this.maxRestarts) throw e;
        const delayMs = Math.min(30_000, 1_000 * 2 ** (inARow - 1));
        this.log(
          `stopped on a retryable error: ${e.message}; starting again in ${delayMs} ms from the stored offset (restart ${inARow} of at most ${this.maxRestarts} in a row)`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delayMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = null;
        if (this.stopping) return;
        this.restarts++;
        this.engine = this.create();
      }
    }
  }

  /** Graceful stop of the current engine (see CaptureEngine.stop); no restart follows. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.wake?.();
    await this.engine.stop();
  }
}
