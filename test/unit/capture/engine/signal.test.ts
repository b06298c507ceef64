import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseStoredOffset } from '../../../../capture/engine/offsets.ts';
import { formatSignal, parseSignal, signalAtOrBefore } from '../../../../capture/engine/signal.ts';

test('execute-snapshot signals parse, with or without tables, and round-trip', () => {
  assert.deepEqual(parseSignal('{"type":"execute-snapshot","source":"shop"}'), {
    type: 'execute-snapshot',
    source: 'shop',
  });
  const s = { type: 'execute-snapshot' as const, source: 'shop', tables: ['public.orders'] };
  assert.deepEqual(parseSignal(formatSignal(s)), s);
});

test('invalid signals are reported with a reason, never thrown', () => {
  assert.equal(parseSignal('nope'), 'not JSON');
  assert.equal(parseSignal('[1]'), 'not a JSON object');
  assert.match(String(parseSignal('{"type":"stop","source":"shop"}')), /unknown type "stop"/);
  assert.match(String(parseSignal('{"type":"execute-snapshot"}')), /"source"/);
  assert.match(
    String(parseSignal('{"type":"execute-snapshot","source":"shop","tables":"public.a"}')),
    /"tables" must be a list/,
  );
});

test('signal positions: (order, seq) at or before the last applied one is a replay', () => {
  const last = { order: 100, seq: 90 };
  assert.equal(signalAtOrBefore({ order: 100, seq: 90 }, last), true);
  assert.equal(signalAtOrBefore({ order: 99, seq: 120 }, last), true);
  assert.equal(signalAtOrBefore({ order: 100, seq: 91 }, last), false);
  assert.equal(signalAtOrBefore({ order: 101, seq: 10 }, last), false);
  assert.equal(signalAtOrBefore({ order: 1, seq: 1 }, undefined), false);
});

test('a v1 offset with an ad-hoc snapshot in progress (adhoc, signal) still loads', () => {
  const text = readFileSync(
    new URL('../../../fixtures/capture/offsets/v1-adhoc-snapshot.json', import.meta.url),
    'utf8',
  );
  const o = parseStoredOffset(text, 'shop');
  assert.equal(o.snapshot?.adhoc, true);
  assert.deepEqual(o.snapshot?.signal, { order: 23049000, seq: 23048990 });
  assert.deepEqual(o.snapshot?.pending, ['public.orders']);
});
