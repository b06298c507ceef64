import type { Worker } from 'node:worker_threads';

/** The producer thread's entry module. */
export const PRODUCER_THREAD: URL;
/** Starts a producer thread now (once); it does not keep the process alive until taken. */
export function startProducerThreadEarly(): void;
/** The thread started early, if any (taken: the next call returns undefined). */
export function takeEarlyThread(): Worker | undefined;
