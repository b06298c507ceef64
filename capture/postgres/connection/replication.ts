/**
 * A PostgreSQL connection in logical replication mode (`replication=database`) streaming a
 * slot with pgoutput. It delivers XLogData payloads in order, answers keepalives, and sends
 * standby status updates with the flush position the capture engine confirms — and only that
 * position: PostgreSQL may recycle WAL up to it, so it must never run ahead of Kafka.
 *
 * Lifecycle: connect() → start(handler) → [pause()/resume()]* , confirm(lsn)* → close().
 * The handler is called synchronously per message, in WAL order.
 */
import pg from 'pg';
import { formatLsn, readLsn } from './pgoutput.ts';

const PG_EPOCH_MS = 946_684_800_000;

export interface ReplicationOptions {
  host: string;
  port: number;
  database: string;
  user: string;
  password: string;
  slot: string;
  publications: string[];
  /** Interval of unsolicited standby status updates (ms). */
  statusIntervalMs?: number;
  applicationName?: string;
}

export interface XLogData {
  /** WAL position of this message (for a row change: the change's LSN). */
  walStart: number;
  walEnd: number;
  payload: Buffer;
}

export interface ReplicationHandler {
  onData(data: XLogData): void;
  /** A server keepalive: `walEnd` is the server's current WAL end. */
  onKeepalive?(walEnd: number): void;
  onError(err: Error): void;
  onEnd?(): void;
}

export class ReplicationConnection {
  private readonly client: pg.Client;
  private confirmedLsn = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** START_REPLICATION was sent (this class reads the socket from then on). */
  private streaming = false;

  constructor(private readonly options: ReplicationOptions) {
    this.client = new pg.Client({
      host: options.host,
      port: options.port,
      database: options.database,
      user: options.user,
      password: options.password,
      replication: 'database',
      application_name: options.applicationName ?? 'tributary',
    } as pg.ClientConfig);
  }

  async connect(): Promise<void> {
    await this.client.connect();
  }

  /** IDENTIFY_SYSTEM: the server's current WAL write position among others. */
  async identifySystem(): Promise<{
    systemId: string;
    timeline: number;
    xlogpos: string;
    dbname: string;
  }> {
    const res = await this.client.query('IDENTIFY_SYSTEM');
    const row = res.rows[0] as {
      systemid: string;
      timeline: number;
      xlogpos: string;
      dbname: string;
    };
    return {
      systemId: row.systemid,
      timeline: Number(row.timeline),
      xlogpos: row.xlogpos,
      dbname: row.dbname,
    };
  }

  /**
   * Starts streaming from the slot. `startLsn` 0 means "from the slot's confirmed position".
   * Data arrives through the handler.
   *
   * From here on this class reads the socket itself (CopyBothReader): the client's protocol
   * parser would make a message object, a Buffer slice and two events per replicated change.
   * The client must be idle (no query running or queued), so its parser holds no bytes.
   */
  start(startLsn: number, handler: ReplicationHandler): void {
    const client = this.client as unknown as PgClientState;
    if (client._getActiveQuery() || client._queryQueue.length > 0)
      throw new Error('START_REPLICATION needs an idle connection');
    this.streaming = true;
    const con = client.connection;
    let failed = false;
    const reader = new CopyBothReader({
      copyData: (buf, start, end) => this.onCopyData(buf, start, end, handler),
      error: (err) => {
        failed = true;
        if (!this.closed) handler.onError(err);
      },
      // After an ErrorResponse the command also ends: the error is what counts.
      end: () => {
        if (!failed && !this.closed) handler.onEnd?.();
      },
    });
    for (const listener of con.stream.listeners('data'))
      con.stream.removeListener('data', listener as (...args: unknown[]) => void);
    con.stream.on('data', (chunk: Buffer) => {
      try {
        reader.push(chunk);
      } catch (err) {
        handler.onError(err as Error);
      }
    });
    const pubs = this.options.publications.map((p) => p.replace(/'/g, "''")).join(',');
    con.query(
      `START_REPLICATION SLOT ${quoteIdent(this.options.slot)} LOGICAL ${formatLsn(startLsn)} ` +
        `(proto_version '1', publication_names '${pubs}', messages 'true')`,
    );
    this.client.on('error', (err) => {
      if (!this.closed) handler.onError(err);
    });
    this.timer = setInterval(() => this.sendStatus(false), this.options.statusIntervalMs ?? 10_000);
    this.timer.unref();
  }

  /** Confirms that everything up to `lsn` is durable downstream (flush position). */
  confirm(lsn: number): void {
    if (lsn <= this.confirmedLsn) return;
    this.confirmedLsn = lsn;
    this.sendStatus(false);
  }

  get confirmed(): number {
    return this.confirmedLsn;
  }

  /** Stops reading from the socket (backpressure); the server buffers, then blocks. */
  pause(): void {
    this.socket()?.pause();
  }

  resume(): void {
    this.socket()?.resume();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    try {
      this.sendStatus(false);
    } catch {
      // connection already gone
    }
    const ended = this.client.end().catch(() => undefined);
    // The client does not know a replication command runs (this class sent it), so it ends
    // gracefully and would wait for the server; like for any running command, the socket is
    // closed at once instead.
    if (this.streaming) this.socket()?.destroy();
    await ended;
  }

  /** One CopyData message: buf[start..end] (its payload, after the type and length). */
  private onCopyData(buf: Buffer, start: number, end: number, handler: ReplicationHandler): void {
    const kind = buf[start];
    const size = end - start;
    if ((kind === 0x77 && size < 25) || (kind === 0x6b && size < 18))
      throw new Error(
        `truncated ${kind === 0x77 ? 'XLogData' : 'keepalive'} message (${size} bytes) on the replication connection`,
      );
    if (kind === 0x77 /* w: XLogData */) {
      const walStart = readLsn(buf, start + 1);
      const walEnd = readLsn(buf, start + 9);
      handler.onData({ walStart, walEnd, payload: buf.subarray(start + 25, end) });
    } else if (kind === 0x6b /* k: keepalive */) {
      const walEnd = readLsn(buf, start + 1);
      const replyRequested = buf[start + 17] === 1;
      handler.onKeepalive?.(walEnd);
      if (replyRequested) this.sendStatus(false);
    }
  }

  private sendStatus(replyRequested: boolean): void {
    if (this.closed && replyRequested) return;
    const con = (this.client as unknown as { connection: PgConnection }).connection;
    const buf = Buffer.alloc(34);
    buf[0] = 0x72; // r
    // write/flush/apply: we report only what is durable in Kafka, so a restart resumes there.
    writeLsn(buf, 1, this.confirmedLsn);
    writeLsn(buf, 9, this.confirmedLsn);
    writeLsn(buf, 17, this.confirmedLsn);
    buf.writeBigInt64BE(BigInt(Date.now() - PG_EPOCH_MS) * 1000n, 25);
    buf[33] = replyRequested ? 1 : 0;
    con.sendCopyFromChunk(buf);
  }

  private socket(): PgConnection['stream'] | undefined {
    return (this.client as unknown as { connection: PgConnection }).connection.stream;
  }
}

interface PgConnection {
  sendCopyFromChunk(chunk: Buffer): void;
  query(text: string): void;
  stream: NodeJS.EventEmitter & { pause(): void; resume(): void; destroy(): void };
}

/** The client's own state (pg 8): the query it runs and the ones queued behind it. */
interface PgClientState {
  connection: PgConnection;
  _getActiveQuery(): unknown;
  _queryQueue: unknown[];
}

export interface CopyBothEvents {
  /** A CopyData message's payload: buf[start..end]. */
  copyData(buf: Buffer, start: number, end: number): void;
  /** An ErrorResponse (pg's DatabaseError, with its fields), or a protocol violation. */
  error(err: Error): void;
  /** The server ended the replication command (ReadyForQuery after it). */
  end(): void;
}

/**
 * The backend messages of a replication connection after START_REPLICATION, framed straight
 * from the socket's chunks: `type u8 | length i32 (itself included) | body`. CopyData bodies
 * are handed over as positions in the chunk (no copy, no object); a message split across
 * chunks is assembled in a buffer of its own size once its length is known.
 */
export class CopyBothReader {
  /** Bytes of a split message: its 5-byte header until complete, then the whole message. */
  private head = Buffer.alloc(5);
  private headFilled = 0;
  private message: Buffer | null = null;
  private messageFilled = 0;
  /** Set after a protocol violation: nothing more is read (the stream cannot be re-framed). */
  private broken = false;

  constructor(private readonly on: CopyBothEvents) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    let o = this.finishSplit(chunk);
    const n = chunk.length;
    while (!this.broken && n - o >= 5) {
      const length = chunk.readInt32BE(o + 1);
      if (!this.validLength(length)) return;
      const end = o + 1 + length;
      if (end > n) break;
      this.dispatch(chunk[o]!, chunk, o + 5, end);
      o = end;
    }
    if (!this.broken && o < n) this.startSplit(chunk, o);
  }

  /** A message length counts itself (4 bytes): anything less cannot be framed. */
  private validLength(length: number): boolean {
    if (length >= 4) return true;
    this.broken = true;
    this.on.error(
      new Error(
        `invalid message length ${length} on the replication connection (the stream cannot be read further)`,
      ),
    );
    return false;
  }

  /** Completes a split message from the start of `chunk`; returns where the rest begins. */
  private finishSplit(chunk: Buffer): number {
    let o = 0;
    if (this.headFilled > 0) {
      const take = Math.min(5 - this.headFilled, chunk.length);
      chunk.copy(this.head, this.headFilled, 0, take);
      this.headFilled += take;
      o = take;
      if (this.headFilled < 5) return o;
      this.headFilled = 0;
      const length = this.head.readInt32BE(1);
      if (!this.validLength(length)) return chunk.length;
      this.message = Buffer.allocUnsafe(1 + length);
      this.messageFilled = this.head.copy(this.message, 0);
    }
    const message = this.message;
    if (message === null) return o;
    const take = Math.min(message.length - this.messageFilled, chunk.length - o);
    chunk.copy(message, this.messageFilled, o, o + take);
    this.messageFilled += take;
    if (this.messageFilled < message.length) return chunk.length;
    this.message = null;
    this.dispatch(message[0]!, message, 5, message.length);
    return o + take;
  }

  /** Keeps the start of a message that continues in the next chunk. */
  private startSplit(chunk: Buffer, o: number): void {
    if (chunk.length - o < 5) {
      this.headFilled = chunk.copy(this.head, 0, o);
      return;
    }
    const length = chunk.readInt32BE(o + 1);
    if (!this.validLength(length)) return;
    this.message = Buffer.allocUnsafe(1 + length);
    this.messageFilled = chunk.copy(this.message, 0, o);
  }

  private dispatch(type: number, buf: Buffer, start: number, end: number): void {
    switch (type) {
      case 0x64 /* d: CopyData */:
        try {
          return this.on.copyData(buf, start, end);
        } catch (err) {
          // The handler's failure; the framing is intact, so later messages still read.
          return this.on.error(err as Error);
        }
      case 0x45 /* E: ErrorResponse */:
        return this.on.error(databaseError(buf, start, end));
      case 0x5a /* Z: ReadyForQuery, the command is over */:
        return this.on.end();
      case 0x57 /* W: CopyBothResponse */:
      case 0x63 /* c: CopyDone */:
      case 0x43 /* C: CommandComplete */:
      case 0x4e /* N: NoticeResponse */:
      case 0x53 /* S: ParameterStatus */:
      case 0x41 /* A: NotificationResponse */:
        return;
      default:
        return this.on.error(
          new Error(`unexpected message type 0x${type.toString(16)} on the replication connection`),
        );
    }
  }
}

/** An ErrorResponse as pg's DatabaseError: fields are `code byte | cstring`, then a 0. */
function databaseError(buf: Buffer, start: number, end: number): Error {
  const fields: Record<string, string> = {};
  let o = start;
  while (o < end && buf[o] !== 0) {
    const zero = buf.indexOf(0, o + 1);
    const stop = zero < 0 || zero > end ? end : zero;
    fields[String.fromCharCode(buf[o]!)] = buf.toString('utf8', o + 1, stop);
    o = stop + 1;
  }
  const err = new pg.DatabaseError(fields.M ?? 'unknown error', end - start + 4, 'error');
  const named: Array<[string, string]> = [
    ['S', 'severity'],
    ['C', 'code'],
    ['D', 'detail'],
    ['H', 'hint'],
    ['P', 'position'],
    ['W', 'where'],
    ['s', 'schema'],
    ['t', 'table'],
    ['c', 'column'],
    ['d', 'dataType'],
    ['n', 'constraint'],
    ['F', 'file'],
    ['L', 'line'],
    ['R', 'routine'],
  ];
  for (const [key, name] of named)
    if (fields[key] !== undefined) (err as unknown as Record<string, string>)[name] = fields[key];
  return err;
}

function writeLsn(buf: Buffer, offset: number, lsn: number): void {
  buf.writeUInt32BE(Math.floor(lsn / 0x1_0000_0000), offset);
  buf.writeUInt32BE(lsn % 0x1_0000_0000, offset + 4);
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
