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
import { PackedBatchEncoder, writeUvarint } from './record-batch.ts';
import { PackIndex } from './record-pack.ts';
import type { PackedRecords } from './record-pack.ts';
import { KafkaError, TributaryError } from '../errors/index.ts';

type RawTransaction = Transaction<Buffer, Buffer, string, Buffer>;
/** A client connection (opaque here: handed from the pool to the API function). */
type Connection = object;
type Metadata = Awaited<ReturnType<RawProducer['metadata']>>;
/**
 * Bytes of records per batch: the broker refuses batches over message.max.bytes (1 MiB by
 * default), so a partition's records in one pack are cut into batches of at most this much.
 */
const BATCH_LIMIT = 768 * 1024;
/** Initial size of a request buffer (grown when a request needs more). */
const REQUEST_BUFFER = 2 * 1024 * 1024;
/** Spare request buffers kept (more than the requests a transaction has in flight at once). */
const SPARE_BUFFERS = 16;

/** Each group's records cut into batches of at most BATCH_LIMIT bytes, as rounds. */
function rounds(index: PackIndex, groups: Iterable<Group>): Group[][] {
  const out: Group[][] = [];
  for (const g of groups) {
    const records = g.records;
    let total = 0;
    for (let k = 0; k < records.length; k++) total += index.tailLength[records[k]!]! + 32;
    // Most groups fit one batch: taken as they are.
    if (total <= BATCH_LIMIT) {
      (out[0] ??= []).push(g);
      continue;
    }
    let bytes = 0;
    let part: Group = { topic: g.topic, partition: g.partition, records: [] };
    let round = 0;
    for (const i of records) {
      const size = index.tailLength[i]! + 32;
      if (part.records.length > 0 && bytes + size > BATCH_LIMIT) {
        (out[round++] ??= []).push(part);
        part = { topic: g.topic, partition: g.partition, records: [] };
        bytes = 0;
      }
      part.records.push(i);
      bytes += size;
    }
    (out[round] ??= []).push(part);
  }
  return out;
}

/** Records of one topic-partition in a pack (indexes into its PackIndex). */
interface Group {
  topic: number;
  partition: number;
  records: number[];
}

/** A Produce request (v11) whose payload was written whole into one buffer (see produce()). */
const producePacked = createAPI(
  0,
  11,
  (payload: Buffer) => Writer.create().append(payload),
  produceV11.parseResponse,
) as unknown as (
  connection: Connection,
  payload: Buffer,
  callback: (error: Error | null) => void,
) => void;

/**
 * Bytes kept free in front of a request's payload: the client's request header (size, API key
 * and version, correlation id, client id, tagged fields) is written there instead of the whole
 * request being copied into a new buffer behind it (see installInPlaceFraming).
 */
const HEADER_ROOM = 512;

/**
 * Payloads written with free bytes before them in their buffer: how many, by the payload Buffer
 * object. The client frames a request as [size][header pieces][payload] and concatenates the
 * pieces into one new buffer (a copy of every payload, ~1 MiB, and an allocation the garbage
 * collector must reclaim). For a payload found here the header pieces are copied into the
 * room in front of it instead, and the request is a view of that one buffer. Installed once,
 * on the client's buffer class (core/kafka/client.ts's Writer keeps its pieces in it); any
 * other request is concatenated as before.
 */
const roomInFront = new WeakMap<Buffer, number>();
let inPlaceInstalled = false;

/** Marks `payload` as having `room` free bytes before it in its ArrayBuffer (see above). */
export function reserveFront(payload: Buffer, room: number): void {
  roomInFront.set(payload, room);
}

/** Installs the in-place framing (see roomInFront); idempotent. */
export function installInPlaceFraming(): void {
  if (inPlaceInstalled) return;
  inPlaceInstalled = true;
  const proto = Object.getPrototypeOf(Writer.create().dynamicBuffer) as object;
  const own = Object.getOwnPropertyDescriptor(proto, 'buffer');
  const concat = own?.get;
  if (!concat) return; // another client layout: it concatenates as before
  Object.defineProperty(proto, 'buffer', {
    ...own,
    get(this: { buffers: Buffer[]; length: number }): Buffer {
      const pieces = this.buffers;
      const payload = pieces[pieces.length - 1];
      const room = payload === undefined ? undefined : roomInFront.get(payload);
      const head = this.length - (payload?.length ?? 0);
      if (room === undefined || head > room || pieces.length < 2) return concat.call(this);
      roomInFront.delete(payload!);
      const whole = Buffer.from(payload!.buffer, payload!.byteOffset - head, this.length);
      let at = 0;
      for (let i = 0; i < pieces.length - 1; i++) at += pieces[i]!.copy(whole, at);
      return whole;
    },
  });
}

export class PackProducer {
  private readonly raw: RawProducer;
  private registered = false;
  private txn: RawTransaction | null = null;
  /** Partitions added to the open transaction ("topic:partition"). */
  private added = new Set<string>();
  /** Partitions the open transaction wrote records to, by "topic:partition". */
  private written = new Map<string, { topic: string; partition: number }>();
  /**
   * The partitions the last committed transaction wrote to: the next one adds them with its
   * first partitions, in one request. A capture's transactions use the same partitions every
   * time, and its offsets record comes last: added on its own, its AddPartitionsToTxn waited
   * behind every Produce request before it on the connection (11 ms per transaction measured).
   * A partition added and then not written gets a marker and nothing else; only partitions
   * written are carried over, so the set follows what the source writes and does not grow.
   */
  private previous: Array<{ topic: string; partition: number }> = [];
  /** Responses of the open transaction's requests. */
  private inFlight: Promise<void>[] = [];
  /** The first failure; every later call of this producer fails with it. */
  private failure: TributaryError | null = null;
  /** Next sequence per "topic:partition", for the producer id and epoch in `sequencesOf`. */
  private readonly sequences = new Map<string, number>();
  private sequencesOf = '';
  private metadata: Metadata | null = null;
  private readonly topicsSeen = new Set<string>();
  private readonly encoder = new PackedBatchEncoder();
  /** The pack being produced (one at a time: the thread runs its requests in turn). */
  private readonly index = new PackIndex();
  /**
   * Request buffers whose requests were answered: written over by later requests. A request's
   * buffer is the bytes the socket sends (see installInPlaceFraming), so it is reused only
   * after the broker answered, which it does once it read the whole request; the buffer of a
   * request that failed is left to the garbage collector.
   */
  private readonly spareBuffers: Buffer[] = [];
  private requestBuffer: Buffer = Buffer.allocUnsafeSlow(REQUEST_BUFFER);
  private readonly transactionalIdBytes: Buffer;
  private roundRobin = 0;

  /** Produce requests made so far. */
  private requests = 0;

  constructor(
    private readonly config: KafkaConfig,
    readonly transactionalId: string,
    /** Fault injection (tests): the request with this number fails, retryable, unsent. */
    private readonly failRequest = 0,
  ) {
    this.raw = newRawProducer(config, `txn-${transactionalId}`, transactionalId);
    this.transactionalIdBytes = Buffer.from(transactionalId);
    installInPlaceFraming();
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

  /**
   * Sends the pack, waits for every request of the transaction, and commits it. A rejection
   * means the transaction was aborted, or — when EndTxn itself failed — that its outcome is
   * unknown; either way the producer is done, and a new one resumes from what was committed.
   */
  async commit(packed: PackedRecords): Promise<void> {
    try {
      await this.send(packed);
      await Promise.all(this.inFlight);
      if (this.failure) throw this.failure;
      // A transaction that produced nothing never reached the broker: it ends here.
      if (this.added.size === 0) await this.txn!.cancel();
      else {
        await this.txn!.commit();
        this.previous = [...this.written.values()];
      }
    } catch (err) {
      const e = this.fail(err, 'committing the transaction');
      await this.abort();
      throw e;
    } finally {
      this.txn = null;
      this.inFlight = [];
      this.added = new Set();
      this.written = new Map();
    }
  }

  /** Aborts the open transaction, if any (so readers are not held up by it), and closes. */
  async close(): Promise<void> {
    await this.abort();
    await Promise.resolve(this.raw.close(true)).catch(() => undefined);
  }

  /**
   * Aborts the open transaction after its requests were answered: a request still in flight
   * must not be written after the abort marker.
   */
  private async abort(): Promise<void> {
    const txn = this.txn;
    if (!txn) return;
    await Promise.all(this.inFlight);
    if (this.added.size === 0) await txn.cancel().catch(() => undefined);
    else await txn.abort().catch(() => undefined);
    this.txn = null;
    this.inFlight = [];
    this.added = new Set();
    this.written = new Map();
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
    this.failure ??= toKafkaError(err, action, this.transactionalId);
    // Leaders may have moved: a new transaction would read the metadata again.
    this.metadata = null;
    return this.failure;
  }

  private async produce(packed: PackedRecords): Promise<void> {
    const index = this.index.read(packed);
    const metadata = await this.metadataFor(packed.topics);
    // Partition of every record: given, else from the key (Java-compatible), else round robin.
    // Groups by topic index and partition, in first-seen order.
    const counts = packed.topics.map((t) => metadata.topics.get(t)!.partitionsCount);
    const byTopic: Group[][] = packed.topics.map(() => []);
    const groups: Group[] = [];
    for (let i = 0; i < index.count; i++) {
      const topic = index.topic[i]!;
      const count = counts[topic]!;
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
      let g = byTopic[topic]![partition];
      if (!g) groups.push((g = byTopic[topic]![partition] = { topic, partition, records: [] }));
      g.records.push(i);
    }
    // Partitions new to the transaction are added before anything is produced to them.
    const adding: { topic: string; partition: number }[] = [];
    const adds = (topic: string, partition: number) => {
      const name = `${topic}:${partition}`;
      if (
        !this.added.has(name) &&
        !adding.some((a) => a.topic === topic && a.partition === partition)
      )
        adding.push({ topic, partition });
    };
    for (const g of groups) {
      const topic = packed.topics[g.topic]!;
      adds(topic, g.partition);
      this.written.set(`${topic}:${g.partition}`, { topic, partition: g.partition });
    }
    if (adding.length > 0 && this.added.size === 0)
      for (const p of this.previous)
        if (metadata.topics.get(p.topic)?.partitions[p.partition]) adds(p.topic, p.partition);
    if (adding.length > 0) {
      await this.txn!.addPartitions(metadata, adding as never);
      for (const a of adding) this.added.add(`${a.topic}:${a.partition}`);
    }
    // A partition's records go in batches under the broker's size limit; a request holds one
    // batch per partition (idempotent produce), so the k-th batches of all partitions make
    // the k-th round of requests. One request per leader and round, numbered and sent in
    // order without waiting for earlier ones.
    for (const round of rounds(index, groups)) {
      const byLeader = new Map<number, Map<number, Group[]>>();
      for (const g of round) {
        const topic = packed.topics[g.topic]!;
        const leader = metadata.topics.get(topic)!.partitions[g.partition]!.leader;
        let topics = byLeader.get(leader);
        if (!topics) byLeader.set(leader, (topics = new Map()));
        let partitions = topics.get(g.topic);
        if (!partitions) topics.set(g.topic, (partitions = []));
        partitions.push(g);
      }
      await this.sendRound(metadata, index, packed.topics, byLeader);
    }
  }

  private async sendRound(
    metadata: Metadata,
    index: PackIndex,
    names: string[],
    byLeader: Map<number, Map<number, Group[]>>,
  ): Promise<void> {
    for (const [leader, topics] of byLeader) {
      if (++this.requests === this.failRequest)
        throw new KafkaError(`injected failure of Produce request ${this.requests}`, {
          retryable: true,
        });
      const connection = await this.connectionTo(metadata, leader);
      const payload = this.writeRequest(index, names, topics);
      const buffer = this.requestBuffer;
      this.requestBuffer = this.spareBuffers.pop() ?? Buffer.allocUnsafeSlow(REQUEST_BUFFER);
      reserveFront(payload, HEADER_ROOM);
      const response = new Promise<void>((resolve, reject) => {
        producePacked(connection, payload, (error) => {
          if (error) return reject(error);
          // Kept at the usual size only: one grown for a large request goes to the GC.
          if (buffer.length === REQUEST_BUFFER && this.spareBuffers.length < SPARE_BUFFERS)
            this.spareBuffers.push(buffer);
          resolve();
        });
      });
      // Not framed in place (a client that frames otherwise): the mark goes with the payload.
      roomInFront.delete(payload);
      // A failure is kept for commit(), which aborts the transaction.
      this.inFlight.push(
        response.catch((err: unknown) => void this.fail(err, 'producing records in a transaction')),
      );
    }
  }

  /**
   * The Produce request's payload, written into one reused buffer:
   *   transactional_id acks timeout_ms [topic_data] TAG_BUFFER
   *   topic_data => name [partition_data] TAG_BUFFER
   *   partition_data => index records TAG_BUFFER
   * Each partition's batch takes the partition's next sequence numbers.
   */
  private writeRequest(index: PackIndex, names: string[], topics: Map<number, Group[]>): Buffer {
    const options = {
      producerId: this.raw.producerId!,
      producerEpoch: this.raw.producerEpoch!,
      firstSequence: 0,
      transactional: true,
    };
    let pos = this.ensure(HEADER_ROOM, 64 + this.transactionalIdBytes.length);
    let buf = this.requestBuffer;
    pos = writeUvarint(buf, pos, this.transactionalIdBytes.length + 1);
    pos += this.transactionalIdBytes.copy(buf, pos);
    pos = buf.writeInt16BE(-1, pos); // acks=all
    pos = buf.writeInt32BE(this.config.requestTimeoutMs ?? 30_000, pos);
    pos = writeUvarint(buf, pos, topics.size + 1);
    for (const [topic, partitions] of topics) {
      const name = Buffer.from(names[topic]!);
      pos = this.ensure(pos, 16 + name.length);
      buf = this.requestBuffer;
      pos = writeUvarint(buf, pos, name.length + 1);
      pos += name.copy(buf, pos);
      pos = writeUvarint(buf, pos, partitions.length + 1);
      for (const g of partitions) {
        const size = this.encoder.measure(index, g.records);
        pos = this.ensure(pos, size + 16);
        buf = this.requestBuffer;
        pos = buf.writeInt32BE(g.partition, pos);
        pos = writeUvarint(buf, pos, size + 1);
        const key = `${names[topic]}:${g.partition}`;
        options.firstSequence = this.sequences.get(key) ?? 0;
        // Sequences wrap from 2^31-1 to 0, as in the Java producer.
        this.sequences.set(key, (options.firstSequence + g.records.length) % 0x80000000);
        pos = this.encoder.write(buf, pos, options);
        buf[pos++] = 0; // partition_data tagged fields
      }
      buf[pos++] = 0; // topic_data tagged fields
    }
    buf[pos++] = 0; // request tagged fields
    return buf.subarray(HEADER_ROOM, pos);
  }

  /** Makes room for `n` more bytes after `pos` in the request buffer (keeping its content). */
  private ensure(pos: number, n: number): number {
    if (this.requestBuffer.length - pos >= n) return pos;
    const bigger = Buffer.allocUnsafeSlow(Math.max(2 * this.requestBuffer.length, pos + n));
    this.requestBuffer.copy(bigger, 0, 0, pos);
    this.requestBuffer = bigger;
    return pos;
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
