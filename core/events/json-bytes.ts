/**
 * JSON written straight as UTF-8 bytes, for connectors that read their source as bytes
 * (PostgreSQL capture: column texts are copied from the pgoutput message into the value).
 *
 * A value is begun, written piece by piece and ended; it then lies at buf[start..end). Values
 * are written one after another into one buffer (1 MiB unless a value needs more). When it is
 * full it is written again from its start: `generation` counts those turns, so a value's bytes
 * are still there while the generation is the one it was written in. A value that must outlive
 * that is copied, or made again, by its owner. Reusing the buffer keeps a capture from
 * allocating ~1 GB of buffers per million changes, which V8 counts as external memory and
 * answers with a full garbage collection every ~64 MB.
 *
 * Compared with building the value as a JS string and encoding it, no string per column, no
 * concatenation and no flattening is made.
 */
import { digitsOf, writeDigits } from '../decimal.ts';

const SLAB = 1024 * 1024;

export class JsonBytes {
  buf: Buffer;
  pos = 0;
  /** Where the value being written starts (valid from begin() until the next begin()). */
  start = 0;
  /** Turns of the buffer (and buffers replaced) so far. */
  generation = 0;

  constructor(size = SLAB) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  /** Starts a value. */
  begin(): void {
    if (this.buf.length - this.pos < 4096) {
      this.pos = 0;
      this.generation++;
    }
    this.start = this.pos;
  }

  /** Makes room for `n` more bytes (a value outgrowing its slab moves to a bigger one). */
  room(n: number): Buffer {
    if (this.buf.length - this.pos < n) {
      const used = this.pos - this.start;
      const next = Buffer.allocUnsafeSlow(Math.max(SLAB, 2 * (used + n)));
      this.buf.copy(next, 0, this.start, this.pos);
      this.buf = next;
      this.start = 0;
      this.pos = used;
      this.generation++;
    }
    return this.buf;
  }

  /** One ASCII byte. */
  byte(c: number): void {
    this.room(1)[this.pos++] = c;
  }

  /**
   * Bytes made once (names, fixed JSON pieces). Copied natively: a JS loop costs about 1 ns a
   * byte here, a native copy about 15 ns a call whatever the size.
   */
  bytes(b: Uint8Array): void {
    this.room(b.length).set(b, this.pos);
    this.pos += b.length;
  }

  /**
   * src[start..end) as is: a loop for a few bytes (about 2.5 ns a byte), Buffer.copy for more
   * (about 60 ns a call).
   */
  range(src: Buffer, start: number, end: number): void {
    const n = end - start;
    const buf = this.room(n);
    if (n < 24) {
      let o = this.pos;
      for (let i = start; i < end; i++) buf[o++] = src[i]!;
      this.pos = o;
    } else this.pos += src.copy(buf, this.pos, start, end);
  }

  /** Where the value being written is now (relative to its start: stays valid if it moves). */
  mark(): number {
    return this.pos - this.start;
  }

  /** The `n` bytes written at mark `at` of this value, again (a number written twice). */
  repeat(at: number, n: number): void {
    const buf = this.room(n);
    const from = this.start + at;
    buf.copyWithin(this.pos, from, from + n);
    this.pos += n;
  }

  /** A text, UTF-8 encoded (already JSON: quoted and escaped where needed). */
  text(s: string): void {
    const buf = this.room(s.length * 3);
    this.pos += (buf as unknown as Utf8Write).utf8Write(s, this.pos);
  }

  /** A non-negative safe integer in decimal. */
  uint(v: number): void {
    this.pos = writeDigits(this.room(16), this.pos, v);
  }
}

/**
 * Pieces of bytes and non-negative safe integers (as decimal digits) joined into one Buffer,
 * without making a string of any of them (fixed parts of values made once per transaction).
 */
export function joinBytes(...parts: Array<Uint8Array | number>): Buffer {
  let n = 0;
  for (const p of parts) n += typeof p === 'number' ? digitsOf(p) : p.length;
  const out = Buffer.allocUnsafe(n);
  let o = 0;
  for (const p of parts) {
    if (typeof p === 'number') o = writeDigits(out, o, p);
    else {
      out.set(p, o);
      o += p.length;
    }
  }
  return out;
}

/** Buffer's own utf8Write (what write(text, offset) ends in), returning the bytes written. */
interface Utf8Write {
  utf8Write(text: string, offset: number): number;
}

/** The UTF-8 bytes of a fixed JSON piece. */
export function jsonPiece(text: string): Buffer<ArrayBuffer> {
  return Buffer.from(text, 'utf8');
}

/** An Int32Array over the whole ArrayBuffer last scanned by plainText (one per buffer). */
let wordsOf: ArrayBufferLike | null = null;
let words: Int32Array<ArrayBufferLike> = new Int32Array(0);
/** The source plainText scanned last (its ArrayBuffer is wordsOf). */
let lastSource: Uint8Array | null = null;

/** Nonzero when a byte of the 4 in `w` is below 0x20, 0x22 ('"'), 0x5c ('\\') or above 0x7f. */
function plainWord(w: number): number {
  const q = w ^ 0x22222222;
  const b = w ^ 0x5c5c5c5c;
  // Per byte: its top bit (>= 0x80); a borrow out of it when below 0x20, or when zero after
  // the XOR (equal to 0x22 or 0x5c). Only set bits matter, so borrows between bytes are fine:
  // one only starts at a byte that is itself below the limit.
  return (
    (w | ((w - 0x20202020) & ~w) | ((q - 0x01010101) & ~q) | ((b - 0x01010101) & ~b)) & 0x80808080
  );
}

/** True when `c` is printable ASCII other than '"' and '\\' (no JSON escape needed). */
function plainByte(c: number): boolean {
  return c >= 0x20 && c !== 0x22 && c !== 0x5c && c <= 0x7f;
}

/**
 * True when src[start..end) is printable ASCII without '"' or '\\': its own JSON string content,
 * copied between quotes as it is. Checks 4 bytes at a time (through an Int32Array over the
 * source's ArrayBuffer, made once per buffer): ~1.7x a byte loop on a 170-byte text.
 */
export function plainText(src: Uint8Array, start: number, end: number): boolean {
  const base = src.byteOffset;
  let i = start;
  while (i < end && ((base + i) & 3) !== 0) if (!plainByte(src[i++]!)) return false;
  if (i === end) return true;
  // The source's ArrayBuffer, read only when the source changed (reading .buffer is a call).
  const last = (base + end) >> 2;
  if (src !== lastSource || last > words.length) {
    // (A resizable ArrayBuffer may have grown since its view was made.)
    lastSource = src;
    const ab = src.buffer;
    if (ab !== wordsOf || last > words.length) {
      wordsOf = ab;
      words = new Int32Array(ab, 0, ab.byteLength >> 2);
    }
  }
  let acc = 0;
  for (let k = (base + i) >> 2; k < last; k++) acc |= plainWord(words[k]!);
  if (acc !== 0) return false;
  for (i = (last << 2) - base; i < end; i++) if (!plainByte(src[i]!)) return false;
  return true;
}
