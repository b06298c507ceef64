// The one place that imports the Kafka client package (see docs/decisions/0001-kafka-client.md).
// Everything else uses the classes exported from core/kafka/index.ts.
export { Admin, Consumer, Producer, FetchIsolationLevels } from '@platformatic/kafka';
export type { Message, MessageToProduce, MessagesStream } from '@platformatic/kafka';
import type { Producer as RawProducer } from '@platformatic/kafka';
/** The client's transaction handle (its class is not exported by the package index). */
export type Transaction<K, V, HK, HV> = NonNullable<RawProducer<K, V, HK, HV>['transaction']>;
import type { KafkaConfig } from './config.ts';

/** Options common to every client built from a KafkaConfig. */
export function baseOptions(config: KafkaConfig, role: string) {
  return {
    clientId: `${config.clientId}-${role}`,
    bootstrapBrokers: config.brokers,
    timeout: config.requestTimeoutMs ?? 30_000,
    retries: 5,
    retryDelay: 250,
  };
}
