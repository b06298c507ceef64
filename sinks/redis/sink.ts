/**
 * Redis sink: one value per key (the after-row as a JSON string, or a hash with one field per
 * column; null columns are left out of the hash) next to a version key, written by a Lua
 * compare-and-set that only writes a record whose version is newer than the stored one — atomic
 * in Redis. The version key stays after a delete, so an older insert replayed later cannot
 * resurrect the value. Versions are stored as 20-digit zero-padded decimals so the script
 * compares uint64 versions as strings (Lua numbers are doubles and would lose precision above
 * 2^53).
 *
 * Per batch, only the newest record per Redis key is sent (an older one in the same batch would
 * lose the compare anyway; on equal versions the first wins, as the compare-and-set would
 * decide), and one script call handles a chunk of up to CHUNK_RECORDS records: one MGET of their
 * version keys, then one MSET of the winning values and versions (and one DEL of the deleted
 * keys) instead of a GET and two SETs per record. Each script call is atomic, so the
 * compare-and-set per key is too. All chunks of a batch go in one pipeline; "durable" means
 * applied by the server (persistence is the server's AOF/RDB policy). A chunk names many keys,
 * so Redis Cluster is not supported (the sink opens one standalone connection).
 */
import { Redis } from 'ioredis';
import { stringifyJson } from '../../core/events/index.ts';
import { stringifyFlat } from '../../core/events/json.ts';
import type { Row, RowKey } from '../../core/events/index.ts';
import type { RejectedRecord, Sink, SinkRecord, WriteResult } from '../runtime/sink.ts';
import { RecordRejectedError, RetryableSinkError, partialRowError } from '../runtime/sink.ts';
import type { KeyedWrite } from '../runtime/sink.ts';
import type { RedisSinkConfig } from './config.ts';

/**
 * KEYS: value key and version key per record, in pairs. ARGV[1]: TTL in seconds (0 = none);
 * then per record: padded version, op, and for op 's' the JSON value, for op 'h' the number of
 * hash arguments followed by field, value, ... (op 'd' has nothing more).
 * Returns the number of records applied.
 */
const CAS_SCRIPT = `
local ttl = tonumber(ARGV[1])
local n = #KEYS / 2
local vkeys = {}
for i = 1, n do vkeys[i] = KEYS[2 * i] end
local current = redis.call('MGET', unpack(vkeys))
local mset, dels = {}, {}
local applied = 0
local a = 2
for i = 1, n do
  local ver, op = ARGV[a], ARGV[a + 1]
  local k, vk = KEYS[2 * i - 1], KEYS[2 * i]
  local cur = current[i]
  local win = (not cur) or cur < ver
  local nargs = 0
  if op == 's' then
    if win then
      if ttl > 0 then
        redis.call('SET', k, ARGV[a + 2], 'EX', ttl)
      else
        mset[#mset + 1] = k
        mset[#mset + 1] = ARGV[a + 2]
      end
    end
    a = a + 3
  elseif op == 'h' then
    nargs = tonumber(ARGV[a + 2])
    if win then
      redis.call('DEL', k)
      if nargs > 0 then redis.call('HSET', k, unpack(ARGV, a + 3, a + 2 + nargs)) end
      if ttl > 0 then redis.call('EXPIRE', k, ttl) end
    end
    a = a + 3 + nargs
  else
    if win then dels[#dels + 1] = k end
    a = a + 2
  end
  if win then
    applied = applied + 1
    if ttl > 0 then
      redis.call('SET', vk, ver, 'EX', ttl)
    else
      mset[#mset + 1] = vk
      mset[#mset + 1] = ver
    end
  end
end
if #dels > 0 then redis.call('DEL', unpack(dels)) end
if #mset > 0 then redis.call('MSET', unpack(mset)) end
return applied
`;

/** Records per script call: bounds the time one call holds Redis and Lua's unpack() size. */
const CHUNK_RECORDS = 500;
/** ...and the argument bytes per script call. */
const CHUNK_BYTES = 1 << 20;

/** Server replies that mean "try again later", not "this record is bad". */
const TRANSIENT_REPLY = /^(OOM|READONLY|LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)/;

export function padVersion(v: bigint): string {
  return v.toString().padStart(20, '0');
}

type KeyParts = Pick<KeyedWrite, 'topic' | 'key'>;

/**
 * Compiles a key template once into a function rendering it for one write; the function throws
 * RecordRejectedError for a missing key column or an unknown placeholder.
 */
export function compileKey(template: string): (w: KeyParts) => string {
  const parts: Array<string | ((w: KeyParts) => string)> = [];
  let last = 0;
  for (const m of template.matchAll(/\$\{([^}]+)\}/g)) {
    if (m.index > last) parts.push(template.slice(last, m.index));
    last = m.index + m[0].length;
    const name = m[1]!;
    if (name === 'topic') parts.push((w) => w.topic);
    else if (name === 'table') parts.push((w) => w.topic.slice(w.topic.lastIndexOf('.') + 1));
    else if (name === 'key') parts.push((w) => Object.values(w.key).map(String).join(':'));
    else if (name.startsWith('key.')) {
      const col = name.slice(4);
      parts.push((w) => {
        const v = w.key[col];
        if (!(col in w.key) || v === null)
          throw new RecordRejectedError(
            `key template needs column "${col}" but the record key has ${Object.keys(w.key).join(', ') || 'no columns'}`,
          );
        return String(v);
      });
    } else
      parts.push(() => {
        throw new RecordRejectedError(`unknown placeholder \${${name}} in the key template`);
      });
  }
  if (last < template.length) parts.push(template.slice(last));
  return (w) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(w);
    return out;
  };
}

/** Renders the key template for one write; throws RecordRejectedError for a missing column. */
export function renderKey(template: string, w: KeyParts): string {
  return compileKey(template)(w);
}

/** One record's effect on its Redis key, ready to send. */
interface RedisWrite {
  index: number;
  key: string;
  version: bigint;
  deleted: boolean;
  row: Row | null;
}

type ScriptRedis = Redis & { tributaryCas(...args: string[]): Promise<number> };

export class RedisSink implements Sink {
  private redis: ScriptRedis | undefined;
  private readonly renderKey: (w: KeyParts) => string;
  private readonly counters = { applied: 0, superseded: 0 };

  constructor(
    readonly name: string,
    private readonly config: RedisSinkConfig,
  ) {
    this.renderKey = compileKey(config.key);
  }

  async open(): Promise<void> {
    const redis = new Redis(this.config.url, {
      lazyConnect: true,
      // Fail fast while disconnected: the runtime owns retries and pauses consumption.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    redis.on('error', () => undefined); // reported through the failing commands
    redis.defineCommand('tributaryCas', { lua: CAS_SCRIPT });
    try {
      await redis.connect();
    } catch (err) {
      redis.disconnect();
      throw new RetryableSinkError(`connecting to Redis: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.redis = redis as ScriptRedis;
  }

  metrics(): Record<string, number> {
    return { ...this.counters };
  }

  async writeBatch(records: SinkRecord[]): Promise<WriteResult> {
    const rejected: RejectedRecord[] = [];
    // The newest write per Redis key (first one on equal versions, as the script would keep).
    const latest = new Map<string, RedisWrite>();
    for (let index = 0; index < records.length; index++) {
      const r = records[index]!;
      let key: RowKey;
      let row: Row | null;
      let version: bigint;
      if (r.kind === 'tombstone') {
        key = r.tombstone.key;
        version = r.tombstone.version;
        row = null;
      } else {
        key = r.event.key;
        version = r.event.version;
        row = r.event.value.op === 'd' ? null : r.event.value.after;
        if (row !== null && r.event.headers?.['tributary.unavailable']) {
          const unavailable = r.event.headers['tributary.unavailable']
            .split(',')
            .map((c) => c.trim())
            .filter(Boolean);
          if (unavailable.length > 0) {
            rejected.push({
              index,
              error: partialRowError({ topic: r.topic, key, unavailable } as KeyedWrite),
            });
            continue;
          }
        }
      }
      let redisKey: string;
      try {
        redisKey = this.renderKey({ topic: r.topic, key });
      } catch (err) {
        rejected.push({ index, error: err as Error });
        continue;
      }
      const prev = latest.get(redisKey);
      if (prev && prev.version >= version) {
        this.counters.superseded++;
        continue;
      }
      if (prev) this.counters.superseded++;
      latest.set(redisKey, { index, key: redisKey, version, deleted: row === null, row });
    }
    if (latest.size === 0) return { rejected };

    const hash = this.config.valueFormat === 'hash';
    const suffix = this.config.versionSuffix;
    const pipeline = this.redis!.pipeline() as unknown as ScriptRedis & {
      exec(): Promise<Array<[Error | null, unknown]> | null>;
    };
    const chunks: RedisWrite[][] = [];
    let chunk: RedisWrite[] = [];
    let keys: string[] = [];
    let args: string[] = [String(this.config.ttlSeconds)];
    let bytes = 0;
    const send = (): void => {
      void pipeline.tributaryCas(String(keys.length), ...keys, ...args);
      chunks.push(chunk);
      chunk = [];
      keys = [];
      args = [String(this.config.ttlSeconds)];
      bytes = 0;
    };
    for (const w of latest.values()) {
      keys.push(w.key, w.key + suffix);
      const version = padVersion(w.version);
      if (w.row === null) args.push(version, 'd');
      else if (hash) {
        const fields: string[] = [];
        for (const [c, v] of Object.entries(w.row))
          if (v !== null) fields.push(c, typeof v === 'string' ? v : stringifyJson(v));
        args.push(version, 'h', String(fields.length), ...fields);
        for (const f of fields) bytes += f.length;
      } else {
        const value = stringifyFlat(w.row);
        args.push(version, 's', value);
        bytes += value.length;
      }
      chunk.push(w);
      if (chunk.length >= CHUNK_RECORDS || bytes >= CHUNK_BYTES) send();
    }
    if (chunk.length > 0) send();

    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw new RetryableSinkError(`Redis pipeline failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    if (!results) throw new RetryableSinkError('Redis pipeline was discarded');
    for (const [i, [err, applied]] of results.entries()) {
      if (!err) {
        this.counters.applied += Number(applied);
        continue;
      }
      if (err.name !== 'ReplyError' || TRANSIENT_REPLY.test(err.message))
        throw new RetryableSinkError(`Redis: ${err.message}`, { cause: err });
      const failed = chunks[i]!;
      // Several records in one script call: the runtime bisects the batch to find the one.
      if (failed.length > 1) throw new RecordRejectedError(`Redis: ${err.message}`, { cause: err });
      rejected.push({
        index: failed[0]!.index,
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
