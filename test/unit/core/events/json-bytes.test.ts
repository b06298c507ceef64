// JsonBytes (core/events/json-bytes.ts): numbers written as digits without strings, values that
// outgrow the buffer, and the buffer written over in turns (generation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinBytes, JsonBytes, jsonPiece, plainText } from '../../../../core/events/json-bytes.ts';
import { rng as seeded } from '../../../rng.ts';

test('integers are written as String() writes them, at every digit count and around 2^30', () => {
  const rng = seeded(7);
  const values = [0, 1, 9, 10, 99, 100, 0x3fffffff, 0x40000000, 0x40000001, 1e8 - 1, 1e8, 1e9];
  values.push(99_999_999_999, 100_000_000_000, 1_000_000_000_000_000, 2 ** 53 - 1);
  for (let i = 0; i < 5000; i++) values.push(Math.floor(rng() * 2 ** (rng() * 53)));
  const out = new JsonBytes();
  for (const v of values) {
    out.begin();
    out.uint(v);
    assert.equal(out.buf.toString('latin1', out.start, out.pos), String(v));
    assert.equal(joinBytes(jsonPiece('['), v, jsonPiece(']')).toString(), `[${v}]`);
  }
});

test('a value larger than the buffer moves to a bigger one; a full buffer is written again from its start', () => {
  const out = new JsonBytes(8192);
  out.begin();
  const big = Buffer.alloc(20_000, 0x61);
  out.bytes(jsonPiece('"'));
  out.bytes(big);
  out.byte(0x22);
  assert.equal(out.generation, 1, 'moved to a bigger buffer');
  assert.equal(out.buf.toString('latin1', out.start, out.pos), `"${'a'.repeat(20_000)}"`);
  // Fill the rest, then the next value starts over at 0 in a new generation.
  const before = out.generation;
  while (out.buf.length - out.pos >= 4096) {
    out.begin();
    out.bytes(Buffer.alloc(3000, 0x62));
  }
  out.begin();
  assert.equal(out.start, 0);
  assert.equal(out.generation, before + 1);
});

test('plainText (4 bytes at a time) agrees with a byte loop, at every alignment and length', () => {
  const byByte = (src: Uint8Array, start: number, end: number): boolean => {
    for (let i = start; i < end; i++) {
      const c = src[i]!;
      if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7f) return false;
    }
    return true;
  };
  // Bytes next to the limits, each alone in printable text at every position and alignment.
  const edges = [
    0x00, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0xc3, 0xff,
  ];
  const pool = Buffer.alloc(4096);
  let checked = 0;
  for (let offset = 0; offset < 4; offset++) {
    for (let length = 0; length <= 19; length++) {
      for (let start = 0; start < 4; start++) {
        const src = pool.subarray(offset + 1, offset + 1 + start + length + 5);
        src.fill(0x61); // 'a'
        const end = start + length;
        assert.equal(plainText(src, start, end), true, `plain ${offset}/${start}/${length}`);
        for (let at = start - 1; at <= end; at++) {
          for (const c of edges) {
            src.fill(0x61);
            if (at >= 0 && at < src.length) src[at] = c;
            assert.equal(
              plainText(src, start, end),
              byByte(src, start, end),
              `byte ${c} at ${at} of [${start}, ${end}) (offset ${offset})`,
            );
            checked++;
          }
        }
      }
    }
  }
  // Random texts in buffers of their own (other ArrayBuffers: the word view is remade).
  const random = seeded(11);
  for (let n = 0; n < 5000; n++) {
    const src = Buffer.allocUnsafeSlow(8 + Math.floor(random() * 300));
    for (let i = 0; i < src.length; i++) src[i] = 0x20 + Math.floor(random() * 0x5f);
    if (n % 2 === 0) src[Math.floor(random() * src.length)] = Math.floor(random() * 256);
    const start = Math.floor(random() * 8);
    const end = start + Math.floor(random() * (src.length - start));
    assert.equal(plainText(src, start, end), byByte(src, start, end), `random text ${n}`);
    checked++;
  }
  assert.ok(checked > 20_000);
});

test('plainText sees bytes a resizable ArrayBuffer gained after it was scanned', () => {
  // Resizable ArrayBuffers are ES2024 (Node 20 has them; this project's TypeScript lib does not).
  type Resizable = ArrayBuffer & { resize(n: number): void };
  const Resizable = ArrayBuffer as unknown as new (n: number, o: object) => Resizable;
  const ab = new Resizable(16, { maxByteLength: 256 });
  const view = new Uint8Array(ab); // tracks the buffer's length
  view.fill(0x61);
  assert.equal(plainText(view, 0, 16), true);
  ab.resize(64);
  view.fill(0x61);
  view[40] = 0x22;
  assert.equal(plainText(view, 0, 64), false, 'the quote past the first scan is seen');
  view[40] = 0x61;
  assert.equal(plainText(view, 0, 64), true);
});
