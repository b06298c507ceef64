/**
 * Object keys: `<prefix>/<topic>/[<partition-path>/]<topic>+<partition>+<start offset, 20 digits>.parquet`.
 * The start offset makes the key a pure function of where the file starts, so a file written
 * again after a crash lands on the same key.
 */
export function objectKey(
  prefix: string,
  topic: string,
  partitionPath: string,
  partition: number,
  startOffset: bigint,
): string {
  const dir = partitionPath ? `${topic}/${partitionPath}` : topic;
  const name = `${topic}+${partition}+${startOffset.toString().padStart(20, '0')}.parquet`;
  return prefix ? `${prefix}/${dir}/${name}` : `${dir}/${name}`;
}

/** The directory under which every object of `topic` lives (for listing). */
export function topicPrefix(prefix: string, topic: string): string {
  return prefix ? `${prefix}/${topic}/` : `${topic}/`;
}

const NAME = /(?:^|\/)([^/]+)\+(\d+)\+(\d{20})\.parquet$/;

/** Topic, partition and start offset of an object key; undefined for other objects. */
export function parseObjectKey(
  key: string,
): { topic: string; partition: number; startOffset: bigint } | undefined {
  const m = NAME.exec(key);
  if (!m) return undefined;
  return { topic: m[1]!, partition: Number(m[2]), startOffset: BigInt(m[3]!) };
}

/** Hive-style path for `source-hour` partitioning: `dt=YYYY-MM-DD/hr=HH` (UTC). */
export function hourPath(sourceTsMs: number): string {
  const iso = new Date(sourceTsMs).toISOString(); // YYYY-MM-DDTHH:...
  return `dt=${iso.slice(0, 10)}/hr=${iso.slice(11, 13)}`;
}

/** Hive-style path for `table` partitioning; characters unsafe in keys become `_`. */
export function tablePath(table: string): string {
  return `table=${table.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}
