// The three benchmark phases implemented with kafkajs.
import kafkajs from 'kafkajs';
import type { EachBatchPayload, Message, Producer } from 'kafkajs';
import {
  BROKER,
  RecordSource,
  cpuSeconds,
  maxRssMiB,
  ranges,
  transformValue,
  type PhaseResult,
  type PhaseSpec,
} from './common.ts';

const { Kafka, logLevel } = kafkajs;

function createKafka(clientId: string): InstanceType<typeof Kafka> {
  return new Kafka({ clientId, brokers: [BROKER], logLevel: logLevel.ERROR });
}

/** Send `messages` in requests of at most `sendBatch` records, one after the other. */
async function sendInRequests(
  sender: Pick<Producer, 'send'>,
  topic: string,
  messages: Message[],
  sendBatch: number,
): Promise<void> {
  for (const [start, count] of ranges(messages.length, sendBatch)) {
    await sender.send({ topic, acks: -1, messages: messages.slice(start, start + count) });
  }
}

function toMessages(source: RecordSource, count: number): { messages: Message[]; bytes: number } {
  const { keys, values, bytes } = source.chunk(count);
  const messages = new Array<Message>(count);
  for (let i = 0; i < count; i++) messages[i] = { key: keys[i]!, value: values[i]! };
  return { messages, bytes };
}

export async function idempotentProduce(spec: PhaseSpec): Promise<PhaseResult> {
  const producer = createKafka('bench-kafkajs-idempotent').producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const source = new RecordSource(spec.valueBytes);
  let bytes = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const [, count] of ranges(spec.records, spec.txnSize)) {
    const chunk = toMessages(source, count);
    bytes += chunk.bytes;
    await sendInRequests(producer, spec.topic, chunk.messages, spec.sendBatch);
  }
  const seconds = (performance.now() - started) / 1000;
  const clientCpuSeconds = cpuSeconds(cpu);
  await producer.disconnect();
  return {
    client: spec.variant.label,
    phase: 'idempotent',
    records: spec.records,
    bytes,
    seconds,
    transactions: 0,
    clientCpuSeconds,
    maxRssMiB: maxRssMiB(),
  };
}

export async function transactionalProduce(spec: PhaseSpec): Promise<PhaseResult> {
  const producer = createKafka('bench-kafkajs-txn').producer({
    transactionalId: spec.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  const source = new RecordSource(spec.valueBytes);
  let bytes = 0;
  let transactions = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (const [, count] of ranges(spec.records, spec.txnSize)) {
    const chunk = toMessages(source, count);
    bytes += chunk.bytes;
    const transaction = await producer.transaction();
    try {
      await sendInRequests(transaction, spec.topic, chunk.messages, spec.sendBatch);
      await transaction.commit();
    } catch (error) {
      if (transaction.isActive()) await transaction.abort();
      throw error;
    }
    transactions++;
  }
  const seconds = (performance.now() - started) / 1000;
  const clientCpuSeconds = cpuSeconds(cpu);
  await producer.disconnect();
  return {
    client: spec.variant.label,
    phase: 'transactional',
    records: spec.records,
    bytes,
    seconds,
    transactions,
    clientCpuSeconds,
    maxRssMiB: maxRssMiB(),
  };
}

/**
 * Exactly-once consume-transform-produce. kafkajs hands over one partition's fetched records per
 * eachBatch call; each call becomes one transaction (split further if it exceeds txnSize) that
 * carries the transformed records and the consumed offset (transaction.sendOffsets).
 */
export async function consumeTransformProduce(spec: PhaseSpec): Promise<PhaseResult> {
  const kafka = createKafka('bench-kafkajs-ctp');
  const consumer = kafka.consumer({
    groupId: spec.groupId,
    readUncommitted: false, // read_committed (the kafkajs default, stated explicitly)
    // Let one partition's fetch hold up to ~txnSize records (~527 bytes each on the wire), so that
    // a transaction carries up to ~10k records instead of the ~2k a 1 MiB default would give.
    maxBytesPerPartition: spec.txnSize * (spec.valueBytes + 27),
    maxBytes: 32 * 1024 * 1024,
    maxWaitTimeInMs: 500,
    allowAutoTopicCreation: false,
  });
  const producer = kafka.producer({
    transactionalId: spec.transactionalId,
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
  });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [spec.topic], fromBeginning: true });

  let processed = 0;
  let bytes = 0;
  let transactions = 0;
  let firstRecordAt = 0;
  let finish!: (error?: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error === undefined ? resolve() : reject(error));
  });

  const eachBatch = async ({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload) => {
    if (firstRecordAt === 0) firstRecordAt = performance.now();
    for (const [start, count] of ranges(batch.messages.length, spec.txnSize)) {
      if (!isRunning() || isStale()) return;
      const slice = batch.messages.slice(start, start + count);
      const out = new Array<Message>(count);
      for (let i = 0; i < count; i++) {
        const m = slice[i]!;
        bytes += (m.key?.length ?? 0) + (m.value?.length ?? 0);
        out[i] = { key: m.key, value: transformValue(m.value, batch.partition, m.offset) };
      }
      const last = slice[count - 1]!;
      const transaction = await producer.transaction();
      try {
        await sendInRequests(transaction, spec.outputTopic, out, spec.sendBatch);
        await transaction.sendOffsets({
          consumerGroupId: spec.groupId,
          topics: [
            {
              topic: batch.topic,
              partitions: [
                { partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() },
              ],
            },
          ],
        });
        await transaction.commit();
      } catch (error) {
        if (transaction.isActive()) await transaction.abort();
        throw error;
      }
      transactions++;
      resolveOffset(last.offset);
      await heartbeat();
      processed += count;
      if (processed >= spec.records) finish();
    }
  };

  const cpu = process.cpuUsage();
  const started = performance.now();
  consumer.on(consumer.events.CRASH, (event) => finish(event.payload.error));
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (payload) => {
      try {
        await eachBatch(payload);
      } catch (error) {
        finish(error);
        throw error;
      }
    },
  });
  await finished;
  const ended = performance.now();
  const clientCpuSeconds = cpuSeconds(cpu);
  await consumer.disconnect();
  await producer.disconnect();
  return {
    client: spec.variant.label,
    phase: 'ctp',
    records: processed,
    bytes,
    seconds: (ended - started) / 1000,
    startupSeconds: (firstRecordAt - started) / 1000,
    transactions,
    clientCpuSeconds,
    maxRssMiB: maxRssMiB(),
  };
}
