/**
 * Redis sink: one value per key (the after-row as a JSON string, or a hash with one field per
 * column; null columns are left out of the hash), written by one Lua script
 * per record that compares the record's version with the version kept next to the value and
 * only then SETs (or DELs) it — a compare-and-set that is atomic in Redis. The version key stays
 * after a delete, so an older insert replayed later cannot resurrect the value.
 * Versions are stored as 20-digit zero-padded decimals so the script compares uint64 versions
 * as strings (Lua numbers are doubles and would lose precision above 2^53).
 * A batch is one pipeline; "durable" means applied by the server (persistence is the server's
 * AOF/RDB policy). In Redis Cluster the value and version keys must hash to one slot: put a
 * hash tag in the key template (e.g. `{${table}:${key}}`).
 */
import { Redis } from 'ioredis';
import { stringifyJson } from '../../core/events/index.ts';
import type { RejectedRecord, Sink, SinkRecord, WriteResult } from '../runtime/sink.ts';
import {
  RecordRejectedError,
  RetryableSinkError,
  keyedWrite,
  partialRowError,
} from '../runtime/sink.ts';
import type { KeyedWrite } from '../runtime/sink.ts';
import type { RedisSinkConfig } from './config.ts';

const CAS_SCRIPT = `
local current = redis.call('GET', KEYS[2])
if current and current >= ARGV[1] then return 0 end
local ttl = tonumber(ARGV[4])
if ARGV[2] == 'del' then
  redis.call('DEL', KEYS[1])
elseif ARGV[2] == 'hash' then
  redis.call('DEL', KEYS[1])
  if #ARGV > 4 then redis.call('HSET', KEYS[1], unpack(ARGV, 5)) end
  if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
elseif ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'EX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[3])
end
if ttl > 0 then redis.call('SET', KEYS[2], ARGV[1], 'EX', ttl) else redis.call('SET', KEYS[2], ARGV[1]) end
return 1
`;

/** Server replies that mean "try again later", not "this record is bad". */
const TRANSIENT_REPLY = /^(OOM|READONLY|LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)/;

export function padVersion(v: bigint): string {
  return v.toString().padStart(20, '0');
}

/** Renders the key template for one write; throws RecordRejectedError for a missing column. */
export function renderKey(template: string, w: Pick<KeyedWrite, 'topic' | 'key'>): string {
  const segments = w.topic.split('.');
  return template.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
    if (name === 'topic') return w.topic;
    if (name === 'table') return segments[segments.length - 1] ?? w.topic;
    if (name === 'key') return Object.values(w.key).map(String).join(':');
    if (name.startsWith('key.')) {
      const col = name.slice(4);
      if (!(col in w.key) || w.key[col] === null)
        throw new RecordRejectedError(
          `key template needs column "${col}" but the record key has ${Object.keys(w.key).join(', ') || 'no columns'}`,
        );
      return String(w.key[col]);
    }
    throw new RecordRejectedError(`unknown placeholder \${${name}} in the key template`);
  });
}

type CasRedis = Redis & {
  tributaryCas(
    k: string,
    vk: string,
    ver: string,
    op: string,
    val: string,
    ttl: string,
    ...fields: string[]
  ): Promise<number>;
};

export class RedisSink implements Sink {
  private redis: CasRedis | undefined;

  constructor(
    readonly name: string,
    private readonly config: RedisSinkConfig,
  ) {}

  async open(): Promise<void> {
    const redis = new Redis(this.config.url, {
      lazyConnect: true,
      // Fail fast while disconnected: the runtime owns retries and pauses consumption.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    redis.on('error', () => undefined); // reported through the failing commands
    redis.defineCommand('tributaryCas', { numberOfKeys: 2, lua: CAS_SCRIPT });
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new RetryableSinkError(`connecting to Redis: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.redis = redis as CasRedis;
  }

  async writeBatch(records: SinkRecord[]): Promise<WriteResult> {
    const rejected: RejectedRecord[] = [];
    const pipeline = this.redis!.pipeline() as unknown as CasRedis & {
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    const sent: number[] = [];
    records.forEach((r, index) => {
      const w = keyedWrite(r, index);
      if (w.row !== null && w.unavailable.length > 0) {
        rejected.push({ index, error: partialRowError(w) });
        return;
      }
      let key: string;
      try {
        key = renderKey(this.config.key, w);
      } catch (err) {
        rejected.push({ index, error: err as Error });
        return;
      }
      const hash = this.config.valueFormat === 'hash';
      const fields: string[] = [];
      if (hash && w.row)
        for (const [c, v] of Object.entries(w.row))
          if (v !== null) fields.push(c, typeof v === 'string' ? v : stringifyJson(v));
      void pipeline.tributaryCas(
        key,
        key + this.config.versionSuffix,
        padVersion(w.version),
        w.row === null ? 'del' : hash ? 'hash' : 'set',
        w.row === null || hash ? '' : stringifyJson(w.row),
        String(this.config.ttlSeconds),
        ...fields,
      );
      sent.push(index);
    });
    if (sent.length === 0) return { rejected };
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw new RetryableSinkError(`Redis pipeline failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (!results) throw new RetryableSinkError('Redis pipeline was discarded');
    for (const [i, [err]] of results.entries()) {
      if (!err) continue;
      if (err.name !== 'ReplyError' || TRANSIENT_REPLY.test(err.message))
        throw new RetryableSinkError(`Redis: ${err.message}`, { cause: err });
      rejected.push({
        index: sent[i]!,
        error: new RecordRejectedError(`Redis: ${err.message}`, { cause: err }),
      });
    }
    return { rejected };
  }

  async close(): Promise<void> {
    const r = this.redis;
    this.redis = undefined;
    if (r) await r.quit().catch(() => r.disconnect());
  }
}
