// JsonBytes (core/events/json-bytes.ts): numbers written as digits without strings, values that
// outgrow the buffer, and the buffer written over in turns (generation).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { joinBytes, JsonBytes, jsonPiece } from '../../../../core/events/json-bytes.ts';
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
