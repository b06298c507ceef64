// The three benchmark phases implemented with @platformatic/kafka (the version installed in
// node_modules, or another copy given by PhaseSpec.variant.packageDir).
import './compat.ts';
import type {
  GenericError,
  Message,
  MessageToProduce,
  Producer,
  RetryDelayGetter,
} from '@platformatic/kafka';
import {
  BROKER,
  RecordSource,
  cpuSeconds,
  loadPlatformatic,
  maxRssMiB,
  ranges,
  transformValue,
  type PhaseResult,
  type PhaseSpec,
  type PlatformaticModule,
} from './common.ts';

type OutMessage = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;
type InMessage = Message<Buffer, Buffer, Buffer, Buffer>;
/** Producer and Transaction (the latter is not exported by the package) both have this send(). */
interface Sender {
  send(options: { messages: OutMessage[] }): Promise<unknown>;
}

/** Send `messages` in requests of at most `sendBatch` records, one after the other. */
async function sendInRequests(
  sender: Sender,
  messages: OutMessage[],
  sendBatch: number,
): Promise<void> {
  for (const [start, count] of ranges(messages.length, sendBatch)) {
    await sender.send({ messages: messages.slice(start, start + count) });
  }
}

function toMessages(
  source: RecordSource,
  topic: string,
  count: number,
): { messages: OutMessage[]; bytes: number } {
  const { keys, values, bytes } = source.chunk(count);
  const messages = new Array<OutMessage>(count);
  for (let i = 0; i < count; i++) messages[i] = { topic, key: keys[i]!, value: values[i]! };
  return { messages, bytes };
}

/*
 * `platformatic-tuned` differs from `platformatic` in two settings only: retryDelay (below) and the
 * consumer's maxBytes (consumeTransformProduce).
 *
 * Right after EndTxn the coordinator is still writing the previous transaction's markers, so the
 * next transaction's first AddPartitionsToTxn/AddOffsetsToTxn is often answered with the retriable
 * CONCURRENT_TRANSACTIONS. The client retries every error after a fixed `retryDelay` (default
 * 1000 ms); the Java client uses 20 ms for exactly this case. `platformatic` keeps the default
 * (the getter returns 1000 ms for everything, identical to the default, and only counts);
 * `platformatic-tuned` retries CONCURRENT_TRANSACTIONS after 20 ms.
 */
let concurrentTransactionsRetries = 0;

function retryDelayFor(plt: PlatformaticModule, spec: PhaseSpec): RetryDelayGetter {
  const tuned = spec.variant.client === 'platformatic-tuned';
  return (_client, _operation, _attempt, _retries, error) => {
    const concurrent =
      plt.GenericError.isGenericError(error) &&
      (error as GenericError).findBy('apiId', 'CONCURRENT_TRANSACTIONS') !== null;
    if (concurrent) concurrentTransactionsRetries++;
    return concurrent && tuned ? 20 : 1000;
  };
}

function createProducer(
  plt: PlatformaticModule,
  spec: PhaseSpec,
  transactional: boolean,
): Producer {
  return new plt.Producer({
    clientId: `bench-${spec.variant.client}-${spec.phase}`,
    bootstrapBrokers: [BROKER],
    idempotent: true, // forces acks=all and one in-flight request per connection
    ...(transactional ? { transactionalId: spec.transactionalId } : {}),
    retryDelay: retryDelayFor(plt, spec),
    autocreateTopics: false,
    timeout: 30_000,
  });
}

function result(
  spec: PhaseSpec,
  fields: Omit<PhaseResult, 'client' | 'phase' | 'maxRssMiB' | 'concurrentTransactionsRetries'>,
): PhaseResult {
  return {
    client: spec.variant.label,
    phase: spec.phase,
    ...fields,
    maxRssMiB: maxRssMiB(),
    concurrentTransactionsRetries,
  };
}

export async function idempotentProduce(spec: PhaseSpec): Promise<PhaseResult> {
  const plt = await loadPlatformatic(spec.variant.packageDir);
  const producer = createProducer(plt, spec, false);
  const source = new RecordSource(spec.valueBytes);
  let bytes = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const [, count] of ranges(spec.records, spec.txnSize)) {
    const chunk = toMessages(source, spec.topic, count);
    bytes += chunk.bytes;
    await sendInRequests(producer, chunk.messages, spec.sendBatch);
  }
  const seconds = (performance.now() - started) / 1000;
  const clientCpuSeconds = cpuSeconds(cpu);
  await producer.close();
  return result(spec, { records: spec.records, bytes, seconds, transactions: 0, clientCpuSeconds });
}

export async function transactionalProduce(spec: PhaseSpec): Promise<PhaseResult> {
  const plt = await loadPlatformatic(spec.variant.packageDir);
  const producer = createProducer(plt, spec, true);
  const source = new RecordSource(spec.valueBytes);
  let bytes = 0;
  let transactions = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const [, count] of ranges(spec.records, spec.txnSize)) {
    const chunk = toMessages(source, spec.topic, count);
    bytes += chunk.bytes;
    const transaction = await producer.beginTransaction();
    try {
      await sendInRequests(transaction, chunk.messages, spec.sendBatch);
      await transaction.commit();
    } catch (error) {
      if (!transaction.completed) await transaction.abort();
      throw error;
    }
    transactions++;
  }
  const seconds = (performance.now() - started) / 1000;
  const clientCpuSeconds = cpuSeconds(cpu);
  await producer.close();
  return result(spec, { records: spec.records, bytes, seconds, transactions, clientCpuSeconds });
}

/**
 * Exactly-once consume-transform-produce. Records from all assigned partitions are collected into
 * batches of up to txnSize; each batch is one transaction carrying the transformed records and, via
 * transaction.addConsumer() + transaction.addOffset(), the consumed offsets.
 */
export async function consumeTransformProduce(spec: PhaseSpec): Promise<PhaseResult> {
  const plt = await loadPlatformatic(spec.variant.packageDir);
  const consumer = new plt.Consumer({
    clientId: `bench-${spec.variant.client}-ctp`,
    bootstrapBrokers: [BROKER],
    groupId: spec.groupId,
    autocommit: false, // the default is true; offsets must only move inside the transaction
    isolationLevel: plt.FetchIsolationLevels.READ_COMMITTED, // the default, stated explicitly
    maxWaitTime: 500,
    timeout: 30_000,
    // The default fetch size is 50 MiB; decoding such responses is disproportionately slow (on a
    // transactional topic 1.35.0 consumed ~145k records/s at 50 MiB vs ~240k at 1 MiB, 2.12.1
    // ~50k vs ~130k), so the tuned variant fetches at most 1 MiB per request.
    ...(spec.variant.client === 'platformatic-tuned' ? { maxBytes: 1024 * 1024 } : {}),
  });
  const producer = createProducer(plt, spec, true);

  let processed = 0;
  let bytes = 0;
  let transactions = 0;

  const commitBatch = async (batch: InMessage[]): Promise<void> => {
    const out = new Array<OutMessage>(batch.length);
    // The last record of each partition in the batch: its offset + 1 is what gets committed.
    const lastPerPartition = new Map<string, InMessage>();
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i]!;
      bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0);
      out[i] = {
        topic: spec.outputTopic,
        key: m.key,
        value: transformValue(m.value, m.partition, m.offset.toString()),
      };
      lastPerPartition.set(`${m.topic}:${m.partition}`, m);
    }
    const transaction = await producer.beginTransaction();
    try {
      await transaction.addConsumer(consumer); // AddOffsetsToTxn for the consumer's group
      await sendInRequests(transaction, out, spec.sendBatch);
      // TxnOffsetCommit per partition. Must be sequential: concurrent addOffset() calls are
      // de-duplicated by the client into a single request (kPerformDeduplicated('commit')).
      for (const last of lastPerPartition.values()) await transaction.addOffset(last);
      await transaction.commit();
    } catch (error) {
      if (!transaction.completed) await transaction.abort();
      throw error;
    }
    transactions++;
    processed += batch.length;
  };

  const cpu = process.cpuUsage();
  const started = performance.now();
  const stream = await consumer.consume({
    topics: [spec.topic],
    mode: plt.MessagesStreamModes.COMMITTED,
    fallbackMode: plt.MessagesStreamFallbackModes.EARLIEST,
    autocommit: false,
  });
  let firstRecordAt = 0;
  let batch: InMessage[] = [];
  try {
    for await (const message of stream) {
      if (firstRecordAt === 0) firstRecordAt = performance.now();
      batch.push(message);
      if (batch.length >= spec.txnSize || processed + batch.length >= spec.records) {
        await commitBatch(batch);
        batch = [];
        if (processed >= spec.records) break;
      }
    }
  } finally {
    if (!stream.closed) await stream.close();
  }
  const ended = performance.now();
  const clientCpuSeconds = cpuSeconds(cpu);
  await consumer.close();
  await producer.close();
  return result(spec, {
    records: processed,
    bytes,
    seconds: (ended - started) / 1000,
    startupSeconds: (firstRecordAt - started) / 1000,
    transactions,
    clientCpuSeconds,
  });
}
