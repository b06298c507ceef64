// ControlStore against real Kafka: two stores (two "workers") over the same topics see each
// other's writes; create-only and If-Match writes conflict correctly even when they race.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultKafkaConfig } from '../../../../core/kafka/index.ts';
import { ControlConflictError, ControlStore } from '../../../../topology/control/index.ts';
import { ensureServices, uniqueName } from '../../helpers.ts';

let a: ControlStore;
let b: ControlStore;

before(async () => {
  ensureServices('kafka');
  const topics = {
    configsTopic: uniqueName('control-configs'),
    statusTopic: uniqueName('control-status'),
    taskSlots: 4,
  };
  a = new ControlStore({ kafka: defaultKafkaConfig('store-a'), ...topics });
  b = new ControlStore({ kafka: defaultKafkaConfig('store-b'), ...topics });
  a.start();
  b.start();
  await a.sync(30_000);
  await b.sync(30_000);
});

after(async () => {
  await a.close();
  await b.close();
});

test('a config written through one store is read through the other, with version and slot', async () => {
  const put = await a.putConfig('connector', 'one', { x: 1 }, { expect: 'absent' });
  assert.equal(put.created, true);
  assert.equal(put.record.version, 1);
  await b.sync();
  const seen = b.getConfig('connector', 'one');
  assert.deepEqual(seen?.config, { x: 1 });
  assert.deepEqual(seen?.slots, { '0': 0 });
  const same = await b.putConfig('connector', 'one', { x: 1 });
  assert.equal(same.created, false);
  assert.equal(same.record.version, 1, 'an unchanged config is not a new version');
  await assert.rejects(
    b.putConfig('connector', 'one', { x: 2 }, { expect: 'absent' }),
    (e) => e instanceof ControlConflictError && e.reason === 'exists',
  );
});

test('racing If-Match updates from two stores: exactly one wins, the other gets a version conflict', async () => {
  await a.putConfig('connector', 'race', { n: 0 }, { expect: 'absent' });
  await b.sync();
  const results = await Promise.allSettled([
    a.putConfig('connector', 'race', { n: 'a' }, { expect: 1 }),
    b.putConfig('connector', 'race', { n: 'b' }, { expect: 1 }),
  ]);
  const ok = results.filter((r) => r.status === 'fulfilled');
  const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
  assert.equal(ok.length, 1, JSON.stringify(results));
  assert.ok(failed[0] instanceof ControlConflictError && failed[0].reason === 'version');
  await a.sync();
  await b.sync();
  assert.equal(a.getConfig('connector', 'race')?.version, 2);
  assert.deepEqual(a.getConfig('connector', 'race'), b.getConfig('connector', 'race'));
});

test('target state, restart requests and deletion; slots are reused and bounded', async () => {
  await a.setTargetState('connector', 'one', 'PAUSED');
  await b.sync();
  assert.equal(b.targetState('connector', 'one'), 'PAUSED');
  const r1 = await b.requestRestart('connector', 'one', { onlyFailed: true });
  const r2 = await a.requestRestart('connector', 'one');
  assert.equal(r2.requestId, r1.requestId + 1);
  await a.deleteConfig('connector', 'one');
  await b.sync();
  assert.equal(b.getConfig('connector', 'one'), undefined);
  await assert.rejects(b.setTargetState('connector', 'one', 'RUNNING'), /not found/);
  // 4 slots: "race" holds one, so three more fit, the next is refused.
  for (const n of ['s1', 's2', 's3']) await a.putConfig('connector', n, {}, { expect: 'absent' });
  const slots = a.listConfigs().map((c) => c.slots['0']);
  assert.deepEqual([...slots].sort(), [0, 1, 2, 3]);
  await assert.rejects(a.putConfig('connector', 's4', {}), /no free task slot/);
  const freed = a.getConfig('connector', 's3')!.slots['0'];
  await a.deleteConfig('connector', 's3');
  const again = await b.putConfig('connector', 'one', {}, { expect: 'absent' });
  assert.equal(again.record.slots['0'], freed, 'a freed slot is reused');
  assert.equal(again.record.version > 1, true, 'versions continue after a delete');
  assert.equal(b.targetState('connector', 'one'), 'RUNNING');
});

test('tokens: stored hashed, verified by any store, revocable', async () => {
  const { id, token } = await a.createToken('operator', 'test');
  await b.sync();
  assert.equal(b.verifyToken(token), 'operator');
  assert.equal(b.verifyToken(token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A')), undefined);
  assert.equal(b.verifyToken('garbage'), undefined);
  const stored = b.listTokens().find((t) => t.id === id)!;
  assert.ok(!JSON.stringify(stored).includes(token.split('.')[1]!), 'secret not stored');
  await b.revokeToken(id);
  await a.sync();
  assert.equal(a.verifyToken(token), undefined);
});

test('an unreachable Kafka makes sync() fail with a retryable error instead of hanging', async () => {
  const dead = new ControlStore({
    kafka: { brokers: ['127.0.0.1:1'], clientId: 'dead' },
    configsTopic: uniqueName('dead'),
  });
  dead.start();
  const t0 = Date.now();
  await assert.rejects(dead.sync(1_500), (e: Error & { retryable?: boolean }) => {
    return /control topics are not readable/.test(e.message) && e.retryable === true;
  });
  assert.ok(Date.now() - t0 < 5_000);
  await dead.close();
});
