// The infra scripts' contract: unknown services are rejected by name, status lists every
// service, and `up` on a running stack is a no-op.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO, ensureServices } from '../helpers.ts';

const SERVICES = [
  'kafka',
  'postgres',
  'mariadb',
  'redis',
  'clickhouse',
  's3',
  'opensearch',
  'elasticsearch',
];

function run(script: string, ...args: string[]) {
  return spawnSync('bash', [`infra/${script}`, ...args], { cwd: REPO, encoding: 'utf8' });
}

test('infra/up with an unknown service exits non-zero and names the valid services', () => {
  const r = run('up', 'nosuchservice');
  assert.notEqual(r.status, 0);
  assert.match(
    r.stderr,
    /unknown service 'nosuchservice'; valid services: kafka postgres mariadb redis clickhouse s3 opensearch elasticsearch/,
  );
  const d = run('down', 'nosuchservice');
  assert.notEqual(d.status, 0);
});

test('infra/status shows every service; infra/up twice is a no-op the second time', () => {
  ensureServices(...SERVICES);
  const status = run('status');
  assert.equal(status.status, 0, status.stdout + status.stderr);
  for (const s of SERVICES) assert.match(status.stdout, new RegExp(`^${s}\\s+up\\s`, 'm'));
  const again = run('up');
  assert.equal(again.status, 0, again.stderr);
  for (const s of SERVICES) assert.match(again.stdout, new RegExp(`${s}: already running`));
  assert.doesNotMatch(again.stdout, /starting/);
});
