import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodePgOutput,
  formatLsn,
  parseLsn,
  UNCHANGED_TOAST,
} from '../../../../capture/postgres/connection/pgoutput.ts';
import { cstr, msg, text } from './pgoutput-messages.ts';

test('LSNs format and parse like PostgreSQL', () => {
  assert.equal(formatLsn(0x16b374d848), '16/B374D848');
  assert.equal(parseLsn('16/B374D848'), 0x16b374d848);
  assert.throws(() => parseLsn('nope'), /invalid LSN "nope"/);
});

test('Begin and Commit carry the commit LSN, end LSN, time and xid', () => {
  const pgEpochUs = 946_684_800_000_000;
  const b = decodePgOutput(msg('B', [0x1000, 8], [1_000_000, 8], [742, 4]));
  assert.deepEqual(b, {
    tag: 'begin',
    commitLsn: 0x1000,
    commitTimeUs: BigInt(pgEpochUs + 1_000_000),
    xid: 742,
  });
  const c = decodePgOutput(msg('C', [0, 1], [0x1000, 8], [0x1030, 8], [1_000_000, 8]));
  assert.deepEqual(c, {
    tag: 'commit',
    commitLsn: 0x1000,
    endLsn: 0x1030,
    commitTimeUs: BigInt(pgEpochUs + 1_000_000),
  });
});

test('Relation, Insert, Update (old key), Delete, Truncate, Message decode', () => {
  const rel = decodePgOutput(
    msg(
      'R',
      [16390, 4],
      cstr('public'),
      cstr('orders'),
      'd',
      [2, 2],
      [1, 1],
      cstr('id'),
      [23, 4],
      [-1, 4],
      [0, 1],
      cstr('note'),
      [25, 4],
      [-1, 4],
    ),
  );
  assert.deepEqual(rel, {
    tag: 'relation',
    relationId: 16390,
    schema: 'public',
    table: 'orders',
    replicaIdentity: 'd',
    columns: [
      { name: 'id', typeOid: 23, typmod: -1, isKey: true },
      { name: 'note', typeOid: 25, typmod: -1, isKey: false },
    ],
  });
  assert.deepEqual(decodePgOutput(msg('I', [16390, 4], 'N', [2, 2], text('1'), 'n')), {
    tag: 'insert',
    relationId: 16390,
    newTuple: ['1', null],
  });
  const upd = decodePgOutput(
    msg('U', [16390, 4], 'K', [2, 2], text('1'), 'n', 'N', [2, 2], text('2'), 'u'),
  );
  assert.deepEqual(upd, {
    tag: 'update',
    relationId: 16390,
    oldKind: 'K',
    oldTuple: ['1', null],
    newTuple: ['2', UNCHANGED_TOAST],
  });
  assert.deepEqual(decodePgOutput(msg('D', [16390, 4], 'O', [2, 2], text('2'), text('é'))), {
    tag: 'delete',
    relationId: 16390,
    oldKind: 'O',
    oldTuple: ['2', 'é'],
  });
  assert.deepEqual(decodePgOutput(msg('T', [2, 4], [3, 1], [1, 4], [2, 4])), {
    tag: 'truncate',
    relationIds: [1, 2],
    cascade: true,
    restartIdentity: true,
  });
  const m = decodePgOutput(
    msg('M', [0, 1], [0x2000, 8], cstr('tributary-watermark'), [2, 4], 'hi'),
  );
  assert.equal(m.tag, 'message');
  if (m.tag === 'message') {
    assert.equal(m.transactional, false);
    assert.equal(m.lsn, 0x2000);
    assert.equal(m.content.toString(), 'hi');
  }
});

test('unsupported messages and tuple kinds are clear errors', () => {
  assert.throws(
    () => decodePgOutput(msg('S', [1, 4])),
    /unsupported pgoutput message 0x53 \('S'\).*protocol version 2/,
  );
  assert.throws(
    () => decodePgOutput(msg('I', [1, 4], 'N', [1, 2], 'b', [1, 4], 'x')),
    /binary mode is not enabled/,
  );
});
