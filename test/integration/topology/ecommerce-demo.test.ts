// The README's first command runs `tributary demo`: keep it working. The demo checks every store
// with its own reads and prints `demo OK` only when all of them match the tables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO, ensureServices } from '../helpers.ts';

test('tributary demo (the e-commerce example) ends with demo OK', { timeout: 240_000 }, () => {
  ensureServices('kafka', 'postgres', 'redis', 'clickhouse');
  const r = spawnSync(process.execPath, ['bin/tributary.js', 'demo'], {
    cwd: REPO,
    encoding: 'utf8',
    timeout: 230_000,
  });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out.slice(-4000));
  assert.match(out, /\[run\] all 6 tasks running/);
  assert.match(
    out,
    /checked 21 customers and 65 orders in Redis and ClickHouse, [1-9]\d* Parquet files/,
  );
  assert.match(out, /dropped replication slot tributary_shop/);
  assert.match(out, /\ndemo OK\n/);
});
