/** Retry policy for store writes: which errors are transient, and how long to wait. */
import { TributaryError } from '../../core/errors/index.ts';

export interface BackoffPolicy {
  /** First delay (ms). */
  initialMs: number;
  /** Upper bound of any delay (ms). */
  maxMs: number;
}

/** Capped exponential backoff with ±20% jitter: attempt 1 waits ~initialMs. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random = Math.random): number {
  const base = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.round(Math.min(policy.maxMs, base * (0.8 + 0.4 * random()))));
}

/** Socket-level error codes that mean "the store is not reachable right now". */
const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ENOTCONN',
]);

/** True for errors worth retrying: flagged retryable, or a transient socket error anywhere in the cause chain. */
export function isRetryable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 8) return false;
  if (err instanceof TributaryError) return err.retryable;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && TRANSIENT_CODES.has(code)) return true;
  const errors = (err as { errors?: unknown }).errors;
  if (Array.isArray(errors) && errors.some((e) => isRetryable(e, depth + 1))) return true;
  return isRetryable((err as { cause?: unknown }).cause, depth + 1);
}

/** The error's class name, with its stable code when it has one, e.g. `RecordRejectedError(SINK_RECORD_REJECTED)`. */
export function errorClass(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? `${err.constructor.name}(${code})` : err.constructor.name;
  }
  return typeof err;
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
