// The Kafka client is loaded with its option validators compiled on first use
// (core/kafka/load-client.mjs): they must accept and refuse exactly as the client's own do,
// with the same error text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

test('validators compile on first use and still refuse bad options with the same message', async () => {
  // Loaded first: nothing else in this file imports the client.
  const { loadKafkaClient } = await import('../../../core/kafka/load-client.mjs');
  const kafka = await loadKafkaClient();
  const clientRequire = createRequire(
    createRequire(import.meta.url).resolve('@platformatic/kafka'),
  );
  const { Ajv2020 } = clientRequire('ajv/dist/2020.js') as {
    Ajv2020: { prototype: { compileOnFirstUse?: boolean } };
  };
  assert.equal(Ajv2020.prototype.compileOnFirstUse, true, 'the lazy compile is installed');

  // The client validates options in strict mode (Tributary does not use it): bad ones are
  // refused with the texts the eagerly compiled validators give (taken from a plain load).
  const refused: Array<[Record<string, unknown>, string]> = [
    [{ clientId: 123 }, '/options/clientId must be string.'],
    [
      { retries: -1 },
      '/options/retries must be >= 0, /options/retries must be boolean, /options/retries must match exactly one schema in oneOf.',
    ],
    [{ timeout: -5 }, '/options/timeout must be >= 0.'],
    [{ clientId: 456 }, '/options/clientId must be string.'], // the compiled validator, reused
  ];
  const base = { clientId: 'x', bootstrapBrokers: ['127.0.0.1:9'], strict: true };
  for (const [bad, message] of refused)
    assert.throws(() => new kafka.Producer({ ...base, ...bad } as never), { message });
  const producer = new kafka.Producer({ ...base, retries: 0 });
  await producer.close();
});
