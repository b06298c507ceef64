// Role ordering, bearer header parsing and the per-client token bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allows, bearerToken, RateLimiter } from '../../../../topology/rest/auth.ts';
import { openApiDocument } from '../../../../topology/rest/openapi.ts';
import { ROUTES } from '../../../../topology/rest/routes.ts';

test('roles: viewer < operator < admin', () => {
  assert.ok(
    allows('admin', 'operator') && allows('operator', 'viewer') && allows('viewer', 'viewer'),
  );
  assert.ok(!allows('viewer', 'operator') && !allows('operator', 'admin'));
});

test('bearer header parsing', () => {
  assert.equal(bearerToken('Bearer abc'), 'abc');
  assert.equal(bearerToken('bearer   abc '), 'abc');
  for (const bad of [undefined, '', 'Bearer', 'Basic abc', 'Bearer a b'])
    assert.equal(bearerToken(bad), undefined);
});

test('rate limiter: bursts, then Retry-After seconds, refills with time, per client', () => {
  const rl = new RateLimiter(2, 4);
  const t = 1_000_000;
  assert.deepEqual(
    [0, 1, 2, 3].map(() => rl.take('a', t)),
    [0, 0, 0, 0],
  );
  assert.ok(rl.take('a', t) >= 1);
  assert.equal(rl.take('b', t), 0, 'another client has its own bucket');
  assert.equal(rl.take('a', t + 600), 0, 'refilled after 0.5 s');
  assert.equal(new RateLimiter(0).take('x'), 0, '0 = unlimited');
});

test('the OpenAPI document covers every route with its role', () => {
  const doc = openApiDocument() as {
    paths: Record<string, Record<string, { description: string }>>;
  };
  for (const r of ROUTES) {
    const op = doc.paths[r.path]?.[r.method.toLowerCase()];
    assert.ok(op, `${r.method} ${r.path}`);
    assert.match(op.description, new RegExp(`role ${r.role}`));
  }
});
