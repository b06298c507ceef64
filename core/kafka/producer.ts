import { baseOptions, ownRecordCodec, Producer } from './client.ts';
import type { MessageToProduce, Transaction } from './client.ts';
import type { KafkaConfig } from './config.ts';
import { toKafkaError } from './errors.ts';
import { partitionForKey } from './partitioner.ts';
import { useFastProduce } from './produce-api.ts';
import type { IncomingRecord, OutgoingRecord } from './records.ts';
import type { KafkaConsumer } from './consumer.ts';
import { nextPositions } from './consumer.ts';
import type { GroupGeneration } from './partition-consumer.ts';
import type { TopicPartitionOffset } from './records.ts';
import { ProducerFencedError, TributaryError } from '../errors/index.ts';

export type RawProducer = Producer<Buffer, Buffer, string, Buffer>;

/**
 * Keyed records go to partition toPositive(murmur2(key)) % partitions, like the Java client,
 * so every change of one primary key lands on one partition (per-key order). The partition is
 * computed here, from partition counts cached per topic, rather than by the client.
 */
class PartitionAssigner {
  private readonly counts = new Map<string, { count: number; at: number }>();
  private roundRobin = 0;

  constructor(
    private readonly producer: RawProducer,
    private readonly ttlMs = 60_000,
  ) {}

  async assign(records: OutgoingRecord[]): Promise<OutgoingRecord[]> {
    const now = Date.now();
    const stale = new Set<string>();
    for (const r of records) {
      const c = this.counts.get(r.topic);
      if (r.partition === undefined && (!c || now - c.at > this.ttlMs)) stale.add(r.topic);
    }
    if (stale.size > 0) {
      const md = await this.producer.metadata({ topics: [...stale] });
      for (const t of stale) {
        const count = md.topics.get(t)?.partitionsCount;
        if (!count)
          throw new TributaryError(
            'UNKNOWN_TOPIC',
            `topic "${t}" does not exist; create it first (KafkaAdmin.ensureTopics)`,
          );
        this.counts.set(t, { count, at: now });
      }
    }
    // Assigned in place: records are handed over to the producer and not reused by callers.
    for (const r of records) {
      if (r.partition !== undefined) continue;
      const count = this.counts.get(r.topic)!.count;
      r.partition =
        r.key && r.key.length > 0 ? partitionForKey(r.key, count) : this.roundRobin++ % count;
    }
    return records;
  }
}

/**
 * The client writes all records of one partition in a send as one record batch, and the
 * broker rejects batches over max.message.bytes (1 MiB by default). Splits `records` (partitions
 * already assigned) into sends whose per-partition payload stays under `limit` bytes, keeping
 * the order of records within each partition.
 */
export function batchesUnderLimit(
  records: OutgoingRecord[],
  limit = 768 * 1024,
): OutgoingRecord[][] {
  // Bytes so far per topic and partition of the current send.
  let bytes = new Map<string, number[]>();
  let total = 0;
  for (const r of records) total += recordBytes(r);
  // The common case: everything fits in one send whatever the partitioning.
  if (total <= limit) return records.length > 0 ? [records] : [];
  const out: OutgoingRecord[][] = [];
  let current: OutgoingRecord[] = [];
  for (const r of records) {
    const size = recordBytes(r);
    let perPartition = bytes.get(r.topic);
    if (!perPartition) bytes.set(r.topic, (perPartition = []));
    const p = r.partition ?? 0;
    const used = perPartition[p] ?? 0;
    if (used > 0 && used + size > limit) {
      out.push(current);
      current = [];
      bytes = new Map([[r.topic, (perPartition = [])]]);
    }
    current.push(r);
    perPartition[p] = (perPartition[p] ?? 0) + size;
  }
  if (current.length > 0) out.push(current);
  return out;
}

function recordBytes(r: OutgoingRecord): number {
  return 64 + (r.key?.length ?? 0) + (r.value?.length ?? 0) + headerBytes(r.headers);
}

function headerBytes(h: OutgoingRecord['headers']): number {
  if (!h) return 0;
  let n = 0;
  for (const k in h) n += k.length + h[k]!.length + 8;
  return n;
}

const headerKeys = new Map<string, Buffer>();
/** Header names repeat on every record: their bytes are made once. */
function headerKeyBytes(k?: string): Buffer | undefined {
  if (k === undefined) return undefined;
  let b = headerKeys.get(k);
  if (!b) {
    b = Buffer.from(k);
    if (headerKeys.size < 1000) headerKeys.set(k, b);
  }
  return b;
}

function toMessage(r: OutgoingRecord): MessageToProduce<Buffer, Buffer, string, Buffer> {
  const m: MessageToProduce<Buffer, Buffer, string, Buffer> = {
    topic: r.topic,
    key: r.key ?? undefined,
    // null value = tombstone; the client writes a null (length -1) record value.
    value: r.value as Buffer,
  };
  if (r.headers) {
    const h = new Map<string, Buffer>();
    for (const k in r.headers) {
      const v = r.headers[k]!;
      h.set(k, typeof v === 'string' ? Buffer.from(v) : v);
    }
    m.headers = h;
  }
  if (r.partition !== undefined) m.partition = r.partition;
  if (r.timestamp !== undefined) m.timestamp = r.timestamp;
  return m;
}

export function newRawProducer(
  config: KafkaConfig,
  role: string,
  transactionalId?: string,
): RawProducer {
  const producer = new Producer<Buffer, Buffer, string, Buffer>({
    ...baseOptions(config, role),
    idempotent: true,
    acks: -1,
    autocreateTopics: false,
    serializers: { headerKey: headerKeyBytes },
    ...(transactionalId ? { transactionalId } : {}),
  });
  if (ownRecordCodec) useFastProduce(producer);
  return producer;
}

/**
 * Idempotent producer (acks=all, no duplicates on retry). `send` may be called concurrently;
 * records of one call keep their order per partition. close() once at the end.
 */
export class KafkaProducer {
  private readonly producer: RawProducer;
  private readonly partitions: PartitionAssigner;

  constructor(config: KafkaConfig) {
    this.producer = newRawProducer(config, 'producer');
    this.partitions = new PartitionAssigner(this.producer);
  }

  async send(records: OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return;
    try {
      const assigned = await this.partitions.assign(records);
      for (const chunk of batchesUnderLimit(assigned))
        await this.producer.send({ messages: chunk.map(toMessage) });
    } catch (err) {
      throw toKafkaError(err, `producing ${records.length} record(s)`);
    }
  }

  async close(): Promise<void> {
    await this.producer.close();
  }
}

/**
 * Transactional producer: one per transactional.id. Creating the first transaction registers
 * the id with the broker, which fences any older producer with the same id (its next send or
 * commit fails with ProducerFencedError). Lifecycle: begin() -> send()/sendOffsets()* ->
 * commit() | abort(), one transaction at a time; close() once at the end.
 */
export class TransactionalProducer {
  private readonly producer: RawProducer;
  private readonly partitions: PartitionAssigner;

  constructor(
    config: KafkaConfig,
    readonly transactionalId: string,
  ) {
    this.producer = newRawProducer(config, `txn-${transactionalId}`, transactionalId);
    this.partitions = new PartitionAssigner(this.producer);
  }

  private registered = false;

  /**
   * Registers the transactional.id with the broker now (fencing any older instance and letting
   * the coordinator abort its open transaction) without writing anything.
   */
  async init(): Promise<void> {
    const txn = await this.begin();
    await txn.abort();
  }

  async begin(): Promise<KafkaTransaction> {
    try {
      // The first transaction registers the id with InitProducerId. It must say "no known
      // producer" (id -1, epoch -1) so the coordinator bumps the epoch and fences any older
      // instance; the client's default (0, 0) is answered with PRODUCER_FENCED when another
      // producer already holds the id.
      const txn = await this.producer.beginTransaction(
        this.registered ? {} : { producerId: -1n, producerEpoch: -1 },
      );
      this.registered = true;
      return new KafkaTransaction(txn, this.transactionalId, this.partitions);
    } catch (err) {
      throw toKafkaError(err, 'beginning a transaction', this.transactionalId);
    }
  }

  async close(): Promise<void> {
    await Promise.resolve(this.producer.close(true)).catch(() => undefined);
  }
}

export class KafkaTransaction {
  private done = false;
  /** Whether anything reached the broker; an untouched transaction ends locally. */
  private touched = false;

  constructor(
    private readonly txn: Transaction<Buffer, Buffer, string, Buffer>,
    private readonly transactionalId: string,
    private readonly partitions: PartitionAssigner,
  ) {}

  async send(records: OutgoingRecord[]): Promise<void> {
    this.checkOpen();
    if (records.length === 0) return;
    try {
      const assigned = await this.partitions.assign(records);
      this.touched = true;
      for (const chunk of batchesUnderLimit(assigned))
        await this.txn.send({ messages: chunk.map(toMessage) });
    } catch (err) {
      throw toKafkaError(
        err,
        `producing ${records.length} record(s) in a transaction`,
        this.transactionalId,
      );
    }
  }

  /**
   * Adds the consumer group's offsets for the given consumed records to this transaction
   * (Kafka's sendOffsetsToTransaction): for each partition the position after the highest
   * offset given is committed atomically with the produced records. The consumer's group
   * generation travels with it, so a zombie from an older generation is fenced (KIP-447).
   */
  async sendOffsets(consumer: KafkaConsumer, consumed: IncomingRecord[]): Promise<void> {
    await this.sendPositions(consumer.generation, nextPositions(consumed));
  }

  async sendPositions(
    generation: GroupGeneration,
    positions: TopicPartitionOffset[],
  ): Promise<void> {
    this.checkOpen();
    if (positions.length === 0) return;
    type AddConsumerArg = Parameters<Transaction<Buffer, Buffer, string, Buffer>['addConsumer']>[0];
    type AddOffsetArg = Parameters<Transaction<Buffer, Buffer, string, Buffer>['addOffset']>[0];
    try {
      // The client reads only groupId from the consumer and the group metadata from the message.
      this.touched = true;
      await this.txn.addConsumer({ groupId: generation.groupId } as unknown as AddConsumerArg);
      for (const p of positions) {
        await this.txn.addOffset({
          topic: p.topic,
          partition: p.partition,
          offset: p.offset - 1n, // the client commits message.offset + 1
          metadata: { consumer: { ...generation } },
        } as unknown as AddOffsetArg);
      }
    } catch (err) {
      throw toKafkaError(err, 'adding consumed positions to the transaction', this.transactionalId);
    }
  }

  async commit(): Promise<void> {
    this.checkOpen();
    this.done = true;
    try {
      if (!this.touched) await this.txn.cancel();
      else await this.txn.commit();
    } catch (err) {
      throw toKafkaError(err, 'committing the transaction', this.transactionalId);
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    try {
      if (!this.touched) await this.txn.cancel();
      else await this.txn.abort();
    } catch (err) {
      const e = toKafkaError(err, 'aborting the transaction', this.transactionalId);
      // A fenced producer cannot abort; the broker aborts its transaction on fencing anyway.
      if (!(e instanceof ProducerFencedError)) throw e;
    }
  }

  private checkOpen(): void {
    if (this.done)
      throw new TributaryError(
        'TRANSACTION_COMPLETED',
        'this transaction was already committed or aborted; begin a new one',
      );
  }
}
