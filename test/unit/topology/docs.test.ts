import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { REFERENCE_PATH, renderReference } from '../../../topology/spec/docs.ts';

test('docs/topology-reference.md is generated from the current topology schema', () => {
  const committed = readFileSync(REFERENCE_PATH, 'utf8');
  const fresh = renderReference();
  assert.ok(
    committed === fresh,
    'docs/topology-reference.md is out of date (a topology or component config schema changed): run `node --import tsx topology/spec/docs.ts` and commit the result',
  );
  // The generator really covers the schema: every top-level key and every sink type is in it.
  for (const key of ['version', 'kafka', 'topics', 'deadLetter', 'sources', 'processors', 'sinks'])
    assert.match(fresh, new RegExp(`\\| \`${key}\` \\|`));
  assert.match(fresh, /### `sinks\[\]\.sink \(type: redis\)`/);
  assert.match(fresh, /`mask`, /);
});
