// Helpers for the S3 Parquet sink tests: the s3rver target, reading every object back with
// DuckDB (the independent reader), and a failing HTTP proxy in front of s3rver.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request, createServer } from 'node:http';
import type { IncomingMessage, Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from '@aws-sdk/client-s3';
import { DuckDBInstance } from '@duckdb/node-api';

export const S3_ENDPOINT = 'http://127.0.0.1:4569';
export const S3_BUCKET = 'tributary';
export const S3_ENV = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };

export function s3Client(): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint: S3_ENDPOINT,
    forcePathStyle: true,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
}

export interface StoredObject {
  key: string;
  etag: string;
  md5: string;
  endOffset: string | undefined;
  /** Local copy (for DuckDB). */
  file: string;
}

/** Downloads every object under `prefix` into `dir`, with its metadata and content hash. */
export async function downloadAll(
  client: S3Client,
  prefix: string,
  dir: string,
): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  let token: string | undefined;
  do {
    const r = await client.send(
      new ListObjectsV2Command({
        Bucket: S3_BUCKET,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of r.Contents ?? []) {
      const key = o.Key!;
      const head = await client.send(new HeadObjectCommand({ Bucket: S3_BUCKET, Key: key }));
      const body = await client.send(new GetObjectCommand({ Bucket: S3_BUCKET, Key: key }));
      const bytes = await body.Body!.transformToByteArray();
      const file = join(dir, key);
      mkdirSync(join(file, '..'), { recursive: true });
      writeFileSync(file, bytes);
      out.push({
        key,
        etag: o.ETag ?? '',
        md5: createHash('md5').update(bytes).digest('hex'),
        endOffset: head.Metadata?.['tributary-end-offset'],
        file,
      });
    }
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** Every .parquet file under a directory (recursively). */
export function parquetFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.parquet')) out.push(p);
    }
  };
  walk(dir);
  return out.sort();
}

/** Runs one query with DuckDB and returns plain row objects. */
export async function duckdb(sql: string): Promise<Array<Record<string, unknown>>> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    return (await (await conn.run(sql)).getRowObjectsJS()) as Array<Record<string, unknown>>;
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

/**
 * An HTTP proxy in front of s3rver that fails chosen requests: `failPart(n, times)` answers the
 * next `times` UploadPart requests for part `n` with 500 (after reading the body), so the
 * upload breaks in the middle of a multipart upload. Every request is logged.
 */
export class FailingS3Proxy {
  readonly log: Array<{ method: string; url: string; status: number }> = [];
  private server: Server | undefined;
  private failures = new Map<number, number>();
  port = 0;

  failPart(part: number, times: number): void {
    this.failures.set(part, times);
  }

  async start(): Promise<void> {
    const server = createServer((req: IncomingMessage, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const part = Number(url.searchParams.get('partNumber') ?? 0);
      const left = this.failures.get(part) ?? 0;
      if (req.method === 'PUT' && url.searchParams.has('uploadId') && left > 0) {
        this.failures.set(part, left - 1);
        req.resume();
        req.on('end', () => {
          this.log.push({ method: req.method!, url: req.url!, status: 500 });
          res.writeHead(500, { 'content-type': 'application/xml' });
          res.end(
            '<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>injected</Message></Error>',
          );
        });
        return;
      }
      const upstream = request(
        {
          host: '127.0.0.1',
          port: 4569,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (up) => {
          this.log.push({ method: req.method!, url: req.url!, status: up.statusCode ?? 0 });
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    s?.closeAllConnections();
    if (s) await new Promise<void>((r) => s.close(() => r()));
  }
}

/**
 * Deletes the records of `topic`[`partition`] below `offset` (Kafka DeleteRecords, as retention
 * does), with the broker's own tool from the jars infra/up installed; core/kafka has no
 * DeleteRecords call.
 */
export function deleteRecordsBefore(topic: string, partition: number, offset: number): void {
  const libs = fileURLToPath(new URL('../../../infra/kafka/libs/*', import.meta.url));
  const tmp = mkdtempSync(join(tmpdir(), 's3p-delete-'));
  try {
    const spec = join(tmp, 'offsets.json');
    writeFileSync(spec, JSON.stringify({ version: 1, partitions: [{ topic, partition, offset }] }));
    execFileSync(
      'java',
      [
        '-cp',
        libs,
        'org.apache.kafka.tools.DeleteRecordsCommand',
        '--bootstrap-server',
        '127.0.0.1:9092',
        '--offset-json-file',
        spec,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
