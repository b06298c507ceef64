// Tributary's Kafka layer. Nothing outside core/kafka imports the client package directly
// (enforced by eslint's no-restricted-imports), so the client can be swapped in one place.
export { KafkaAdmin } from './admin.ts';
export type { TopicSpec } from './admin.ts';
export { defaultKafkaConfig } from './config.ts';
export type { KafkaConfig, KafkaSaslConfig, KafkaTlsConfig } from './config.ts';
export { KafkaConsumer } from './consumer.ts';
export type { ConsumerOptions } from './consumer.ts';
export { KafkaPartitionConsumer } from './partition-consumer.ts';
export type {
  FetchedPartition,
  GroupAssignment,
  GroupGeneration,
  PartitionConsumerOptions,
  TopicPartition,
} from './partition-consumer.ts';
export { filterAbortedTransactions } from './read-committed.ts';
export { KafkaProducer, KafkaTransaction, TransactionalProducer } from './producer.ts';
export { RecordPack, unpackRecords } from './record-pack.ts';
export type { PackedRecords } from './record-pack.ts';
export { startProducerThreadEarly, ThreadedTransactionalProducer } from './threaded-producer.ts';
export { murmur2, partitionForKey } from './partitioner.ts';
export type { IncomingRecord, OutgoingRecord, TopicPartitionOffset } from './records.ts';
export { TopicReader } from './topic-reader.ts';
