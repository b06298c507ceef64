import { Admin, baseOptions } from './client.ts';
import type { KafkaConfig } from './config.ts';
import { brokerErrorIds, toKafkaError } from './errors.ts';

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

  async close(): Promise<void> {
    await this.admin.close();
  }
}
