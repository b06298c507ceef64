// A producer thread started before the process loads its modules (see threaded-producer.ts):
// `tributary capture` starts it first thing in bin/tributary.js, so the thread loads the Kafka
// client and the producer's modules on the other core meanwhile; the first
// ThreadedTransactionalProducer takes it. Plain JavaScript, so bin/tributary.js can use it
// before tsx is registered.
import { Worker } from 'node:worker_threads';

const EARLY_THREAD = Symbol.for('tributary.producerThread');
export const PRODUCER_THREAD = new URL('./producer-thread.mjs', import.meta.url);

/** Starts the thread (once); it does not keep the process alive until it is taken. */
export function startProducerThreadEarly() {
  if (globalThis[EARLY_THREAD]) return;
  const worker = new Worker(PRODUCER_THREAD, { workerData: { prewarm: true } });
  worker.unref();
  // A thread that failed before it was taken is dropped: the producer then starts its own,
  // whose failure it sees (an 'error' with no listener here would end the process instead).
  const drop = () => {
    if (globalThis[EARLY_THREAD] === worker) delete globalThis[EARLY_THREAD];
  };
  worker.once('error', drop);
  worker.once('exit', drop);
  globalThis[EARLY_THREAD] = worker;
}

/** The thread started early, if any (taken: the next call returns undefined). */
export function takeEarlyThread() {
  const worker = globalThis[EARLY_THREAD];
  delete globalThis[EARLY_THREAD];
  return worker;
}
