/**
 * Java-compatible key partitioning: partition = toPositive(murmur2(keyBytes)) % numPartitions,
 * exactly as Kafka's DefaultPartitioner / BuiltInPartitioner does for keyed records, so JVM
 * producers, Kafka Streams and Tributary place the same key on the same partition.
 */
const M = 0x5bd1e995;
const SEED = 0x9747b28c;

/** murmur2 of data[start, end) (the whole array by default). */
export function murmur2(data: Uint8Array, start = 0, end = data.length): number {
  const length = end - start;
  let h = (SEED ^ length) | 0;
  const length4 = length >>> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = start + (i << 2);
    let k =
      (data[i4]! & 0xff) |
      ((data[i4 + 1]! & 0xff) << 8) |
      ((data[i4 + 2]! & 0xff) << 16) |
      ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, M);
    k ^= k >>> 24;
    k = Math.imul(k, M);
    h = Math.imul(h, M);
    h ^= k;
  }
  const rest = length & 3;
  const base = start + (length & ~3);
  if (rest === 3) h ^= (data[base + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[base + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[base]! & 0xff;
    h = Math.imul(h, M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, M);
  h ^= h >>> 15;
  return h | 0;
}

export function partitionForKey(key: Uint8Array, numPartitions: number): number {
  if (!Number.isInteger(numPartitions) || numPartitions < 1)
    throw new RangeError(`numPartitions must be >= 1, got ${numPartitions}`);
  return (murmur2(key) & 0x7fffffff) % numPartitions;
}
