/**
 * Snapshot reads for PostgreSQL: keyset chunks in primary-key order (no long locks, no
 * OFFSET scans), and DBLog watermarks / heartbeats written into the WAL as non-transactional
 * logical decoding messages (pg_logical_emit_message), which come back through the slot in
 * WAL order.
 */
import type pg from 'pg';
import { TRIBUTARY_VERSION } from '../../core/version.ts';
import type { ChangeEvent } from '../../core/events/index.ts';
import type {
  SnapshotChunk,
  SnapshotReader,
  SnapshotRowContext,
  SnapshotTable,
  WatermarkKind,
} from '../engine/types.ts';
import { quoteIdent } from './connection/replication.ts';
import { HEARTBEAT_PREFIX, WATERMARK_PREFIX } from './stream.ts';
import type { TableSchema } from './schema.ts';

/** Type parsers that keep every value as the server's text output. */
const RAW_TEXT = {
  getTypeParser: () => (value: string) => value,
} as unknown as pg.CustomTypesConfig;

/**
 * Visibility of a 32-bit transaction id in a snapshot printed by pg_current_snapshot()
 * ("xmin:xmax:xip,..." with 64-bit ids), using PostgreSQL's modulo-2^32 comparison.
 */
export function snapshotVisibility(text: string): (xid: number) => boolean {
  const [xminText, xmaxText, xipText = ''] = text.split(':');
  const to32 = (v: string) => Number(BigInt(v) & 0xffffffffn);
  const xmin = to32(xminText!);
  const xmax = to32(xmaxText!);
  const inProgress = new Set(xipText ? xipText.split(',').map(to32) : []);
  const precedes = (a: number, b: number) => ((a - b) | 0) < 0;
  return (xid) => {
    if (inProgress.has(xid)) return false;
    if (precedes(xid, xmin)) return true;
    return precedes(xid, xmax);
  };
}

export interface SnapshotContext {
  name: string;
  database: string;
  /** Current schema of each captured table, in snapshot order. */
  schemas(): TableSchema[];
  log?(message: string): void;
}

export class PgSnapshotReader implements SnapshotReader {
  constructor(
    private readonly pool: pg.Pool,
    private readonly ctx: SnapshotContext,
  ) {}

  tables(): SnapshotTable[] {
    return this.ctx.schemas().map((s) => ({ name: s.name }));
  }

  async readChunk(
    table: string,
    afterKey: unknown[] | null,
    limit: number,
  ): Promise<SnapshotChunk> {
    const t = this.ctx.schemas().find((s) => s.name === table);
    if (!t) throw new Error(`snapshot: table ${table} is no longer captured`);
    const sqlType = new Map(t.meta.columns.map((c) => [c.name, c.sqlType]));
    // Columns are selected as they are and returned unparsed: the server's text output is then
    // byte-identical to what pgoutput sends (a ::text cast is not: bool, char(n), inet differ).
    // Aliases make ORDER BY bind to the table's columns.
    // Columns filtered out of the events are not read (NULL keeps the tuple positions).
    const cols = t.columns
      .map((c, i) => `${t.captured[i] ? `t.${quoteIdent(c.name)}` : 'NULL'} AS c${i}`)
      .join(', ');
    const keys = t.keyColumns.map((k) => `t.${quoteIdent(k)}`);
    const keyCasts = t.keyColumns.map((k, i) => `$${i + 1}::${sqlType.get(k) ?? 'text'}`);
    const where = afterKey ? `WHERE (${keys.join(', ')}) > (${keyCasts.join(', ')})` : '';
    const keyText = t.keyColumns.map((k, i) => `t.${quoteIdent(k)} AS k${i}`).join(', ');
    const sql =
      `SELECT ${keyText}, ${cols} FROM ${quoteIdent(t.meta.schema)}.${quoteIdent(t.meta.table)} AS t ` +
      `${where} ORDER BY ${keys.join(', ')} LIMIT ${limit + 1}`;
    // One REPEATABLE READ transaction: the snapshot reported is the one the chunk is read with,
    // so the engine can tell which streamed transactions the chunk already reflects.
    const client = await this.pool.connect();
    let snapshot: string;
    let rows: Array<Array<string | null>>;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      snapshot = (await client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s'))
        .rows[0]!.s;
      const res = await client.query({
        text: sql,
        values: afterKey ?? [],
        rowMode: 'array',
        types: RAW_TEXT,
      });
      rows = res.rows as Array<Array<string | null>>;
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    const visibleTo = snapshotVisibility(snapshot);
    const last = rows.length <= limit;
    const page = last ? rows : rows.slice(0, limit);
    const nk = t.keyColumns.length;
    const readAtMs = Date.now();
    return {
      last,
      visible: (event) => {
        const xid = event.value.source.txId;
        return typeof xid === 'number' ? visibleTo(xid) : true;
      },
      lastKey: page.length > 0 ? page[page.length - 1]!.slice(0, nk) : afterKey,
      rows: page.map((r) => {
        const after = t.toRow(r.slice(nk));
        const key = t.keyOf(after);
        return {
          key,
          build: (rc: SnapshotRowContext): ChangeEvent => ({
            topic: t.topic,
            key,
            version: rc.version,
            schemas: t.schemas,
            value: {
              before: null,
              after,
              source: {
                version: TRIBUTARY_VERSION,
                connector: 'postgresql',
                name: this.ctx.name,
                ts_ms: readAtMs,
                snapshot: rc.marker,
                db: this.ctx.database,
                sequence: `[null,"${rc.version}"]`,
                ts_us: readAtMs * 1000,
                ts_ns: BigInt(readAtMs) * 1_000_000n,
                schema: t.meta.schema,
                table: t.meta.table,
                txId: null,
                lsn: Number(rc.version),
                xmin: null,
              },
              transaction: null,
              op: 'r',
              ts_ms: Date.now(),
            },
          }),
        };
      }),
    };
  }

  /**
   * Waits until every transaction running now (pg_current_snapshot()'s in-progress list) has
   * committed or aborted (or the capture stops), polling pg_xact_status; says so every 10 s
   * while one is still open.
   */
  async awaitRunningTransactions(stopped: () => boolean): Promise<void> {
    const snap = (await this.pool.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s'))
      .rows[0]!.s;
    let running = (snap.split(':')[2] ?? '').split(',').filter(Boolean);
    const started = Date.now();
    let told = started;
    let pause = 1;
    while (running.length > 0 && !stopped()) {
      const res = await this.pool.query<{ x: string }>(
        `SELECT x::text AS x FROM unnest($1::xid8[]) AS x WHERE pg_xact_status(x) = 'in progress'`,
        [running],
      );
      running = res.rows.map((r) => r.x);
      if (running.length === 0) return;
      if (Date.now() - told >= 10_000) {
        told = Date.now();
        this.ctx.log?.(
          `snapshot: waiting ${Math.round((told - started) / 1000)} s for ${running.length} running transaction(s) to end (${running.slice(0, 5).join(', ')}) before the chunk can be emitted`,
        );
      }
      await new Promise((r) => setTimeout(r, pause));
      pause = Math.min(pause * 2, 100);
    }
  }

  async writeWatermark(id: string, kind: WatermarkKind): Promise<void> {
    await this.pool.query('SELECT pg_logical_emit_message(false, $1, $2)', [
      WATERMARK_PREFIX,
      JSON.stringify({ id, kind }),
    ]);
  }

  async writeHeartbeat(): Promise<void> {
    await this.pool.query('SELECT pg_logical_emit_message(false, $1, $2)', [
      HEARTBEAT_PREFIX,
      String(Date.now()),
    ]);
  }
}
