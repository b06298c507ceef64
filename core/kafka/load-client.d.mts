/** The path of the Kafka client's own copy of ajv's 2020 module. */
export function clientAjvPath(): string;
/** Loads the Kafka client with its option validators compiled on first use. */
export function loadKafkaClient(): Promise<typeof import('@platformatic/kafka')>;
