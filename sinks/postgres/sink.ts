/**
 * PostgreSQL sink. One transaction per batch, per target table:
 *   1. upsert the batch's newest version per key into `<t>__versions`
 *      (`ON CONFLICT (__key) DO UPDATE ... WHERE v.__version < excluded.__version RETURNING __key`):
 *      only keys whose version is newer than anything applied before (deletes included) come back;
 *      the row lock this takes also serialises two sink instances writing the same key;
 *   2. for those keys, `INSERT ... ON CONFLICT (pk) DO UPDATE ... WHERE target.__version <
 *      excluded.__version` the live rows, and `DELETE` the deleted ones (also version-guarded).
 * A replay, an out-of-order older event, or an older insert after a delete changes nothing.
 * Values travel as one jsonb parameter per statement (`jsonb_populate_recordset`), so batch size
 * is not limited by the bind-parameter count and PostgreSQL casts JSON values to column types.
 */
import pg from 'pg';
import { stringifyJson } from '../../core/events/index.ts';
import { ConfigError, TributaryError } from '../../core/errors/index.ts';
import type { Sink, SinkRecord } from '../runtime/sink.ts';
import { RecordRejectedError, RetryableSinkError, latestPerKey } from '../runtime/sink.ts';
import type { KeyedWrite } from '../runtime/sink.ts';
import type { PostgresSinkConfig } from './config.ts';
import {
  VERSION_COLUMN,
  addColumnSql,
  createTableSql,
  createVersionsTableSql,
  ident,
  inferType,
  tableName,
  versionsTable,
} from './schema.ts';

interface TableInfo {
  columns: Set<string>;
}

export class PostgresSink implements Sink {
  private pool: pg.Pool | undefined;
  private readonly tables = new Map<string, TableInfo>();

  constructor(
    readonly name: string,
    private readonly config: PostgresSinkConfig,
  ) {}

  async open(): Promise<void> {
    const pool = new pg.Pool({
      connectionString: this.config.url,
      max: this.config.parallelism + 1,
      statement_timeout: this.config.statementTimeoutMs,
      connectionTimeoutMillis: 10_000,
    });
    // Idle clients report a dropped server here; the next query reconnects.
    pool.on('error', () => undefined);
    try {
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${ident(this.config.schema)}`);
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw classify(err, 'opening the connection');
    }
    this.pool = pool;
  }

  async writeBatch(records: SinkRecord[]): Promise<void> {
    const byTable = new Map<string, KeyedWrite[]>();
    for (const w of latestPerKey(records)) {
      const t = tableName(this.config.table, w.topic);
      let list = byTable.get(t);
      if (!list) byTable.set(t, (list = []));
      list.push(w);
    }
    for (const [table, writes] of byTable) await this.ensureTable(table, writes);
    // Keys are split into disjoint shards written in parallel transactions (no two shards touch
    // one row, so they cannot deadlock). A failed shard fails the batch; the shards that
    // committed are simply re-applied (as no-ops) when the batch is retried.
    const total = [...byTable.values()].reduce((n, w) => n + w.length, 0);
    const shards = Math.max(1, Math.min(this.config.parallelism, Math.floor(total / 250)));
    const parts = Array.from({ length: shards }, () => new Map<string, KeyedWrite[]>());
    for (const [table, writes] of byTable)
      for (const w of writes) {
        const part = parts[shards === 1 ? 0 : hash(w.keyId) % shards]!;
        let list = part.get(table);
        if (!list) part.set(table, (list = []));
        list.push(w);
      }
    const results = await Promise.allSettled(parts.map((part) => this.writeShard(part)));
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  }

  private async writeShard(byTable: Map<string, KeyedWrite[]>): Promise<void> {
    if (byTable.size === 0) return;
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      for (const [table, writes] of byTable) await this.applyTable(client, table, writes);
      await client.query('COMMIT');
    } catch (err) {
      broken = err as Error;
      await client.query('ROLLBACK').catch(() => undefined);
      throw classify(err, 'writing the batch');
    } finally {
      client.release(broken !== undefined && isConnectionError(broken));
    }
  }

  async close(): Promise<void> {
    await this.pool?.end().catch(() => undefined);
    this.pool = undefined;
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      const client = await this.pool!.connect();
      // A connection that drops mid-transaction also emits 'error' on the checked-out client;
      // without a listener that would crash the process. The failing query reports it.
      if (client.listenerCount('error') === 0) client.on('error', () => undefined);
      return client;
    } catch (err) {
      throw classify(err, 'connecting');
    }
  }

  /** Creates the table and its versions table when missing; adds new columns as nullable. */
  private async ensureTable(table: string, writes: KeyedWrite[]): Promise<void> {
    const { schema, autoCreate } = this.config;
    try {
      let info = this.tables.get(table);
      if (!info) {
        const res = await this.pool!.query<{ column_name: string }>(
          'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
          [schema, table],
        );
        if (res.rows.length === 0) {
          if (!autoCreate)
            throw new ConfigError(
              'sink.autoCreate',
              `table ${schema}.${table} does not exist; create it or set autoCreate: true`,
            );
          const first = writes.find((w) => w.row !== null) ?? writes[0]!;
          await this.pool!.query(createTableSql(schema, table, first.key, first.row));
        } else if (!res.rows.some((r) => r.column_name === VERSION_COLUMN)) {
          await this.pool!.query(
            `ALTER TABLE ${ident(schema)}.${ident(table)} ADD COLUMN IF NOT EXISTS ${VERSION_COLUMN} numeric(20,0) NOT NULL DEFAULT 0`,
          );
        }
        await this.pool!.query(createVersionsTableSql(schema, table));
        const cols = await this.pool!.query<{ column_name: string }>(
          'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
          [schema, table],
        );
        info = { columns: new Set(cols.rows.map((r) => r.column_name)) };
        this.tables.set(table, info);
      }
      for (const w of writes)
        for (const [c, v] of Object.entries({ ...w.key, ...w.row }))
          if (!info.columns.has(c)) {
            await this.pool!.query(addColumnSql(schema, table, c, inferType(v)));
            info.columns.add(c);
          }
    } catch (err) {
      this.tables.delete(table);
      if (err instanceof TributaryError) throw err;
      // Two instances racing on the same DDL see duplicate-object errors: retry, then it exists.
      const code = (err as { code?: string }).code;
      if (code === '23505' || code === '42P07' || code === '42701')
        throw new RetryableSinkError(
          `creating ${schema}.${table} raced: ${(err as Error).message}`,
          {
            cause: err,
          },
        );
      throw classify(err, `preparing table ${schema}.${table}`);
    }
  }

  private async applyTable(
    client: pg.PoolClient,
    table: string,
    unordered: KeyedWrite[],
  ): Promise<void> {
    // Rows are locked in key order, so two instances writing overlapping keys during a
    // rebalance wait for each other instead of deadlocking.
    const writes = [...unordered].sort((a, b) =>
      a.keyId < b.keyId ? -1 : a.keyId > b.keyId ? 1 : 0,
    );
    const s = ident(this.config.schema);
    const t = `${s}.${ident(table)}`;
    const won = await client.query<{ __key: string }>(
      `INSERT INTO ${s}.${ident(versionsTable(table))} AS v (__key, __version, __deleted)
       SELECT k, ver, del FROM jsonb_to_recordset($1::jsonb) AS x(k text, ver numeric, del boolean)
       ON CONFLICT (__key) DO UPDATE SET __version = excluded.__version, __deleted = excluded.__deleted
       WHERE v.__version < excluded.__version
       RETURNING __key`,
      [stringifyJson(writes.map((w) => ({ k: w.keyId, ver: w.version, del: w.row === null })))],
    );
    const winners = new Set(won.rows.map((r) => r.__key));
    const upserts = new Map<string, Array<Record<string, unknown>>>();
    const deletes: Array<Record<string, unknown>> = [];
    for (const w of writes) {
      if (!winners.has(w.keyId)) continue;
      if (w.row === null) {
        deletes.push({ ...w.key, [VERSION_COLUMN]: w.version });
        continue;
      }
      const row: Record<string, unknown> = {};
      for (const [c, v] of Object.entries(w.row)) if (!w.unavailable.includes(c)) row[c] = v;
      Object.assign(row, w.key, { [VERSION_COLUMN]: w.version });
      // Rows with the same column set share a statement (unavailable TOAST columns are left out).
      const shape = Object.keys(row).sort().join('\u0000');
      let group = upserts.get(shape);
      if (!group) upserts.set(shape, (group = []));
      group.push(row);
    }
    const keyCols = Object.keys(writes[0]!.key);
    for (const rows of upserts.values()) {
      const cols = Object.keys(rows[0]!);
      const updates = cols.filter((c) => !keyCols.includes(c));
      await client.query(
        `INSERT INTO ${t} AS target (${cols.map(ident).join(', ')})
         SELECT ${cols.map(ident).join(', ')} FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)
         ON CONFLICT (${keyCols.map(ident).join(', ')}) DO UPDATE
         SET ${updates.map((c) => `${ident(c)} = excluded.${ident(c)}`).join(', ')}
         WHERE target.${VERSION_COLUMN} < excluded.${VERSION_COLUMN}`,
        [stringifyJson(rows)],
      );
    }
    if (deletes.length > 0)
      await client.query(
        `DELETE FROM ${t} AS target USING jsonb_populate_recordset(NULL::${t}, $1::jsonb) AS d
         WHERE ${keyCols.map((c) => `target.${ident(c)} = d.${ident(c)}`).join(' AND ')}
         AND target.${VERSION_COLUMN} < d.${VERSION_COLUMN}`,
        [stringifyJson(deletes)],
      );
  }
}

const RETRYABLE_SQLSTATES = new Set([
  '40001',
  '40P01',
  '57014',
  '57P01',
  '57P02',
  '57P03',
  '55P03',
]);

function isConnectionError(err: Error): boolean {
  const code = (err as { code?: string }).code ?? '';
  return (
    code.startsWith('08') ||
    code.startsWith('57P') ||
    /^E[A-Z]+$/.test(code) ||
    /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
      err.message,
    )
  );
}

/** Maps a pg error to the runtime's policy: retry, reject the record(s), or stop. */
function classify(err: unknown, action: string): TributaryError {
  if (err instanceof TributaryError) return err;
  const e = err as Error & { code?: string };
  const code = e.code ?? '';
  const message = `${action}: ${e.message}${code ? ` [SQLSTATE ${code}]` : ''}`;
  if (isConnectionError(e) || RETRYABLE_SQLSTATES.has(code) || code.startsWith('53'))
    return new RetryableSinkError(message, { cause: err });
  // Class 22 (data exception) and 23 (integrity constraint): the data itself is refused.
  if (code.startsWith('22') || code.startsWith('23'))
    return new RecordRejectedError(message, { cause: err, details: { sqlstate: code } });
  return new TributaryError('SINK_POSTGRES_ERROR', message, { cause: err, retryable: false });
}

/** FNV-1a of a string (shard choice; any stable spread will do). */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}
