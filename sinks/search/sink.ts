/**
 * OpenSearch / Elasticsearch sink: each batch is one `_bulk` request of index and delete
 * operations, `_id` = the primary key, with EXTERNAL versioning from the event's per-key
 * version. The server applies an operation only when its version is newer than the document's
 * (`external`) or not older (`external_gte`), deletes included, so replays and out-of-order
 * redeliveries never regress a document: the refusal (409 version conflict) means "a newer or
 * the same version is already there" and counts as applied.
 *
 * A delete's version outlives the document only for the index's `index.gc_deletes` (24h on
 * indexes this sink creates; the servers' default is 60s): an older write arriving later than
 * that would be indexed again. `deleteMode: soft` indexes a `{__deleted: true}` document at the
 * delete's version instead, which never expires.
 *
 * Per-item outcomes: 2xx, 409, and 404 on a delete (nothing to delete; the version is still
 * remembered) are applied; 429, 403 (write block), 408 and 5xx make the whole batch retry
 * (re-sent operations that already landed come back as 409); other 4xx (mapping and parse
 * errors) dead-letter that record. An operation is durable when the bulk request returns (the
 * translog is fsynced per request unless the index sets `index.translog.durability: async`).
 */
import { stringifyJson } from '../../core/events/index.ts';
import type { Row } from '../../core/events/index.ts';
import type { KeyedWrite, RejectedRecord, Sink, SinkRecord, WriteResult } from '../runtime/sink.ts';
import {
  RecordRejectedError,
  RetryableSinkError,
  latestPerKey,
  partialRowError,
} from '../runtime/sink.ts';
import { classifyClientError, createSearchClient } from './client.ts';
import type { BulkItemResult, SearchClient } from './client.ts';
import type { SearchSinkConfig } from './config.ts';
import { MAX_EXTERNAL_VERSION, documentId, indexName, mappingFromSchema } from './mapping.ts';

/** Counts since open(), for metrics and tests. */
export interface SearchSinkStats {
  indexed: number;
  deleted: number;
  /** Operations the server refused as not newer than what it holds (already applied). */
  conflicts: number;
}

interface Operation {
  write: KeyedWrite;
  delete: boolean;
  /** The operation's NDJSON lines (action, and the document for an index). */
  text: string;
}

/** A per-item status that means "try the batch again later". */
function retryableStatus(status: number): boolean {
  return status === 429 || status === 403 || status === 408 || status >= 500;
}

export class SearchSink implements Sink {
  private client: SearchClient | undefined;
  /** Indexes known to exist (created by us or found existing). */
  private readonly indexes = new Set<string>();
  readonly stats: SearchSinkStats = { indexed: 0, deleted: 0, conflicts: 0 };

  constructor(
    readonly name: string,
    private readonly config: SearchSinkConfig,
  ) {}

  async open(): Promise<void> {
    const client = await createSearchClient(this.config);
    try {
      await client.info();
    } catch (err) {
      await client.close().catch(() => undefined);
      throw classifyClientError(err, `connecting to ${this.config.url}`);
    }
    this.client = client;
  }

  async writeBatch(records: SinkRecord[]): Promise<WriteResult> {
    const rejected: RejectedRecord[] = [];
    const ops: Operation[] = [];
    const soft = this.config.deleteMode === 'soft';
    const newIndexes = new Map<string, KeyedWrite>();
    for (const w of latestPerKey(records)) {
      if (w.row !== null && w.unavailable.length > 0) {
        rejected.push({ index: w.index, error: partialRowError(w) });
        continue;
      }
      let index: string;
      let id: string;
      try {
        if (w.version > MAX_EXTERNAL_VERSION)
          throw new RecordRejectedError(
            `version ${w.version} is above ${MAX_EXTERNAL_VERSION}, the largest external version the server accepts`,
          );
        index = indexName(this.config.index, w.topic);
        id = documentId(w.key);
      } catch (err) {
        rejected.push({ index: w.index, error: err as Error });
        continue;
      }
      if (!this.indexes.has(index) && !newIndexes.has(index)) newIndexes.set(index, w);
      const meta = `{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(id)},"version":${w.version},"version_type":"${this.config.versionType}"}`;
      let text: string;
      if (w.row === null && !soft) {
        text = `{"delete":${meta}}\n`;
      } else {
        const doc: Row = w.row === null ? { ...w.key, __deleted: true } : { ...w.row, ...w.key };
        if (soft && w.row !== null) doc.__deleted = false;
        text = `{"index":${meta}}\n${stringifyJson(doc)}\n`;
      }
      ops.push({ write: w, delete: w.row === null && !soft, text });
    }
    if (ops.length === 0) return { rejected };
    for (const [index, first] of newIndexes) await this.ensureIndex(index, records[first.index]!);

    // Up to `parallelism` bulk requests at once over disjoint slices (a key occurs once per
    // batch after latestPerKey), so the server's write threads all work.
    const slices = Math.min(this.config.parallelism, Math.ceil(ops.length / 200));
    const size = Math.ceil(ops.length / slices);
    const parts = await Promise.allSettled(
      Array.from({ length: slices }, (_, k) => {
        const slice = ops.slice(k * size, (k + 1) * size);
        return this.client!.bulk(
          slice.map((o) => o.text).join(''),
          slice.length,
          this.config.requestTimeoutMs,
        );
      }),
    );
    const failed = parts.find((p): p is PromiseRejectedResult => p.status === 'rejected');
    if (failed) throw classifyClientError(failed.reason, `bulk of ${ops.length} operation(s)`);
    const results: BulkItemResult[] = parts.flatMap((p) =>
      p.status === 'fulfilled' ? p.value : [],
    );
    let indexed = 0;
    let deleted = 0;
    let conflicts = 0;
    for (const [i, r] of results.entries()) {
      const op = ops[i]!;
      if ((r.status >= 200 && r.status < 300) || (r.status === 404 && op.delete)) {
        if (op.delete) deleted++;
        else indexed++;
        continue;
      }
      if (r.status === 409) {
        conflicts++;
        continue;
      }
      const what = `${r.error?.type ?? 'error'}: ${r.error?.reason ?? `status ${r.status}`}`;
      if (retryableStatus(r.status))
        throw new RetryableSinkError(`bulk item refused with status ${r.status} (${what})`);
      rejected.push({
        index: op.write.index,
        error: new RecordRejectedError(`${this.config.flavor} refused the document: ${what}`, {
          details: { status: r.status },
        }),
      });
    }
    this.stats.indexed += indexed;
    this.stats.deleted += deleted;
    this.stats.conflicts += conflicts;
    return { rejected };
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.close().catch(() => undefined);
  }

  /** Creates a missing index with the configured settings and, when known, a mapping. */
  private async ensureIndex(index: string, sample: SinkRecord): Promise<void> {
    if (!this.config.createIndex) {
      this.indexes.add(index);
      return;
    }
    const s = this.config.indexSettings;
    const body: Record<string, unknown> = {
      settings: {
        number_of_shards: s.shards,
        number_of_replicas: s.replicas,
        gc_deletes: s.gcDeletes,
        refresh_interval: s.refreshInterval,
      },
    };
    const schemas = sample.kind === 'change' ? sample.event.schemas : undefined;
    if (this.config.mapping === 'schema' && schemas) {
      const keyColumns = (schemas.key.fields ?? []).map((f) => f.field!).filter(Boolean);
      body.mappings = mappingFromSchema(schemas.row, keyColumns, this.config.deleteMode === 'soft');
    }
    try {
      await this.client!.createIndex(index, body);
    } catch (err) {
      throw classifyClientError(err, `creating index ${index}`);
    }
    this.indexes.add(index);
  }
}
