/**
 * PostgreSQL sink. Per batch, keys are split into up to `parallelism` disjoint shards; each
 * shard applies each target table in ONE statement (its own transaction when the shard has one
 * table; several tables share a transaction):
 *   staged: the shard's newest version per key as typed columns, unnested from one array
 *      parameter per column (values in their text form; PostgreSQL's input functions parse them);
 *   won: upsert into `<t>__versions` (`ON CONFLICT (__key) DO UPDATE ... WHERE v.__version <
 *      excluded.__version RETURNING __key`): only keys whose version is newer than anything
 *      applied before (deletes included) come back; the row lock this takes also serialises two
 *      sink instances writing the same key;
 *   then, for those keys, `INSERT ... ON CONFLICT (pk) DO UPDATE ... WHERE target.__version <
 *      excluded.__version` the live rows, and `DELETE` the deleted ones (also version-guarded).
 * A replay, an out-of-order older event, or an older insert after a delete changes nothing.
 * Values convert exactly as `jsonb_populate_record` would (what earlier versions used): columns
 * of type json, arrays and composites, and objects sent to non-JSON columns, go through it.
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

type ColumnKind = 'scalar' | 'jsonb' | 'populate';

interface TableInfo {
  /** Number of the table in this sink (names its staging tables). */
  id: number;
  /** Column -> how values travel: text form, JSON text (jsonb), or via jsonb_populate_record. */
  kinds: Map<string, ColumnKind>;
  /**
   * Column -> its type by name, without modifiers (`pg_catalog.bpchar`, not `character`, which
   * would mean char(1)): values are cast to it, then assigned to the column.
   */
  types: Map<string, string>;
  /** A batch was applied with this definition (a later SQLSTATE 42 error means it changed). */
  verified: boolean;
}

/**
 * The columns of a table with how the sink sends their values: JSON text for jsonb (and domains
 * over it), jsonb_populate_record for json, arrays and composites (PostgreSQL converts JSON to
 * those), the text form of the value for every other type.
 */
const COLUMNS_SQL = `
  SELECT a.attname AS name,
    quote_ident(tn.nspname) || '.' || quote_ident(t.typname) AS base,
    CASE WHEN b.typname = 'jsonb' THEN 'jsonb'
         WHEN b.typname = 'json' OR b.typcategory IN ('A', 'C') THEN 'populate'
         ELSE 'scalar' END AS kind
  FROM pg_attribute a
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_namespace tn ON tn.oid = t.typnamespace
  JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
  ORDER BY a.attnum`;

export class PostgresSink implements Sink {
  private pool: pg.Pool | undefined;
  private readonly tables = new Map<string, TableInfo>();
  private tableCount = 0;
  private readonly tableNames = new Map<string, string>();

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
      // Two instances creating the schema at once: one sees a duplicate; retried, it exists.
      const code = (err as { code?: string }).code;
      if (code === '23505' || code === '42P06')
        throw new RetryableSinkError(`creating schema ${this.config.schema} raced`, { cause: err });
      throw classify(err, 'opening the connection');
    }
    this.pool = pool;
  }

  async writeBatch(records: SinkRecord[]): Promise<void> {
    const byTable = new Map<string, KeyedWrite[]>();
    for (const w of latestPerKey(records)) {
      let t = this.tableNames.get(w.topic);
      if (t === undefined)
        this.tableNames.set(w.topic, (t = tableName(this.config.table, w.topic)));
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
    // One table: one statement, which is its own transaction.
    const single = byTable.size === 1;
    try {
      if (!single) await client.query('BEGIN');
      for (const [table, writes] of byTable) await this.applyTable(client, table, writes);
      if (!single) await client.query('COMMIT');
      for (const table of byTable.keys()) {
        const info = this.tables.get(table);
        if (info) info.verified = true;
      }
    } catch (err) {
      broken = err as Error;
      if (!single) await client.query('ROLLBACK').catch(() => undefined);
      throw this.staleDefinition(err, [...byTable.keys()]) ?? classify(err, 'writing the batch');
    } finally {
      client.release(broken !== undefined && isConnectionError(broken));
    }
  }

  /**
   * Values are cast to the column types read when the table was first seen. If the table was
   * altered since (a column dropped, or retyped so the cast no longer fits: SQLSTATE class 42),
   * forget what was read and retry the batch once with the current definition.
   */
  private staleDefinition(err: unknown, tables: string[]): RetryableSinkError | undefined {
    const code = (err as { code?: string }).code ?? '';
    if (!code.startsWith('42')) return undefined;
    const stale = tables.filter((t) => this.tables.get(t)?.verified);
    if (stale.length === 0) return undefined;
    for (const t of stale) this.tables.delete(t);
    return new RetryableSinkError(
      `table ${stale.join(', ')} changed since it was read; reading it again: ${(err as Error).message} [SQLSTATE ${code}]`,
      { cause: err },
    );
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
        info = await this.describe(table, ++this.tableCount);
        this.tables.set(table, info);
      }
      let added = false;
      for (const w of writes)
        for (const values of [w.key, w.row])
          for (const c in values)
            if (!info.kinds.has(c)) {
              await this.pool!.query(addColumnSql(schema, table, c, inferType(values[c])));
              info.kinds.set(c, 'scalar');
              added = true;
            }
      if (added) {
        info = await this.describe(table, info.id);
        this.tables.set(table, info);
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

  private async describe(table: string, id: number): Promise<TableInfo> {
    const { schema } = this.config;
    const res = await this.pool!.query<{
      name: string;
      base: string;
      kind: ColumnKind;
    }>(COLUMNS_SQL, [`${ident(schema)}.${ident(table)}`]);
    return {
      id,
      kinds: new Map(res.rows.map((r) => [r.name, r.kind])),
      types: new Map(res.rows.map((r) => [r.name, r.base])),
      verified: false,
    };
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
    const info = this.tables.get(table)!;
    const s = ident(this.config.schema);
    const t = `${s}.${ident(table)}`;
    const keyCols = Object.keys(writes[0]!.key);

    // Which columns the batch writes, and which of them need PostgreSQL's JSON-to-column
    // conversion (jsonb_populate_record) rather than their text form.
    const used = new Set<string>([...keyCols, VERSION_COLUMN]);
    const viaJson = new Set<string>();
    for (const w of writes) {
      if (w.row === null) continue;
      for (const c in w.row) {
        used.add(c);
        const v = w.row[c];
        if (info.kinds.get(c) === 'scalar' && v !== null && typeof v === 'object') viaJson.add(c);
      }
    }
    for (const c of used) if (info.kinds.get(c) === 'populate') viaJson.add(c);
    for (const c of keyCols) viaJson.delete(c);
    const cols = [...used].filter((c) => !viaJson.has(c));

    // One staging row per key: its columns, and a shape number (rows with the same set of
    // columns share an upsert; unavailable TOAST columns are left out of theirs).
    const shapes = new Map<string, number>();
    const shapeCols: string[][] = [];
    const stageCols = ['__stage_key', '__stage_deleted', '__stage_shape'];
    const stageTypes = ['text', 'boolean', 'integer'];
    if (viaJson.size > 0) {
      stageCols.push('__stage_doc');
      stageTypes.push('jsonb');
    }
    for (const c of cols) {
      stageCols.push(c);
      stageTypes.push(info.types.get(c) ?? 'text');
    }
    const values: Array<Array<string | null>> = stageCols.map(() => []);
    for (const w of writes) {
      let shape = -1;
      let doc: Record<string, unknown> | undefined;
      if (w.row !== null) {
        // Shape id: the row's columns in their order (rows of one source share it).
        let id = w.unavailable.length > 0 ? w.unavailable.join(',') + '\u0001' : '';
        for (const c in w.row) id += c + '\u0000';
        shape = shapes.get(id) ?? -1;
        if (shape < 0) {
          const present = Object.keys(w.row).filter((c) => !w.unavailable.includes(c));
          for (const c of keyCols) if (!(c in w.row)) present.push(c);
          present.push(VERSION_COLUMN);
          shape = shapeCols.push(present) - 1;
          shapes.set(id, shape);
        }
        if (viaJson.size > 0)
          for (const c of viaJson) if (c in w.row && w.row[c] !== null) (doc ??= {})[c] = w.row[c];
      }
      let i = 0;
      values[i++]!.push(w.keyId);
      values[i++]!.push(w.row === null ? 't' : 'f');
      values[i++]!.push(String(shape));
      if (viaJson.size > 0) values[i++]!.push(doc ? jsonText(doc) : null);
      for (const c of cols) {
        const v =
          c === VERSION_COLUMN
            ? w.version
            : c in w.key
              ? w.key[c]
              : w.row === null || w.unavailable.includes(c)
                ? null
                : w.row[c];
        values[i++]!.push(textValue(v, info.kinds.get(c) === 'jsonb'));
      }
    }
    const staged = `staged AS MATERIALIZED (SELECT * FROM unnest(${stageTypes
      .map((ty, i) => `$${i + 1}::${ty}[]`)
      .join(', ')}) AS x(${stageCols.map(ident).join(', ')}))`;

    // One statement: the versions guard, then upserts and deletes for the keys that won it.
    const ctes = [
      `won AS (INSERT INTO ${s}.${ident(versionsTable(table))} AS v (__key, __version, __deleted)
       SELECT __stage_key, ${VERSION_COLUMN}, __stage_deleted FROM staged ORDER BY __stage_key COLLATE "C"
       ON CONFLICT (__key) DO UPDATE SET __version = excluded.__version, __deleted = excluded.__deleted
       WHERE v.__version < excluded.__version
       RETURNING __key)`,
    ];
    const from = `staged s JOIN won ON won.__key = s.__stage_key${
      viaJson.size > 0
        ? ` CROSS JOIN LATERAL jsonb_populate_record(NULL::${t}, s.__stage_doc) j`
        : ''
    }`;
    shapeCols.forEach((present, shape) => {
      const updates = present.filter((c) => !keyCols.includes(c));
      const exprs = present.map((c) => (viaJson.has(c) ? `j.${ident(c)}` : `s.${ident(c)}`));
      ctes.push(
        `u${shape} AS (INSERT INTO ${t} AS target (${present.map(ident).join(', ')})
         SELECT ${exprs.join(', ')} FROM ${from} WHERE s.__stage_shape = ${shape}
         ON CONFLICT (${keyCols.map(ident).join(', ')}) DO UPDATE
         SET ${updates.map((c) => `${ident(c)} = excluded.${ident(c)}`).join(', ')}
         WHERE target.${VERSION_COLUMN} < excluded.${VERSION_COLUMN})`,
      );
    });
    // Deletes find their rows through the primary key, one index probe per deleted key (a
    // join could pick a scan of the whole table), then delete by row address.
    const main = writes.some((w) => w.row === null)
      ? `DELETE FROM ${t} AS target WHERE target.ctid = ANY (ARRAY(
           SELECT x.ctid FROM staged s JOIN won ON won.__key = s.__stage_key
           CROSS JOIN LATERAL (SELECT d.ctid FROM ${t} d
             WHERE ${keyCols.map((c) => `d.${ident(c)} = s.${ident(c)}`).join(' AND ')}
             AND d.${VERSION_COLUMN} < s.${VERSION_COLUMN} OFFSET 0) x
           WHERE s.__stage_deleted))`
      : 'SELECT 1';
    await client.query(`WITH ${staged},\n${ctes.join(',\n')}\n${main}`, values.map(arrayLiteral));
  }
}

/** A value's text form as the column's input function takes it; `json`: JSON text (jsonb). */
function textValue(v: unknown, json: boolean): string | null {
  if (v === null || v === undefined) return null;
  if (json) return jsonText(v);
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return plainNumber(v);
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    default:
      return jsonText(v);
  }
}

/** stringifyJson, through the native JSON.stringify unless the value holds a bigint. */
function jsonText(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return stringifyJson(v);
  }
}

const ARRAY_SPECIAL = /["\\]/;

/** A PostgreSQL array literal of text elements (every element quoted; NULL for null). */
export function arrayLiteral(values: Array<string | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (i > 0) out += ',';
    if (v === null || v === undefined) out += 'NULL';
    else out += `"${ARRAY_SPECIAL.test(v) ? v.replace(/["\\]/g, '\\$&') : v}"`;
  }
  return out + '}';
}

/**
 * A JSON number as PostgreSQL prints it once parsed as numeric (what jsonb_populate_record
 * hands a text column): plain digits, never an exponent (1e+21 -> 1000...0, 1.5e-7 -> 0.00000015).
 */
export function plainNumber(n: number): string {
  const s = String(n);
  if (!s.includes('e')) return s;
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const [, sign, int, frac = ''] = m;
  const digits = int! + frac;
  const point = int!.length + Number(m[4]);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return sign + digits + '0'.repeat(point - digits.length);
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
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
