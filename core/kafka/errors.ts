// Translates the Kafka client's errors into Tributary's error family. Only core/kafka sees
// the client's error classes; everything else sees KafkaError / ProducerFencedError.
import { KafkaError, ProducerFencedError, TributaryError } from '../errors/index.ts';

/** Broker error ids that mean "a newer producer owns this transactional.id / group generation". */
const FENCING_IDS = new Set([
  'PRODUCER_FENCED',
  'INVALID_PRODUCER_EPOCH',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'FENCED_INSTANCE_ID',
]);

interface ClientErrorLike {
  message?: string;
  code?: string;
  apiId?: string;
  canRetry?: boolean;
  errors?: unknown[];
  cause?: unknown;
}

/** Broker error ids (e.g. "PRODUCER_FENCED") found anywhere in the error tree. */
export function brokerErrorIds(err: unknown, out: string[] = [], depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 8) return out;
  const e = err as ClientErrorLike;
  if (typeof e.apiId === 'string') out.push(e.apiId);
  if (Array.isArray(e.errors)) for (const inner of e.errors) brokerErrorIds(inner, out, depth + 1);
  if (e.cause) brokerErrorIds(e.cause, out, depth + 1);
  return out;
}

function anyRetryable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 8) return false;
  const e = err as ClientErrorLike;
  if (e.canRetry === true) return true;
  if (Array.isArray(e.errors) && e.errors.some((inner) => anyRetryable(inner, depth + 1)))
    return true;
  return e.cause ? anyRetryable(e.cause, depth + 1) : false;
}

/** Messages of the innermost errors (e.g. "connect ECONNREFUSED 127.0.0.1:1"). */
function rootCauses(err: unknown, depth = 0): string[] {
  if (!err || typeof err !== 'object' || depth > 8) return [];
  const e = err as ClientErrorLike;
  const inner = [...(Array.isArray(e.errors) ? e.errors : []), ...(e.cause ? [e.cause] : [])];
  if (inner.length === 0) return e.message ? [e.message] : [];
  return inner.flatMap((i) => rootCauses(i, depth + 1));
}

/** Normalises a client error; `transactionalId` turns fencing errors into ProducerFencedError. */
export function toKafkaError(
  err: unknown,
  action: string,
  transactionalId?: string,
): TributaryError {
  if (err instanceof TributaryError) return err;
  const ids = brokerErrorIds(err);
  if (transactionalId !== undefined && ids.some((id) => FENCING_IDS.has(id))) {
    return new ProducerFencedError(transactionalId, { cause: err });
  }
  const e = (err ?? {}) as ClientErrorLike;
  const detail = ids.length > 0 ? ` [${[...new Set(ids)].join(', ')}]` : '';
  const root = rootCauses(err).filter((m) => m !== e.message);
  const because = root.length > 0 ? ` (${[...new Set(root)].slice(0, 2).join('; ')})` : '';
  return new KafkaError(`${action} failed: ${e.message ?? String(err)}${because}${detail}`, {
    cause: err,
    retryable: anyRetryable(err),
    kafkaCode: ids[0] ?? e.code,
  });
}
