// A capture that fails or is stopped partway through starting — after its replication
// connection opened and the slot went active — must release the slot: a leftover connection
// keeps pg_replication_slots.active true, and the next capture of the source (e.g. the
// surviving worker after a failover) fails with "replication slot is in use" for as long as it
// stays open. Real PostgreSQL and Kafka; the failure is injected by wrapping the real connector.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CaptureEngine } from '../../../../capture/engine/engine.ts';
import type { CaptureConnector } from '../../../../capture/engine/engine.ts';
import { parsePostgresSource } from '../../../../capture/postgres/config.ts';
import { PostgresConnector } from '../../../../capture/postgres/connector.ts';
import { captureEngineOptions } from '../../../../capture/postgres/index.ts';
import { captureTestContext, sleep, sourceConfig, uniqueSource } from './harness.ts';

const ctx = captureTestContext();

async function slotActive(slot: string): Promise<boolean | null> {
  const res = await ctx.db.query<{ active: boolean }>(
    'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return res.rows[0]?.active ?? null;
}

async function waitSlot(slot: string, active: boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await slotActive(slot)) === active) return true;
    await sleep(100);
  }
  return false;
}

/**
 * A capture whose connector is wrapped: `afterStreamOpen` runs once the real replication
 * stream is open and the slot is active, before the stream is handed to the engine.
 */
async function setup(
  prefix: string,
  afterStreamOpen: (engine: CaptureEngine) => Promise<void>,
  overrides: Partial<CaptureConnector> = {},
): Promise<{ engine: CaptureEngine; slot: string; log: string[] }> {
  const source = uniqueSource(prefix);
  ctx.sources.push(source);
  const table = `public.${source}_t`;
  await ctx.db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
  await ctx.db.query(`INSERT INTO ${table} VALUES (1, 1)`);
  const config = parsePostgresSource(sourceConfig(source, [table]));
  const log: string[] = [];
  const options = captureEngineOptions(config, { log: (m) => log.push(m) });
  const real = new PostgresConnector(config, options.log);
  const slot = `tributary_${source}`;
  let engine: CaptureEngine | null = null;
  const connector: CaptureConnector = {
    name: real.name,
    prepare: () => real.prepare(),
    topics: () => real.topics(),
    facts: () => real.facts(),
    checkResume: (stored) => real.checkResume(stored),
    resetAfterLoss: () => real.resetAfterLoss(),
    openStream: async (sink, from) => {
      const stream = await real.openStream(sink, from);
      assert.ok(await waitSlot(slot, true, 10_000), 'the slot never became active');
      await afterStreamOpen(engine!);
      return stream;
    },
    snapshotReader: () => real.snapshotReader(),
    health: () => real.health(),
    close: () => real.close(),
    ...overrides,
  };
  engine = new CaptureEngine(connector, options);
  return { engine, slot, log };
}

test('stop() while the replication stream opens releases the slot', async () => {
  const { engine, slot, log } = await setup('pgstopstart', (e) => e.stop());
  await engine.run(); // a graceful stop: resolves
  assert.ok(
    await waitSlot(slot, false, 10_000),
    `slot ${slot} still active 10 s after the stop:\n${log.join('\n')}`,
  );
});

test('a failure after the replication stream opened releases the slot', async () => {
  const { engine, slot, log } = await setup('pgfailstart', async () => undefined, {
    snapshotReader: () => {
      throw new Error('injected: snapshot reader unavailable');
    },
  });
  await assert.rejects(engine.run(), /injected: snapshot reader unavailable/);
  assert.ok(
    await waitSlot(slot, false, 10_000),
    `slot ${slot} still active 10 s after the failure:\n${log.join('\n')}`,
  );
});
