/** TLS settings of the Kafka connections; PEM strings, already resolved (no file references). */
export interface KafkaTlsConfig {
  /** CA certificate(s) (PEM) the broker certificate must chain to; default: Node's CA list. */
  ca?: string;
  /** Client certificate (PEM) for mutual TLS. */
  cert?: string;
  /** Client private key (PEM) for mutual TLS. */
  key?: string;
  /** Verify the broker certificate (default true; turn off only for local tests). */
  rejectUnauthorized?: boolean;
  /** SNI / certificate host name, when it is not the broker host. */
  servername?: string;
}

/** SASL authentication of the Kafka connections. */
export interface KafkaSaslConfig {
  mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  username: string;
  password: string;
}

/** Connection settings shared by every Kafka client Tributary creates. */
export interface KafkaConfig {
  /** host:port list; default from TRIBUTARY_KAFKA_BROKERS or 127.0.0.1:9092. */
  brokers: string[];
  /** Client id prefix shown in broker logs and quotas. */
  clientId: string;
  /** Per-request timeout in ms. */
  requestTimeoutMs?: number;
  /** Connect with TLS (omit for plaintext). */
  tls?: KafkaTlsConfig;
  /** Authenticate with SASL (omit when the listener needs none). */
  sasl?: KafkaSaslConfig;
}

export function defaultKafkaConfig(clientId = 'tributary'): KafkaConfig {
  const brokers = (process.env.TRIBUTARY_KAFKA_BROKERS ?? '127.0.0.1:9092')
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  return { brokers, clientId };
}
