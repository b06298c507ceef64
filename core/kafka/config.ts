/** Connection settings shared by every Kafka client Tributary creates. */
export interface KafkaConfig {
  /** host:port list; default from TRIBUTARY_KAFKA_BROKERS or 127.0.0.1:9092. */
  brokers: string[];
  /** Client id prefix shown in broker logs and quotas. */
  clientId: string;
  /** Per-request timeout in ms. */
  requestTimeoutMs?: number;
}

export function defaultKafkaConfig(clientId = 'tributary'): KafkaConfig {
  const brokers = (process.env.TRIBUTARY_KAFKA_BROKERS ?? '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return { brokers, clientId };
}
