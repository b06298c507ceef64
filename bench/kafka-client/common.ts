// Shared pieces of the Kafka client benchmark: settings, the synthetic CDC-like records, the
// transform used by the consume-transform-produce phase, and small formatting helpers.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BROKER = process.env.KAFKA_BROKER ?? '127.0.0.1:9092';

/**
 * `platformatic` runs @platformatic/kafka with its defaults; `platformatic-tuned` changes two
 * settings: a retryDelay getter that retries CONCURRENT_TRANSACTIONS after 20 ms instead of the
 * default fixed 1000 ms, and consumer maxBytes 1 MiB instead of 50 MiB (see platformatic-phases.ts).
 */
export const CLIENTS = ['kafkajs', 'platformatic', 'platformatic-tuned'] as const;
export type ClientName = (typeof CLIENTS)[number];

/**
 * One benchmarked client: an implementation plus, for @platformatic/kafka, the package directory
 * to load it from (default: the project's node_modules), so two versions can run side by side.
 */
export interface ClientVariant {
  client: ClientName;
  /** Absolute path of an @platformatic/kafka package directory; undefined = node_modules. */
  packageDir?: string;
  /** Display name, e.g. "platformatic@1.35.0" or "platformatic-tuned@2.12.1". */
  label: string;
}

/** `kafkajs`, `platformatic`, `platformatic-tuned`, optionally `=<package dir>` for platformatic. */
export function parseVariant(text: string): ClientVariant {
  const [client, dir] = text.split('=', 2) as [string, string | undefined];
  if (!CLIENTS.includes(client as ClientName)) {
    throw new Error(`unknown client "${client}" (expected ${CLIENTS.join(', ')})`);
  }
  if (dir !== undefined && client === 'kafkajs') throw new Error('kafkajs takes no package dir');
  const packageDir = dir === undefined ? undefined : path.resolve(dir);
  const version = packageVersion(
    client === 'kafkajs' ? 'kafkajs' : '@platformatic/kafka',
    packageDir,
  );
  return {
    client: client as ClientName,
    ...(packageDir === undefined ? {} : { packageDir }),
    label: `${client}@${version}`,
  };
}

/** Version of `name` as installed in node_modules, or of the package in `packageDir`. */
export function packageVersion(name: string, packageDir?: string): string {
  const dir = packageDir ?? findPackageDir(name);
  const json = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as {
    version: string;
  };
  return json.version;
}

function findPackageDir(name: string): string {
  let dir = path.dirname(fileURLToPath(import.meta.resolve(name)));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

export type PlatformaticModule = typeof import('@platformatic/kafka');

/** @platformatic/kafka from node_modules, or from another installed copy (e.g. another version). */
export async function loadPlatformatic(packageDir?: string): Promise<PlatformaticModule> {
  if (packageDir === undefined) return import('@platformatic/kafka');
  const pkg = JSON.parse(readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    exports: string;
  };
  return (await import(
    pathToFileURL(path.join(packageDir, pkg.exports)).href
  )) as PlatformaticModule;
}

export const PHASES = ['idempotent', 'transactional', 'ctp'] as const;
export type PhaseName = (typeof PHASES)[number];

export const PHASE_LABELS: Record<PhaseName, string> = {
  idempotent: 'idempotent produce (acks=all, no txn)',
  transactional: 'transactional produce (txn / 10k)',
  ctp: 'consume-transform-produce (EOS)',
};

/** Everything one benchmark phase needs to know. Passed to worker processes as JSON. */
export interface PhaseSpec {
  variant: ClientVariant;
  phase: PhaseName;
  records: number;
  /** Records per Kafka transaction (produce and consume-transform-produce). */
  txnSize: number;
  /** Records per produce request; keeps every per-partition record batch well under 1 MiB. */
  sendBatch: number;
  valueBytes: number;
  /** Topic written by idempotent/transactional, read by ctp. */
  topic: string;
  /** Output topic of ctp. */
  outputTopic: string;
  groupId: string;
  transactionalId: string;
}

export interface PhaseResult {
  /** ClientVariant.label */
  client: string;
  phase: PhaseName;
  records: number;
  /** Key + value bytes handed to the client (ctp: bytes consumed). */
  bytes: number;
  /** Wall time of the measured section. */
  seconds: number;
  transactions: number;
  /** ctp only: consume()/run() call until the first record arrived (join + first fetch); part of `seconds`. */
  startupSeconds?: number;
  /** User + system CPU of the client process during the measured section. */
  clientCpuSeconds: number;
  /** Peak RSS of the worker process (whole life, includes tsx startup). */
  maxRssMiB: number;
  /** CPU of the whole worker process (includes startup), to attribute host CPU during a phase. */
  processCpuSeconds?: number;
  /** platformatic only: requests retried because the broker answered CONCURRENT_TRANSACTIONS. */
  concurrentTransactionsRetries?: number;
  error?: string;
}

// ---------------------------------------------------------------------------------------------
// Synthetic records: a 16-character hex key and a 500-byte JSON value shaped like a CDC event.
// Values come from a pre-built pool so that generating data costs the same (almost nothing) for
// both clients; keys are fresh random bytes for every record.

const VALUE_POOL_SIZE = 1024;

function buildValuePool(valueBytes: number): Buffer[] {
  const pool: Buffer[] = [];
  const filler = randomBytes(valueBytes).toString('base64url');
  for (let i = 0; i < VALUE_POOL_SIZE; i++) {
    const event = {
      op: 'u',
      source: { db: 'shop', table: 'orders', lsn: 1_000_000 + i },
      ts_ms: 1_700_000_000_000 + i,
      after: { id: i, status: 'shipped', total_cents: 1000 + i, note: '' },
    };
    const bare = Buffer.byteLength(JSON.stringify(event));
    const pad = Math.max(0, valueBytes - bare);
    event.after.note = filler
      .repeat(Math.ceil(pad / filler.length) + 1)
      .slice(i % 7, (i % 7) + pad);
    pool.push(Buffer.from(JSON.stringify(event)));
  }
  return pool;
}

export interface RecordChunk {
  keys: Buffer[];
  values: Buffer[];
  bytes: number;
}

export class RecordSource {
  readonly #pool: Buffer[];
  #next = 0;

  constructor(valueBytes: number) {
    this.#pool = buildValuePool(valueBytes);
  }

  /** The next `count` records. */
  chunk(count: number): RecordChunk {
    const entropy = randomBytes(count * 8);
    const keys = new Array<Buffer>(count);
    const values = new Array<Buffer>(count);
    let bytes = 0;
    for (let i = 0; i < count; i++) {
      const key = Buffer.from(entropy.toString('hex', i * 8, i * 8 + 8), 'latin1');
      const value = this.#pool[(this.#next + i) % VALUE_POOL_SIZE] as Buffer;
      keys[i] = key;
      values[i] = value;
      bytes += key.length + value.length;
    }
    this.#next += count;
    return { keys, values, bytes };
  }
}

/** The consume-transform-produce step: parse the event, enrich it, serialise it again. */
export function transformValue(
  value: Buffer | null | undefined,
  partition: number,
  offset: string,
): Buffer {
  const event = JSON.parse((value ?? Buffer.from('{}')).toString('utf8')) as Record<
    string,
    unknown
  >;
  event.op = String(event.op ?? '').toUpperCase();
  event.processed = { by: 'tributary-bench', partition, offset };
  return Buffer.from(JSON.stringify(event));
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/** Split [0, total) into consecutive ranges of at most `size`. */
export function* ranges(total: number, size: number): Generator<[start: number, count: number]> {
  for (let start = 0; start < total; start += size) yield [start, Math.min(size, total - start)];
}

export function cpuSeconds(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return (used.user + used.system) / 1e6;
}

export function processCpuSeconds(): number {
  const usage = process.resourceUsage();
  return (usage.userCPUTime + usage.systemCPUTime) / 1e6;
}

export function maxRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
}

/**
 * One line naming the error class and the fields both clients use to classify errors
 * (kafkajs: type/code/retriable; @platformatic/kafka: code/apiId/apiCode), following nested
 * errors (AggregateError.errors, cause) a few levels deep.
 */
export function errorSummary(error: unknown, depth = 0): string {
  if (!(error instanceof Error)) return String(error);
  const fields = error as unknown as Record<string, unknown>;
  const parts = [error.constructor.name];
  for (const key of ['code', 'type', 'apiId', 'apiCode', 'retriable', 'canRetry']) {
    if (fields[key] !== undefined) parts.push(`${key}=${String(fields[key])}`);
  }
  let text = `${parts.join(' ')}: ${error.message}`;
  if (depth < 3) {
    const nested = error instanceof AggregateError ? error.errors : [];
    for (const inner of nested) text += ` [${errorSummary(inner, depth + 1)}]`;
    if (error.cause !== undefined) text += ` (cause: ${errorSummary(error.cause, depth + 1)})`;
  }
  return text;
}

export function pad(text: string, width: number, right = false): string {
  return right ? text.padStart(width) : text.padEnd(width);
}
