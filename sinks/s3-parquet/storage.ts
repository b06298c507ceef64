/**
 * Where files go: an S3-compatible bucket (AWS SDK v3) or a local directory. Both store a file
 * atomically under its key (S3: one PUT or a completed multipart upload; filesystem: write a
 * temporary file, fsync, rename), so a reader never sees half a file and writing the same key
 * again replaces it whole.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { parquetMetadata } from 'hyparquet';
import { TributaryError } from '../../core/errors/index.ts';
import { RetryableSinkError } from '../runtime/sink.ts';
import type { S3ParquetSinkConfig } from './config.ts';

/** Object metadata key (S3 `x-amz-meta-…`) and Parquet key-value metadata key of the end offset. */
export const END_OFFSET_KEY = 'tributary-end-offset';

export interface ObjectStore {
  /** Key prefix inside the store (from the URL path), without leading or trailing `/`. */
  readonly prefix: string;
  /** Every key under `prefix` (recursively). */
  list(prefix: string): Promise<string[]>;
  /** The end offset recorded with the object (metadata, else the Parquet footer). */
  endOffset(key: string): Promise<bigint>;
  /** Stores `body` under `key` atomically with `metadata`. */
  put(key: string, body: Uint8Array, metadata: Record<string, string>): Promise<void>;
  close(): Promise<void>;
}

export function createObjectStore(config: S3ParquetSinkConfig): ObjectStore {
  return config.url.startsWith('file://') ? new FileStore(config.url) : new S3Store(config);
}

/** The end offset from a Parquet file's key-value metadata. */
function footerEndOffset(file: ArrayBuffer, key: string): bigint {
  const kv = parquetMetadata(file).key_value_metadata ?? [];
  const v = kv.find((e) => e.key === END_OFFSET_KEY)?.value;
  if (v === undefined || !/^\d+$/.test(v))
    throw new TributaryError('SINK_BAD_OBJECT', `${key} has no ${END_OFFSET_KEY} metadata`);
  return BigInt(v);
}

/** A local directory (`file:///dir`). */
export class FileStore implements ObjectStore {
  readonly prefix = '';
  private readonly root: string;

  constructor(url: string) {
    this.root = fileURLToPath(url);
  }

  async list(prefix: string): Promise<string[]> {
    const start = join(this.root, prefix);
    const out: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const e of entries) {
        const p = join(dir, e.name);
        if (e.isDirectory()) await walk(p);
        else if (e.name.endsWith('.parquet')) out.push(relative(this.root, p).split(sep).join('/'));
      }
    };
    await walk(start);
    return out;
  }

  async endOffset(key: string): Promise<bigint> {
    const fh = await open(join(this.root, key), 'r');
    try {
      const { size } = await fh.stat();
      const buf = Buffer.alloc(size);
      await fh.read(buf, 0, size, 0);
      return footerEndOffset(buf.buffer.slice(buf.byteOffset, buf.byteOffset + size), key);
    } finally {
      await fh.close();
    }
  }

  async put(key: string, body: Uint8Array): Promise<void> {
    const path = join(this.root, key);
    await mkdir(dirname(path), { recursive: true });
    // A temporary name without the .parquet suffix: listings and readers ignore it.
    const tmp = `${path}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
    try {
      const fh = await open(tmp, 'w');
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    const dir = await open(dirname(path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async close(): Promise<void> {}
}

/** True for S3 failures worth retrying: throttling, 5xx, timeouts, dropped connections. */
function transientS3(err: unknown): boolean {
  const e = err as { $metadata?: { httpStatusCode?: number }; $retryable?: unknown; name?: string };
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined) return status >= 500 || status === 429 || status === 408;
  return true; // no HTTP response at all: the network failed
}

function s3Error(what: string, err: unknown): Error {
  const message = `${what}: ${(err as Error).message || (err as Error).name}`;
  return transientS3(err)
    ? new RetryableSinkError(message, { cause: err })
    : new TributaryError('SINK_S3_ERROR', message, { cause: err, retryable: false });
}

/** An S3-compatible bucket (`s3://bucket[/prefix]`). */
export class S3Store implements ObjectStore {
  readonly prefix: string;
  private readonly bucket: string;
  private readonly client: S3Client;

  constructor(private readonly config: S3ParquetSinkConfig) {
    const rest = config.url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    this.bucket = slash < 0 ? rest : rest.slice(0, slash);
    this.prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      // The runtime retries whole files with backoff; the SDK retries each request once more.
      maxAttempts: 2,
      // Checksums only where S3 requires them: many S3-compatible servers reject the SDK's
      // default trailing checksums.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.accessKeyId && config.secretAccessKey
        ? {
            credentials: {
              accessKeyId: config.accessKeyId,
              secretAccessKey: config.secretAccessKey,
            },
          }
        : {}),
    });
  }

  async list(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    try {
      do {
        const r = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const o of r.Contents ?? []) if (o.Key?.endsWith('.parquet')) out.push(o.Key);
        token = r.IsTruncated ? r.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw s3Error(`listing s3://${this.bucket}/${prefix}`, err);
    }
    return out;
  }

  async endOffset(key: string): Promise<bigint> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      const v = head.Metadata?.[END_OFFSET_KEY];
      if (v !== undefined && /^\d+$/.test(v)) return BigInt(v);
      const body = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      const bytes = await body.Body!.transformToByteArray();
      return footerEndOffset(
        bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length) as ArrayBuffer,
        key,
      );
    } catch (err) {
      if (err instanceof TributaryError) throw err;
      throw s3Error(`reading the metadata of s3://${this.bucket}/${key}`, err);
    }
  }

  async put(key: string, body: Uint8Array, metadata: Record<string, string>): Promise<void> {
    const partSize = this.config.partSizeBytes;
    if (body.length <= partSize) {
      try {
        await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, Metadata: metadata }),
        );
      } catch (err) {
        throw s3Error(`uploading s3://${this.bucket}/${key}`, err);
      }
      return;
    }
    let uploadId: string | undefined;
    try {
      const created = await this.client.send(
        new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: key, Metadata: metadata }),
      );
      uploadId = created.UploadId!;
      const parts: Array<{ ETag: string; PartNumber: number }> = [];
      for (let start = 0, n = 1; start < body.length; start += partSize, n++) {
        const r = await this.client.send(
          new UploadPartCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: n,
            Body: body.subarray(start, Math.min(body.length, start + partSize)),
          }),
        );
        parts.push({ ETag: r.ETag!, PartNumber: n });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      // The next attempt starts over from part 1 of the same file (same key, same bytes).
      if (uploadId)
        await this.client
          .send(
            new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
          )
          .catch(() => undefined);
      throw s3Error(`multipart upload of s3://${this.bucket}/${key}`, err);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
