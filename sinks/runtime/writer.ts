/**
 * Applies one batch to a sink with the framework's error policy:
 * - retryable errors: the whole batch is retried with capped exponential backoff, for as long
 *   as the store stays down (consumption is paused meanwhile: the caller does not poll);
 * - RecordRejectedError: the batch is bisected until the offending records are alone, and
 *   those are returned as rejected (to be dead-lettered); the rest is written;
 * - per-record rejections returned by the sink are passed through;
 * - anything else is fatal and thrown.
 * Bisection re-applies records that already landed; that is safe because sinks are idempotent.
 */
import { TributaryError } from '../../core/errors/index.ts';
import type { RejectedRecord, SinkRecord, WriteResult } from './sink.ts';
import { RecordRejectedError } from './sink.ts';
import type { BackoffPolicy } from './retry.ts';
import { backoffDelay, isRetryable, sleep } from './retry.ts';

export interface WriteOutcome<R = SinkRecord> {
  rejected: Array<{ record: R; error: Error }>;
  /** Attempts that failed with a retryable error. */
  retries: number;
}

export interface WriterOptions {
  backoff: BackoffPolicy;
  /** Aborting stops the retry loop; the batch then counts as not written (throws StoppedError). */
  signal?: AbortSignal;
  /** Called for every retryable failure with the delay before the next attempt. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

export class StoppedError extends TributaryError {
  constructor() {
    super('SINK_STOPPED', 'stopped while the batch was not yet durable', { retryable: false });
  }
}

/** The part of a sink the policy drives (R: SinkRecord, or a RawRecordSink's wider records). */
interface BatchWriter<R> {
  writeBatch(records: R[]): Promise<WriteResult | void>;
}

export async function writeWithPolicy<R = SinkRecord>(
  sink: BatchWriter<R>,
  records: R[],
  options: WriterOptions,
): Promise<WriteOutcome<R>> {
  const outcome: WriteOutcome<R> = { rejected: [], retries: 0 };
  await writePart(sink, records, options, outcome);
  return outcome;
}

async function writePart<R>(
  sink: BatchWriter<R>,
  records: R[],
  options: WriterOptions,
  outcome: WriteOutcome<R>,
): Promise<void> {
  if (records.length === 0) return;
  let attempt = 0;
  for (;;) {
    if (options.signal?.aborted) throw new StoppedError();
    let rejected: RejectedRecord[];
    try {
      rejected = (await sink.writeBatch(records))?.rejected ?? [];
    } catch (err) {
      if (isRetryable(err)) {
        attempt++;
        outcome.retries++;
        const delay = backoffDelay(attempt, options.backoff);
        options.onRetry?.(err, attempt, delay);
        await sleep(delay, options.signal);
        continue;
      }
      if (err instanceof RecordRejectedError) {
        if (records.length === 1) {
          outcome.rejected.push({ record: records[0]!, error: err });
          return;
        }
        const mid = Math.ceil(records.length / 2);
        await writePart(sink, records.slice(0, mid), options, outcome);
        await writePart(sink, records.slice(mid), options, outcome);
        return;
      }
      throw err;
    }
    for (const r of rejected) {
      const record = records[r.index];
      if (record) outcome.rejected.push({ record, error: r.error });
    }
    return;
  }
}
