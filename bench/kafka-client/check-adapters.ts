// The small surface the correctness checks need, implemented once per client so that checks.ts
// runs the very same scenarios against kafkajs and @platformatic/kafka.
import './compat.ts';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Message as PltMessage, MessageToProduce, Producer } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import type { KafkaMessage, Transaction as KjsTransaction } from 'kafkajs';
import { BROKER, type PlatformaticModule } from './common.ts';

const { Kafka, logLevel } = kafkajs;

export interface TxnProducer {
  /** Begins a transaction; the first call also runs InitProducerId (and so fences older producers). */
  begin(): Promise<void>;
  /** Sends string values (key = value) in the open transaction, optionally to a fixed partition. */
  send(topic: string, values: string[], partition?: number): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
  close(): Promise<void>;
}

export interface ClientAdapter {
  readonly name: 'kafkajs' | 'platformatic';
  /** name@version */
  readonly label: string;
  /**
   * A transactional producer. `initAsNewProducer` (platformatic only) passes producerId -1 /
   * producerEpoch -1 to beginTransaction(), i.e. InitProducerId as a brand-new producer; by default
   * @platformatic/kafka 2.12.1 sends producerId 0 / epoch 0.
   */
  producer(
    transactionalId: string,
    options?: { initAsNewProducer?: boolean },
  ): Promise<TxnProducer>;
  /**
   * Reads `topic` from the beginning with a fresh consumer group until `expected` values arrived
   * (then waits `settleMs` more for unexpected extras) or `maxWaitMs` passed.
   */
  read(
    topic: string,
    readCommitted: boolean,
    expected: number,
    maxWaitMs?: number,
    settleMs?: number,
  ): Promise<string[]>;
  /**
   * Consume-transform-produce once: consumes `count` records of `input` with group `groupId`
   * (read_committed, no auto-commit), then in ONE transaction produces them uppercased to
   * `output` together with the consumed offsets, and commits or aborts it.
   */
  consumeProduceOnce(
    input: string,
    output: string,
    groupId: string,
    transactionalId: string,
    count: number,
    outcome: 'commit' | 'abort',
  ): Promise<void>;
  /** API key -> name and versions this client sent so far (from the client's instrumentation). */
  readonly versionsUsed: VersionsUsed;
  stop(): void;
}

export type VersionsUsed = Map<number, { name: string; versions: Set<number> }>;

function record(map: VersionsUsed, apiKey: number, name: string, version: number): void {
  let entry = map.get(apiKey);
  if (!entry) map.set(apiKey, (entry = { name, versions: new Set() }));
  entry.versions.add(version);
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves when `done()` is true (polled) or after maxWaitMs; then waits settleMs. */
async function waitFor(done: () => boolean, maxWaitMs: number, settleMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  while (!done() && Date.now() < deadline) await sleep(50);
  if (done()) await sleep(settleMs);
}

// ---------------------------------------------------------------------------------------------
// kafkajs

export function kafkajsAdapter(label: string): ClientAdapter {
  const versionsUsed: VersionsUsed = new Map();
  const kafka = new Kafka({
    clientId: 'checks-kafkajs',
    brokers: [BROKER],
    logLevel: logLevel.NOTHING,
  });
  const producer = async (transactionalId: string): Promise<TxnProducer> => {
    const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    p.on(p.events.REQUEST, (e) =>
      record(versionsUsed, e.payload.apiKey, e.payload.apiName, e.payload.apiVersion),
    );
    await p.connect();
    let tx: KjsTransaction | undefined;
    const current = () => {
      if (!tx) throw new Error('no open transaction');
      return tx;
    };
    return {
      async begin() {
        tx = await p.transaction();
      },
      async send(topic, values, partition) {
        await current().send({
          topic,
          acks: -1,
          messages: values.map((v) => ({
            key: v,
            value: v,
            ...(partition === undefined ? {} : { partition }),
          })),
        });
      },
      async commit() {
        await current().commit();
      },
      async abort() {
        await current().abort();
      },
      async close() {
        await p.disconnect();
      },
    };
  };

  const read: ClientAdapter['read'] = async (
    topic,
    readCommitted,
    expected,
    maxWaitMs = 15_000,
    settleMs = 1_000,
  ) => {
    const consumer = kafka.consumer({
      groupId: `checks-read-${topic}-${readCommitted}-${Date.now()}`,
      readUncommitted: !readCommitted,
      maxWaitTimeInMs: 200,
    });
    consumer.on(consumer.events.REQUEST, (e) =>
      record(versionsUsed, e.payload.apiKey, e.payload.apiName, e.payload.apiVersion),
    );
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const values: string[] = [];
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        values.push(message.value?.toString() ?? '');
      },
    });
    await waitFor(() => values.length >= expected && expected > 0, maxWaitMs, settleMs);
    await consumer.disconnect();
    return values;
  };

  const consumeProduceOnce: ClientAdapter['consumeProduceOnce'] = async (
    input,
    output,
    groupId,
    transactionalId,
    count,
    outcome,
  ) => {
    const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 200 });
    consumer.on(consumer.events.REQUEST, (e) =>
      record(versionsUsed, e.payload.apiKey, e.payload.apiName, e.payload.apiVersion),
    );
    const p = kafka.producer({ transactionalId, idempotent: true, maxInFlightRequests: 1 });
    p.on(p.events.REQUEST, (e) =>
      record(versionsUsed, e.payload.apiKey, e.payload.apiName, e.payload.apiVersion),
    );
    await Promise.all([consumer.connect(), p.connect()]);
    await consumer.subscribe({ topics: [input], fromBeginning: true });
    const got: { partition: number; message: KafkaMessage }[] = [];
    const ready = deferred();
    let failure: unknown;
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch }) => {
        if (got.length >= count) return;
        for (const message of batch.messages) got.push({ partition: batch.partition, message });
        if (got.length < count) return;
        try {
          const tx = await p.transaction();
          await tx.send({
            topic: output,
            acks: -1,
            messages: got.map(({ message }) => ({
              key: message.key,
              value: (message.value?.toString() ?? '').toUpperCase(),
            })),
          });
          const last = new Map<number, string>();
          for (const { partition, message } of got) last.set(partition, message.offset);
          await tx.sendOffsets({
            consumerGroupId: groupId,
            topics: [
              {
                topic: input,
                partitions: [...last].map(([partition, offset]) => ({
                  partition,
                  offset: (BigInt(offset) + 1n).toString(),
                })),
              },
            ],
          });
          await (outcome === 'commit' ? tx.commit() : tx.abort());
        } catch (error) {
          failure = error;
        }
        ready.resolve();
      },
    });
    await ready.promise;
    await consumer.disconnect();
    await p.disconnect();
    if (failure !== undefined) throw failure;
  };

  return {
    name: 'kafkajs',
    label,
    producer,
    read,
    consumeProduceOnce,
    versionsUsed,
    stop: () => undefined,
  };
}

// ---------------------------------------------------------------------------------------------
// @platformatic/kafka

type PltOut = MessageToProduce<Buffer, Buffer, Buffer, Buffer>;

export function platformaticAdapter(plt: PlatformaticModule, label: string): ClientAdapter {
  const versionsUsed: VersionsUsed = new Map();
  // Every request goes through the 'plt:kafka:connections:api' tracing channel.
  const onRequest = (message: unknown) => {
    const { apiKey, apiVersion } = message as { apiKey: number; apiVersion: number };
    record(versionsUsed, apiKey, plt.protocolAPIsById[apiKey] ?? `apiKey ${apiKey}`, apiVersion);
  };
  subscribe('tracing:plt:kafka:connections:api:start', onRequest);

  const base = { bootstrapBrokers: [BROKER], timeout: 30_000 };

  const producer: ClientAdapter['producer'] = async (transactionalId, options) => {
    const p = new plt.Producer({
      ...base,
      clientId: 'checks-platformatic',
      idempotent: true,
      transactionalId,
    });
    const init = options?.initAsNewProducer ? { producerId: -1n, producerEpoch: -1 } : {};
    let tx: Awaited<ReturnType<Producer['beginTransaction']>> | undefined;
    const current = () => {
      if (!tx) throw new Error('no open transaction');
      return tx;
    };
    return {
      async begin() {
        tx = await p.beginTransaction(init);
      },
      async send(topic, values, partition) {
        const messages: PltOut[] = values.map((v) => ({
          topic,
          key: Buffer.from(v),
          value: Buffer.from(v),
          ...(partition === undefined ? {} : { partition }),
        }));
        await current().send({ messages });
      },
      async commit() {
        await current().commit();
      },
      async abort() {
        await current().abort();
      },
      async close() {
        await p.close(true);
      },
    };
  };

  const read: ClientAdapter['read'] = async (
    topic,
    readCommitted,
    expected,
    maxWaitMs = 15_000,
    settleMs = 1_000,
  ) => {
    const consumer = new plt.Consumer({
      ...base,
      clientId: 'checks-platformatic',
      groupId: `checks-read-${topic}-${readCommitted}-${Date.now()}`,
      autocommit: false,
      maxWaitTime: 200,
      isolationLevel: readCommitted
        ? plt.FetchIsolationLevels.READ_COMMITTED
        : plt.FetchIsolationLevels.READ_UNCOMMITTED,
    });
    const stream = await consumer.consume({
      topics: [topic],
      mode: plt.MessagesStreamModes.EARLIEST,
      autocommit: false,
    });
    const values: string[] = [];
    stream.on('data', (m: PltMessage) => values.push(m.value?.toString() ?? ''));
    await waitFor(() => values.length >= expected && expected > 0, maxWaitMs, settleMs);
    await stream.close();
    await consumer.close(true);
    return values;
  };

  const consumeProduceOnce: ClientAdapter['consumeProduceOnce'] = async (
    input,
    output,
    groupId,
    transactionalId,
    count,
    outcome,
  ) => {
    const consumer = new plt.Consumer({
      ...base,
      clientId: 'checks-platformatic',
      groupId,
      autocommit: false,
      maxWaitTime: 200,
      isolationLevel: plt.FetchIsolationLevels.READ_COMMITTED,
    });
    const p = new plt.Producer({
      ...base,
      clientId: 'checks-platformatic',
      idempotent: true,
      transactionalId,
    });
    const stream = await consumer.consume({
      topics: [input],
      mode: plt.MessagesStreamModes.COMMITTED,
      fallbackMode: plt.MessagesStreamFallbackModes.EARLIEST,
      autocommit: false,
    });
    const got: PltMessage[] = [];
    for await (const message of stream) {
      got.push(message);
      if (got.length >= count) break;
    }
    try {
      const tx = await p.beginTransaction();
      await tx.addConsumer(consumer);
      await tx.send({
        messages: got.map((m) => ({
          topic: output,
          key: m.key,
          value: Buffer.from((m.value?.toString() ?? '').toUpperCase()),
        })),
      });
      const last = new Map<number, PltMessage>();
      for (const m of got) last.set(m.partition, m);
      for (const m of last.values()) await tx.addOffset(m);
      await (outcome === 'commit' ? tx.commit() : tx.abort());
    } finally {
      if (!stream.closed) await stream.close();
      await consumer.close(true);
      await p.close(true);
    }
  };

  return {
    name: 'platformatic',
    label,
    producer,
    read,
    consumeProduceOnce,
    versionsUsed,
    stop: () => unsubscribe('tracing:plt:kafka:connections:api:start', onRequest),
  };
}
