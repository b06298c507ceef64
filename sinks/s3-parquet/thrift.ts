/**
 * Thrift Compact Protocol output, just what Parquet page headers and the file footer need:
 * structs, i32/i64, booleans, binary, lists of structs, i32 and binary. Field ids must be
 * written in ascending order inside a struct.
 */

const BOOL_TRUE = 1;
const BOOL_FALSE = 2;
const I8 = 3;
const I32 = 5;
const I64 = 6;
const BINARY = 8;
const LIST = 9;
const STRUCT = 12;

export type ListElement = 'i32' | 'binary' | 'struct';
const ELEMENT_TYPE: Record<ListElement, number> = { i32: I32, binary: BINARY, struct: STRUCT };

const encoder = new TextEncoder();

export class ThriftWriter {
  private buf = new Uint8Array(256);
  private pos = 0;
  /** Last field id of each open struct, innermost last. */
  private readonly lastField: number[] = [0];

  get length(): number {
    return this.pos;
  }

  /** The bytes written so far (a copy). */
  bytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  i32(field: number, v: number): this {
    this.header(field, I32);
    this.zigzag(v);
    return this;
  }

  i8(field: number, v: number): this {
    this.header(field, I8);
    this.byte(v & 0xff);
    return this;
  }

  /** An i64 field from a safe integer or a bigint. */
  i64(field: number, v: number | bigint): this {
    this.header(field, I64);
    this.zigzag(v);
    return this;
  }

  bool(field: number, v: boolean): this {
    this.header(field, v ? BOOL_TRUE : BOOL_FALSE);
    return this;
  }

  binary(field: number, v: string | Uint8Array): this {
    this.header(field, BINARY);
    this.rawBinary(v);
    return this;
  }

  /** Opens a struct field; close it with end(). */
  struct(field: number): this {
    this.header(field, STRUCT);
    this.lastField.push(0);
    return this;
  }

  /** An empty struct field (e.g. the members of a union that carry no data). */
  emptyStruct(field: number): this {
    return this.struct(field).end();
  }

  /** Ends the innermost struct (or the top-level one). */
  end(): this {
    this.byte(0);
    this.lastField.pop();
    if (this.lastField.length === 0) this.lastField.push(0);
    return this;
  }

  /** A list field header; then write `size` elements with listI32/listBinary/listStruct. */
  list(field: number, element: ListElement, size: number): this {
    this.header(field, LIST);
    const t = ELEMENT_TYPE[element];
    if (size < 15) this.byte((size << 4) | t);
    else {
      this.byte(0xf0 | t);
      this.varint(size);
    }
    return this;
  }

  listI32(v: number): this {
    this.zigzag(v);
    return this;
  }

  listBinary(v: string | Uint8Array): this {
    this.rawBinary(v);
    return this;
  }

  /** Opens a struct element of a list; close it with end(). */
  listStruct(): this {
    this.lastField.push(0);
    return this;
  }

  private header(field: number, type: number): void {
    const last = this.lastField[this.lastField.length - 1]!;
    const delta = field - last;
    if (delta <= 0) throw new Error(`thrift field ${field} after ${last}`);
    if (delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(field);
    }
    this.lastField[this.lastField.length - 1] = field;
  }

  private rawBinary(v: string | Uint8Array): void {
    const b = typeof v === 'string' ? encoder.encode(v) : v;
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  private zigzag(v: number | bigint): void {
    if (typeof v === 'bigint') {
      let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
      while (z >= 0x80n) {
        this.byte(Number(z & 0x7fn) | 0x80);
        z >>= 7n;
      }
      this.byte(Number(z));
      return;
    }
    if (!Number.isSafeInteger(v)) throw new Error(`thrift integer expected, got ${v}`);
    this.varint(v >= 0 ? v * 2 : -v * 2 - 1);
  }

  /** Unsigned varint of a non-negative safe integer. */
  private varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  private byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
}
