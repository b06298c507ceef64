// The one place that imports the Kafka client package (see docs/decisions/0001-kafka-client.md).
// Everything else uses the classes exported from core/kafka/index.ts.
export {
  Admin,
  ConnectionPool,
  Consumer,
  Producer,
  FetchIsolationLevels,
  fetchV17,
  createAPI,
  createRecordsBatch,
  crc32c,
  kGetApi,
  kGetConnection,
  produceV11,
  Reader,
  readRecordsBatch,
  ResponseError,
  Writer,
} from '@platformatic/kafka';
export type { Message, MessageToProduce, MessagesStream } from '@platformatic/kafka';

/**
 * Whether Tributary's own record batch codec is used (core/kafka/produce-api.ts, fetch-api.ts).
 * TRIBUTARY_KAFKA_CLIENT_CODEC=1 keeps the client's encoding and decoding instead, for
 * same-run benchmark baselines.
 */
export const ownRecordCodec = process.env.TRIBUTARY_KAFKA_CLIENT_CODEC !== '1';
import type { Producer as RawProducer } from '@platformatic/kafka';
/** The client's transaction handle (its class is not exported by the package index). */
export type Transaction<K, V, HK, HV> = NonNullable<RawProducer<K, V, HK, HV>['transaction']>;
import type { KafkaConfig } from './config.ts';
import { brokerErrorIds } from './errors.ts';

/**
 * Retry delay: CONCURRENT_TRANSACTIONS (the coordinator is still writing the previous
 * transaction's markers, which happens right after most commits) is retried after 2, 5, 10, 25
 * and 60 ms (102 ms over the 5 retries, as the flat 20 ms before); everything else backs off
 * exponentially from 100 ms up to 2 s.
 * Measured: with a flat 1 s delay transactional produce ran at 0.36× of idempotent produce,
 * with 20 ms at 0.92× (docs/decisions/0001-kafka-client.md). In the capture benchmark the
 * first AddPartitionsToTxn of a transaction waited 36 ms on average with 20 ms, 15 ms with
 * these delays.
 */
const CONCURRENT_TRANSACTIONS_DELAYS = [2, 5, 10, 25, 60];
function retryDelay(
  _client: unknown,
  _operation: string,
  attempt: number,
  _retries: number,
  error: Error,
): number {
  if (brokerErrorIds(error).includes('CONCURRENT_TRANSACTIONS'))
    return CONCURRENT_TRANSACTIONS_DELAYS[Math.min(attempt, 5) - 1] ?? 60;
  return Math.min(2_000, 100 * 2 ** Math.max(0, attempt - 1));
}

/**
 * TLS and SASL options of the client's connections (also for a ConnectionPool used directly).
 * The password is handed over as a function, so a dump of the client options never shows it.
 */
export function connectionOptions(config: KafkaConfig) {
  const { tls, sasl } = config;
  const password = sasl?.password;
  return {
    ...(tls
      ? {
          tls: {
            ...(tls.ca ? { ca: tls.ca } : {}),
            ...(tls.cert ? { cert: tls.cert } : {}),
            ...(tls.key ? { key: tls.key } : {}),
            rejectUnauthorized: tls.rejectUnauthorized ?? true,
          },
          ...(tls.servername ? { tlsServerName: tls.servername } : {}),
        }
      : {}),
    ...(sasl
      ? {
          sasl: {
            mechanism: sasl.mechanism,
            username: sasl.username,
            password: () => password ?? '',
          },
        }
      : {}),
  };
}

/** Options common to every client built from a KafkaConfig. */
export function baseOptions(config: KafkaConfig, role: string) {
  return {
    clientId: `${config.clientId}-${role}`,
    bootstrapBrokers: config.brokers,
    timeout: config.requestTimeoutMs ?? 30_000,
    retries: 5,
    retryDelay,
    ...connectionOptions(config),
  };
}
