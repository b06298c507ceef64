/**
 * Kafka → Kafka forwarding: change-event topics copied to another cluster, or to other topic
 * names on the same cluster, exactly once.
 *
 * Records keep their partition (source partition N → target partition N, as a mirror does), so
 * per-key order is the source's. Each source partition has its own transactional producer
 * (transactional.id `<prefix>-<topic>-<partition>`). One batch of a partition is one Kafka
 * transaction on the target cluster holding the forwarded records AND the next source offset,
 * committed as the offset of a target-side "positions" group for the target topic partition.
 * Both land or neither does.
 *
 * When a sink instance first writes a partition (at start, after a rebalance, after an error) it
 * registers the partition's transactional.id — which fences any other instance still writing it
 * and waits until that instance's last transaction is complete — and then reads the position
 * from the positions group. Records below it were forwarded already and are skipped, so
 * redeliveries (the runtime's own group offsets trail the transactions, and a killed process
 * rereads from them) never produce duplicates. A fenced instance drops the partition and retries
 * the batch (re-registering: positions are reread, nothing is written twice).
 *
 * The source group's offsets are still committed by the runtime after each batch; they only say
 * where reading resumes, the positions group says what was forwarded.
 *
 * With format `same` each record is copied as consumed (a RawRecordSink): key and value bytes,
 * every header and the source timestamp, whatever the record holds — change events, truncates,
 * tombstones, or records that are not change events at all (the runtime skips decoding them:
 * `takesBytes`). Other formats re-encode change
 * events (truncates included) and tombstones, keep the headers and the timestamp, and dead-letter
 * records that are not change events.
 */
import { VERSION_HEADER, encodeKey, toKafkaRecords } from '../../core/events/index.ts';
import type { EventSchemas } from '../../core/events/index.ts';
import { ConfigError, ProducerFencedError, TributaryError } from '../../core/errors/index.ts';
import {
  KafkaAdmin,
  KafkaPartitionConsumer,
  TransactionalProducer,
  defaultKafkaConfig,
} from '../../core/kafka/index.ts';
import type { GroupGeneration, KafkaConfig, OutgoingRecord } from '../../core/kafka/index.ts';
import type {
  CopiedRecord,
  RawRecordSink,
  RejectedRecord,
  SinkRecord,
  UndecodedRecord,
  WriteResult,
} from '../runtime/sink.ts';
import { RecordRejectedError, RetryableSinkError } from '../runtime/sink.ts';
import { isRetryable } from '../runtime/retry.ts';
import type { KafkaSinkConfig } from './config.ts';

/**
 * Fault injection for crash tests: with TRIBUTARY_CRASH_AFTER_TRANSACTIONS=N the process kills
 * itself (SIGKILL) right after its N-th forwarding transaction committed, before the runtime
 * commits the source offsets — the window the positions group exists for. Unset normally.
 */
const CRASH_AFTER_TRANSACTIONS = Number(process.env.TRIBUTARY_CRASH_AFTER_TRANSACTIONS ?? 0);

type ForwardRecord = SinkRecord | UndecodedRecord | CopiedRecord;

/** Target topic for a source topic (explicit rename first, then the template). */
export function targetTopic(config: Pick<KafkaSinkConfig, 'topic' | 'rename'>, topic: string) {
  const renamed = config.rename[topic];
  if (renamed !== undefined) return renamed;
  const s = topic.split('.');
  return config.topic
    .replaceAll('${topic}', topic)
    .replaceAll('${table}', s[s.length - 1]!)
    .replaceAll('${schema}', s.length > 1 ? s[s.length - 2]! : '')
    .replaceAll('${prefix}', s[0]!);
}

/** Counts since open(), for metrics and tests. */
export interface KafkaSinkStats {
  forwarded: number;
  /** Records skipped because the positions group shows them forwarded already. */
  skipped: number;
  transactions: number;
  /** Partitions (re)registered: at start, after rebalances, fencing and errors. */
  claims: number;
}

interface PartitionState {
  producer: TransactionalProducer;
  /** Next source offset to forward (-1n: nothing forwarded yet). */
  next: bigint;
  target: string;
}

export class KafkaForwardSink implements RawRecordSink {
  readonly rawRecords = true;
  /** Format `same` copies key, value, headers and timestamp: the runtime need not decode. */
  readonly takesBytes: boolean;
  private readonly target: KafkaConfig;
  private readonly sameCluster: boolean;
  private readonly prefix: string;
  private readonly groupId: string;
  private positions: KafkaPartitionConsumer | undefined;
  private generation: GroupGeneration | undefined;
  private readonly partitions = new Map<string, PartitionState>();
  /** target topic -> the one source topic forwarded into it. */
  private readonly sources = new Map<string, string>();
  private readonly readyTopics = new Set<string>();
  /** Key schema last seen per source topic (a tombstone carries none). */
  private readonly keySchemas = new Map<string, EventSchemas>();
  readonly stats: KafkaSinkStats = { forwarded: 0, skipped: 0, transactions: 0, claims: 0 };

  constructor(
    readonly name: string,
    private readonly config: KafkaSinkConfig,
    private readonly source: KafkaConfig = defaultKafkaConfig(`forward-${name}`),
  ) {
    this.takesBytes = config.format === 'same';
    this.sameCluster = config.brokers === undefined;
    this.target = this.sameCluster
      ? { ...source, clientId: `forward-${name}` }
      : { brokers: config.brokers!, clientId: `forward-${name}` };
    this.prefix = config.transactionalIdPrefix ?? `tributary-forward-${name}`;
    this.groupId = config.positionsGroup ?? `${name}.forwarded`;
  }

  async open(): Promise<void> {
    await this.connectPositions();
  }

  /**
   * (Re)creates the positions-group client and looks up the group's coordinator. Done at open
   * and after any failed batch, so a coordinator that moved is found again.
   */
  private async connectPositions(): Promise<void> {
    await this.positions?.close().catch(() => undefined);
    this.positions = undefined;
    this.generation = undefined;
    const positions = new KafkaPartitionConsumer(this.target, { groupId: this.groupId });
    try {
      this.generation = await positions.nonMemberGeneration();
    } catch (err) {
      await positions.close().catch(() => undefined);
      throw new RetryableSinkError(`reaching the target cluster: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.positions = positions;
  }

  async writeBatch(records: ForwardRecord[]): Promise<WriteResult> {
    if (!this.positions) await this.connectPositions();
    const rejected: RejectedRecord[] = [];
    const byPartition = new Map<string, Array<{ record: ForwardRecord; index: number }>>();
    records.forEach((record, index) => {
      const k = `${record.topic}\u0000${record.partition}`;
      let list = byPartition.get(k);
      if (!list) byPartition.set(k, (list = []));
      list.push({ record, index });
    });
    const results = await Promise.allSettled(
      [...byPartition.values()].map((list) => this.forwardPartition(list, rejected)),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      // The next attempt reconnects the positions client (and finds the coordinator again).
      await this.positions?.close().catch(() => undefined);
      this.positions = undefined;
      throw failed.reason;
    }
    return { rejected };
  }

  async close(): Promise<void> {
    const states = [...this.partitions.values()];
    this.partitions.clear();
    await Promise.all(states.map((s) => s.producer.close()));
    await this.positions?.close().catch(() => undefined);
    this.positions = undefined;
  }

  /** One transaction: the partition's not-yet-forwarded records plus the new position. */
  private async forwardPartition(
    list: Array<{ record: ForwardRecord; index: number }>,
    rejected: RejectedRecord[],
  ): Promise<void> {
    const { topic, partition } = list[0]!.record;
    const key = `${topic}\u0000${partition}`;
    let state: PartitionState | undefined;
    let txn;
    try {
      state = this.partitions.get(key) ?? (await this.claim(topic, partition));
      const out: OutgoingRecord[] = [];
      let last = -1n;
      for (const { record, index } of list) {
        if (record.offset < state.next) {
          this.stats.skipped++;
          continue;
        }
        last = record.offset;
        try {
          out.push(this.encode(record, state.target, partition));
        } catch (err) {
          rejected.push({ index, error: err as Error });
        }
      }
      if (last < 0n) return;
      txn = await state.producer.begin();
      await txn.send(out);
      await txn.sendPositions(this.generation!, [
        { topic: state.target, partition, offset: last + 1n },
      ]);
      await txn.commit();
      state.next = last + 1n;
      this.stats.forwarded += out.length;
      this.stats.transactions++;
      if (CRASH_AFTER_TRANSACTIONS > 0 && this.stats.transactions >= CRASH_AFTER_TRANSACTIONS)
        process.kill(process.pid, 'SIGKILL');
    } catch (err) {
      // Whatever happened, this instance no longer knows the partition's position for sure:
      // drop it, so the retry registers the transactional.id again and rereads the position.
      await txn?.abort().catch(() => undefined);
      if (state) {
        this.partitions.delete(key);
        await state.producer.close();
      }
      if (err instanceof ConfigError) throw err;
      if (err instanceof ProducerFencedError)
        throw new RetryableSinkError(
          `${topic}[${partition}] is being forwarded by another instance (fenced); retrying re-reads its position`,
          { cause: err },
        );
      if (err instanceof TributaryError && !err.retryable && !isRetryable(err.cause)) throw err;
      throw new RetryableSinkError(`forwarding ${topic}[${partition}]: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }

  /** Registers the partition's transactional.id (fencing older owners), then reads its position. */
  private async claim(topic: string, partition: number): Promise<PartitionState> {
    const target = targetTopic(this.config, topic);
    if (this.sameCluster && target === topic)
      throw new ConfigError('sink.topic', `topic ${topic} would be forwarded onto itself`);
    const other = this.sources.get(target);
    if (other !== undefined && other !== topic)
      throw new ConfigError(
        'sink.topic',
        `source topics ${other} and ${topic} both map to ${target}; each target topic takes one source topic`,
      );
    this.sources.set(target, topic);
    await this.ensureTopic(topic, target, partition);
    const producer = new TransactionalProducer(this.target, `${this.prefix}-${topic}-${partition}`);
    try {
      await producer.init();
      const committed = await this.positions!.committed([{ topic: target, partition }]);
      const next = committed.get(`${target}\u0000${partition}`) ?? -1n;
      const state = { producer, next, target };
      this.partitions.set(`${topic}\u0000${partition}`, state);
      this.stats.claims++;
      return state;
    } catch (err) {
      await producer.close();
      throw err;
    }
  }

  /** The target topic exists with more than `partition` partitions (created when allowed). */
  private async ensureTopic(source: string, target: string, partition: number): Promise<void> {
    if (this.readyTopics.has(target)) return;
    const admin = new KafkaAdmin(this.target);
    try {
      let exists = (await admin.listTopics()).includes(target);
      if (!exists && this.config.createTopics) {
        const src = new KafkaAdmin(this.source);
        let wanted: number;
        try {
          wanted = (await src.partitionCounts([source])).get(source) ?? 0;
        } finally {
          await src.close();
        }
        await admin.ensureTopics([{ name: target, partitions: Math.max(wanted, partition + 1) }]);
        exists = true;
      }
      if (!exists)
        throw new ConfigError(
          'sink.topic',
          `target topic ${target} does not exist; create it or set createTopics: true`,
        );
      const count = (await admin.partitionCounts([target])).get(target) ?? 0;
      if (count <= partition)
        throw new ConfigError(
          'sink.topic',
          `target topic ${target} has ${count} partition(s) but ${source} has partition ${partition}; records keep their partition, so the target needs at least as many`,
        );
      this.readyTopics.add(target);
    } finally {
      await admin.close();
    }
  }

  /**
   * The record in the configured format: as consumed for `same`; otherwise re-encoded key and
   * value with the source headers (version set) and timestamp.
   */
  private encode(r: ForwardRecord, topic: string, partition: number): OutgoingRecord {
    const raw = r.raw;
    if (this.config.format === 'same' && raw)
      return {
        topic,
        partition,
        key: raw.key,
        value: raw.value,
        headers: raw.headers,
        timestamp: raw.timestamp,
      };
    if (r.kind === 'undecoded' || r.kind === 'copy')
      throw new RecordRejectedError(
        r.kind === 'copy'
          ? 'a record passed on undecoded; only format same forwards such records'
          : `not a change event (${r.reason.message}); only format same forwards such records (as they are)`,
        r.kind === 'copy' ? {} : { cause: r.reason },
      );
    const out = this.reencode(r);
    if (!raw) return { ...out, topic, partition };
    return {
      ...out,
      topic,
      partition,
      headers: { ...raw.headers, [VERSION_HEADER]: out.headers![VERSION_HEADER]! },
      timestamp: raw.timestamp,
    };
  }

  /** A change event or tombstone in the configured format (key, value, version header). */
  private reencode(r: SinkRecord): Omit<OutgoingRecord, 'topic'> {
    const format = this.config.format;
    if (r.kind === 'change') {
      const e = r.event;
      if (e.schemas) this.keySchemas.set(r.topic, e.schemas);
      if (format === 'json-schema' && !e.schemas)
        throw new RecordRejectedError(
          'format json-schema needs the Connect schemas, and this event carries none',
        );
      const f = format === 'same' ? (e.schemas ? 'json-schema' : 'json') : format;
      const [rec] = toKafkaRecords(f === 'json' ? { ...e, schemas: undefined } : e, {
        format: f,
        tombstonesOnDelete: false,
      });
      return { key: rec!.key, value: rec!.value, headers: rec!.headers };
    }
    const t = r.tombstone;
    const schemas = this.keySchemas.get(r.topic);
    const withSchema = format === 'json-schema' || (format === 'same' && schemas !== undefined);
    if (withSchema && !schemas)
      throw new RecordRejectedError(
        'format json-schema needs the key schema, and no event of this topic carried one yet',
      );
    return {
      key: encodeKey(
        { key: t.key, schemas: withSchema ? schemas : undefined },
        withSchema ? 'json-schema' : 'json',
      ),
      value: null,
      headers: { [VERSION_HEADER]: t.version.toString() },
    };
  }
}
