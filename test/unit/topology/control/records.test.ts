// The control records' stored format: every version written so far must keep loading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { encodeRecord, parseRecord, recordKey } from '../../../../topology/control/index.ts';

const lines = readFileSync(
  new URL('../../../fixtures/topology/control/v1.jsonl', import.meta.url),
  'utf8',
)
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as { key: string; value: unknown });

test('control records in format v1 still load, with the key they were stored under', () => {
  const parsed = lines.map((l) => parseRecord(JSON.stringify(l.value), l.key));
  assert.deepEqual(
    parsed.map((r) => r.type),
    ['config', 'target', 'restart', 'token', 'status', 'worker'],
  );
  for (const [i, r] of parsed.entries()) assert.equal(recordKey(r), lines[i]!.key);
  const [config, target, restart, token, status, worker] = parsed;
  assert.ok(config?.type === 'config');
  assert.equal(config.version, 3);
  assert.deepEqual(config.slots, { '0': 4 });
  assert.equal(config.config['table.include.list'], 'public.orders');
  assert.ok(target?.type === 'target' && target.state === 'PAUSED');
  assert.ok(restart?.type === 'restart' && restart.requestId === 2 && restart.onlyFailed);
  assert.ok(token?.type === 'token' && token.role === 'operator' && !token.revoked);
  assert.ok(status?.type === 'status' && status.state === 'FAILED');
  assert.equal(status.trace, 'connection refused');
  assert.ok(worker?.type === 'worker');
  assert.deepEqual(worker.partitions, [0, 4]);
});

test('records round-trip through encode/parse unchanged', () => {
  for (const l of lines) {
    const r = parseRecord(JSON.stringify(l.value), l.key);
    assert.deepEqual(parseRecord(encodeRecord(r).toString(), l.key), r);
  }
});

test('unknown versions, unknown types and garbage are refused with a clear error', () => {
  assert.throws(() => parseRecord('{"v":2,"type":"config"}', 'k'), /unsupported format version 2/);
  assert.throws(() => parseRecord('{"v":1,"type":"lease"}', 'k'), /unknown type "lease"/);
  assert.throws(() => parseRecord('nope', 'k'), /control record "k" is not JSON/);
});
