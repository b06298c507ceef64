/**
 * The client's Produce request (v11) with Tributary's record batch encoder.
 *
 * The producer keeps everything else of the client: metadata, partition leaders, idempotent
 * sequences, transactions (AddPartitionsToTxn, EndTxn), retries and response handling. Only the
 * function that turns the messages of one request into bytes is replaced, through the client's
 * API lookup: when the client picks Produce v11 for a broker, it gets the same API with
 * `encodeRecordBatch` (record-batch.ts) in place of its own batch encoding. Any other version,
 * and compressed batches, stay on the client's code.
 */
import { createAPI, createRecordsBatch, kGetApi, produceV11, Writer } from './client.ts';
import type { Producer } from './client.ts';
import { encodeRecordBatch } from './record-batch.ts';
import type { BatchMessage } from './record-batch.ts';

type ProduceOptions = {
  compression?: string;
  producerId?: bigint;
  producerEpoch?: number;
  sequences?: { getWithDefault(key: string, fallback: number): number };
  transactionalId?: string | null;
  partitionLeaderEpoch?: number;
};

/** Messages grouped by a property, in first-seen order of the property's values. */
function groupBy<K extends 'topic' | 'partition'>(
  messages: BatchMessage[],
  property: K,
): [NonNullable<BatchMessage[K]>, BatchMessage[]][] {
  const groups = new Map<NonNullable<BatchMessage[K]>, BatchMessage[]>();
  for (const m of messages) {
    const k = m[property]!;
    const g = groups.get(k);
    if (g) g.push(m);
    else groups.set(k, [m]);
  }
  return [...groups];
}

function recordBatch(messages: BatchMessage[], options: ProduceOptions): Buffer {
  if ((options.compression ?? 'none') !== 'none') {
    const writer = createRecordsBatch(
      messages as Parameters<typeof createRecordsBatch>[0],
      options as Parameters<typeof createRecordsBatch>[1],
    );
    return writer.buffer;
  }
  const first = messages[0]!;
  return encodeRecordBatch(messages, {
    producerId: options.producerId ?? -1n,
    producerEpoch: options.producerEpoch ?? 0,
    firstSequence: options.sequences
      ? options.sequences.getWithDefault(`${first.topic}:${first.partition}`, 0)
      : 0,
    transactional: Boolean(options.transactionalId),
    partitionLeaderEpoch: options.partitionLeaderEpoch ?? 0,
  });
}

/*
  Produce Request (Version: 11) => transactional_id acks timeout_ms [topic_data] TAG_BUFFER
    topic_data => name [partition_data] TAG_BUFFER
      partition_data => index records TAG_BUFFER
*/
export function createProduceRequest(
  acks = 1,
  timeout = 0,
  topicData: BatchMessage[],
  options: ProduceOptions = {},
): Writer {
  const now = BigInt(Date.now());
  for (const m of topicData) {
    if (m.partition === undefined) m.partition = 0;
    if (m.timestamp === undefined) m.timestamp = now;
  }
  const writer = Writer.create()
    .appendString(options.transactionalId ?? null)
    .appendInt16(acks)
    .appendInt32(timeout)
    .appendArray(groupBy(topicData, 'topic'), (w, [topic, messages]) => {
      w.appendString(topic).appendArray(groupBy(messages, 'partition'), (w, [partition, batch]) => {
        const records = recordBatch(batch, options);
        w.appendInt32(Number(partition))
          .appendUnsignedVarInt(records.length + 1)
          .append(records);
      });
    })
    .appendTaggedFields();
  if (acks === 0) writer.context.noResponse = true;
  return writer;
}

const fastProduceV11 = createAPI(0, 11, createProduceRequest, produceV11.parseResponse);

type ApiLookup = (name: string, callback: (error: Error | null, api?: unknown) => void) => void;

/** Makes `producer` encode its Produce requests with createProduceRequest (see above). */
export function useFastProduce(producer: Producer<Buffer, Buffer, string, Buffer>): void {
  const target = producer as unknown as Record<typeof kGetApi, ApiLookup>;
  const lookup = target[kGetApi];
  if (typeof lookup !== 'function') return; // a client without the hook: keep its encoding
  target[kGetApi] = function (this: unknown, name, callback) {
    if (name !== 'Produce') return lookup.call(this, name, callback);
    lookup.call(this, name, (error, api) => {
      const version = (api as { version?: number } | undefined)?.version;
      callback(error, !error && version === 11 ? fastProduceV11 : api);
    });
  };
}
