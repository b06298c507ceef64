import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseStoredOffset } from '../../../../capture/engine/offsets.ts';
import { checkResume } from '../../../../capture/postgres/offsets.ts';

const V1 = readFileSync(
  new URL('../../../fixtures/capture/offsets/v1.json', import.meta.url),
  'utf8',
);

test('a stored offset in format v1 still loads', () => {
  const o = parseStoredOffset(V1, 'shop');
  assert.deepEqual(o.position, { order: 23050000, index: 41 });
  assert.equal(o.ack, 23049980);
  assert.deepEqual(o.snapshot?.lastKey, { 'public.orders': ['2048'] });
  assert.equal(o.snapshot?.completed, false);
  assert.equal(o.connector.slot, 'tributary_shop');
});

test('unknown offset versions and garbage are rejected with a clear error', () => {
  assert.throws(
    () => parseStoredOffset('{"v":9}', 'shop'),
    /unsupported format version 9; upgrade Tributary/,
  );
  assert.throws(
    () => parseStoredOffset('not json', 'shop'),
    /stored offset of source "shop" is not JSON/,
  );
});

test('resume checks: a slot that is missing, lost or ahead of the stored position refuses to resume', () => {
  const stored = parseStoredOffset(V1, 'shop');
  const facts = { slot: 'tributary_shop', systemId: '7712332707202802640', database: 'shop' };
  assert.equal(
    checkResume(stored, { exists: true, confirmedFlush: 23049000, walStatus: 'reserved' }, facts)
      .ok,
    true,
  );
  assert.match(checkResume(stored, { exists: false }, facts).reason!, /no longer exists/);
  assert.match(
    checkResume(stored, { exists: true, confirmedFlush: 23049000, walStatus: 'lost' }, facts)
      .reason!,
    /wal_status "lost"/,
  );
  assert.match(
    checkResume(stored, { exists: true, confirmedFlush: 99999999, walStatus: 'reserved' }, facts)
      .reason!,
    /recreated or advanced/,
  );
  assert.match(
    checkResume(stored, { exists: true, confirmedFlush: 1 }, { ...facts, systemId: 'other' })
      .reason!,
    /database cluster changed/,
  );
  assert.equal(checkResume(null, { exists: false }, facts).ok, true, 'first start');
});
