/** A record to produce. `partition` is computed from the key (Java-compatible) when absent. */
export interface OutgoingRecord {
  topic: string;
  key: Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string | Buffer>;
  partition?: number;
  timestamp?: bigint;
}

/** A consumed record. Header values are raw bytes (decode with `.toString()`). */
export interface IncomingRecord {
  topic: string;
  partition: number;
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  timestamp: bigint;
}

/** A topic-partition position: the next offset to read. */
export interface TopicPartitionOffset {
  topic: string;
  partition: number;
  offset: bigint;
}
