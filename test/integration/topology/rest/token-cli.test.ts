// `tributary token create|list|revoke` against real Kafka, and `tributary worker` refusing bad
// options before it touches anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { defaultKafkaConfig } from '../../../../core/kafka/index.ts';
import { ControlStore } from '../../../../topology/control/index.ts';
import { ensureServices, REPO, uniqueName } from '../../helpers.ts';

const run = promisify(execFile);
const cli = (...args: string[]) =>
  run(process.execPath, ['bin/tributary.js', ...args], { cwd: REPO }).then(
    (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );

test('token create prints a working token once; list shows it; revoke disables it', async () => {
  ensureServices('kafka');
  const topic = uniqueName('token-cli');
  const created = await cli(
    'token',
    'create',
    '--role',
    'operator',
    '--label',
    'ci',
    '--configs-topic',
    topic,
  );
  assert.equal(created.code, 0, created.stderr);
  const token = created.stdout.trim();
  assert.match(token, /^trb_[0-9a-f]{12}\.[A-Za-z0-9_-]{43}$/);
  assert.match(created.stderr, /shown once/);
  const id = token.slice(4, 16);

  const store = new ControlStore({
    kafka: defaultKafkaConfig('token-cli-test'),
    configsTopic: topic,
  });
  store.start();
  try {
    await store.sync(30_000);
    assert.equal(store.verifyToken(token), 'operator');
    const list = await cli('token', 'list', '--configs-topic', topic);
    assert.match(list.stdout, new RegExp(`${id}\\s+operator\\s+active`));
    assert.ok(!list.stdout.includes(token.split('.')[1]!), 'list never shows the secret');
    const revoked = await cli('token', 'revoke', '--id', id, '--configs-topic', topic);
    assert.equal(revoked.code, 0, revoked.stderr);
    await store.sync();
    assert.equal(store.verifyToken(token), undefined);
  } finally {
    await store.close();
  }
  const bad = await cli('token', 'create', '--role', 'root', '--configs-topic', topic);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--role: required: viewer, operator or admin/);
});

test('worker refuses bad options with exit code 2 and names the option', async () => {
  const auth = await cli('worker', '--auth', 'maybe');
  assert.equal(auth.code, 2);
  assert.match(auth.stderr, /--auth: must be "token" \(default\) or "none"/);
  const unknown = await cli('worker', '--rest-prot', '8083');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--rest-prot: unknown option/);
});
