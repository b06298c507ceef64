// The sink's snappy compressor gives exactly hysnappy's snappyCompress() bytes, whatever it
// compressed before (a restarted sink must rewrite identical files).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snappyCompress } from 'hysnappy';
import { deterministicSnappy } from '../../../sinks/s3-parquet/snappy.ts';

function pages(): Uint8Array[] {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const out: Uint8Array[] = [];
  for (let i = 0; i < 40; i++) {
    const n = 16 + Math.floor(rand() * 300_000);
    const b = Buffer.alloc(n);
    const kind = i % 4;
    for (let j = 0; j < n; j++)
      b[j] =
        kind === 0
          ? Math.floor(rand() * 256) // incompressible
          : kind === 1
            ? 97 + ((j * 7) % 13) // repetitive text
            : kind === 2
              ? (j >> 3) & 0xff // slowly increasing integers
              : rand() < 0.9
                ? 48 + (j % 10)
                : Math.floor(rand() * 256);
    out.push(b);
  }
  return out;
}

test('deterministicSnappy: the same bytes as snappyCompress, in any order', () => {
  const compress = deterministicSnappy();
  const input = pages();
  const expected = input.map((p) => Buffer.from(snappyCompress(p)));
  for (const order of [input.keys(), [...input.keys()].reverse(), [3, 0, 3, 1, 39, 3]]) {
    for (const i of order)
      assert.ok(Buffer.from(compress(input[i]!)).equals(expected[i]!), `page ${i}`);
  }
  assert.notEqual(compress, snappyCompress, 'the compiled module was found in hysnappy');
});
