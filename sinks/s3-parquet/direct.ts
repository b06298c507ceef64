/**
 * The direct reader: a change event's Kafka record (JSON bytes) read straight into the row
 * values of an open file, without building the event object.
 *
 * Decoding every record into a ChangeEvent (JSON.parse of the text, then the envelope checks)
 * and holding a batch of them cost the sink about a third of its time (the parse, and the
 * garbage collector moving the batch's objects). This reader scans the bytes once and writes
 * each value of the after-row into the scratch row the file builder copies from.
 *
 * It only takes records it can read exactly as the full decoder would, and answers `false` for
 * everything else, which then goes through `fromKafkaRecord` as before:
 * - the plain JSON form (no `{schema, payload}`), op `c`, `r` or `u`, no before-row columns;
 * - an after-row with the open file's columns in the file's order, each value of the column's
 *   kind (numbers, booleans, strings, nulls; a JSON-typed column's non-null value is left to the
 *   full decoder);
 * - numbers it converts exactly: integers of up to 15 digits and decimals of up to 15 digits
 *   (both exact in a double, so `m / 10^f` is correctly rounded, as JSON.parse is); other
 *   non-integral numbers and longer integers go through `Number()` of their text, as JSON.parse
 *   would; integers beyond 2^53 (which the full decoder keeps as bigint) are left to it.
 * Whatever it accepts, the full decoder accepts with the same values; everything it validates
 * (JSON grammar, the envelope's required fields and types, the version header) fails over to
 * the full decoder, so a malformed record gets the same dead-letter reason either way. The unit
 * test `s3-parquet-direct.test.ts` builds the same files both ways from the same records.
 */
import type { IncomingRecord } from '../../core/kafka/index.ts';
import { MAX_VERSION, VERSION_HEADER } from '../../core/events/index.ts';
import type { Op } from '../../core/events/index.ts';
import type { RowLayout } from './schema.ts';

/** Column kinds the reader converts (others: any non-null value fails over). */
const DOUBLE = 0;
const INT = 1;
const BOOL = 2;
const STRING = 3;
const OTHER = 4;

/** A layout as the reader needs it: each column's name bytes and kind. */
interface DirectLayout {
  names: Uint8Array[];
  kinds: number[];
}

const layouts = new WeakMap<RowLayout, DirectLayout | null>();

/**
 * The reader's view of an inferred layout; null when the layout is not one it reads (Connect
 * schema layouts, or a column name JSON would escape).
 */
function directLayout(layout: RowLayout): DirectLayout | null {
  let d = layouts.get(layout);
  if (d !== undefined) return d;
  d = null;
  if (layout.inferred) {
    const names: Uint8Array[] = [];
    const kinds: number[] = [];
    let ok = true;
    for (const c of layout.columns) {
      if (JSON.stringify(c.name) !== `"${c.name}"`) ok = false;
      names.push(Buffer.from(c.name, 'utf8'));
      kinds.push(
        c.kind === 'double'
          ? DOUBLE
          : c.kind === 'int'
            ? INT
            : c.kind === 'bool'
              ? BOOL
              : c.kind === 'string'
                ? STRING
                : OTHER,
      );
    }
    if (ok) d = { names, kinds };
  }
  layouts.set(layout, d);
  return d;
}

/** Node's Buffer has direct decoders below `toString(encoding, start, end)` (no argument parsing). */
type Bytes = Buffer & {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
};

/** Thrown inside the scan: the record goes to the full decoder (not an error). */
const FALLBACK = { fallback: true };

// Envelope members, as bits (a member seen twice fails over: JSON.parse keeps the last one).
const M_BEFORE = 1;
const M_AFTER = 2;
const M_SOURCE = 4;
const M_TRANSACTION = 8;
const M_OP = 16;
const M_TS_MS = 32;
const M_TS_US = 64;
const M_TS_NS = 128;
// Source members.
const S_VERSION = 1;
const S_CONNECTOR = 2;
const S_NAME = 4;
const S_DB = 8;
const S_TS_MS = 16;
const S_REQUIRED = S_VERSION | S_CONNECTOR | S_NAME | S_DB | S_TS_MS;

const POW10 = [
  1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
  1e18, 1e19, 1e20, 1e21, 1e22,
];

/** Member names the reader looks for, as bytes. */
const N_AFTER = Buffer.from('after');
const N_BEFORE = Buffer.from('before');
const N_CONNECTOR = Buffer.from('connector');
const N_DATA_COLLECTION_ORDER = Buffer.from('data_collection_order');
const N_DB = Buffer.from('db');
const N_ID = Buffer.from('id');
const N_NAME = Buffer.from('name');
const N_OP = Buffer.from('op');
const N_PAYLOAD = Buffer.from('payload');
const N_SCHEMA = Buffer.from('schema');
const N_SOURCE = Buffer.from('source');
const N_TABLE = Buffer.from('table');
const N_TOTAL_ORDER = Buffer.from('total_order');
const N_TRANSACTION = Buffer.from('transaction');
const N_TS_MS = Buffer.from('ts_ms');
const N_TS_NS = Buffer.from('ts_ns');
const N_TS_US = Buffer.from('ts_us');
const N_VERSION = Buffer.from('version');

/** A row's facts besides its values: what the reader takes from a record, and what append() fills in. */
export interface RowFacts {
  op: Op;
  tsMs: number;
  /** source.ts_ms, or ts_ms when that is 0 (as the writer takes it). */
  sourceTs: number;
  /** `<schema or db>.<table>`, as writer.tableOf gives it. */
  table: string;
  version: bigint;
  /** The row's size estimate, as PartitionWriter.append counts it. */
  bytes: number;
}

export class DirectReader {
  private b = Buffer.alloc(0) as Bytes;
  private p = 0;
  /** Set by number(): the token had no fraction and no exponent. */
  private integral = false;
  /** Set by number(): the token's digit count. */
  private digits = 0;
  /** Where the next backslash of the value is: -2 not looked for yet, -1 none. */
  private backslash = -2;
  /** Set by stringEnd(): the string had a backslash escape. */
  private escaped = false;
  // The source block's table naming, kept from the previous record to reuse its string.
  private lastNs: Buffer = Buffer.alloc(0);
  private lastTable: Buffer = Buffer.alloc(0);
  private lastName = '';
  // Spans of the current record's source strings (start of the text, end = closing quote).
  private dbStart = 0;
  private dbEnd = 0;
  private schemaStart = -1;
  private schemaEnd = -1;
  private tableStart = -1;
  private tableEnd = -1;

  /** Reads `raw` into `values` (the layout's columns); false: use the full decoder. */
  read(raw: IncomingRecord, layout: RowLayout, values: unknown[], out: RowFacts): boolean {
    const d = directLayout(layout);
    const value = raw.value;
    if (d === null || value === null || raw.key === null || raw.key.length === 0) return false;
    const version = this.version(raw.headers[VERSION_HEADER]);
    if (version === undefined) return false;
    try {
      this.key(raw.key);
      return this.envelope(value, d, values, out, raw.topic, version);
    } catch (err) {
      if (err === FALLBACK) return false;
      throw err;
    }
  }

  /** The version header as the full decoder reads it; undefined when it would refuse it. */
  private version(h: Buffer | undefined): bigint | undefined {
    if (h === undefined || h.length === 0 || h.length > 20) return undefined;
    let n = 0;
    for (let i = 0; i < h.length; i++) {
      const d = h[i]! - 0x30;
      if (d < 0 || d > 9) return undefined;
      n = n * 10 + d;
    }
    // Up to 15 digits the number is exact (cheaper than BigInt of the text).
    const v = h.length <= 15 ? BigInt(n) : BigInt((h as Bytes).latin1Slice(0, h.length));
    return v > MAX_VERSION ? undefined : v;
  }

  /** The key must be a JSON object, not in the `{schema, payload}` form. */
  private key(key: Buffer): void {
    this.b = key as Bytes;
    this.p = 0;
    this.ws();
    if (!this.objectStart())
      for (;;) {
        this.name();
        if (this.isName(N_SCHEMA) || this.isName(N_PAYLOAD)) throw FALLBACK;
        this.skipValue(0);
        if (this.closed(0x7d)) break;
      }
    this.end();
  }

  private envelope(
    buf: Buffer,
    d: DirectLayout,
    values: unknown[],
    out: RowFacts,
    topic: string,
    version: bigint,
  ): boolean {
    this.b = buf as Bytes;
    this.backslash = -2;
    this.p = 0;
    let seen = 0;
    let sourceTs = 0;
    this.ws();
    if (this.objectStart()) throw FALLBACK;
    for (;;) {
      this.name();
      const m = this.member();
      if (m === 0 || seen & m) throw FALLBACK;
      seen |= m;
      const c = buf[this.p];
      switch (m) {
        case M_BEFORE:
          // No before-row columns in a direct layout: it only has to be null or an object.
          if (c === 0x6e) this.literal('null');
          else if (c === 0x7b) this.skipValue(0);
          else throw FALLBACK;
          break;
        case M_AFTER:
          if (c !== 0x7b) throw FALLBACK; // null: a delete (or a refused record)
          out.bytes = this.row(d, values);
          break;
        case M_SOURCE:
          if (c !== 0x7b) throw FALLBACK;
          sourceTs = this.source();
          break;
        case M_TRANSACTION:
          if (c === 0x6e) this.literal('null');
          else if (c === 0x7b) this.transaction();
          else throw FALLBACK;
          break;
        case M_OP: {
          if (c !== 0x22 || buf[this.p + 2] !== 0x22) throw FALLBACK;
          const op = buf[this.p + 1];
          out.op = op === 0x63 ? 'c' : op === 0x75 ? 'u' : op === 0x72 ? 'r' : this.fail();
          this.p += 3;
          break;
        }
        case M_TS_MS:
          out.tsMs = this.safeNumber();
          if (!Number.isInteger(out.tsMs)) throw FALLBACK;
          break;
        default: // ts_us, ts_ns: null or an integer (a bigint for the full decoder is one too)
          if (c === 0x6e) this.literal('null');
          else if (!Number.isInteger(this.number())) throw FALLBACK;
      }
      if (this.closed(0x7d)) break;
    }
    this.end();
    if ((seen & (M_AFTER | M_SOURCE | M_OP | M_TS_MS)) !== (M_AFTER | M_SOURCE | M_OP | M_TS_MS))
      throw FALLBACK;
    out.sourceTs = sourceTs || out.tsMs;
    out.table = this.tableName(topic);
    out.version = version;
    return true;
  }

  /** The after-row into `values`, column by column; returns its size estimate. */
  private row(d: DirectLayout, values: unknown[]): number {
    const buf = this.b;
    const { names, kinds } = d;
    this.p++; // {
    this.ws();
    let n = 0;
    let bytes = 0;
    if (buf[this.p] === 0x7d) this.p++;
    else
      for (;;) {
        this.ws();
        const name = names[n];
        if (name === undefined || buf[this.p] !== 0x22) throw FALLBACK;
        const start = this.p + 1;
        const len = name.length;
        if (buf[start + len] !== 0x22) throw FALLBACK;
        for (let i = 0; i < len; i++) if (buf[start + i] !== name[i]) throw FALLBACK;
        this.p = start + len + 1;
        this.colon();
        const c = buf[this.p];
        if (c === 0x6e) {
          this.literal('null');
          values[n] = null;
          bytes += 8;
        } else {
          switch (kinds[n]) {
            case DOUBLE:
              values[n] = this.safeNumber();
              bytes += 8;
              break;
            case INT: {
              const v = this.safeNumber();
              if (!Number.isInteger(v)) throw FALLBACK;
              // As the column's convert (toBigInt): an integral double beyond 2^53 is a bigint.
              values[n] = Number.isSafeInteger(v) ? v : BigInt(v);
              bytes += 8;
              break;
            }
            case BOOL:
              if (c === 0x74) {
                this.literal('true');
                values[n] = true;
              } else if (c === 0x66) {
                this.literal('false');
                values[n] = false;
              } else throw FALLBACK;
              bytes += 8;
              break;
            case STRING: {
              if (c !== 0x22) throw FALLBACK;
              const s = this.string();
              values[n] = s;
              bytes += s.length;
              break;
            }
            default:
              throw FALLBACK;
          }
        }
        n++;
        if (this.closed(0x7d)) break;
      }
    if (n !== names.length) throw FALLBACK;
    return bytes;
  }

  /** The source block: checks the required fields, keeps the table naming; returns ts_ms. */
  private source(): number {
    const buf = this.b;
    let seen = 0;
    let ts = 0;
    this.schemaStart = this.tableStart = -1;
    if (this.objectStart()) throw FALLBACK;
    for (;;) {
      this.name();
      const c = buf[this.p];
      const len = this.nameEnd - this.nameStart;
      // Each occurrence of a checked field is checked, so a repeated one is checked last too.
      let bit = 0;
      if (len === 5 && this.isName(N_TS_MS)) {
        ts = this.safeNumber();
        bit = S_TS_MS;
      } else if (len === 2 && this.isName(N_DB)) {
        this.textSpan(c);
        this.dbStart = this.spanStart;
        this.dbEnd = this.spanEnd;
        bit = S_DB;
      } else if (len === 6 && this.isName(N_SCHEMA)) {
        if (c === 0x22) {
          this.textSpan(c);
          this.schemaStart = this.spanStart;
          this.schemaEnd = this.spanEnd;
        } else {
          this.skipValue(0);
          this.schemaStart = -1;
        }
      } else if (len === 5 && this.isName(N_TABLE)) {
        if (c === 0x22) {
          this.textSpan(c);
          this.tableStart = this.spanStart;
          this.tableEnd = this.spanEnd;
        } else {
          this.skipValue(0);
          this.tableStart = -1;
        }
      } else {
        bit = this.isName(N_VERSION)
          ? S_VERSION
          : this.isName(N_CONNECTOR)
            ? S_CONNECTOR
            : this.isName(N_NAME)
              ? S_NAME
              : 0;
        if (bit === 0) this.skipValue(0);
        else if (c !== 0x22) throw FALLBACK;
        else this.stringEnd(); // version, connector and name must be strings
      }
      seen |= bit;
      if (this.closed(0x7d)) break;
    }
    if ((seen & S_REQUIRED) !== S_REQUIRED) throw FALLBACK;
    return ts;
  }

  private spanStart = 0;
  private spanEnd = 0;
  /** The last member name read by name(): its first byte and its closing quote. */
  private nameStart = 0;
  private nameEnd = 0;

  /** A string without escapes: its span (start, end = closing quote). */
  private textSpan(c: number | undefined): void {
    if (c !== 0x22) throw FALLBACK;
    this.spanStart = this.p + 1;
    this.spanEnd = this.stringEnd();
    if (this.escaped) throw FALLBACK;
  }

  /** `<schema or db>.<table>`, else the topic's last segment (writer.tableOf's rule). */
  private tableName(topic: string): string {
    const buf = this.b;
    if (this.tableStart < 0 || this.tableEnd === this.tableStart)
      return topic.split('.').pop() ?? topic;
    let nsStart = this.schemaStart;
    let nsEnd = this.schemaEnd;
    if (nsStart < 0 || nsEnd === nsStart) {
      nsStart = this.dbStart;
      nsEnd = this.dbEnd;
    }
    if (
      !same(buf, nsStart, nsEnd, this.lastNs) ||
      !same(buf, this.tableStart, this.tableEnd, this.lastTable)
    ) {
      this.lastNs = Buffer.from(buf.subarray(nsStart, nsEnd));
      this.lastTable = Buffer.from(buf.subarray(this.tableStart, this.tableEnd));
      const ns = buf.utf8Slice(nsStart, nsEnd);
      const table = buf.utf8Slice(this.tableStart, this.tableEnd);
      this.lastName = ns ? `${ns}.${table}` : table;
    }
    return this.lastName;
  }

  /** A transaction block: id a string, total_order and data_collection_order integers. */
  private transaction(): void {
    const buf = this.b;
    let seen = 0;
    if (this.objectStart()) throw FALLBACK;
    for (;;) {
      this.name();
      if (this.isName(N_ID)) {
        if (buf[this.p] !== 0x22) throw FALLBACK;
        this.stringEnd();
        seen |= 1;
      } else {
        const bit = this.isName(N_TOTAL_ORDER) ? 2 : this.isName(N_DATA_COLLECTION_ORDER) ? 4 : 0;
        if (bit === 0) this.skipValue(0);
        else if (!Number.isInteger(this.number())) throw FALLBACK;
        seen |= bit;
      }
      if (this.closed(0x7d)) break;
    }
    if (seen !== 7) throw FALLBACK;
  }

  /** Which envelope member the last name is (0: another one). */
  private member(): number {
    switch (this.nameEnd - this.nameStart) {
      case 2:
        return this.isName(N_OP) ? M_OP : 0;
      case 5:
        return this.isName(N_AFTER)
          ? M_AFTER
          : this.isName(N_TS_MS)
            ? M_TS_MS
            : this.isName(N_TS_US)
              ? M_TS_US
              : this.isName(N_TS_NS)
                ? M_TS_NS
                : 0;
      case 6:
        return this.isName(N_BEFORE) ? M_BEFORE : this.isName(N_SOURCE) ? M_SOURCE : 0;
      case 11:
        return this.isName(N_TRANSACTION) ? M_TRANSACTION : 0;
      default:
        return 0;
    }
  }

  /** At '{': moves past it; true (and past the '}') when the object is empty. */
  private objectStart(): boolean {
    if (this.b[this.p] !== 0x7b) throw FALLBACK;
    this.p++;
    this.ws();
    if (this.b[this.p] !== 0x7d) return false;
    this.p++;
    return true;
  }

  /** A member name (no escapes: the reader compares bytes) and its ':'; kept in nameStart..nameEnd. */
  private name(): void {
    this.ws();
    this.nameStart = this.p + 1;
    this.nameEnd = this.stringEnd();
    if (this.escaped) throw FALLBACK;
    this.colon();
  }

  /** Whether the last member name is `name`. */
  private isName(name: Uint8Array): boolean {
    const start = this.nameStart;
    if (this.nameEnd - start !== name.length) return false;
    const buf = this.b;
    for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false;
    return true;
  }

  private ws(): void {
    const buf = this.b;
    let c = buf[this.p];
    if (c !== undefined && c > 0x20) return; // the common case: no whitespace
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = buf[++this.p];
  }

  /** Whitespace, ':' and whitespace. */
  private colon(): void {
    const buf = this.b;
    let p = this.p;
    if (buf[p] === 0x3a && buf[p + 1]! > 0x20) {
      this.p = p + 1; // the common case: no whitespace around ':'
      return;
    }
    this.ws();
    p = this.p;
    if (buf[p] !== 0x3a) throw FALLBACK;
    this.p = p + 1;
    this.ws();
  }

  /** After a member or element: whitespace then ',' (false) or `close` (true). */
  private closed(close: number): boolean {
    let c = this.b[this.p];
    if (c !== 0x2c && c !== close) {
      this.ws();
      c = this.b[this.p];
    }
    this.p++;
    if (c === close) return true;
    if (c !== 0x2c) throw FALLBACK;
    return false;
  }

  /** Only whitespace may follow the document. */
  private end(): void {
    this.ws();
    if (this.p !== this.b.length) throw FALLBACK;
  }

  private fail(): never {
    throw FALLBACK;
  }

  private literal(word: 'null' | 'true' | 'false'): void {
    const buf = this.b;
    for (let i = 0; i < word.length; i++)
      if (buf[this.p + i] !== word.charCodeAt(i)) throw FALLBACK;
    this.p += word.length;
  }

  /**
   * At an opening quote: moves past the string and returns the index of its closing quote;
   * checks the escapes and that no control character is in it (JSON.parse refuses those).
   */
  private stringEnd(): number {
    const buf = this.b;
    if (buf[this.p] !== 0x22) throw FALLBACK;
    let i = this.p + 1;
    let escaped = false;
    for (;;) {
      while (PLAIN[buf[i]!] === 1) i++;
      const c = buf[i];
      if (c === 0x22) break;
      if (c !== 0x5c) throw FALLBACK; // a control character, or the end of the text
      escaped = true;
      const e = buf[i + 1];
      if (e === 0x75) {
        for (let k = 2; k < 6; k++) if (!isHex(buf[i + k])) throw FALLBACK;
        i += 6;
      } else if (e !== undefined && ESCAPES[e] === 1) i += 2;
      else throw FALLBACK;
    }
    this.escaped = escaped;
    this.p = i + 1;
    return i;
  }

  /** A string value as JSON.parse gives it. */
  private string(): string {
    const buf = this.b;
    const open = this.p;
    // Short strings byte by byte; a long one's closing quote is found natively (memchr) and
    // its text checked as a whole: about 3x faster on a 300-byte text.
    let i = open + 1;
    const stop = i + 32;
    while (i < stop && PLAIN[buf[i]!] === 1) i++;
    if (i === stop) {
      const close = buf.indexOf(0x22, i);
      if (close > 0 && !this.backslashBefore(i, close)) {
        const s = buf.utf8Slice(open + 1, close);
        if (CONTROL.test(s)) throw FALLBACK;
        this.p = close + 1;
        return s;
      }
    } else if (buf[i] === 0x22) {
      this.p = i + 1;
      return buf.utf8Slice(open + 1, i);
    }
    const end = this.stringEnd();
    // With escapes, the token itself is parsed (a valid JSON string after stringEnd's checks).
    return this.escaped
      ? (JSON.parse(buf.utf8Slice(open, end + 1)) as string)
      : buf.utf8Slice(open + 1, end);
  }

  /** Whether a backslash is in from..to of the current text (its first one found once). */
  private backslashBefore(from: number, to: number): boolean {
    let at = this.backslash;
    if (at === -2 || (at !== -1 && at < from)) at = this.backslash = this.b.indexOf(0x5c, from);
    return at !== -1 && at < to;
  }

  /**
   * A JSON number (strict grammar) as JSON.parse gives it; sets `integral` and `digits`.
   * Up to 15 digits without exponent it is computed exactly (see the file comment); other
   * forms are converted from their text by Number(), as JSON.parse converts them.
   */
  private number(): number {
    const buf = this.b;
    const start = this.p;
    let i = start;
    const neg = buf[i] === 0x2d;
    if (neg) i++;
    let c = buf[i];
    if (c === undefined || c < 0x30 || c > 0x39) throw FALLBACK;
    let m = 0;
    let digits = 0;
    if (c === 0x30) {
      i++;
      c = buf[i];
      if (c !== undefined && c >= 0x30 && c <= 0x39) throw FALLBACK; // leading zero
      digits = 1;
    } else
      while (c !== undefined && c >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        digits++;
        c = buf[++i];
      }
    let frac = 0;
    if (c === 0x2e) {
      c = buf[++i];
      if (c === undefined || c < 0x30 || c > 0x39) throw FALLBACK;
      while (c !== undefined && c >= 0x30 && c <= 0x39) {
        m = m * 10 + (c - 0x30);
        frac++;
        c = buf[++i];
      }
    }
    let exp = false;
    if (c === 0x65 || c === 0x45) {
      exp = true;
      c = buf[++i];
      if (c === 0x2b || c === 0x2d) c = buf[++i];
      if (c === undefined || c < 0x30 || c > 0x39) throw FALLBACK;
      while (c !== undefined && c >= 0x30 && c <= 0x39) c = buf[++i];
    }
    this.p = i;
    this.integral = frac === 0 && !exp;
    this.digits = digits + frac;
    if (!exp && digits + frac <= 15) {
      const v = frac === 0 ? m : m / POW10[frac]!;
      return neg ? -v : v;
    }
    return Number(buf.latin1Slice(start, i));
  }

  /**
   * A number the full decoder reads as a number: an integer beyond 2^53 (16 digits or more) it
   * keeps as a bigint, so those fail over.
   */
  private safeNumber(): number {
    const v = this.number();
    // As the full decoder's lossless parser: a long integer is a number when it is safe.
    if (this.integral && this.digits > 15 && !Number.isSafeInteger(v)) throw FALLBACK;
    return v;
  }

  /** Checks any JSON value and moves past it. */
  private skipValue(depth: number): void {
    const buf = this.b;
    const c = buf[this.p];
    switch (c) {
      case 0x22:
        this.stringEnd();
        return;
      case 0x6e:
        this.literal('null');
        return;
      case 0x74:
        this.literal('true');
        return;
      case 0x66:
        this.literal('false');
        return;
      case 0x7b:
      case 0x5b: {
        if (depth > 64) throw FALLBACK;
        const close = c === 0x7b ? 0x7d : 0x5d;
        this.p++;
        this.ws();
        if (buf[this.p] === close) {
          this.p++;
          return;
        }
        for (;;) {
          this.ws();
          if (c === 0x7b) {
            this.stringEnd();
            this.colon();
          }
          this.skipValue(depth + 1);
          if (this.closed(close)) return;
        }
      }
      default:
        this.number();
    }
  }
}

/** Bytes that stand for themselves inside a JSON string: not '"', '\\' or a control character. */
const PLAIN = new Uint8Array(256).fill(1, 0x20);
PLAIN[0x22] = 0;
PLAIN[0x5c] = 0;
/** A control character (JSON.parse refuses them unescaped in a string). */
// eslint-disable-next-line no-control-regex -- the control characters are what it looks for
const CONTROL = /[\u0000-\u001f]/;
/** The characters after '\\' of the two-character escapes. */
const ESCAPES = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPES[c.charCodeAt(0)] = 1;

function isHex(c: number | undefined): boolean {
  return (
    c !== undefined &&
    ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66))
  );
}

/** Whether buf[start..end) equals `b`. */
function same(buf: Buffer, start: number, end: number, b: Buffer): boolean {
  if (end - start !== b.length) return false;
  for (let i = 0; i < b.length; i++) if (buf[start + i] !== b[i]) return false;
  return true;
}
