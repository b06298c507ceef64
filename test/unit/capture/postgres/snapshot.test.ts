import { test } from 'node:test';
import assert from 'node:assert/strict';
import { snapshotVisibility } from '../../../../capture/postgres/snapshot.ts';

test('snapshot visibility: committed before xmin, in-progress list, and from xmax on', () => {
  const visible = snapshotVisibility('100:110:103,107');
  assert.equal(visible(99), true);
  assert.equal(visible(100), true);
  assert.equal(visible(103), false, 'in progress when the snapshot was taken');
  assert.equal(visible(105), true);
  assert.equal(visible(107), false);
  assert.equal(visible(110), false, 'started after the snapshot');
  assert.equal(visible(5000), false);
});

test('snapshot visibility works across 32-bit xid wraparound (64-bit ids in the snapshot)', () => {
  // epoch 1: xmin = 2^32 + 10 → 32-bit 10; ids just before the wrap (epoch 0) precede it.
  const visible = snapshotVisibility(`${2 ** 32 + 10}:${2 ** 32 + 20}:`);
  assert.equal(visible(4294967290), true, 'an id from before the wrap is older');
  assert.equal(visible(12), true);
  assert.equal(visible(20), false);
});
