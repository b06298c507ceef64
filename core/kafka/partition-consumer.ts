import { randomBytes } from 'node:crypto';
import {
  baseOptions,
  connectionOptions,
  ConnectionPool,
  Consumer,
  FetchIsolationLevels,
  kGetApi,
  fetchV17,
  ownRecordCodec,
} from './client.ts';
import type { KafkaConfig } from './config.ts';
import { fetchV17Api } from './fetch-api.ts';
import type { ClientRecord, DecodedRecord, RawBatch } from './fetch-api.ts';
import { brokerErrorIds, toKafkaError } from './errors.ts';
import { filterAbortedTransactions } from './read-committed.ts';
import type { IncomingRecord, TopicPartitionOffset } from './records.ts';
import { TributaryError } from '../errors/index.ts';

type RawConsumer = Consumer<Buffer, Buffer, string, Buffer>;

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** The group generation a member holds; offsets committed with it fence older generations. */
export interface GroupGeneration {
  groupId: string;
  generationId: number;
  memberId: string;
  coordinatorId: number;
}

export interface GroupAssignment {
  generation: GroupGeneration;
  partitions: TopicPartition[];
}

/** What one fetch returned for one partition. */
export interface FetchedPartition {
  topic: string;
  partition: number;
  records: IncomingRecord[];
  /** Position to fetch next (after the last batch returned, control markers included). */
  nextOffset: bigint;
  highWatermark: bigint;
  lastStableOffset: bigint;
}

export interface PartitionConsumerOptions {
  /** Consumer group; omit for a group-less reader (restores, global tables, verifiers). */
  groupId?: string;
  isolation?: 'read_committed' | 'read_uncommitted';
  sessionTimeoutMs?: number;
  rebalanceTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /**
   * 'co-partitioned' (default) gives partition N of every subscribed topic to the same member,
   * as Kafka Streams does for a task; 'round-robin' spreads topic-partitions independently.
   */
  assignor?: 'co-partitioned' | 'round-robin';
  /** Upper bound of one fetch response (bytes, default 8 MiB) and per partition (default 1 MiB). */
  maxBytes?: number;
  maxBytesPerPartition?: number;
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * A consumer that reads from positions the caller owns. Unlike KafkaConsumer (which streams
 * from the group's committed offsets), nothing here moves on its own: the caller passes the
 * positions to every fetch(), so after an abort or a rebalance it simply fetches from the
 * committed offsets again and no stale in-flight data can slip in between.
 *
 * Group membership (join, heartbeats, rejoin on rebalance) runs in the background once join()
 * is called; onAssignment listeners hear every new generation with its partitions, and
 * onRevoke listeners hear when the member learns that a rebalance started.
 * Lifecycle: [join()] -> fetch()/committed()/commit()* -> close(). fetch() calls must not
 * overlap each other; the other methods may run concurrently.
 */
export class KafkaPartitionConsumer {
  private readonly pool: ConnectionPool;
  /** Set when a fetch failed: the next one reads the metadata afresh. */
  private metadataStale = false;
  private readonly consumer: RawConsumer;
  private readonly isolationLevel: number;
  private readonly assignListeners: Array<(a: GroupAssignment) => void> = [];
  private readonly revokeListeners: Array<() => void> = [];
  private assignment: GroupAssignment | undefined;
  private groupError: unknown;
  private joined = false;
  private lastHeartbeatAt = Date.now();
  /** Whether committed() asks for stable offsets (see requireStableOffsets). */
  private stableOffsets = true;
  /** Partitions whose last committed() found a transactional commit that never completed. */
  unstableOffsets: string[] = [];

  constructor(
    config: KafkaConfig,
    private readonly options: PartitionConsumerOptions = {},
  ) {
    const groupId = options.groupId ?? `tributary-reader-${randomBytes(6).toString('hex')}`;
    this.isolationLevel =
      options.isolation === 'read_uncommitted'
        ? FetchIsolationLevels.READ_UNCOMMITTED
        : FetchIsolationLevels.READ_COMMITTED;
    this.consumer = new Consumer<Buffer, Buffer, string, Buffer>({
      ...baseOptions(config, `reader-${groupId}`),
      groupId,
      autocommit: false,
      sessionTimeout: options.sessionTimeoutMs ?? 10_000,
      rebalanceTimeout: options.rebalanceTimeoutMs ?? options.sessionTimeoutMs ?? 10_000,
      heartbeatInterval: options.heartbeatIntervalMs ?? 1_000,
      isolationLevel: this.isolationLevel,
      maxBytes: options.maxBytes ?? 8 * 1024 * 1024,
      maxWaitTime: 500,
    });
    this.pool = new ConnectionPool(`${config.clientId}-fetch`, {
      connectTimeout: 10_000,
      ...connectionOptions(config),
    } as never);
    if (this.isolationLevel === FetchIsolationLevels.READ_COMMITTED)
      requireStableOffsets(this.consumer, () => this.stableOffsets);
    // The client reports failed rejoins as 'error' events; keep them for the caller.
    this.consumer.on('error', (err: unknown) => (this.groupError ??= err));
    this.consumer.on('consumer:heartbeat:end', () => (this.lastHeartbeatAt = Date.now()));
    this.consumer.on('consumer:group:join', (payload) => {
      this.lastHeartbeatAt = Date.now();
      const partitions: TopicPartition[] = [];
      for (const a of payload.assignments ?? [])
        for (const p of a.partitions) partitions.push({ topic: a.topic, partition: p });
      partitions.sort((a, b) => a.partition - b.partition || a.topic.localeCompare(b.topic));
      this.assignment = {
        generation: {
          groupId: this.consumer.groupId,
          generationId: payload.generationId ?? this.consumer.generationId,
          memberId: payload.memberId,
          coordinatorId: this.consumer.coordinatorId ?? -1,
        },
        partitions,
      };
      for (const l of this.assignListeners) l(this.assignment);
    });
    const revoke = () => {
      for (const l of this.revokeListeners) l();
    };
    this.consumer.on('consumer:group:rebalance', revoke);
    this.consumer.on('consumer:group:rejoin', revoke);
  }

  get groupId(): string {
    return this.consumer.groupId;
  }

  onAssignment(listener: (a: GroupAssignment) => void): void {
    this.assignListeners.push(listener);
  }

  onRevoke(listener: () => void): void {
    this.revokeListeners.push(listener);
  }

  /**
   * This group's identity for offsets a transactional producer commits without being a member
   * of the group (generation -1, no member id; KafkaTransaction.sendPositions), with the group's
   * coordinator looked up on the broker. Zombie fencing then rests on the transactional.id.
   */
  async nonMemberGeneration(): Promise<GroupGeneration> {
    try {
      const coordinatorId = await this.consumer.findGroupCoordinator();
      return { groupId: this.consumer.groupId, generationId: -1, memberId: '', coordinatorId };
    } catch (err) {
      throw toKafkaError(err, `finding the coordinator of group "${this.consumer.groupId}"`);
    }
  }

  /** The latest assignment (undefined before the first join completes). */
  currentAssignment(): GroupAssignment | undefined {
    return this.assignment;
  }

  /** True while the member holds a live group membership. */
  isActive(): boolean {
    return this.joined && this.consumer.isActive();
  }

  /**
   * Milliseconds since the last successful heartbeat (or join). The client stops heartbeating
   * after some errors (e.g. while the coordinator is unreachable) without telling anyone; a
   * member whose heartbeat age exceeds the session timeout has lost its membership and should
   * be closed and re-created.
   */
  heartbeatAgeMs(): number {
    return Date.now() - this.lastHeartbeatAt;
  }

  /** Throws the error of a failed background rejoin, if any (the member must be re-created). */
  throwIfFailed(): void {
    if (this.groupError !== undefined)
      throw toKafkaError(this.groupError, `membership of group "${this.consumer.groupId}"`);
  }

  /** Joins the group subscribed to `topics`; resolves with the first assignment. */
  async join(topics: string[]): Promise<GroupAssignment> {
    if (this.options.groupId === undefined)
      throw new TributaryError('NO_GROUP', 'this reader was created without a groupId');
    this.consumer.topics.trackAll(...topics);
    try {
      await this.consumer.joinGroup({
        sessionTimeout: this.options.sessionTimeoutMs ?? 10_000,
        rebalanceTimeout:
          this.options.rebalanceTimeoutMs ?? this.options.sessionTimeoutMs ?? 10_000,
        heartbeatInterval: this.options.heartbeatIntervalMs ?? 1_000,
        ...(this.options.assignor === 'round-robin'
          ? {}
          : { partitionAssigner: coPartitionedAssigner }),
      });
    } catch (err) {
      throw toKafkaError(err, `joining group "${this.consumer.groupId}" for ${topics.join(', ')}`);
    }
    this.joined = true;
    if (!this.assignment) throw new TributaryError('NO_ASSIGNMENT', 'joined without an assignment');
    return this.assignment;
  }

  /**
   * The group's committed offsets (undefined where the group has none). Under read_committed they are read stable: while a
   * transaction holding offsets for one of the partitions is completing, the broker answers
   * UNSTABLE_OFFSET_COMMIT and the client retries (about 3 s). If that does not end, the
   * transaction is hanging (a broker restart can lose its marker in __consumer_offsets): the
   * offsets materialized before it are returned and the partitions are listed in
   * `unstableOffsets`.
   */
  async committed(partitions: TopicPartition[]): Promise<Map<string, bigint | undefined>> {
    const byTopic = groupByTopic(partitions);
    const topics = [...byTopic].map(([topic, ps]) => ({ topic, partitions: ps }));
    this.unstableOffsets = [];
    try {
      let res;
      try {
        res = await this.consumer.listCommittedOffsets({ topics });
      } catch (err) {
        if (!brokerErrorIds(err).includes('UNSTABLE_OFFSET_COMMIT')) throw err;
        this.unstableOffsets = partitions.map((p) => `${p.topic}[${p.partition}]`);
        this.stableOffsets = false;
        try {
          res = await this.consumer.listCommittedOffsets({ topics });
        } finally {
          this.stableOffsets = true;
        }
      }
      const out = new Map<string, bigint | undefined>();
      for (const { topic, partition } of partitions) {
        const o = res.get(topic)?.[partition];
        out.set(tpKey(topic, partition), o !== undefined && o >= 0n ? o : undefined);
      }
      return out;
    } catch (err) {
      throw toKafkaError(err, `reading committed offsets of group "${this.consumer.groupId}"`);
    }
  }

  /** Earliest or latest offsets; 'latest' under read_committed is the last stable offset. */
  async offsets(
    partitions: TopicPartition[],
    which: 'earliest' | 'latest',
  ): Promise<Map<string, bigint>> {
    const byTopic = groupByTopic(partitions);
    try {
      const res = await this.consumer.listOffsets({
        topics: [...byTopic.keys()],
        partitions: Object.fromEntries(byTopic),
        timestamp: which === 'earliest' ? -2n : -1n,
        isolationLevel: this.isolationLevel,
      });
      const out = new Map<string, bigint>();
      for (const { topic, partition } of partitions)
        out.set(tpKey(topic, partition), res.get(topic)?.[partition] ?? 0n);
      return out;
    } catch (err) {
      throw toKafkaError(err, `listing ${which} offsets`);
    }
  }

  /** Partition count of each topic (0 for a topic that does not exist). */
  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    try {
      const md = await this.consumer.metadata({ topics, forceUpdate: true });
      return new Map(topics.map((t) => [t, md.topics.get(t)?.partitionsCount ?? 0]));
    } catch (err) {
      if (brokerErrorIds(err).includes('UNKNOWN_TOPIC_OR_PARTITION'))
        return new Map(topics.map((t) => [t, 0]));
      throw toKafkaError(err, `reading metadata of ${topics.join(', ')}`);
    }
  }

  /**
   * Fetches from the given positions (one request per partition leader, in parallel) and
   * waits at most `maxWaitMs` for data. Aborted transactional records are never returned
   * under read_committed.
   */
  async fetch(positions: TopicPartitionOffset[], maxWaitMs = 500): Promise<FetchedPartition[]> {
    if (positions.length === 0) return [];
    const topics = [...new Set(positions.map((p) => p.topic))];
    let md;
    try {
      // After a failed fetch the cached metadata may be what failed it (a moved leader, a
      // recreated topic): read it afresh instead of for up to metadataMaxAge more.
      const forceUpdate = this.metadataStale;
      this.metadataStale = false;
      md = await this.consumer.metadata({ topics, forceUpdate });
    } catch (err) {
      this.metadataStale = true;
      throw toKafkaError(err, `reading metadata of ${topics.join(', ')}`);
    }
    type Req = {
      topicId: string;
      partitions: {
        partition: number;
        fetchOffset: bigint;
        partitionMaxBytes: number;
        currentLeaderEpoch: number;
        lastFetchedEpoch: number;
      }[];
    };
    const byLeader = new Map<number, Map<string, Req>>();
    const topicById = new Map<string, string>();
    for (const pos of positions) {
      const tmd = md.topics.get(pos.topic);
      const pmd = tmd?.partitions[pos.partition];
      if (!tmd || !pmd || pmd.leader < 0) {
        this.metadataStale = true;
        throw new TributaryError(
          'UNKNOWN_TOPIC',
          !tmd || !pmd
            ? `topic-partition ${pos.topic}[${pos.partition}] does not exist`
            : `topic-partition ${pos.topic}[${pos.partition}] has no leader yet`,
          { retryable: true },
        );
      }
      topicById.set(tmd.id, pos.topic);
      let reqs = byLeader.get(pmd.leader);
      if (!reqs) byLeader.set(pmd.leader, (reqs = new Map()));
      let req = reqs.get(tmd.id);
      if (!req) reqs.set(tmd.id, (req = { topicId: tmd.id, partitions: [] }));
      req.partitions.push({
        partition: pos.partition,
        fetchOffset: pos.offset,
        partitionMaxBytes: this.options.maxBytesPerPartition ?? 1024 * 1024,
        currentLeaderEpoch: -1,
        lastFetchedEpoch: -1,
      });
    }
    const out: FetchedPartition[] = [];
    await Promise.all(
      [...byLeader].map(async ([node, reqs]) => {
        let response;
        try {
          // The Fetch request is sent directly, not through the client's Consumer.fetch(): the
          // client's own aborted-transaction filter throws (crashing the process from a socket
          // callback) when an ABORT marker has no matching entry in abortedTransactions, which
          // happens when a producer was killed after registering a partition but before its
          // records landed. filterAbortedTransactions does the Java client's filtering instead.
          const broker = md.brokers.get(node);
          if (!broker)
            throw new TributaryError('UNKNOWN_BROKER', `broker ${node} is not in the metadata`, {
              retryable: true,
            });
          const connection = await this.pool.get(broker);
          response = (await (ownRecordCodec ? fetchV17Api : fetchV17.api).async(
            connection,
            maxWaitMs,
            1,
            this.options.maxBytes ?? 8 * 1024 * 1024,
            this.isolationLevel,
            0,
            0,
            [...reqs.values()],
            [],
            '',
          )) as Awaited<ReturnType<RawConsumer['fetch']>>;
          filterAbortedTransactions(response as never);
        } catch (err) {
          this.metadataStale = true;
          if (brokerErrorIds(err).includes('OFFSET_OUT_OF_RANGE'))
            throw offsetOutOfRange(positions, err);
          throw toKafkaError(err, `fetching from broker ${node}`);
        }
        for (const t of response.responses) {
          const topic = topicById.get(t.topicId);
          if (topic === undefined) continue;
          for (const p of t.partitions) {
            const requested = positions.find(
              (x) => x.topic === topic && x.partition === p.partitionIndex,
            );
            out.push(
              convertPartition(topic, p as unknown as RawFetchPartition, requested?.offset ?? 0n),
            );
          }
        }
      }),
    );
    return out;
  }

  /** Commits group offsets (positions = next offset to read) outside any transaction. */
  async commit(positions: TopicPartitionOffset[]): Promise<void> {
    if (positions.length === 0) return;
    try {
      await this.consumer.commit({
        offsets: positions.map((p) => ({ ...p, leaderEpoch: -1 })),
      });
    } catch (err) {
      throw toKafkaError(err, `committing offsets of group "${this.consumer.groupId}"`);
    }
  }

  /** Leaves the group (bounded: gives up after 5 s when the broker is unreachable). */
  async close(): Promise<void> {
    await Promise.resolve(this.pool.close()).catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.resolve(this.consumer.close(true)).catch(() => undefined),
      new Promise<void>((r) => (timer = setTimeout(r, 5000))),
    ]);
    clearTimeout(timer);
  }
}

type ApiLookup = (name: string, callback: (error: Error | null, api?: unknown) => void) => void;
type OffsetFetchApi = (
  connection: unknown,
  groups: unknown,
  requireStable: boolean,
  callback: (error: Error | null, response?: unknown) => void,
) => void;

/**
 * Makes the consumer's OffsetFetch requests ask for stable offsets (require_stable, KIP-447), as
 * the Java consumer does under read_committed. Without it the group coordinator answers with the
 * last materialized offset while a transactional offset commit is still pending: after a crash
 * or a broker restart, a task that fenced the previous producer could read the offsets from
 * before that producer's last committed transaction and process its records a second time. With
 * it the coordinator answers UNSTABLE_OFFSET_COMMIT (retriable; the client retries) until the
 * transaction is complete (`enabled` turns this off for a fallback read).
 */
function requireStableOffsets(consumer: RawConsumer, enabled: () => boolean): void {
  const target = consumer as unknown as Record<typeof kGetApi, ApiLookup>;
  const lookup = target[kGetApi];
  if (typeof lookup !== 'function') return;
  target[kGetApi] = function (this: unknown, name, callback) {
    if (name !== 'OffsetFetch') return lookup.call(this, name, callback);
    lookup.call(this, name, (error, api) => {
      if (error || typeof api !== 'function') return callback(error, api);
      const inner = api as OffsetFetchApi;
      const stable: OffsetFetchApi = (connection, groups, requireStable, cb) =>
        inner(connection, groups, requireStable || enabled(), cb);
      callback(null, stable);
    });
  };
}

/**
 * A position before the partition's earliest offset (records deleted by retention, or the topic
 * was recreated) or past its end. Retrying cannot help and silently jumping would lose or
 * re-read records, so it is a permanent error that says what happened and what to do.
 */
function offsetOutOfRange(positions: TopicPartitionOffset[], cause: unknown): TributaryError {
  const list = positions.map((p) => `${p.topic}[${p.partition}]@${p.offset}`).join(', ');
  return new TributaryError(
    'OFFSET_OUT_OF_RANGE',
    `a fetch position is outside the offsets Kafka holds (one of ${list}): the records there were deleted by retention or the topic was recreated, so continuing would skip records. Check the topic's earliest offsets; to accept the gap, reset the consumer group's offsets (kafka-consumer-groups.sh --reset-offsets --to-earliest) and start again`,
    { cause, retryable: false, details: { positions: list } },
  );
}

interface RawFetchPartition {
  partitionIndex: number;
  highWatermark: bigint;
  lastStableOffset: bigint;
  records?: RawBatch[];
}

const IS_CONTROL = 1 << 5;

function convertPartition(
  topic: string,
  p: RawFetchPartition,
  requested: bigint,
): FetchedPartition {
  const records: IncomingRecord[] = [];
  const partition = p.partitionIndex;
  let nextOffset = requested;
  for (const batch of p.records ?? []) {
    const last = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    if (last + 1n > nextOffset) nextOffset = last + 1n;
    if (batch.attributes & IS_CONTROL) continue;
    if (batch.decoded) {
      // Already IncomingRecords (fetch-api.ts); only topic and partition are missing.
      for (const r of batch.records as DecodedRecord[]) {
        if (r.offset < requested) continue; // a batch may start before the requested offset
        r.topic = topic;
        r.partition = partition;
        records.push(r);
      }
      continue;
    }
    for (const r of batch.records as ClientRecord[]) {
      const offset = batch.firstOffset + BigInt(r.offsetDelta);
      if (offset < requested) continue;
      const headers: Record<string, Buffer> = {};
      for (const [k, v] of r.headers) if (k) headers[k.toString()] = v ?? Buffer.alloc(0);
      records.push({
        topic,
        partition,
        offset,
        key: r.key ?? null,
        value: r.value ?? null,
        headers,
        timestamp: batch.firstTimestamp + BigInt(r.timestampDelta),
      });
    }
  }
  return {
    topic,
    partition,
    records,
    nextOffset,
    highWatermark: p.highWatermark,
    lastStableOffset: p.lastStableOffset,
  };
}

function groupByTopic(partitions: TopicPartition[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    let ps = m.get(topic);
    if (!ps) m.set(topic, (ps = []));
    ps.push(partition);
  }
  return m;
}

interface AssignorMember {
  topics?: string[];
}
interface AssignorMetadata {
  topics: Map<string, { partitionsCount: number }>;
}

/**
 * Co-partitioned assignment: partition N of every topic goes to the same member, so a task
 * that joins or aggregates across topics sees all of its keys. Members are ordered by id and
 * partition indexes dealt round-robin, which keeps the result deterministic for all members.
 */
function coPartitionedAssigner(
  _current: string,
  members: Map<string, AssignorMember>,
  topics: Set<string>,
  metadata: AssignorMetadata,
) {
  const ids = [...members.keys()].sort();
  const result = ids.map((memberId) => ({
    memberId,
    assignments: new Map<string, { topic: string; partitions: number[] }>(),
  }));
  let maxPartitions = 0;
  for (const t of topics)
    maxPartitions = Math.max(maxPartitions, metadata.topics.get(t)?.partitionsCount ?? 0);
  for (let p = 0; p < maxPartitions; p++) {
    const member = result[p % result.length]!;
    for (const t of [...topics].sort()) {
      if (p >= (metadata.topics.get(t)?.partitionsCount ?? 0)) continue;
      const subscribed = members.get(member.memberId)?.topics;
      if (subscribed && !subscribed.includes(t)) continue;
      let a = member.assignments.get(t);
      if (!a) member.assignments.set(t, (a = { topic: t, partitions: [] }));
      a.partitions.push(p);
    }
  }
  return result;
}
