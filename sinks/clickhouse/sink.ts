/**
 * ClickHouse sink: every change is appended as a row of a `ReplacingMergeTree(__version)` table
 * ordered by the primary key, with `__deleted` = 1 for deletes. Merges keep, per key, the row
 * with the highest version, so replays and out-of-order older versions never win; readers ask
 * for the current state with FINAL and filter deletes outside it:
 *   SELECT * FROM (SELECT * FROM t FINAL) WHERE __deleted = 0
 * (not `FINAL WHERE __deleted = 0`: a condition moved to PREWHERE would be applied before the
 * rows are collapsed and could expose an older live row of a deleted key).
 * An insert is durable once the HTTP request returns (synchronous insert; no async_insert).
 * Works with Debian's ClickHouse 18.16: the client's plain HTTP inserts and queries run there,
 * but ADD COLUMN IF NOT EXISTS does not exist and error codes are not parsed by the client, so
 * both are handled here.
 */
import { ClickHouseLogLevel, createClient } from '@clickhouse/client';
import type { ClickHouseClient } from '@clickhouse/client';
import { stringifyJson } from '../../core/events/index.ts';
import { ConfigError, TributaryError } from '../../core/errors/index.ts';
import type { Sink, SinkRecord, WriteResult } from '../runtime/sink.ts';
import {
  RecordRejectedError,
  RetryableSinkError,
  latestPerKey,
  partialRowError,
} from '../runtime/sink.ts';
import type { KeyedWrite } from '../runtime/sink.ts';
import { isRetryable } from '../runtime/retry.ts';
import { tableName } from '../postgres/schema.ts';
import type { ClickhouseSinkConfig } from './config.ts';

/** ClickHouse type for a JSON value; key columns are not Nullable (they are the sorting key). */
export function clickhouseType(value: unknown, key: boolean): string {
  let t: string;
  switch (typeof value) {
    case 'boolean':
      t = 'UInt8';
      break;
    case 'number':
      t = Number.isInteger(value) ? 'Int64' : 'Float64';
      break;
    default:
      t = 'String'; // strings, 64-bit+ integers as text, objects/arrays as JSON text, null
  }
  return key ? t : `Nullable(${t})`;
}

function ident(name: string): string {
  return '`' + name.replace(/\\/g, '\\\\').replace(/`/g, '\\`') + '`';
}

/** Data errors (parse, type, range): the record is refused. */
const REJECT_CODES = new Set([6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 349]);
/** Overload and timeouts: retry. */
const RETRY_CODES = new Set([159, 202, 203, 209, 210, 241, 242, 252, 425]);

function classify(err: unknown, action: string): TributaryError {
  if (err instanceof TributaryError) return err;
  const message = `${action}: ${(err as Error).message?.split('\n')[0]}`;
  if (isRetryable(err)) return new RetryableSinkError(message, { cause: err });
  const code = Number(/Code: (\d+)/.exec((err as Error).message ?? '')?.[1] ?? NaN);
  if (REJECT_CODES.has(code)) return new RecordRejectedError(message, { cause: err });
  if (RETRY_CODES.has(code) || /socket hang up|timeout/i.test(message))
    return new RetryableSinkError(message, { cause: err });
  return new TributaryError('SINK_CLICKHOUSE_ERROR', message, { cause: err });
}

export class ClickhouseSink implements Sink {
  private client: ClickHouseClient | undefined;
  /** Column name -> ClickHouse type, per table. */
  private readonly columns = new Map<string, Map<string, string>>();
  /** Per table, the names of its Float columns (fractions go as 17 digits), from `columns`. */
  private readonly floats = new Map<string, Set<string>>();
  /** Topic -> table name. */
  private readonly tables = new Map<string, string>();

  constructor(
    readonly name: string,
    private readonly config: ClickhouseSinkConfig,
  ) {}

  async open(): Promise<void> {
    const client = createClient({
      url: this.config.url,
      username: this.config.username,
      password: this.config.password,
      request_timeout: this.config.requestTimeoutMs,
      log: { level: ClickHouseLogLevel.OFF },
      // Inserts pass rows already encoded as JSON text; anything else is stringified.
      json: { stringify: (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v)) },
    });
    try {
      const ping = await client.ping();
      if (!ping.success) throw ping.error;
      await client.command({
        query: `CREATE DATABASE IF NOT EXISTS ${ident(this.config.database)}`,
      });
    } catch (err) {
      await client.close().catch(() => undefined);
      throw classify(err, 'connecting to ClickHouse');
    }
    this.client = client;
  }

  async writeBatch(records: SinkRecord[]): Promise<WriteResult> {
    const rejected: WriteResult['rejected'] = [];
    const byTable = new Map<string, KeyedWrite[]>();
    for (const w of latestPerKey(records)) {
      if (w.row !== null && w.unavailable.length > 0) {
        rejected.push({ index: w.index, error: partialRowError(w) });
        continue;
      }
      let t = this.tables.get(w.topic);
      if (t === undefined) this.tables.set(w.topic, (t = tableName(this.config.table, w.topic)));
      let list = byTable.get(t);
      if (!list) byTable.set(t, (list = []));
      list.push(w);
    }
    for (const [table, writes] of byTable) {
      await this.ensureTable(table, writes);
      const floats = this.floatColumns(table);
      const lines = new Array<string>(writes.length);
      for (let i = 0; i < writes.length; i++)
        lines[i] = JSON.stringify(clickhouseRow(writes[i]!, floats));
      try {
        // One pre-encoded JSONEachRow body (the client's json.stringify passes strings through).
        await this.client!.insert({
          table: `${this.config.database}.${table}`,
          values: [lines.join('\n')],
          format: 'JSONEachRow',
        });
      } catch (err) {
        throw classify(err, `inserting ${writes.length} row(s) into ${table}`);
      }
    }
    return { rejected };
  }

  async close(): Promise<void> {
    await this.client?.close().catch(() => undefined);
    this.client = undefined;
  }

  private async ensureTable(table: string, writes: KeyedWrite[]): Promise<void> {
    const full = `${ident(this.config.database)}.${ident(table)}`;
    try {
      let cols = this.columns.get(table);
      if (!cols) {
        cols = await this.describe(full);
        if (cols.size === 0) {
          if (!this.config.autoCreate)
            throw new ConfigError(
              'sink.autoCreate',
              `table ${this.config.database}.${table} does not exist; create it or set autoCreate: true`,
            );
          const first = writes.find((w) => w.row !== null) ?? writes[0]!;
          const defs = new Map<string, string>();
          for (const [c, v] of Object.entries(first.key)) defs.set(c, clickhouseType(v, true));
          for (const [c, v] of Object.entries(first.row ?? {}))
            if (!defs.has(c)) defs.set(c, clickhouseType(v, false));
          defs.set('__version', 'UInt64');
          defs.set('__deleted', 'UInt8');
          await this.client!.command({
            query: `CREATE TABLE IF NOT EXISTS ${full} (${[...defs].map(([c, t]) => `${ident(c)} ${t}`).join(', ')})
              ENGINE = ReplacingMergeTree(__version) ORDER BY (${Object.keys(first.key).map(ident).join(', ')})`,
          });
          cols = await this.describe(full);
        }
        this.columns.set(table, cols);
      }
      for (const w of writes) {
        for (const c in w.key)
          if (!cols.has(c)) await this.addColumn(table, full, cols, c, w.key[c]);
        if (w.row)
          for (const c in w.row)
            if (!cols.has(c)) await this.addColumn(table, full, cols, c, w.row[c]);
      }
    } catch (err) {
      this.columns.delete(table);
      this.floats.delete(table);
      throw classify(err, `preparing table ${this.config.database}.${table}`);
    }
  }

  private async addColumn(
    table: string,
    full: string,
    cols: Map<string, string>,
    column: string,
    value: unknown,
  ): Promise<void> {
    // 18.16 has no ADD COLUMN IF NOT EXISTS: a concurrent add shows up as "already exists".
    const type = clickhouseType(value, false);
    await this.client!.command({
      query: `ALTER TABLE ${full} ADD COLUMN ${ident(column)} ${type}`,
    }).catch((err: Error) => {
      if (!/already exists/i.test(err.message)) throw err;
    });
    cols.set(column, type);
    this.floats.delete(table);
  }

  /** The table's Float columns (recomputed after its columns changed). */
  private floatColumns(table: string): Set<string> {
    let f = this.floats.get(table);
    if (!f) {
      f = new Set();
      for (const [c, t] of this.columns.get(table)!) if (t.includes('Float')) f.add(c);
      this.floats.set(table, f);
    }
    return f;
  }

  private async describe(full: string): Promise<Map<string, string>> {
    try {
      const res = await this.client!.query({
        query: `DESCRIBE TABLE ${full}`,
        format: 'JSONEachRow',
      });
      const rows = (await res.json()) as Array<{ name: string; type: string }>;
      return new Map(rows.map((r) => [r.name, r.type]));
    } catch (err) {
      if (/Code: 60\b/.test((err as Error).message)) return new Map(); // UNKNOWN_TABLE
      throw err;
    }
  }
}

/**
 * The row inserted for a write: the row's columns (key columns taking the key's values), then
 * `__version` and `__deleted`; a delete has the key columns only. Values as encodeValue gives
 * them, with the Float test done once per table (`floats`) instead of per value.
 */
export function clickhouseRow(w: KeyedWrite, floats: Set<string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const key = w.key;
  const row = w.row;
  if (row !== null)
    for (const c in row)
      out[c] = encodeCell(Object.hasOwn(key, c) ? key[c] : row[c], floats.has(c));
  for (const c in key)
    if (row === null || !Object.hasOwn(row, c)) out[c] = encodeCell(key[c], floats.has(c));
  out.__version = w.version.toString();
  out.__deleted = row === null ? 1 : 0;
  return out;
}

function encodeCell(v: unknown, float: boolean): unknown {
  if (typeof v === 'number')
    return float && !Number.isInteger(v) && Number.isFinite(v) ? v.toPrecision(17) : v;
  if (typeof v === 'bigint') return v.toString();
  if (v !== null && typeof v === 'object') return stringifyJson(v);
  return v;
}

/**
 * Objects and arrays become JSON text, 64-bit integers decimal text; the rest stays JSON.
 * Fractional numbers for Float columns go as 17 significant digits: ClickHouse 18.16's text
 * parser misreads some shortest forms by one unit in the last place ("3.47" is stored as
 * 3.4699999999999998), while 17 digits name the exact double and are read back exactly.
 */
export function encodeValue(v: unknown, columnType?: string): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (
    typeof v === 'number' &&
    !Number.isInteger(v) &&
    Number.isFinite(v) &&
    columnType?.includes('Float')
  )
    return v.toPrecision(17);
  if (v !== null && typeof v === 'object') return stringifyJson(v);
  return v;
}
