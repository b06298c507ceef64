// A correct read_committed filter for fetch responses.
//
// @platformatic/kafka 1.35 filters aborted transactions with one range per producer id, so when
// one producer aborted several transactions inside a single fetch response (a processor that
// aborts often does exactly that) the earlier aborted records are delivered as if committed.
// KafkaPartitionConsumer sends Fetch itself and filters every response here, the way the Java client does (Fetcher /
// CompletedFetch): walk the batches in offset order, a producer id enters the "aborted" set when
// the broker's abortedTransactions list says one of its aborted transactions starts at or before
// the batch, and leaves it at that producer's ABORT control marker. Aborted batches are kept
// with an empty record list so that position tracking (last offset + 1) stays exact.

const IS_TRANSACTIONAL = 1 << 4;
const IS_CONTROL = 1 << 5;
const CONTROL_TYPE_ABORT = 0;

interface RawRecord {
  key?: Buffer | null;
}
interface RawBatch {
  firstOffset: bigint;
  lastOffsetDelta: number;
  attributes: number;
  producerId: bigint;
  records: RawRecord[];
}
interface RawPartition {
  abortedTransactions?: { producerId: bigint; firstOffset: bigint }[];
  records?: RawBatch[];
}
export interface RawFetchResponse {
  responses: { topicId: string; partitions: RawPartition[] }[];
}

/** Empties the records of every batch that belongs to an aborted transaction (in place). */
export function dropAbortedBatches(
  batches: RawBatch[],
  aborted: RawPartition['abortedTransactions'],
): void {
  if (!aborted || aborted.length === 0) return;
  const pending = [...aborted].sort((a, b) =>
    a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0,
  );
  let next = 0;
  const abortedProducers = new Set<bigint>();
  for (const batch of batches) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (next < pending.length && pending[next]!.firstOffset <= lastOffset)
      abortedProducers.add(pending[next++]!.producerId);
    if (batch.attributes & IS_CONTROL) {
      const key = batch.records[0]?.key;
      if (key && key.length >= 4 && key.readInt16BE(2) === CONTROL_TYPE_ABORT)
        abortedProducers.delete(batch.producerId);
      continue;
    }
    if (batch.attributes & IS_TRANSACTIONAL && abortedProducers.has(batch.producerId))
      batch.records = [];
  }
}

export function filterAbortedTransactions(response: RawFetchResponse): void {
  for (const topic of response.responses ?? [])
    for (const partition of topic.partitions)
      if (partition.records) dropAbortedBatches(partition.records, partition.abortedTransactions);
}
