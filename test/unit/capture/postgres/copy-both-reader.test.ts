// The replication connection frames backend messages from the socket's chunks itself
// (CopyBothReader). Whatever the chunking — messages split inside their 5-byte header, inside
// their body, or many to a chunk — it must hand over exactly the messages sent, in order, with
// their bytes; ErrorResponse fields become pg's DatabaseError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { CopyBothReader } from '../../../../capture/postgres/connection/replication.ts';
import { rng } from '../../../rng.ts';

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

type Seen = { copyData: Buffer } | { error: Error } | 'end';

function read(chunks: Buffer[]): Seen[] {
  const seen: Seen[] = [];
  const reader = new CopyBothReader({
    copyData: (buf, start, end) => seen.push({ copyData: Buffer.from(buf.subarray(start, end)) }),
    error: (error) => seen.push({ error }),
    end: () => seen.push('end'),
  });
  for (const c of chunks) reader.push(c);
  return seen;
}

const random = rng(42);
const bodies: Buffer[] = [
  Buffer.alloc(0),
  Buffer.from('w'),
  Buffer.from([0x77, 1, 2, 3]),
  ...Array.from({ length: 40 }, (_, i) =>
    Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => (i * 7) & 255)),
  ),
  Buffer.alloc(200_000, 0x5a), // far larger than a chunk
];
const stream = Buffer.concat([
  message('W', Buffer.from([0, 0, 0])),
  message('S', Buffer.from('application_name\0x\0')),
  ...bodies.map((b) => message('d', b)),
  message('N', Buffer.from('SNOTICE\0Mhello\0\0')),
  message('d', Buffer.from('last')),
  message('c', Buffer.alloc(0)),
  message('C', Buffer.from('START_REPLICATION\0')),
  message('Z', Buffer.from('I')),
]);
const expected: Seen[] = [
  ...bodies.map((b) => ({ copyData: b })),
  { copyData: Buffer.from('last') },
  'end',
];

test('every chunking gives the same messages: split in headers, bodies, or many per chunk', () => {
  assert.deepEqual(read([stream]), expected, 'one chunk');
  // Split once at every position of the first 2,000 bytes and around the large message.
  const big = stream.indexOf(Buffer.alloc(64, 0x5a));
  for (const at of [...Array(2000).keys(), ...[...Array(40).keys()].map((k) => big - 20 + k)])
    assert.deepEqual(read([stream.subarray(0, at), stream.subarray(at)]), expected, `at ${at}`);
  // Byte by byte through the small messages, then random chunk sizes.
  for (let seed = 1; seed <= 30; seed++) {
    const r = rng(seed);
    const chunks: Buffer[] = [];
    let o = 0;
    while (o < stream.length) {
      const size = o < 600 && seed === 1 ? 1 : 1 + Math.floor(r() * (seed % 2 ? 70 : 70_000));
      chunks.push(stream.subarray(o, o + size));
      o += size;
    }
    assert.deepEqual(read(chunks), expected, `seed ${seed}`);
  }
});

test('an ErrorResponse becomes a DatabaseError with its fields; unknown types are errors', () => {
  const error = message(
    'E',
    Buffer.from(
      'SERROR\0VERROR\0C55006\0Mreplication slot "s" is active for PID 7\0Rfn\0Dsome detail\0\0',
    ),
  );
  const seen = read([error.subarray(0, 9), error.subarray(9), message('Z', Buffer.from('I'))]);
  assert.equal(seen.length, 2);
  const err = (seen[0] as { error: Error }).error as pg.DatabaseError;
  assert.ok(err instanceof pg.DatabaseError);
  assert.equal(err.message, 'replication slot "s" is active for PID 7');
  assert.equal(err.code, '55006');
  assert.equal(err.severity, 'ERROR');
  assert.equal(err.detail, 'some detail');
  assert.equal(err.routine, 'fn');
  assert.equal(seen[1], 'end');

  const odd = read([message('?', Buffer.from('x')), message('d', Buffer.from('after'))]);
  assert.match((odd[0] as { error: Error }).error.message, /unexpected message type 0x3f/);
  assert.deepEqual(odd[1], { copyData: Buffer.from('after') });
});

test('a length below 4 is a protocol error: reported once, nothing more read, no hang', () => {
  for (const length of [-1, -2, 0, 3]) {
    for (const split of [false, true]) {
      const bad = Buffer.alloc(9);
      bad.write('d', 0, 'latin1');
      bad.writeInt32BE(length, 1);
      const good = message('d', Buffer.from('ok'));
      const chunks = split
        ? [good, bad.subarray(0, 3), bad.subarray(3), good]
        : [Buffer.concat([good, bad, good]), good];
      const seen = read(chunks);
      assert.equal(seen.length, 2, `length ${length}, split ${split}`);
      assert.deepEqual(seen[0], { copyData: Buffer.from('ok') });
      assert.match(
        (seen[1] as { error: Error }).error.message,
        new RegExp(`invalid message length ${length}`),
      );
    }
  }
});

test('a handler that throws is reported, and the messages after it are still read', () => {
  const seen: Array<string | Error> = [];
  const reader = new CopyBothReader({
    copyData: (buf, start, end) => {
      const text = buf.toString('utf8', start, end);
      if (text === 'boom') throw new Error('handler failed');
      seen.push(text);
    },
    error: (err) => seen.push(err),
    end: () => seen.push('end'),
  });
  const all = Buffer.concat(['a', 'boom', 'b'].map((t) => message('d', Buffer.from(t))));
  reader.push(all.subarray(0, 12));
  reader.push(all.subarray(12));
  assert.equal(seen.length, 3);
  assert.equal(seen[0], 'a');
  assert.equal((seen[1] as Error).message, 'handler failed');
  assert.equal(seen[2], 'b');
});
