/**
 * A transactional producer whose Kafka client runs on its own worker thread. The owning thread
 * only fills a RecordPack (record-pack.ts) and hands its buffers over; partitioning, record
 * batch encoding, checksums, the client's bookkeeping and the network run on the other thread.
 * Change capture is CPU-bound on one thread (decode pgoutput, write JSON); this gives the
 * produce path a second core.
 *
 * Same guarantees as TransactionalProducer (the other thread runs a PackProducer, see
 * pack-producer.ts): init()
 * registers the transactional.id and fences older instances; publish() is one whole Kafka
 * transaction (begin, produce, commit; aborted when anything fails); one publish at a time;
 * close() once at the end. Errors come back as the same TributaryError classes
 * (ProducerFencedError stays a ProducerFencedError).
 */
import { Worker } from 'node:worker_threads';
import { KafkaError, ProducerFencedError, TributaryError } from '../errors/index.ts';
import type { KafkaConfig } from './config.ts';
import { PRODUCER_THREAD, takeEarlyThread } from './early-thread.mjs';
import { recyclePackBuffers } from './record-pack.ts';
import type { PackedRecords, RecordPack } from './record-pack.ts';

export { startProducerThreadEarly } from './early-thread.mjs';

/** What the owning thread asks of the producer thread. */
type Request =
  | { op: 'init' | 'close' }
  | { op: 'send' | 'commit'; records: PackedRecords }
  | { op: 'configure'; settings: ProducerSettings };

/** What the producer thread needs: its workerData, or the first message of an early thread. */
export interface ProducerSettings {
  config: KafkaConfig;
  transactionalId: string;
  /** Fault injection: the N-th Produce request fails (0: none). */
  failRequest: number;
}

export type ProducerThreadRequest = { id: number } & Request;

export interface SerializedError {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
  details: Record<string, unknown>;
}

export type ProducerThreadReply = { id: number; recycled?: ArrayBuffer[] } & (
  { ok: true } | { ok: false; error: SerializedError }
);

/** An error of the producer thread as the TributaryError class it was there. */
function revive(e: SerializedError, transactionalId: string): TributaryError {
  if (e.name === 'ProducerFencedError') return new ProducerFencedError(transactionalId);
  if (e.name === 'KafkaError')
    return new KafkaError(e.message, {
      retryable: e.retryable,
      kafkaCode: e.details.kafkaCode as string | undefined,
    });
  return new TributaryError(e.code, e.message, { retryable: e.retryable, details: e.details });
}

const CLOSE_TIMEOUT_MS = 10_000;

/**
 * Fault injection for tests: with TRIBUTARY_FAIL_PRODUCE_REQUEST=N the first producer thread
 * of the process fails its N-th Produce request with a retryable error instead of sending it
 * (the capture then stops and starts again, see RestartingCapture). Unset in normal operation.
 */
let injectedFailure = Number(process.env.TRIBUTARY_FAIL_PRODUCE_REQUEST ?? 0);

export class ThreadedTransactionalProducer {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: () => void; reject: (e: TributaryError) => void }
  >();
  private dead: TributaryError | null = null;
  private closed = false;

  constructor(
    config: KafkaConfig,
    readonly transactionalId: string,
  ) {
    const settings: ProducerSettings = { config, transactionalId, failRequest: injectedFailure };
    injectedFailure = 0;
    const early = takeEarlyThread();
    if (early) {
      this.worker = early;
      this.worker.ref();
      this.worker.postMessage({ op: 'configure', id: 0, settings });
    } else this.worker = new Worker(PRODUCER_THREAD, { workerData: settings });
    this.worker.on('message', (reply: ProducerThreadReply) => {
      if (reply.recycled) recyclePackBuffers(reply.recycled);
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve();
      else p.reject(revive(reply.error, transactionalId));
    });
    this.worker.on('error', (err) =>
      this.fail(new KafkaError(`the producer thread failed: ${err.message}`, { cause: err })),
    );
    this.worker.on('exit', (code) =>
      this.fail(
        new KafkaError(
          this.closed ? 'the producer was closed' : `the producer thread exited (code ${code})`,
        ),
      ),
    );
  }

  /** Registers the transactional.id now, fencing any older instance (see TransactionalProducer). */
  init(): Promise<void> {
    return this.request({ op: 'init' });
  }

  /**
   * Produces the pack's records in the open transaction (one is begun when none is open).
   * Resolves once the records are on their way; their acknowledgements are awaited by commit().
   * The pack is handed over: do not use it afterwards.
   */
  send(pack: RecordPack): Promise<void> {
    const records = pack.finish();
    return this.request({ op: 'send', records }, records.buffers);
  }

  /**
   * Produces the pack's records in the open transaction, then commits it once every record
   * sent in it was acknowledged. A rejection means the transaction was aborted (or the
   * producer fenced), or, when the commit request itself failed, that its outcome is unknown;
   * after a failure every later call fails too, and a new producer resumes from what the
   * offsets topic says was committed.
   */
  commit(pack: RecordPack): Promise<void> {
    const records = pack.finish();
    return this.request({ op: 'commit', records }, records.buffers);
  }

  /**
   * Aborts an open transaction and stops the thread. Waits at most CLOSE_TIMEOUT_MS for the
   * thread (e.g. when it is stuck retrying against a broker that is gone), then stops it anyway.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    if (!this.dead) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>(
        (resolve) => (timer = setTimeout(resolve, CLOSE_TIMEOUT_MS)),
      );
      await Promise.race([this.request({ op: 'close' }).catch(() => undefined), deadline]);
      clearTimeout(timer);
    }
    this.closed = true;
    await this.worker.terminate();
  }

  private fail(err: TributaryError): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(this.dead);
    this.pending.clear();
  }

  private request(req: Request, transfer: ArrayBuffer[] = []): Promise<void> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...req, id }, transfer);
      } catch (err) {
        this.pending.delete(id);
        reject(
          new KafkaError(
            `handing a request to the producer thread failed: ${(err as Error).message}`,
            { cause: err },
          ),
        );
      }
    });
  }
}
