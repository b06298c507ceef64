// Builds a runnable capture for one PostgreSQL source from its validated config.
import { CaptureEngine } from '../engine/engine.ts';
import type { EngineOptions } from '../engine/engine.ts';
import { RestartingCapture } from '../engine/restarting.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { PostgresSourceConfig } from './config.ts';
import { PostgresConnector } from './connector.ts';

export interface CaptureRunOptions {
  /** Kafka connection (brokers, TLS, SASL) instead of the config's plaintext `kafka.brokers`. */
  kafka?: KafkaConfig;
  log?: (message: string) => void;
  progressIntervalMs?: number;
  healthIntervalMs?: number;
}

/**
 * A capture of the source that starts again by itself after a retryable error (a Kafka leader
 * change, a timeout), resuming from its stored offset; see RestartingCapture.
 */
export function createPostgresCapture(
  config: PostgresSourceConfig,
  options: CaptureRunOptions = {},
): RestartingCapture {
  const engineOptions = captureEngineOptions(config, options);
  return new RestartingCapture(
    () => new CaptureEngine(new PostgresConnector(config, engineOptions.log), engineOptions),
    engineOptions.log,
  );
}

/** The engine options of a PostgreSQL source (for createPostgresCapture and tests). */
export function captureEngineOptions(
  config: PostgresSourceConfig,
  options: CaptureRunOptions = {},
): EngineOptions {
  return {
    source: config.name,
    kafka: options.kafka ?? {
      brokers: config.kafka.brokers,
      clientId: `tributary-capture-${config.name}`,
    },
    offsetsTopic: config.kafka.offsetsTopic,
    format: config.format,
    tombstonesOnDelete: config.tombstonesOnDelete,
    batchSize: config.publisher.batchSize,
    lingerMs: config.publisher.lingerMs,
    maxBuffered: config.publisher.maxBuffered,
    snapshotMode: config.snapshot.mode,
    snapshotChunkSize: config.snapshot.chunkSize,
    onSlotLoss: config.onSlotLoss,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    healthIntervalMs: options.healthIntervalMs ?? 5_000,
    progressIntervalMs: options.progressIntervalMs ?? 2_000,
    log: options.log ?? ((m: string) => console.log(`[capture ${config.name}] ${m}`)),
  };
}

export { loadPostgresSource, parsePostgresSource } from './config.ts';
export type { PostgresSourceConfig } from './config.ts';
export { emitSnapshotSignal } from './signal.ts';
export type { SignalResult } from './signal.ts';
