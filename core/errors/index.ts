/**
 * Tributary's error family. Every error that crosses a component boundary is a TributaryError
 * with a stable `code` (for programs and dashboards) and a `retryable` flag (for the retry policy):
 * permanent errors fail fast with a message that says what to do; retryable ones are retried
 * with capped exponential backoff by the caller. Unknown throws are normalised with `toTributaryError`.
 */
export interface TributaryErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  details?: Record<string, unknown>;
}

export class TributaryError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: string, message: string, options: TributaryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

/** Invalid configuration or request: names the exact path, never retryable. */
export class ConfigError extends TributaryError {
  constructor(
    readonly path: string,
    message: string,
    options: Omit<TributaryErrorOptions, 'retryable'> = {},
  ) {
    super('CONFIG_INVALID', path ? `${path}: ${message}` : message, {
      ...options,
      retryable: false,
    });
  }
}

/** A change event that does not satisfy the ChangeEvent contract (a poison record). */
export class ChangeEventError extends TributaryError {
  constructor(
    readonly path: string,
    message: string,
    options: Omit<TributaryErrorOptions, 'retryable'> = {},
  ) {
    super('CHANGE_EVENT_INVALID', `${path}: ${message}`, { ...options, retryable: false });
  }
}

/** A Kafka operation failed. `retryable` mirrors what the broker/client says. */
export class KafkaError extends TributaryError {
  constructor(message: string, options: TributaryErrorOptions & { kafkaCode?: string } = {}) {
    super('KAFKA_ERROR', message, {
      ...options,
      details: { ...options.details, kafkaCode: options.kafkaCode },
    });
  }
}

/**
 * Another producer with the same transactional.id took over: this instance is a zombie and must
 * stop writing. Never retryable: the owner of the id is now someone else.
 */
export class ProducerFencedError extends TributaryError {
  constructor(transactionalId: string, options: { cause?: unknown } = {}) {
    super(
      'PRODUCER_FENCED',
      `producer with transactional.id "${transactionalId}" was fenced by a newer instance; this instance must stop`,
      { ...options, retryable: false, details: { transactionalId } },
    );
  }
}

/** Wraps anything thrown into a TributaryError (keeping the original as `cause`). */
export function toTributaryError(err: unknown, code = 'INTERNAL'): TributaryError {
  if (err instanceof TributaryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new TributaryError(code, message, { cause: err, retryable: false });
}
