/** Loads the Kafka client with its option validators compiled on first use. */
export function loadKafkaClient(): Promise<typeof import('@platformatic/kafka')>;
