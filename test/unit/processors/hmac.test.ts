// mask's JavaScript HMAC-SHA-256 against node:crypto: ASCII and non-ASCII values, lengths
// around every padding boundary, short, block-sized and long keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { hmacSha256Hex } from '../../../processors/builtins/hmac.ts';

test('hmacSha256Hex equals createHmac(sha256) for any text and key length', () => {
  const keys = [
    'k',
    'bench-secret',
    'x'.repeat(63),
    'y'.repeat(64),
    'z'.repeat(65),
    'ключ🔑'.repeat(20),
  ];
  const texts: string[] = ['', 'a', 'user1@example.com'];
  for (let n = 40; n <= 200; n++) texts.push('a'.repeat(n));
  for (let n = 0; n < 60; n++) texts.push('é'.repeat(n) + '€😀'.repeat(n % 5) + 'x'.repeat(n));
  texts.push('\uD800 lone surrogate', 'z'.repeat(5000), '€'.repeat(3000));
  for (const key of keys) {
    const hmac = hmacSha256Hex(key);
    for (const t of texts)
      assert.equal(hmac(t), createHmac('sha256', key).update(t).digest('hex'), `${key} / ${t}`);
  }
});
