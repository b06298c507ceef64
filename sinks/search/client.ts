/**
 * One small surface over the two official clients, so the sink is written once:
 * `@opensearch-project/opensearch` for OpenSearch and `@elastic/elasticsearch` (8.x) for
 * Elasticsearch. The bulk body is NDJSON built by the sink (bigint-safe), sent as is; the
 * clients' own retries are off (the sink runtime owns retries and backoff).
 */
import { TributaryError } from '../../core/errors/index.ts';
import { RecordRejectedError, RetryableSinkError } from '../runtime/sink.ts';
import type { SearchSinkConfig } from './config.ts';

/** One bulk item outcome, as both servers report it (with filter_path applied). */
export interface BulkItemResult {
  status: number;
  error?: { type?: string; reason?: string };
}

export interface SearchClient {
  /** Which server answers, e.g. "opensearch 2.19.6" (also the connectivity check). */
  info(): Promise<string>;
  /** Sends one NDJSON bulk body; the items in request order. */
  bulk(ndjson: string, operations: number, timeoutMs: number): Promise<BulkItemResult[]>;
  /** Creates an index; false when it already exists. */
  createIndex(index: string, body: Record<string, unknown>): Promise<boolean>;
  close(): Promise<void>;
}

const FILTER_PATH = 'errors,items.*.status,items.*.error.type,items.*.error.reason';

type BulkBody = { errors?: boolean; items?: Array<Record<string, BulkItemResult>> };

function items(body: BulkBody, expected: number): BulkItemResult[] {
  const list = (body.items ?? []).map((it) => Object.values(it)[0]!);
  // Without errors, filter_path may drop nothing useful; every item succeeded.
  if (list.length === 0 && body.errors === false)
    return Array.from({ length: expected }, () => ({ status: 200 }));
  if (list.length !== expected)
    throw new TributaryError(
      'SINK_SEARCH_PROTOCOL',
      `bulk response has ${list.length} items for ${expected} operations`,
    );
  return list;
}

/** HTTP status of a client error, when the server answered. */
function statusOf(err: unknown): number | undefined {
  const e = err as { statusCode?: unknown; meta?: { statusCode?: unknown } };
  const s = e.statusCode ?? e.meta?.statusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Turns a client error into the runtime's error kinds. */
export function classifyClientError(err: unknown, action: string): TributaryError {
  if (err instanceof TributaryError) return err;
  const e = err as Error;
  const name = e?.name ?? '';
  const message = `${action}: ${e?.message ?? String(err)}`;
  if (name === 'ProductNotSupportedError')
    return new TributaryError(
      'CONFIG_INVALID',
      `sink.flavor: the server is not Elasticsearch (${e.message}); use flavor: opensearch`,
      { cause: err },
    );
  if (/^(ConnectionError|TimeoutError|NoLivingConnectionsError|RequestAbortedError)$/.test(name))
    return new RetryableSinkError(message, { cause: err });
  const status = statusOf(err);
  if (status === undefined) return new RetryableSinkError(message, { cause: err });
  if (status === 429 || status === 403 || status === 408 || status >= 500)
    return new RetryableSinkError(message, { cause: err });
  if (status === 400 || status === 413) return new RecordRejectedError(message, { cause: err });
  return new TributaryError('SINK_SEARCH_ERROR', message, { cause: err });
}

function isAlreadyExists(err: unknown): boolean {
  return /resource_already_exists_exception/.test(String((err as Error)?.message ?? ''));
}

export async function createSearchClient(config: SearchSinkConfig): Promise<SearchClient> {
  const auth =
    config.username !== undefined
      ? { username: config.username, password: config.password ?? '' }
      : undefined;
  const common = { node: config.url, maxRetries: 0, requestTimeout: config.requestTimeoutMs };
  if (config.flavor === 'opensearch') {
    const { Client } = await import('@opensearch-project/opensearch');
    const client = new Client({ ...common, ...(auth ? { auth } : {}) });
    return {
      async info() {
        const r = await client.info();
        return `opensearch ${r.body.version.number}`;
      },
      async bulk(ndjson, operations, timeoutMs) {
        const r = await client.bulk(
          { body: ndjson as unknown as Record<string, unknown>[], filter_path: FILTER_PATH },
          { requestTimeout: timeoutMs },
        );
        return items(r.body as BulkBody, operations);
      },
      async createIndex(index, body) {
        try {
          await client.indices.create({ index, body });
          return true;
        } catch (err) {
          if (isAlreadyExists(err)) return false;
          throw err;
        }
      },
      close: () => client.close(),
    };
  }
  const { Client } = await import('@elastic/elasticsearch');
  const client = new Client({ ...common, ...(auth ? { auth } : {}) });
  return {
    async info() {
      // Cluster health rather than GET /: minimal distributions leave out the root endpoint.
      const r = await client.cluster.health();
      return `elasticsearch cluster ${r.cluster_name}`;
    },
    async bulk(ndjson, operations, timeoutMs) {
      const body = await client.bulk(
        { operations: ndjson as unknown as [], filter_path: FILTER_PATH },
        { requestTimeout: timeoutMs },
      );
      return items(body as unknown as BulkBody, operations);
    },
    async createIndex(index, body) {
      try {
        await client.indices.create({ index, ...body });
        return true;
      } catch (err) {
        if (isAlreadyExists(err)) return false;
        throw err;
      }
    },
    close: () => client.close(),
  };
}
