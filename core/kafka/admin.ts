import { Admin, baseOptions } from './client.ts';
import type { KafkaConfig } from './config.ts';
import { brokerErrorIds, toKafkaError } from './errors.ts';

/** Kafka protocol constants: resource type TOPIC, config source TOPIC_CONFIG. */
const TOPIC_RESOURCE = 2;
const TOPIC_CONFIG_SOURCE = 1;

export interface TopicSpec {
  name: string;
  partitions?: number;
  replicationFactor?: number;
  /** Topic configs, e.g. { 'cleanup.policy': 'compact' }. */
  configs?: Record<string, string>;
}

/** Topic administration. Lifecycle: construct, call methods (safe concurrently), close() once. */
export class KafkaAdmin {
  private readonly admin: Admin;

  constructor(config: KafkaConfig) {
    this.admin = new Admin(baseOptions(config, 'admin'));
  }

  /** Creates the topics that do not exist yet; existing ones are left as they are. */
  async ensureTopics(topics: TopicSpec[]): Promise<void> {
    for (const t of topics) {
      try {
        await this.admin.createTopics({
          topics: [t.name],
          partitions: t.partitions ?? 1,
          replicas: t.replicationFactor ?? 1,
          configs: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
        });
      } catch (err) {
        if (brokerErrorIds(err).includes('TOPIC_ALREADY_EXISTS')) continue;
        throw toKafkaError(err, `creating topic "${t.name}"`);
      }
    }
  }

  async deleteTopics(names: string[]): Promise<void> {
    try {
      await this.admin.deleteTopics({ topics: names });
    } catch (err) {
      if (
        brokerErrorIds(err).every((id) => id === 'UNKNOWN_TOPIC_OR_PARTITION') &&
        brokerErrorIds(err).length > 0
      )
        return;
      throw toKafkaError(err, `deleting topics ${names.join(', ')}`);
    }
  }

  async listTopics(): Promise<string[]> {
    try {
      return await this.admin.listTopics();
    } catch (err) {
      throw toKafkaError(err, 'listing topics');
    }
  }

  /** Number of partitions of each topic (a topic that does not exist is an error). */
  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    try {
      const md = await this.admin.metadata({ topics });
      return new Map(topics.map((t) => [t, md.topics.get(t)?.partitionsCount ?? 0]));
    } catch (err) {
      throw toKafkaError(err, `reading metadata of ${topics.join(', ')}`);
    }
  }

  /**
   * Explicitly set (non-default) configs of each existing topic, e.g. retention.ms set at
   * creation; broker defaults are left out so a plan can compare against what a topology asks.
   */
  async topicConfigs(names: string[]): Promise<Map<string, Record<string, string>>> {
    if (names.length === 0) return new Map();
    try {
      const res = await this.admin.describeConfigs({
        resources: names.map((n) => ({
          resourceType: TOPIC_RESOURCE,
          resourceName: n,
          configurationKeys: [],
        })),
      });
      return new Map(
        res.map((r) => [
          r.resourceName,
          Object.fromEntries(
            r.configs
              .filter((c) => c.configSource === TOPIC_CONFIG_SOURCE && c.value !== null)
              .map((c) => [c.name, c.value as string]),
          ),
        ]),
      );
    } catch (err) {
      throw toKafkaError(err, `describing configs of ${names.join(', ')}`);
    }
  }

  /** Sets topic configs (incremental: other configs keep their values). */
  async alterTopicConfigs(name: string, configs: Record<string, string>): Promise<void> {
    try {
      await this.admin.incrementalAlterConfigs({
        resources: [
          {
            resourceType: TOPIC_RESOURCE,
            resourceName: name,
            configs: Object.entries(configs).map(([n, value]) => ({
              name: n,
              configOperation: 0, // SET
              value,
            })),
          },
        ],
      });
    } catch (err) {
      throw toKafkaError(err, `altering configs of topic "${name}"`);
    }
  }

  /** Grows a topic to `count` partitions (Kafka cannot shrink one). */
  async addPartitions(name: string, count: number): Promise<void> {
    try {
      // A null assignment lets the controller place the new partitions (an empty list is invalid).
      await this.admin.createPartitions({
        topics: [{ name, count, assignments: null as unknown as [] }],
      });
    } catch (err) {
      throw toKafkaError(err, `adding partitions to topic "${name}"`);
    }
  }

  /**
   * Records of `topics` the consumer group has not committed yet (read_committed end offset
   * minus committed offset, summed over partitions; a partition without a commit counts from 0).
   */
  async groupLag(group: string, topics: string[]): Promise<Map<string, number>> {
    try {
      const counts = await this.partitionCounts(topics);
      const present = topics.filter((t) => (counts.get(t) ?? 0) > 0);
      const out = new Map<string, number>(topics.map((t) => [t, 0]));
      if (present.length === 0) return out;
      const ends = await this.admin.listOffsets({
        isolationLevel: 1, // READ_COMMITTED
        topics: present.map((name) => ({
          name,
          partitions: Array.from({ length: counts.get(name)! }, (_, i) => ({
            partitionIndex: i,
            timestamp: -1n,
          })),
        })),
      });
      const [committed] = await this.admin.listConsumerGroupOffsets({ groups: [group] });
      const at = new Map<string, bigint>();
      for (const t of committed?.topics ?? [])
        for (const p of t.partitions)
          if (p.committedOffset >= 0n)
            at.set(`${t.name}\u0000${p.partitionIndex}`, p.committedOffset);
      for (const t of ends)
        for (const p of t.partitions) {
          const lag = p.offset - (at.get(`${t.name}\u0000${p.partitionIndex}`) ?? 0n);
          out.set(t.name, (out.get(t.name) ?? 0) + Number(lag > 0n ? lag : 0n));
        }
      return out;
    } catch (err) {
      throw toKafkaError(err, `reading the lag of group "${group}"`);
    }
  }

  async close(): Promise<void> {
    await this.admin.close();
  }
}
