/**
 * The PostgreSQL change stream: pgoutput messages from the replication connection become
 * ChangeEvents, reported to the engine's StreamSink in WAL order with their positions.
 *
 * Position: order = the transaction's commit LSN (known from Begin), index = the event's
 * number inside the transaction; non-transactional messages use their own LSN. Per-key
 * version = the change's WAL LSN (row locks order writers of one row, so it grows per key).
 *
 * Messages that need asynchronous work (a Relation with a type the catalog does not know)
 * queue everything behind them until the work is done, so order is never broken.
 */
import { TRIBUTARY_VERSION } from '../../core/version.ts';
import { PRE_ENCODED, UNAVAILABLE_HEADER, VERSION_HEADER } from '../../core/events/index.ts';
import type {
  ChangeEvent,
  Envelope,
  EventSchemas,
  PreEncodedJson,
  RowKey,
  TransactionBlock,
} from '../../core/events/index.ts';
import { joinBytes, JsonBytes, jsonPiece } from '../../core/events/json-bytes.ts';
import type { ChangeStream, StreamSink, WatermarkKind } from '../engine/types.ts';
import { decodePgOutput, RowChange, spansAt, tupleAt } from './connection/pgoutput.ts';
import type { PgOutputMessage, RelationMessage, TupleSpans } from './connection/pgoutput.ts';
import { ReplicationConnection } from './connection/replication.ts';
import type { XLogData } from './connection/replication.ts';
import { TableSchema } from './schema.ts';
import type { TableMeta } from './schema.ts';

export const WATERMARK_PREFIX = 'tributary-watermark';
export const HEARTBEAT_PREFIX = 'tributary-heartbeat';
/** Signals to the running capture (e.g. execute-snapshot); see capture/engine/signal.ts. */
export const SIGNAL_PREFIX = 'tributary.signal';

export interface StreamContext {
  /** Source name (source.name). */
  name: string;
  database: string;
  prefix: string;
  /** Catalog facts of the captured tables, by "schema.table". */
  tables: Map<string, TableMeta>;
  /** Builds a schema for a relation (may need the type catalog refreshed first). */
  buildSchema(meta: TableMeta, relation: RelationMessage): TableSchema | Promise<TableSchema>;
  /** Debezium's provide.transaction.metadata: BEGIN/END records and the event transaction block. */
  transactionMetadata: boolean;
  log(message: string): void;
}

interface SourcePieces {
  /** `,"source":{"version":…,"name":…,"ts_ms":` */
  head: Buffer;
  /** After ts_ms, with no commit before: `,"snapshot":"false","db":…,"sequence":"[null,\"` */
  firstSequence: Buffer;
  /** After ts_ms otherwise, up to the last commit LSN, then what follows it. */
  sequence: Buffer;
  afterLast: Buffer;
}

interface OpenTransaction {
  /** Source name and database (source.name, source.db). */
  name: string;
  database: string;
  xid: number;
  commitLsn: number;
  commitTimeUs: bigint;
  /** Derived once per transaction (source.ts_ms, ts_us, ts_ns). */
  commitTimeMs: number;
  commitTimeUsNumber: number;
  index: number;
  /** Events emitted so far (total_order of the last one). */
  events: number;
  /** Events per data collection ("schema.table"), in first-seen order. */
  perTable: Map<string, number>;
  /** Commit LSN of the previous transaction (source.sequence), null before the first. */
  lastCommitLsn: number | null;
  /**
   * The value's source block (UTF-8) is sourceHead + lsn + middle + lsn + the end: everything
   * but the change's LSN and table is fixed per transaction. sourceHead starts with the
   * `,"source":` field name; middle (ts_us … "lsn":) is made for the table of the transaction's
   * last change (middleOf).
   */
  sourceHead: Buffer;
  middleOf: TableSchema | null;
  middle: Buffer;
}

// The fixed pieces of a change event's value JSON, as UTF-8 (see also SourcePieces).
const MIDDLE_US = jsonPiece('\\"]","ts_us":');
const MIDDLE_NS = jsonPiece(',"ts_ns":');
const MIDDLE_TABLE = jsonPiece('000,');
const MIDDLE_TX = jsonPiece(',"txId":');
const MIDDLE_LSN = jsonPiece(',"lsn":');
const NO_BYTES = Buffer.alloc(0);
const BEFORE = jsonPiece('{"before":');
const BEFORE_NULL = jsonPiece('{"before":null,"after":');
const AFTER = jsonPiece(',"after":');
const AFTER_NULL = jsonPiece(',"after":null');
const NO_ROWS = jsonPiece('{"before":null,"after":null');
const SOURCE_END = ',"xmin":null},"transaction":';
type Op = 'c' | 'u' | 'd' | 't';
const NO_COLUMNS: string[] = [];
/** pgoutput message tags of row changes (RowChange.tag). */
const INSERT = 0x49;
const UPDATE = 0x55;

export class PgChangeStream implements ChangeStream {
  private readonly relations = new Map<number, TableSchema | null>();
  private tx: OpenTransaction | null = null;
  private lastCommitLsn: number | null = null;
  private queue: XLogData[] | null = null;
  /** Processing time cache: the envelope's ts_ms/ts_us/ts_ns JSON is rebuilt once per millisecond. */
  private nowMs = 0;
  /**
   * The value's last bytes after the source block's LSN, per op, for this millisecond (no
   * transaction block): `,"xmin":null},"transaction":null,"op":"c","ts_ms":…}`.
   */
  private ends: Partial<Record<Op, Buffer>> = {};
  /** The source block's pieces that are the same for every transaction of this stream. */
  private readonly sourcePieces: SourcePieces;
  /** Row changes are read here (reused), and their values written into `out`. */
  private readonly change = new RowChange();
  private readonly out = new JsonBytes();
  /** Columns with an unchanged TOAST value in the current change (reused). */
  private readonly unavailable: string[] = [];
  private paused = false;
  private failed = false;

  constructor(
    private readonly connection: ReplicationConnection,
    private readonly sink: StreamSink,
    private readonly ctx: StreamContext,
  ) {
    // The source block in Debezium's field order, around ts_ms and the last commit LSN.
    const head =
      `,"source":{"version":${JSON.stringify(TRIBUTARY_VERSION)},"connector":"postgresql",` +
      `"name":${JSON.stringify(ctx.name)},"ts_ms":`;
    const sequence = `,"snapshot":"false","db":${JSON.stringify(ctx.database)},"sequence":"[`;
    this.sourcePieces = {
      head: jsonPiece(head),
      firstSequence: jsonPiece(`${sequence}null,\\"`),
      sequence: jsonPiece(`${sequence}\\"`),
      afterLast: jsonPiece('\\",\\"'),
    };
  }

  start(): void {
    this.connection.start(0, {
      onData: (d) => this.onData(d),
      onError: (err) => this.fail(err),
      onEnd: () => this.fail(new Error('the replication stream ended unexpectedly')),
    });
  }

  acknowledge(ack: number): void {
    this.connection.confirm(ack);
  }

  pause(): void {
    this.paused = true;
    this.connection.pause();
  }

  resume(): void {
    this.paused = false;
    this.connection.resume();
  }

  async close(): Promise<void> {
    this.failed = true; // no more callbacks
    await this.connection.close();
  }

  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = true;
    this.sink.fail(err);
  }

  private onData(d: XLogData): void {
    if (this.failed) return;
    if (this.queue) {
      this.queue.push(d);
      return;
    }
    try {
      this.handle(d);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /** Processes queued data after asynchronous work; stops again if more async work starts. */
  private drain(): void {
    const q = this.queue!;
    this.queue = null;
    while (q.length > 0 && !this.failed) {
      const d = q.shift()!;
      if (this.queue) {
        (this.queue as XLogData[]).push(d, ...q);
        return;
      }
      try {
        this.handle(d);
      } catch (err) {
        this.fail(err as Error);
        return;
      }
    }
  }

  private handle(d: XLogData): void {
    if (this.change.read(d.payload)) return this.onChange(this.change, d.payload, d.walStart);
    const msg: PgOutputMessage = decodePgOutput(d.payload);
    switch (msg.tag) {
      case 'begin':
        this.tx = this.openTransaction(msg.xid, msg.commitLsn, msg.commitTimeUs);
        return;
      case 'commit':
        this.lastCommitLsn = msg.commitLsn;
        if (this.ctx.transactionMetadata && this.tx && this.tx.events > 0)
          this.transactionRecord(this.tx, 'END');
        this.tx = null;
        this.sink.unitEnd(msg.commitLsn, msg.endLsn);
        return;
      case 'relation':
        return this.onRelation(msg);
      case 'insert':
      case 'update':
      case 'delete':
        return; // read by RowChange above
      case 'truncate':
        for (const relationId of msg.relationIds) {
          const t = this.table(relationId);
          if (t) this.emit(t, 't', '{}', d.payload, null, null, d.walStart, NO_COLUMNS);
        }
        return;
      case 'message':
        return this.onMessage(msg.prefix, msg.content, msg.lsn, msg.transactional);
      case 'type':
      case 'origin':
        return;
    }
  }

  /**
   * A row change, read from its message's bytes: the key as text, the value written as bytes
   * (emit). An update that changes the primary key becomes, as in Debezium, a delete of the old
   * key and a create of the new one.
   */
  private onChange(c: RowChange, src: Buffer, lsn: number): void {
    const t = this.table(c.relationId);
    if (!t) return;
    const unavailable = this.unavailable;
    unavailable.length = 0;
    if (c.tag === INSERT) {
      this.emit(t, 'c', t.keyText(src, c.new), src, null, c.new, lsn, unavailable);
      return;
    }
    if (c.tag === UPDATE) {
      const key = t.keyText(src, c.new);
      if (c.oldAt < 0) {
        this.emit(t, 'u', key, src, null, c.new, lsn, unavailable);
        return;
      }
      const oldKey = t.keyText(src, c.old);
      if (oldKey !== key) {
        this.emit(t, 'd', oldKey, src, c.old, null, lsn, NO_COLUMNS);
        this.emit(t, 'c', key, src, null, c.new, lsn, unavailable);
        return;
      }
      this.emit(t, 'u', key, src, c.old, c.new, lsn, unavailable);
      return;
    }
    this.emit(t, 'd', t.keyText(src, c.old), src, c.old, null, lsn, NO_COLUMNS);
  }

  private onMessage(prefix: string, content: Buffer, lsn: number, transactional: boolean): void {
    if (prefix === WATERMARK_PREFIX) {
      const { id, kind } = JSON.parse(content.toString()) as { id: string; kind: WatermarkKind };
      // A logical message's LSN is the END of its WAL record, which is where the next record
      // starts; lsn - 1 lies inside the message record, strictly between the changes before and
      // after it, so positions and versions derived from it never tie with a change.
      this.sink.watermark(id, kind, lsn - 1);
    } else if (prefix === SIGNAL_PREFIX) {
      // Transactional signals take their transaction's position; others lie inside their record.
      const order = transactional && this.tx ? this.tx.commitLsn : lsn - 1;
      this.sink.signal(content.toString(), order, lsn);
    } else if (prefix === HEARTBEAT_PREFIX && !transactional && !this.tx) {
      this.sink.idle(lsn);
    }
    // Other applications' logical decoding messages are not published.
  }

  private onRelation(msg: RelationMessage): void {
    const name = `${msg.schema}.${msg.table}`;
    const meta = this.ctx.tables.get(name);
    if (!meta) {
      this.relations.set(msg.relationId, null); // not captured (publication has more tables)
      return;
    }
    const built = this.ctx.buildSchema(meta, msg);
    if (built instanceof Promise) {
      this.queue = [];
      built.then(
        (schema) => {
          this.relations.set(msg.relationId, schema);
          this.drain();
        },
        (err: Error) => this.fail(err),
      );
      return;
    }
    const previous = this.relations.get(msg.relationId);
    if (previous && previous.columns.length !== built.columns.length) {
      this.ctx.log(
        `schema change on ${name}: ${previous.columns.length} → ${built.columns.length} columns`,
      );
    }
    this.relations.set(msg.relationId, built);
  }

  private table(relationId: number): TableSchema | null {
    const t = this.relations.get(relationId);
    if (t === undefined)
      throw new Error(`change for relation ${relationId} before its Relation message`);
    return t;
  }

  private openTransaction(xid: number, commitLsn: number, commitTimeUs: bigint): OpenTransaction {
    // Microseconds since 1970 are below 2^53 until the year 2255: exact as a number.
    const commitTimeUsNumber = Number(commitTimeUs);
    const commitTimeMs = Math.floor(commitTimeUsNumber / 1000);
    const last = this.lastCommitLsn;
    const { name, database } = this.ctx;
    const pieces = this.sourcePieces;
    return {
      name,
      database,
      xid,
      commitLsn,
      commitTimeUs,
      commitTimeMs,
      commitTimeUsNumber,
      index: 0,
      events: 0,
      perTable: new Map(),
      lastCommitLsn: last,
      // `sequence` is a JSON string holding ["<last commit LSN>","<LSN>"]: its quotes are escaped.
      sourceHead:
        last === null
          ? joinBytes(pieces.head, commitTimeMs, pieces.firstSequence)
          : joinBytes(pieces.head, commitTimeMs, pieces.sequence, last, pieces.afterLast),
      middleOf: null,
      middle: NO_BYTES,
    };
  }

  /**
   * Publishes one change. Its value JSON is written here as bytes, the rows straight from the
   * tuples' column texts in `src` (TableSchema.writeRow); the event's key and value objects are
   * only built if someone reads them (PgChangeEvent).
   */
  private emit(
    t: TableSchema,
    op: Op,
    keyJson: string,
    src: Buffer,
    before: TupleSpans | null,
    after: TupleSpans | null,
    lsn: number,
    unavailable: string[],
  ): void {
    const tx = this.tx;
    if (!tx) throw new Error('row change outside a transaction');
    const nowMs = Date.now();
    if (nowMs !== this.nowMs) {
      this.nowMs = nowMs;
      this.ends = {};
    }
    let transaction: TransactionBlock | null = null;
    if (this.ctx.transactionMetadata) {
      if (tx.events === 0) this.transactionRecord(tx, 'BEGIN');
      const inTable = (tx.perTable.get(t.name) ?? 0) + 1;
      tx.perTable.set(t.name, inTable);
      transaction = {
        id: transactionId(tx),
        total_order: ++tx.events,
        data_collection_order: inTable,
      };
    } else tx.events++;
    const out = this.out;
    out.begin();
    const end =
      transaction === null ? (this.ends[op] ??= jsonPiece(valueEnd(op, null, nowMs))) : null;
    writeValue(out, t, op, src, before, after, lsn, tx, transaction, nowMs, end, unavailable);
    const event = new PgChangeEvent(
      t,
      op,
      keyJson,
      out,
      src,
      before ? this.change.oldAt : -1,
      after ? this.change.newAt : -1,
      lsn,
      tx,
      nowMs,
      transaction,
    );
    if (unavailable.length > 0) event.headers = { [UNAVAILABLE_HEADER]: unavailable.join(',') };
    const position = { order: tx.commitLsn, index: tx.index++ };
    if (!this.sink.event(event, position, t.name) && !this.paused) this.pause();
  }

  /** A BEGIN or END record on <prefix>.transaction, in Debezium's shape. */
  private transactionRecord(tx: OpenTransaction, status: 'BEGIN' | 'END'): void {
    const id = transactionId(tx);
    const value =
      status === 'BEGIN'
        ? {
            status,
            id,
            event_count: null,
            data_collections: null,
            ts_ms: Number(tx.commitTimeUs / 1000n),
          }
        : {
            status,
            id,
            event_count: tx.events,
            data_collections: [...tx.perTable].map(([data_collection, event_count]) => ({
              data_collection,
              event_count,
            })),
            ts_ms: Number(tx.commitTimeUs / 1000n),
          };
    const position = { order: tx.commitLsn, index: tx.index++ };
    this.sink.record(
      {
        topic: transactionTopic(this.ctx.prefix),
        key: Buffer.from(JSON.stringify({ id })),
        value: Buffer.from(JSON.stringify(value)),
        headers: { [VERSION_HEADER]: String(tx.commitLsn) },
      },
      position,
    );
  }
}

/**
 * A change event's value JSON, written into `out` (begun by the caller): the rows from the
 * tuples' column texts in `src` (TableSchema.writeRow), the source block from the transaction's
 * prepared pieces and the change's LSN, then `end` (what follows the source block's LSN, when
 * prepared by the caller) or valueEnd's text. Unchanged TOAST columns of `after` go into
 * `unavailable`.
 */
function writeValue(
  out: JsonBytes,
  t: TableSchema,
  op: Op,
  src: Buffer,
  before: TupleSpans | null,
  after: TupleSpans | null,
  lsn: number,
  tx: OpenTransaction,
  transaction: TransactionBlock | null,
  nowMs: number,
  end: Buffer | null,
  unavailable?: string[],
): void {
  if (before) {
    out.bytes(BEFORE);
    t.writeRow(src, before, out);
    out.bytes(after ? AFTER : AFTER_NULL);
  } else out.bytes(after ? BEFORE_NULL : NO_ROWS);
  if (after) t.writeRow(src, after, out, unavailable);
  out.bytes(tx.sourceHead);
  const lsnAt = out.mark();
  out.uint(lsn);
  const lsnDigits = out.mark() - lsnAt;
  if (tx.middleOf !== t) {
    const us = tx.commitTimeUsNumber;
    // ts_ns: the microseconds' digits and 000 (nanoseconds exceed 2^53)
    const table = t.sourceTableBytes;
    tx.middle = joinBytes(
      MIDDLE_US,
      us,
      MIDDLE_NS,
      us,
      MIDDLE_TABLE,
      table,
      MIDDLE_TX,
      tx.xid,
      MIDDLE_LSN,
    );
    tx.middleOf = t;
  }
  out.bytes(tx.middle);
  out.repeat(lsnAt, lsnDigits);
  if (end !== null) out.bytes(end);
  else out.text(valueEnd(op, transaction, nowMs));
}

/** The value JSON after the source block's LSN: xmin, the transaction block, op and the times. */
function valueEnd(op: Op, transaction: TransactionBlock | null, nowMs: number): string {
  const block =
    transaction === null
      ? 'null'
      : `{"id":${JSON.stringify(transaction.id)},"total_order":${transaction.total_order},"data_collection_order":${transaction.data_collection_order}}`;
  return `${SOURCE_END}${block},"op":"${op}","ts_ms":${nowMs},"ts_us":${nowMs * 1000},"ts_ns":${BigInt(nowMs) * 1_000_000n}}`;
}

/** Debezium's PostgreSQL transaction id: "<txId>:<commit LSN>". */
function transactionId(tx: OpenTransaction): string {
  return `${tx.xid}:${tx.commitLsn}`;
}

export function transactionTopic(prefix: string): string {
  return `${prefix}.transaction`;
}

/**
 * A change event whose key and value JSON were written straight from the tuple (PRE_ENCODED;
 * the value as UTF-8 bytes, valueBuffer[valueStart..valueEnd)); `key` and `value` are built
 * from the tuples in the pgoutput message on first use. Treat it as immutable: a copy made with
 * spread keeps topic/schemas/headers only, so copy key and value explicitly.
 *
 * The value's bytes lie in the stream's JsonBytes, which is written over once it is full (the
 * publisher copies them into its pack right away). An event read after that writes its value
 * again, from the message, into a buffer of its own.
 */
class PgChangeEvent implements ChangeEvent, PreEncodedJson {
  readonly topic: string;
  readonly schemas: EventSchemas;
  headers?: Record<string, string>;
  #key: RowKey | undefined;
  #value: Envelope | undefined;
  /** Where the value's bytes lie; #shared is the stream's JsonBytes, null once they are own. */
  #buf: Buffer;
  #start: number;
  #end: number;
  #shared: JsonBytes | null;
  #generation: number;

  constructor(
    private readonly table: TableSchema,
    readonly op: 'c' | 'u' | 'd' | 't',
    readonly keyJson: string,
    out: JsonBytes,
    /** The pgoutput message, and where its old and new tuples start (-1: not in the event). */
    private readonly src: Buffer,
    private readonly beforeAt: number,
    private readonly afterAt: number,
    private readonly lsn: number,
    private readonly tx: OpenTransaction,
    private readonly nowMs: number,
    private readonly transaction: TransactionBlock | null,
  ) {
    this.topic = table.topic;
    this.schemas = table.schemas;
    this.#buf = out.buf;
    this.#start = out.start;
    this.#end = out.pos;
    this.#shared = out;
    this.#generation = out.generation;
  }

  [PRE_ENCODED](): PreEncodedJson {
    return this;
  }

  get valueBuffer(): Buffer {
    this.#own();
    return this.#buf;
  }

  get valueStart(): number {
    this.#own();
    return this.#start;
  }

  get valueEnd(): number {
    this.#own();
    return this.#end;
  }

  get valueJson(): string {
    this.#own();
    return this.#buf.toString('utf8', this.#start, this.#end);
  }

  /** Writes the value again, into a buffer of its own, when the shared one moved on. */
  #own(): void {
    const shared = this.#shared;
    if (shared === null || (shared.generation === this.#generation && shared.buf === this.#buf))
      return;
    const { src, beforeAt, afterAt } = this;
    const out = new JsonBytes(this.#end - this.#start + 64);
    out.begin();
    writeValue(
      out,
      this.table,
      this.op,
      src,
      beforeAt >= 0 ? spansAt(src, beforeAt) : null,
      afterAt >= 0 ? spansAt(src, afterAt) : null,
      this.lsn,
      this.tx,
      this.transaction,
      this.nowMs,
      null,
    );
    this.#buf = out.buf;
    this.#start = out.start;
    this.#end = out.pos;
    this.#shared = null;
  }

  get versionText(): string {
    return String(this.lsn);
  }

  get versionNumber(): number {
    return this.lsn;
  }

  get version(): bigint {
    return BigInt(this.lsn);
  }

  get key(): RowKey {
    if (this.#key === undefined) {
      const t = this.table;
      const at = this.op === 'd' ? this.beforeAt : this.afterAt;
      this.#key = at >= 0 ? t.keyOf(t.toRow(tupleAt(this.src, at))) : {};
    }
    return this.#key;
  }

  get value(): Envelope {
    if (this.#value === undefined) {
      const { table: t, tx, lsn, nowMs } = this;
      this.#value = {
        before: this.beforeAt >= 0 ? t.toRow(tupleAt(this.src, this.beforeAt)) : null,
        after: this.afterAt >= 0 ? t.toRow(tupleAt(this.src, this.afterAt)) : null,
        source: {
          version: TRIBUTARY_VERSION,
          connector: 'postgresql',
          name: tx.name,
          ts_ms: tx.commitTimeMs,
          snapshot: 'false',
          db: tx.database,
          sequence: `[${tx.lastCommitLsn === null ? 'null' : `"${tx.lastCommitLsn}"`},"${lsn}"]`,
          ts_us: tx.commitTimeUsNumber,
          ts_ns: tx.commitTimeUs * 1000n,
          schema: t.meta.schema,
          table: t.meta.table,
          txId: tx.xid,
          lsn,
          xmin: null,
        },
        transaction: this.transaction,
        op: this.op,
        ts_ms: nowMs,
        ts_us: nowMs * 1000,
        ts_ns: BigInt(nowMs) * 1_000_000n,
      };
    }
    return this.#value;
  }
}
