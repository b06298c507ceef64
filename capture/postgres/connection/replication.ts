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
   * Resolves when streaming has been requested; data arrives through the handler.
   */
  start(startLsn: number, handler: ReplicationHandler): void {
    const con = (this.client as unknown as { connection: PgConnection }).connection;
    con.on('copyData', (msg: { chunk: Buffer }) => {
      try {
        this.onCopyData(msg.chunk, handler);
      } catch (err) {
        handler.onError(err as Error);
      }
    });
    const pubs = this.options.publications.map((p) => p.replace(/'/g, "''")).join(',');
    const sql =
      `START_REPLICATION SLOT ${quoteIdent(this.options.slot)} LOGICAL ${formatLsn(startLsn)} ` +
      `(proto_version '1', publication_names '${pubs}', messages 'true')`;
    this.client.query(sql).then(
      () => handler.onEnd?.(),
      (err: Error) => {
        if (!this.closed) handler.onError(err);
      },
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
    await this.client.end().catch(() => undefined);
  }

  private onCopyData(chunk: Buffer, handler: ReplicationHandler): void {
    const kind = chunk[0];
    if (kind === 0x77 /* w: XLogData */) {
      const walStart = readLsn(chunk, 1);
      const walEnd = readLsn(chunk, 9);
      handler.onData({ walStart, walEnd, payload: chunk.subarray(25) });
    } else if (kind === 0x6b /* k: keepalive */) {
      const walEnd = readLsn(chunk, 1);
      const replyRequested = chunk[17] === 1;
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

  private socket(): { pause(): void; resume(): void } | undefined {
    return (this.client as unknown as { connection: PgConnection }).connection.stream;
  }
}

interface PgConnection {
  on(event: 'copyData', listener: (msg: { chunk: Buffer }) => void): void;
  sendCopyFromChunk(chunk: Buffer): void;
  stream: { pause(): void; resume(): void };
}

function writeLsn(buf: Buffer, offset: number, lsn: number): void {
  buf.writeUInt32BE(Math.floor(lsn / 0x1_0000_0000), offset);
  buf.writeUInt32BE(lsn % 0x1_0000_0000, offset + 4);
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
