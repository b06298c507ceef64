/**
 * The producer thread's transactional producer (threaded-producer.ts): produces RecordPacks
 * with pipelined Produce requests.
 *
 * The client's send numbers a partition's batches only after each response, so through it one
 * request per partition can be in flight, and a capture waits a broker round trip per request.
 * Here the client keeps the transaction protocol (InitProducerId, AddPartitionsToTxn, EndTxn,
 * metadata, connections), while the records go out as Produce requests built from the pack's
 * bytes. Batches are numbered when they are encoded, and requests go out in order on the
 * leader's connection without waiting for the one before. The connection keeps up to 5 in
 * flight, the window in which the broker checks idempotent sequences. A transaction commits
 * only after every one of its requests was acknowledged; any failed request aborts it.
 */
import { createAPI, kGetConnection, produceV11, Writer } from './client.ts';
import type { Transaction } from './client.ts';
import type { KafkaConfig } from './config.ts';
import { toKafkaError } from './errors.ts';
import { murmur2 } from './partitioner.ts';
import { newRawProducer } from './producer.ts';
import type { RawProducer } from './producer.ts';
import { encodePackedBatch } from './record-batch.ts';
import { PackIndex } from './record-pack.ts';
import type { PackedRecords } from './record-pack.ts';
import { TributaryError } from '../errors/index.ts';

type RawTransaction = Transaction<Buffer, Buffer, string, Buffer>;
/** A client connection (opaque here: handed from the pool to the API function). */
type Connection = object;
type Metadata = Awaited<ReturnType<RawProducer['metadata']>>;

/*
  Produce Request (Version: 11) => transactional_id acks timeout_ms [topic_data] TAG_BUFFER
    topic_data => name [partition_data] TAG_BUFFER
      partition_data => index records TAG_BUFFER
*/
function createRequest(
  transactionalId: string,
  timeout: number,
  topics: Map<string, Map<number, Buffer>>,
): Writer {
  return Writer.create()
    .appendString(transactionalId)
    .appendInt16(-1) // acks=all
    .appendInt32(timeout)
    .appendArray([...topics], (w, [topic, partitions]) => {
      w.appendString(topic).appendArray([...partitions], (w, [partition, batch]) => {
        w.appendInt32(partition)
          .appendUnsignedVarInt(batch.length + 1)
          .append(batch);
      });
    })
    .appendTaggedFields();
}

const producePacked = createAPI(0, 11, createRequest, produceV11.parseResponse) as unknown as (
  connection: Connection,
  transactionalId: string,
  timeout: number,
  topics: Map<string, Map<number, Buffer>>,
  callback: (error: Error | null) => void,
) => void;

export class PackProducer {
  private readonly raw: RawProducer;
  private registered = false;
  private txn: RawTransaction | null = null;
  /** Partitions added to the open transaction ("topic:partition"). */
  private added = new Set<string>();
  /** Responses of the open transaction's requests. */
  private inFlight: Promise<void>[] = [];
  private failure: unknown = null;
  /** Next sequence per "topic:partition", for the producer id and epoch in `sequencesOf`. */
  private readonly sequences = new Map<string, number>();
  private sequencesOf = '';
  private metadata: Metadata | null = null;
  private readonly topicsSeen = new Set<string>();
  private roundRobin = 0;

  constructor(
    private readonly config: KafkaConfig,
    readonly transactionalId: string,
  ) {
    this.raw = newRawProducer(config, `txn-${transactionalId}`, transactionalId);
  }

  /** Registers the transactional.id, fencing any older instance (see TransactionalProducer). */
  async init(): Promise<void> {
    await this.begin();
    await this.txn!.cancel();
    this.txn = null;
  }

  /** Sends the pack's records in the open transaction (begun if none is open). */
  async send(packed: PackedRecords): Promise<void> {
    if (this.failure) throw this.failure;
    if (!this.txn) await this.begin();
    if (packed.count === 0) return;
    try {
      await this.produce(packed);
    } catch (err) {
      throw this.fail(err, `producing ${packed.count} record(s) in a transaction`);
    }
  }

  /** Sends the pack, waits for every request of the transaction, and commits it. */
  async commit(packed: PackedRecords): Promise<void> {
    try {
      await this.send(packed);
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
      await this.txn!.commit();
    } catch (err) {
      const e = this.fail(err, 'committing the transaction');
      await this.txn?.abort().catch(() => undefined);
      throw e;
    } finally {
      this.txn = null;
      this.inFlight = [];
      this.added = new Set();
    }
  }

  async close(): Promise<void> {
    await Promise.resolve(this.raw.close(true)).catch(() => undefined);
  }

  private async begin(): Promise<void> {
    try {
      // The first transaction registers the id with "no known producer" (id -1, epoch -1), so
      // the coordinator bumps the epoch and fences any older instance.
      this.txn = await this.raw.beginTransaction(
        this.registered ? {} : { producerId: -1n, producerEpoch: -1 },
      );
      this.registered = true;
    } catch (err) {
      throw this.fail(err, 'beginning a transaction');
    }
    const owner = `${this.raw.producerId}:${this.raw.producerEpoch}`;
    if (owner !== this.sequencesOf) {
      this.sequences.clear();
      this.sequencesOf = owner;
    }
  }

  /** The first failure is kept: every later call of this producer fails with it. */
  private fail(err: unknown, action: string): TributaryError {
    const e = toKafkaError(this.failure ?? err, action, this.transactionalId);
    this.failure ??= e;
    return e;
  }

  private async produce(packed: PackedRecords): Promise<void> {
    const index = new PackIndex(packed);
    const metadata = await this.metadataFor(packed.topics);
    // Partition of every record: given, else from the key (Java-compatible), else round robin.
    const groups = new Map<string, { topic: number; partition: number; records: number[] }>();
    for (let i = 0; i < index.count; i++) {
      const topic = index.topic[i]!;
      const count = metadata.topics.get(packed.topics[topic]!)!.partitionsCount;
      let partition = index.partition[i]!;
      if (partition < 0) {
        const keyAt = index.keyAt[i]!;
        const keyLength = index.keyLength[i]!;
        partition =
          keyLength > 0
            ? (murmur2(index.buffers[index.buffer[i]!]!, keyAt, keyAt + keyLength) & 0x7fffffff) %
              count
            : this.roundRobin++ % count;
      } else partition %= count;
      const key = `${topic}:${partition}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { topic, partition, records: [] }));
      g.records.push(i);
    }
    // Partitions new to the transaction are added before anything is produced to them.
    const adding: { topic: string; partition: number }[] = [];
    for (const g of groups.values()) {
      const name = `${packed.topics[g.topic]}:${g.partition}`;
      if (!this.added.has(name))
        adding.push({ topic: packed.topics[g.topic]!, partition: g.partition });
    }
    if (adding.length > 0) {
      await this.txn!.addPartitions(metadata, adding as never);
      for (const a of adding) this.added.add(`${a.topic}:${a.partition}`);
    }
    // One request per leader, numbered and sent in order without waiting for earlier ones.
    const producerId = this.raw.producerId!;
    const producerEpoch = this.raw.producerEpoch!;
    const byLeader = new Map<number, Map<string, Map<number, Buffer>>>();
    for (const g of groups.values()) {
      const topic = packed.topics[g.topic]!;
      const name = `${topic}:${g.partition}`;
      const firstSequence = this.sequences.get(name) ?? 0;
      // Sequences wrap from 2^31-1 to 0, as in the Java producer.
      this.sequences.set(name, (firstSequence + g.records.length) % 0x80000000);
      const batch = encodePackedBatch(index, g.records, {
        producerId,
        producerEpoch,
        firstSequence,
        transactional: true,
      });
      const leader = metadata.topics.get(topic)!.partitions[g.partition]!.leader;
      let topics = byLeader.get(leader);
      if (!topics) byLeader.set(leader, (topics = new Map()));
      let partitions = topics.get(topic);
      if (!partitions) topics.set(topic, (partitions = new Map()));
      partitions.set(g.partition, batch);
    }
    for (const [leader, topics] of byLeader) {
      const connection = await this.connectionTo(metadata, leader);
      const response = new Promise<void>((resolve, reject) => {
        producePacked(
          connection,
          this.transactionalId,
          this.config.requestTimeoutMs ?? 30_000,
          topics,
          (error: Error | null) => (error ? reject(error) : resolve()),
        );
      });
      // A failure is kept for commit(), which aborts the transaction.
      this.inFlight.push(response.catch((err: unknown) => void (this.failure ??= err)));
    }
  }

  private async metadataFor(topics: string[]): Promise<Metadata> {
    const known = this.metadata;
    if (known && topics.every((t) => known.topics.has(t))) return known;
    for (const t of topics) this.topicsSeen.add(t);
    const md = await this.raw.metadata({ topics: [...this.topicsSeen] });
    for (const t of topics)
      if (!md.topics.get(t)?.partitionsCount)
        throw new TributaryError(
          'UNKNOWN_TOPIC',
          `topic "${t}" does not exist; create it first (KafkaAdmin.ensureTopics)`,
        );
    this.metadata = md;
    return md;
  }

  private connectionTo(metadata: Metadata, leader: number): Promise<Connection> {
    const broker = metadata.brokers.get(leader);
    const raw = this.raw as unknown as Record<
      typeof kGetConnection,
      (broker: unknown, cb: (error: Error | null, connection: Connection) => void) => void
    >;
    return new Promise((resolve, reject) =>
      raw[kGetConnection](broker, (error, connection) =>
        error ? reject(error) : resolve(connection),
      ),
    );
  }
}
