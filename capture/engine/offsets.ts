/**
 * Source offsets in a compacted Kafka topic, keyed by source name. Offsets are written inside
 * the same Kafka transaction as the change events they describe, so a reader with
 * read_committed sees an offset only together with its events.
 *
 * Format: JSON, versioned (`v: 1`); fields are only ever added. See test/fixtures/capture/offsets.
 */
import { ConfigError, TributaryError } from '../../core/errors/index.ts';
import { parseJson, stringifyJson } from '../../core/events/index.ts';
import { KafkaAdmin, TopicReader } from '../../core/kafka/index.ts';
import type { IncomingRecord, KafkaConfig, OutgoingRecord } from '../../core/kafka/index.ts';
import type { StoredOffset } from './types.ts';

export const DEFAULT_OFFSETS_TOPIC = 'tributary.offsets';

export async function ensureOffsetsTopic(admin: KafkaAdmin, topic: string): Promise<void> {
  await admin.ensureTopics([
    {
      name: topic,
      partitions: 1,
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
    },
  ]);
}

export function offsetRecord(topic: string, offset: StoredOffset): OutgoingRecord {
  return {
    topic,
    key: Buffer.from(offset.source),
    value: Buffer.from(stringifyJson(offset)),
  };
}

/** Parses a stored offset, accepting every version written so far. */
export function parseStoredOffset(text: string, source: string): StoredOffset {
  let v: unknown;
  try {
    v = parseJson(text);
  } catch (err) {
    throw new TributaryError('OFFSET_CORRUPT', `stored offset of source "${source}" is not JSON`, {
      cause: err,
    });
  }
  const o = v as Partial<StoredOffset> | null;
  if (!o || typeof o !== 'object' || o.v !== 1) {
    throw new TributaryError(
      'OFFSET_UNSUPPORTED',
      `stored offset of source "${source}" has unsupported format version ${JSON.stringify(o?.v)}; upgrade Tributary`,
    );
  }
  return {
    v: 1,
    source: o.source ?? source,
    position: o.position ?? null,
    ack: Number(o.ack ?? 0),
    snapshot: o.snapshot ?? null,
    connector: o.connector ?? {},
    ts_ms: Number(o.ts_ms ?? 0),
  };
}

/**
 * Reads the latest committed offset of `source` (read_committed, up to the last stable
 * offset). Call only after this instance's transactional producer is initialised, so that a
 * fenced predecessor can no longer add to it.
 *
 * The topic holds the offsets of every source, one record per Kafka transaction of each, and
 * compaction only thins out segments that are no longer active: read from the start it can be
 * millions of records. It is read from its end instead, a window at a time (READ_BACK_WINDOW
 * records, then 16 times as many before them, ...): a running source writes an offset with every
 * transaction, so its latest one is nearly always in the first window. With more than one
 * partition (a topic made elsewhere) a source's records may lie in any of them, and the whole
 * topic is read as before.
 */
export async function loadOffset(
  config: KafkaConfig,
  topic: string,
  source: string,
): Promise<StoredOffset | null> {
  if (!source) throw new ConfigError('name', 'source name is empty');
  const reader = new TopicReader(config, [topic], 'read_committed');
  // undefined: not seen yet; null: a tombstone (the offset was deleted).
  let latest: StoredOffset | null | undefined;
  const take = (records: IncomingRecord[]): void => {
    for (const r of records) {
      if (r.key?.toString() !== source) continue;
      latest = r.value === null ? null : parseStoredOffset(r.value.toString(), source);
    }
  };
  try {
    const partitions = await reader.open();
    if (partitions === 1)
      await reader.readBackwards(READ_BACK_WINDOW, (records) => {
        take(records);
        return latest !== undefined;
      });
    else await reader.readToEnd(take);
    return latest ?? null;
  } finally {
    await reader.close();
  }
}

/** Records of the offsets topic read at a time from its end (loadOffset). */
export const READ_BACK_WINDOW = 256;
