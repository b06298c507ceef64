import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('tributary validate: the example is valid; a bad file lists every problem and exits 2', () => {
  const ok = cli('validate', 'examples/ecommerce/topology.yaml');
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(
    ok.stdout,
    /examples\/ecommerce\/topology\.yaml: valid — topology ecommerce: 1 source, 2 processors, 3 sinks, 6 tasks/,
  );
  const dir = mkdtempSync(join(tmpdir(), 'tributary-validate-'));
  try {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'version: 1\nname: x\nsinks:\n  - name: s\n    topics: [nowhere]\n    sink: { type: redis, url: redis://h, colour: red }\n',
    );
    const r = cli('validate', bad);
    assert.equal(r.status, 2);
    // The redis key list grows with the sink's options: match its start.
    assert.match(
      r.stderr,
      new RegExp(
        `^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: 1 problem:\n  sinks\\[0\\]\\.sink\\.colour: unknown key; valid keys: type, url, key, `,
      ),
    );
    writeFileSync(
      bad,
      'version: 1\nname: x\ntopics: [{ name: in }]\nsinks:\n  - name: s\n    topics: [in]\n    sink: { type: redis, url: redis://h }\n',
    );
    const missing = cli('validate', bad, '--strict');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--strict: unknown option; valid options: \(none\)/);
    const two = cli('validate');
    assert.equal(two.status, 2);
    assert.match(
      two.stderr,
      /<topology.yaml>: required; usage: tributary validate <topology.yaml>/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
