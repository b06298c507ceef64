/**
 * Decoder for PostgreSQL's `pgoutput` logical replication messages (protocol version 1, with
 * `messages` enabled for logical decoding messages). One call decodes one message from the
 * payload of an XLogData CopyData frame; column values stay in PostgreSQL's text format and
 * are converted to Debezium's representation later, per column type.
 *
 * Wire format reference: PostgreSQL docs, "Logical Replication Message Formats".
 */

/** Postgres epoch (2000-01-01) in microseconds since the Unix epoch. */
const PG_EPOCH_US = 946_684_800_000_000n;

export type TupleValue = string | null | typeof UNCHANGED_TOAST;
/** Marker for a TOASTed column whose value did not change (not sent by the server). */
export const UNCHANGED_TOAST: unique symbol = Symbol('unchanged-toast');

export interface RelationColumn {
  name: string;
  typeOid: number;
  typmod: number;
  /** Part of the replica identity (the key PostgreSQL sends for old rows). */
  isKey: boolean;
}

export interface RelationMessage {
  tag: 'relation';
  relationId: number;
  schema: string;
  table: string;
  /** d = default (primary key), n = nothing, f = full, i = index */
  replicaIdentity: 'd' | 'n' | 'f' | 'i';
  columns: RelationColumn[];
}

export interface BeginMessage {
  tag: 'begin';
  /** LSN of the transaction's commit record. */
  commitLsn: number;
  /** Commit time, microseconds since the Unix epoch. */
  commitTimeUs: bigint;
  xid: number;
}

export interface CommitMessage {
  tag: 'commit';
  commitLsn: number;
  /** End of the commit record: the position to confirm once the transaction is durable. */
  endLsn: number;
  commitTimeUs: bigint;
}

export interface InsertMessage {
  tag: 'insert';
  relationId: number;
  newTuple: TupleValue[];
}

export interface UpdateMessage {
  tag: 'update';
  relationId: number;
  /** Old key columns (K) or the whole old row (O, REPLICA IDENTITY FULL); null if not sent. */
  oldTuple: TupleValue[] | null;
  oldKind: 'K' | 'O' | null;
  newTuple: TupleValue[];
}

export interface DeleteMessage {
  tag: 'delete';
  relationId: number;
  oldTuple: TupleValue[];
  oldKind: 'K' | 'O';
}

export interface TruncateMessage {
  tag: 'truncate';
  relationIds: number[];
  cascade: boolean;
  restartIdentity: boolean;
}

export interface LogicalMessage {
  tag: 'message';
  transactional: boolean;
  lsn: number;
  prefix: string;
  content: Buffer;
}

export interface TypeMessage {
  tag: 'type';
  typeOid: number;
  schema: string;
  name: string;
}

export interface OriginMessage {
  tag: 'origin';
  lsn: number;
  name: string;
}

export type PgOutputMessage =
  | RelationMessage
  | BeginMessage
  | CommitMessage
  | InsertMessage
  | UpdateMessage
  | DeleteMessage
  | TruncateMessage
  | LogicalMessage
  | TypeMessage
  | OriginMessage;

export class PgOutputError extends Error {}

/** Reads a 64-bit LSN as a number (exact below 2^53 bytes of WAL, i.e. 8 PiB). */
export function readLsn(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32BE(offset);
  const lo = buf.readUInt32BE(offset + 4);
  if (hi >= 0x200000)
    throw new PgOutputError(`LSN ${hi.toString(16)}/${lo.toString(16)} exceeds 2^53`);
  return hi * 0x1_0000_0000 + lo;
}

/** Formats an LSN the way PostgreSQL prints it: `16/B374D848`. */
export function formatLsn(lsn: number): string {
  const hi = Math.floor(lsn / 0x1_0000_0000);
  const lo = lsn % 0x1_0000_0000;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

/** Parses `16/B374D848`. */
export function parseLsn(text: string): number {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new PgOutputError(`invalid LSN "${text}" (expected e.g. 16/B374D848)`);
  return parseInt(m[1]!, 16) * 0x1_0000_0000 + parseInt(m[2]!, 16);
}

function pgTimeToUnixUs(buf: Buffer, offset: number): bigint {
  return buf.readBigInt64BE(offset) + PG_EPOCH_US;
}

/** Decodes one pgoutput message from `buf` (the XLogData payload). */
export function decodePgOutput(buf: Buffer): PgOutputMessage {
  const r = new Reader(buf);
  const tag = r.byte();
  switch (tag) {
    case 0x42 /* B */: {
      const commitLsn = r.lsn();
      const commitTimeUs = r.timestamp();
      return { tag: 'begin', commitLsn, commitTimeUs, xid: r.uint32() };
    }
    case 0x43 /* C */: {
      r.byte(); // flags, unused
      const commitLsn = r.lsn();
      const endLsn = r.lsn();
      return { tag: 'commit', commitLsn, endLsn, commitTimeUs: r.timestamp() };
    }
    case 0x52 /* R */: {
      const relationId = r.uint32();
      const schema = r.cstring();
      const table = r.cstring();
      const replicaIdentity = String.fromCharCode(r.byte()) as RelationMessage['replicaIdentity'];
      const n = r.uint16();
      const columns: RelationColumn[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const flags = r.byte();
        const name = r.cstring();
        const typeOid = r.uint32();
        const typmod = r.int32();
        columns[i] = { name, typeOid, typmod, isKey: (flags & 1) === 1 };
      }
      return { tag: 'relation', relationId, schema, table, replicaIdentity, columns };
    }
    case 0x49 /* I */: {
      const relationId = r.uint32();
      r.expect(0x4e /* N */, 'insert');
      return { tag: 'insert', relationId, newTuple: r.tuple() };
    }
    case 0x55 /* U */: {
      const relationId = r.uint32();
      let kind = r.byte();
      let oldTuple: TupleValue[] | null = null;
      let oldKind: 'K' | 'O' | null = null;
      if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
        oldKind = kind === 0x4b ? 'K' : 'O';
        oldTuple = r.tuple();
        kind = r.byte();
      }
      if (kind !== 0x4e) throw new PgOutputError(`update: expected N, got 0x${kind.toString(16)}`);
      return { tag: 'update', relationId, oldTuple, oldKind, newTuple: r.tuple() };
    }
    case 0x44 /* D */: {
      const relationId = r.uint32();
      const kind = r.byte();
      if (kind !== 0x4b && kind !== 0x4f)
        throw new PgOutputError(`delete: expected K or O, got 0x${kind.toString(16)}`);
      return { tag: 'delete', relationId, oldKind: kind === 0x4b ? 'K' : 'O', oldTuple: r.tuple() };
    }
    case 0x54 /* T */: {
      const n = r.uint32();
      const options = r.byte();
      const relationIds: number[] = [];
      for (let i = 0; i < n; i++) relationIds.push(r.uint32());
      return {
        tag: 'truncate',
        relationIds,
        cascade: (options & 1) === 1,
        restartIdentity: (options & 2) === 2,
      };
    }
    case 0x4d /* M */: {
      const flags = r.byte();
      const lsn = r.lsn();
      const prefix = r.cstring();
      const len = r.uint32();
      return {
        tag: 'message',
        transactional: (flags & 1) === 1,
        lsn,
        prefix,
        content: r.bytes(len),
      };
    }
    case 0x59 /* Y */: {
      const typeOid = r.uint32();
      const schema = r.cstring();
      return { tag: 'type', typeOid, schema, name: r.cstring() };
    }
    case 0x4f /* O */: {
      const lsn = r.lsn();
      return { tag: 'origin', lsn, name: r.cstring() };
    }
    default:
      throw new PgOutputError(
        `unsupported pgoutput message 0x${tag.toString(16)} ('${String.fromCharCode(tag)}'); ` +
          'protocol version 2 streaming (S/E/c/A) is not enabled by Tributary',
      );
  }
}

/** Buffer's own utf8Slice (what toString('utf8', start, end) ends in, without its checks). */
interface Utf8Slice {
  utf8Slice(start: number, end: number): string;
}

/** buf.toString('utf8', start, end) without its checks (the range is known to be inside). */
export function textAt(buf: Buffer, start: number, end: number): string {
  return (buf as unknown as Utf8Slice).utf8Slice(start, end);
}

class Reader {
  constructor(
    private readonly buf: Buffer,
    private pos = 0,
  ) {}

  byte(): number {
    return this.buf[this.pos++]!;
  }
  uint16(): number {
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  uint32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  lsn(): number {
    const v = readLsn(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  timestamp(): bigint {
    const v = pgTimeToUnixUs(this.buf, this.pos);
    this.pos += 8;
    return v;
  }
  cstring(): string {
    const end = this.buf.indexOf(0, this.pos);
    if (end < 0) throw new PgOutputError('unterminated string');
    const s = this.buf.toString('utf8', this.pos, end);
    this.pos = end + 1;
    return s;
  }
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  expect(byte: number, what: string): void {
    const b = this.byte();
    if (b !== byte)
      throw new PgOutputError(`${what}: expected 0x${byte.toString(16)}, got 0x${b.toString(16)}`);
  }
  tuple(): TupleValue[] {
    const n = this.uint16();
    const values: TupleValue[] = new Array(n);
    const buf = this.buf;
    for (let i = 0; i < n; i++) {
      const kind = buf[this.pos++];
      if (kind === 0x74 /* t */) {
        const len = buf.readUInt32BE(this.pos);
        this.pos += 4;
        values[i] = (buf as unknown as Utf8Slice).utf8Slice(this.pos, this.pos + len);
        this.pos += len;
      } else if (kind === 0x6e /* n */) {
        values[i] = null;
      } else if (kind === 0x75 /* u */) {
        values[i] = UNCHANGED_TOAST;
      } else {
        throw new PgOutputError(
          `unsupported tuple column kind 0x${(kind ?? 0).toString(16)} (binary mode is not enabled)`,
        );
      }
    }
    return values;
  }
}

/** The tuple at buf[at..] (see RowChange: its values are only made when an event is read). */
export function tupleAt(buf: Buffer, at: number): TupleValue[] {
  return new Reader(buf, at).tuple();
}

/**
 * Where a tuple's columns lie in its message, without making their texts: kind (t, n or u)
 * and, for t, the bytes start..end. Reused from message to message (grows as needed).
 */
export class TupleSpans {
  count = 0;
  /** Columns whose TOASTed value did not change (sent as 'u'). */
  unchanged = 0;
  kind = new Uint8Array(64);
  start = new Int32Array(64);
  end = new Int32Array(64);
}

export const COLUMN_TEXT = 0x74; // t
export const COLUMN_NULL = 0x6e; // n
export const COLUMN_UNCHANGED_TOAST = 0x75; // u

/** The spans of the tuple at buf[at..] (made anew: for an event's value made again later). */
export function spansAt(buf: Buffer, at: number): TupleSpans {
  const spans = new TupleSpans();
  scanTuple(buf, at, spans);
  return spans;
}

/** Reads the tuple at buf[o..] into `spans`; returns the position after it. */
function scanTuple(buf: Buffer, o: number, spans: TupleSpans): number {
  const n = buf.readUInt16BE(o);
  o += 2;
  if (spans.kind.length < n) {
    spans.kind = new Uint8Array(n);
    spans.start = new Int32Array(n);
    spans.end = new Int32Array(n);
  }
  spans.count = n;
  spans.unchanged = 0;
  const { kind, start, end } = spans;
  for (let i = 0; i < n; i++) {
    const k = buf[o++];
    if (k === COLUMN_TEXT) {
      const len = buf.readUInt32BE(o);
      o += 4;
      start[i] = o;
      o += len;
      if (o > buf.length) throw new PgOutputError('tuple column runs past the end of its message');
      end[i] = o;
    } else if (k === COLUMN_UNCHANGED_TOAST) {
      spans.unchanged++;
    } else if (k !== COLUMN_NULL) {
      throw new PgOutputError(
        `unsupported tuple column kind 0x${(k ?? 0).toString(16)} (binary mode is not enabled)`,
      );
    }
    kind[i] = k;
  }
  return o;
}

/**
 * An Insert, Update or Delete read without making any text (the capture's fast path): the
 * relation, and where the old and new tuples start (-1 when absent), with their spans.
 * decodePgOutput reads the same messages into values.
 */
export class RowChange {
  tag = 0;
  relationId = 0;
  oldAt = -1;
  newAt = -1;
  readonly old = new TupleSpans();
  readonly new = new TupleSpans();

  /** Reads buf (an I, U or D message); false for any other message. */
  read(buf: Buffer): boolean {
    const tag = buf[0];
    if (tag !== 0x49 && tag !== 0x55 && tag !== 0x44) return false;
    this.tag = tag;
    this.relationId = buf.readUInt32BE(1);
    this.oldAt = -1;
    this.newAt = -1;
    let kind = buf[5];
    let o = 6;
    if (tag === 0x49 /* I */) {
      if (kind !== 0x4e) throw new PgOutputError(`insert: expected 0x4e, got 0x${hex(kind)}`);
    } else if (kind === 0x4b /* K */ || kind === 0x4f /* O */) {
      this.oldAt = o;
      o = scanTuple(buf, o, this.old);
      if (tag === 0x44 /* D */) return true;
      kind = buf[o++];
      if (kind !== 0x4e) throw new PgOutputError(`update: expected N, got 0x${hex(kind)}`);
    } else if (tag === 0x44) {
      throw new PgOutputError(`delete: expected K or O, got 0x${hex(kind)}`);
    } else if (kind !== 0x4e) {
      throw new PgOutputError(`update: expected N, got 0x${hex(kind)}`);
    }
    this.newAt = o;
    scanTuple(buf, o, this.new);
    return true;
  }
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16);
}
