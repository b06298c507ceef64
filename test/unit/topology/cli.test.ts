import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { REPO } from '../../integration/helpers.ts';

function cli(...args: string[]) {
  return spawnSync(process.execPath, ['bin/tributary.js', ...args], {
    cwd: REPO,
    encoding: 'utf8',
  });
}

test('tributary --help lists the commands and exits 0', () => {
  const r = cli('--help');
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Usage: tributary <command>/);
  assert.match(r.stdout, /demo\s+the e-commerce demo/);
  assert.match(r.stdout, /demo-capture\s+smoke-test/);
  assert.match(r.stdout, /run\s+run a whole topology/);
});

test('an unknown command exits 2 and names the valid commands', () => {
  const r = cli('deploy-everything');
  assert.equal(r.status, 2);
  assert.match(
    r.stderr,
    /unknown command "deploy-everything"; valid commands: capture, demo, demo-capture, validate, plan, deploy, run, status, pause, resume, restart, snapshot/,
  );
});

test('a bad option is a clear error naming the option', () => {
  const r = cli('demo', '--orders', 'many');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--orders: must be a positive integer, got "many"/);
  const u = cli('demo', '--colour', 'blue');
  assert.equal(u.status, 2);
  assert.match(
    u.stderr,
    /--colour: unknown option; valid options: --customers, --orders, --timeout-ms/,
  );
  const c = cli('capture');
  assert.equal(c.status, 2);
  assert.match(c.stderr, /--config: required/);
  const m = cli('capture', '--config', '/nonexistent/source.yaml');
  assert.equal(m.status, 2);
  assert.match(m.stderr, /\/nonexistent\/source\.yaml: cannot read the config file \(ENOENT\)/);
});
