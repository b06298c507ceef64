import { z } from 'zod';

const MiB = 1024 * 1024;

/** S3 Parquet sink settings (`sink: { type: s3-parquet, ... }`). */
export const s3ParquetSinkConfigSchema = z
  .object({
    type: z.literal('s3-parquet'),
    /**
     * Where the files go: `file:///absolute/dir[/prefix]` (local filesystem, the embedded default)
     * or `s3://bucket[/prefix]` (any S3-compatible store; see `endpoint`).
     */
    url: z
      .string()
      .regex(
        /^(file:\/\/\/|s3:\/\/[^/]+)/,
        'must be file:///absolute/path or s3://bucket[/prefix]',
      ),
    /** S3 endpoint for S3-compatible stores, e.g. http://127.0.0.1:4569 (default: AWS). */
    endpoint: z
      .string()
      .regex(/^https?:\/\//, 'must be an http:// or https:// URL')
      .optional(),
    region: z.string().min(1).default('us-east-1'),
    /** Path-style addressing (http://host/bucket/key), needed by most S3-compatible servers. */
    forcePathStyle: z.boolean().default(false),
    /** Explicit credentials; by default the AWS SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, ...). */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    /** Path partitioning under the topic: none, `dt=YYYY-MM-DD/hr=HH` of the source timestamp (UTC), or `table=<schema.table>`. */
    partitionBy: z.enum(['none', 'source-hour', 'table']).default('none'),
    compression: z.enum(['snappy', 'zstd']).default('snappy'),
    /**
     * Rows per Parquet row group. The values of one row group per partition are held as JS
     * objects until it is encoded: 10,000 (~5 MB of 500-byte rows) keeps that heap, and the
     * garbage collector's work, small (bench/README.md: 50,000 was ~25 % slower).
     */
    rowGroupRows: z.number().int().positive().default(10_000),
    /** Also write the before-row, as `__before_<column>` columns. */
    includeBefore: z.boolean().default(false),
    /** A file is closed and uploaded when any limit is reached (all deterministic in the input). */
    roll: z
      .object({
        /** Rows per file. */
        maxRecords: z.number().int().positive().default(100_000),
        /** Estimated row bytes (uncompressed) per file. */
        maxBytes: z
          .number()
          .int()
          .positive()
          .default(128 * MiB),
        /**
         * Width (ms) of the record-time windows (source timestamp): a record from a later window
         * than the file's first record starts a new file. Never the wall clock.
         */
        intervalMs: z.number().int().positive().default(3_600_000),
      })
      .strict()
      .prefault({}),
    /** A record whose row is estimated larger than this goes to the dead-letter topic. */
    maxRecordBytes: z
      .number()
      .int()
      .positive()
      .default(8 * MiB),
    /**
     * When Kafka retention deleted records the sink has not written yet (the partition's earliest
     * offset is past the offset after the newest stored file): `fail` (default) stops the sink
     * with an error naming the partition and the offsets; `skip` logs the gap and continues
     * from the earliest offset (the deleted records are missing from the output).
     */
    onGap: z.enum(['fail', 'skip']).default('fail'),
    /** Files larger than this are uploaded in parts of this size (S3 minimum 5 MiB). */
    partSizeBytes: z
      .number()
      .int()
      .min(5 * MiB)
      .default(16 * MiB),
  })
  .strict();

export type S3ParquetSinkConfigInput = z.input<typeof s3ParquetSinkConfigSchema>;
export type S3ParquetSinkConfig = z.infer<typeof s3ParquetSinkConfigSchema>;
