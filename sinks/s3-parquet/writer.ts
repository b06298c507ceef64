/**
 * The writer of one topic partition: appends change events to the open file and decides, from
 * the records alone, where files end. A file is closed before a record that belongs elsewhere
 * (another record-time window, another partition path, another row layout) and after the
 * record that reaches `roll.maxRecords` or `roll.maxBytes`. Since every decision depends only on
 * the records from the file's start offset on, reading the partition again from that offset
 * rebuilds the same file under the same key, byte for byte.
 */
import type { SchemaElement } from 'hyparquet';
import type { ChangeEvent, Row } from '../../core/events/index.ts';
import type { IncomingRecord } from '../../core/kafka/index.ts';
import { RecordRejectedError } from '../runtime/sink.ts';
import type { S3ParquetSinkConfig } from './config.ts';
import type { DirectReader, RowFacts } from './direct.ts';
import { ParquetFileBuilder } from './file-builder.ts';
import type { FileBuilderOptions } from './file-builder.ts';
import { hourPath, objectKey, tablePath } from './keys.ts';
import {
  DICTIONARY_COLUMNS,
  META_COLUMNS,
  connectLayoutId,
  fitsInferred,
  fitsKind,
  layoutFor,
} from './schema.ts';
import type { RowLayout } from './schema.ts';
import { END_OFFSET_KEY } from './storage.ts';

/** A finished file waiting to be uploaded. */
export interface ClosedFile {
  key: string;
  body: Uint8Array;
  /** Object metadata (S3 `x-amz-meta-*`). */
  metadata: Record<string, string>;
  startOffset: bigint;
  endOffset: bigint;
  /** Where a restart may resume once this file is stored: after it and the tombstones that followed it. */
  commitTo: bigint;
  rows: number;
}

interface OpenFile {
  startOffset: bigint;
  endOffset: bigint;
  path: string;
  window: number;
  layout: RowLayout;
  builder: ParquetFileBuilder;
  bytes: number;
}

let lastTable: { ns: unknown; table: unknown; name: string } | undefined;

/** `<schema or db>.<table>` from the source block, else the last topic segment. */
export function tableOf(e: ChangeEvent): string {
  const s = e.value.source;
  if (typeof s.table === 'string' && s.table) {
    const ns = typeof s.schema === 'string' && s.schema ? s.schema : s.db;
    // Consecutive events almost always share their table: reuse the string.
    if (lastTable?.ns === ns && lastTable.table === s.table) return lastTable.name;
    const name = ns ? `${ns}.${s.table}` : s.table;
    lastTable = { ns, table: s.table, name };
    return name;
  }
  return e.topic.split('.').pop() ?? e.topic;
}

export class PartitionWriter {
  /** The last offset taken; it and lower offsets were taken already (a retried batch). */
  last: bigint | undefined;
  /** The offset after the last uploaded file (where a restart resumes). */
  durable: bigint | undefined;
  /** Closed files not yet uploaded, oldest first. */
  readonly pending: ClosedFile[] = [];
  private open: OpenFile | undefined;
  private readonly scratch: unknown[] = [];
  /** The current row's facts besides its values (one object, refilled per row). */
  private readonly facts: RowFacts = {
    op: 'c',
    tsMs: 0,
    sourceTs: 0,
    table: '',
    version: 0n,
    bytes: 0,
  };

  constructor(
    readonly topic: string,
    readonly partition: number,
    private readonly prefix: string,
    private readonly config: S3ParquetSinkConfig,
    private readonly fileOptions: FileBuilderOptions,
  ) {}

  /** Rows buffered or encoded in the open file. */
  get openRows(): number {
    return this.open?.builder.rows ?? 0;
  }

  /** Rows in the open file and in closed files waiting for their upload. */
  get rowsNotUploaded(): number {
    let n = this.openRows;
    for (const f of this.pending) n += f.rows;
    return n;
  }

  /**
   * Adds a change event at `offset`. Returns the reason when the record cannot be written
   * (it is dead-lettered by the runtime); files it completes are appended to `pending`.
   */
  append(event: ChangeEvent, offset: bigint): RecordRejectedError | undefined {
    const v = event.value;
    const isDelete = v.op === 'd';
    // A delete has no after-row: its row is the key columns, the rest null.
    const row: Row = isDelete ? event.key : (v.after ?? event.key);
    const before = v.before;
    const sourceTs = v.source.ts_ms || v.ts_ms;
    const window = Math.floor(sourceTs / this.config.roll.intervalMs);
    const table = tableOf(event);
    const path = this.pathOf(sourceTs, table);
    if (path === undefined)
      return new RecordRejectedError(
        `source.ts_ms ${sourceTs} is not a time (partitionBy source-hour names the path by it); the record was not written to Parquet`,
      );

    let open = this.open;
    if (
      open &&
      (open.path !== path ||
        open.window !== window ||
        !this.fits(open.layout, event, row, isDelete))
    )
      open = this.close();
    const layout =
      open?.layout ??
      layoutFor(event.schemas?.row, row, before, this.config.includeBefore, event.key);

    // Convert first: a record that cannot be written changes nothing. (One scratch row per
    // writer: the builder copies the values into its columns.)
    const values = this.scratch;
    values.length = layout.columns.length + META_COLUMNS.length;
    let bytes = 0;
    try {
      const width = this.config.includeBefore ? layout.columns.length / 2 : layout.columns.length;
      for (let i = 0; i < layout.columns.length; i++) {
        const c = layout.columns[i]!;
        const raw = i < width ? row[c.name] : before ? before[c.name.slice(9)] : null;
        const value = raw === undefined ? null : c.convert(raw);
        values[i] = value;
        bytes += typeof raw === 'string' ? raw.length : raw && typeof raw === 'object' ? 64 : 8;
      }
    } catch (err) {
      return new RecordRejectedError(
        `cannot convert the row to its Parquet columns: ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (bytes > this.config.maxRecordBytes)
      return new RecordRejectedError(
        `row of ~${bytes} bytes exceeds maxRecordBytes (${this.config.maxRecordBytes}); the record was not written to Parquet`,
      );
    const e = this.facts;
    e.op = v.op;
    e.tsMs = v.ts_ms;
    e.sourceTs = sourceTs;
    e.table = table;
    e.version = event.version;
    e.bytes = bytes;
    return this.add(open, layout, path, window, e, offset);
  }

  /**
   * Adds the change event of a consumed record read by the direct reader (direct.ts), into
   * the open file. Returns false when the record is not one the reader takes, or does not
   * belong in the open file: the caller then decodes it and uses append().
   */
  appendDirect(
    raw: IncomingRecord,
    offset: bigint,
    reader: DirectReader,
  ): RecordRejectedError | undefined | false {
    const open = this.open;
    if (!open || this.config.includeBefore) return false;
    const values = this.scratch;
    values.length = open.layout.columns.length + META_COLUMNS.length;
    const e = this.facts;
    if (!reader.read(raw, open.layout, values, e)) return false;
    if (e.bytes > this.config.maxRecordBytes) return false; // append() says why
    const path = this.pathOf(e.sourceTs, e.table);
    if (path !== open.path || Math.floor(e.sourceTs / this.config.roll.intervalMs) !== open.window)
      return false;
    return this.add(open, open.layout, path, open.window, e, offset);
  }

  /** The partition path of a record; undefined when its time has no date. */
  private pathOf(sourceTs: number, table: string): string | undefined {
    switch (this.config.partitionBy) {
      case 'source-hour':
        return Number.isNaN(new Date(sourceTs).getTime()) ? undefined : hourPath(sourceTs);
      case 'table':
        return tablePath(table);
      default:
        return '';
    }
  }

  /** The metadata columns after the row values in the scratch row, then the row into the file. */
  private add(
    open: OpenFile | undefined,
    layout: RowLayout,
    path: string,
    window: number,
    e: RowFacts,
    offset: bigint,
  ): RecordRejectedError | undefined {
    const values = this.scratch;
    let n = layout.columns.length;
    values[n++] = e.op;
    values[n++] = e.tsMs;
    values[n++] = e.sourceTs;
    values[n++] = e.table;
    values[n++] = this.topic;
    values[n++] = this.partition;
    values[n++] = offset;
    values[n++] = e.version;

    if (!open) {
      const schema: SchemaElement[] = [...layout.columns.map((c) => c.element), ...META_COLUMNS];
      open = this.open = {
        startOffset: offset,
        endOffset: offset,
        path,
        window,
        layout,
        builder: new ParquetFileBuilder(schema, this.fileOptions, DICTIONARY_COLUMNS),
        bytes: 0,
      };
    }
    try {
      open.builder.add(values);
    } catch (err) {
      // A value the column cannot hold (e.g. an integer beyond INT64): nothing was added.
      if (open.builder.rows === 0) this.open = undefined;
      return new RecordRejectedError(
        `cannot write the row to its Parquet columns: ${(err as Error).message}`,
        { cause: err },
      );
    }
    open.endOffset = offset;
    open.bytes += e.bytes + 64;
    if (open.builder.rows >= this.config.roll.maxRecords || open.bytes >= this.config.roll.maxBytes)
      this.close();
    return undefined;
  }

  /**
   * A tombstone writes no row (the delete before it is the history row). One right after a
   * closed file moves that file's commit position past it, so group offsets reach the end of
   * a topic whose last record is a tombstone.
   */
  skipTombstone(offset: bigint): void {
    if (this.open) return;
    const last = this.pending[this.pending.length - 1];
    if (last && last.commitTo === offset) last.commitTo = offset + 1n;
    else if (!last && this.durable === offset) this.durable = offset + 1n;
  }

  /** Drops the open file and everything not uploaded (after a reassignment: it is read again). */
  reset(position: bigint | undefined): void {
    this.open = undefined;
    this.pending.length = 0;
    this.last = position === undefined ? undefined : position - 1n;
    this.durable = position;
  }

  private fits(layout: RowLayout, event: ChangeEvent, row: Row, isDelete: boolean): boolean {
    if (!layout.inferred) {
      // Same Connect row schema; a delete fits any file of its table.
      if (isDelete) return true;
      const s = event.schemas?.row;
      return s !== undefined && connectLayoutId(s, this.config.includeBefore) === layout.id;
    }
    if (event.schemas?.row) return false; // schema-less file, record with a schema: new file
    const width = this.config.includeBefore ? layout.columns.length / 2 : layout.columns.length;
    if (isDelete) {
      for (const k in row) {
        const c = layout.columns.find((col, i) => i < width && col.name === k);
        if (!c || !fitsKind(c.kind, row[k])) return false;
      }
      return true;
    }
    return fitsInferred(layout, row, event.value.before, this.config.includeBefore, width);
  }

  /** Finishes the open file into `pending`. */
  private close(): undefined {
    const f = this.open;
    this.open = undefined;
    if (!f || f.builder.rows === 0) return undefined;
    const end = f.endOffset.toString();
    const start = f.startOffset.toString();
    const body = f.builder.finish({
      [END_OFFSET_KEY]: end,
      'tributary-start-offset': start,
      'tributary-topic': this.topic,
      'tributary-partition': String(this.partition),
      'tributary-records': String(f.builder.rows),
    });
    this.pending.push({
      key: objectKey(this.prefix, this.topic, f.path, this.partition, f.startOffset),
      body,
      metadata: {
        [END_OFFSET_KEY]: end,
        'tributary-start-offset': start,
        'tributary-records': String(f.builder.rows),
      },
      startOffset: f.startOffset,
      endOffset: f.endOffset,
      commitTo: f.endOffset + 1n,
      rows: f.builder.rows,
    });
    return undefined;
  }
}
