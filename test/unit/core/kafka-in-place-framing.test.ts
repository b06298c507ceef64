// The producer thread's Produce requests are framed in place (core/kafka/pack-producer.ts): the
// client's request header is copied into room left in front of the payload, instead of the
// whole request being concatenated into a new buffer. Checked against the client's own Writer,
// framing a request the way its connection does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writer } from '../../../core/kafka/client.ts';
import { installInPlaceFraming, reserveFront } from '../../../core/kafka/pack-producer.ts';

/** What the client's connection does with a payload: header, payload, size in front. */
function frame(payload: Buffer): { framed: Buffer; concatenated: Buffer } {
  const writer = Writer.create();
  writer.appendInt16(0).appendInt16(11).appendInt32(42).appendString('txn-client', false);
  writer.appendTaggedFields();
  writer.appendFrom(Writer.create().append(payload)).prependLength();
  const concatenated = Buffer.concat(writer.buffers);
  return { framed: writer.buffer, concatenated };
}

test('a payload with room in front is framed in place; any other is concatenated', () => {
  installInPlaceFraming();
  installInPlaceFraming(); // idempotent
  const buffer = Buffer.allocUnsafeSlow(4096).fill(0xee);
  const payload = buffer.subarray(512, 2048);
  for (let i = 0; i < payload.length; i++) payload[i] = i & 0xff;

  reserveFront(payload, 512);
  const inPlace = frame(payload);
  assert.equal(inPlace.framed.buffer, buffer.buffer, 'the request is a view of the payload buffer');
  assert.equal(inPlace.framed.byteOffset + inPlace.framed.length, 2048);
  assert.deepEqual(inPlace.framed, inPlace.concatenated, 'the same bytes as concatenated');
  assert.equal(inPlace.framed.readInt32BE(0), inPlace.framed.length - 4, 'size prefix');

  // The mark is used once: the same payload framed again is concatenated.
  const again = frame(payload);
  assert.notEqual(again.framed.buffer, buffer.buffer);
  assert.deepEqual(again.framed, again.concatenated);

  // Too little room for the header: concatenated.
  const tight = buffer.subarray(8, 100);
  reserveFront(tight, 8);
  const t = frame(tight);
  assert.notEqual(t.framed.buffer, buffer.buffer);
  assert.deepEqual(t.framed, t.concatenated);
  assert.deepEqual(buffer.subarray(0, 8), Buffer.alloc(8, 0xee), 'nothing written before the room');

  // An unmarked payload: concatenated.
  const plain = Buffer.from('plain payload');
  const p = frame(plain);
  assert.deepEqual(p.framed, p.concatenated);
  assert.equal(p.framed.subarray(-plain.length).toString(), 'plain payload');
});
