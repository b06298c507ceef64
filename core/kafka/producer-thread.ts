/**
 * The worker-thread side of ThreadedTransactionalProducer: owns a PackProducer and
 * runs the owning thread's requests one at a time, in the order they were posted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { TributaryError } from '../errors/index.ts';
import { PackProducer } from './pack-producer.ts';
import type {
  ProducerSettings,
  ProducerThreadReply,
  ProducerThreadRequest,
  SerializedError,
} from './threaded-producer.ts';

const port = parentPort as MessagePort;

/**
 * The producer, once its settings are known. A thread started ahead of time (see
 * startProducerThreadEarly) loads its modules while the owning thread loads its own, and gets
 * its settings as the first message.
 */
let producer: PackProducer | undefined = (workerData as { prewarm?: boolean }).prewarm
  ? undefined
  : create(workerData as ProducerSettings);

function create(s: ProducerSettings): PackProducer {
  return new PackProducer(s.config, s.transactionalId, s.failRequest);
}

function serialize(err: unknown): SerializedError {
  if (err instanceof TributaryError) {
    let details: Record<string, unknown> = {};
    try {
      details = JSON.parse(JSON.stringify(err.details ?? {})) as Record<string, unknown>;
    } catch {
      // details that do not survive JSON are left out
    }
    return {
      name: err.name,
      code: err.code,
      message: err.message,
      retryable: err.retryable,
      details,
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { name: 'Error', code: 'INTERNAL', message, retryable: false, details: {} };
}

async function run(req: ProducerThreadRequest): Promise<void> {
  if (req.op === 'configure') {
    producer ??= create(req.settings);
    return;
  }
  if (!producer) throw new TributaryError('INTERNAL', 'the producer thread was not configured');
  switch (req.op) {
    case 'init':
      return producer.init();
    case 'send':
      return producer.send(req.records);
    case 'commit':
      return producer.commit(req.records);
    case 'close':
      return producer.close();
  }
}

let queue: Promise<void> = Promise.resolve();
port.on('message', (req: ProducerThreadRequest) => {
  queue = queue.then(async () => {
    let reply: ProducerThreadReply;
    try {
      await run(req);
      reply = { id: req.id, ok: true };
    } catch (err) {
      reply = { id: req.id, ok: false, error: serialize(err) };
    }
    // The records were copied into requests: their buffers go back to the owning thread.
    const recycled = 'records' in req ? req.records.buffers : [];
    if (recycled.length > 0) reply.recycled = recycled;
    port.postMessage(reply, recycled);
    if (req.op === 'close') port.close();
  });
});
