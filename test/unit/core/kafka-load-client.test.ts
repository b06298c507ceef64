// The Kafka client is loaded with its option validators compiled on first use
// (core/kafka/load-client.mjs): they must accept and refuse exactly as the client's own do,
// with the same error text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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

test('the producer thread bundle holds the client with the same lazy validators', async () => {
  // @ts-expect-error: plain JavaScript without type declarations
  const { freshBundle } = (await import('../../../bin/bundle.mjs')) as {
    freshBundle: (entry: string, name: string) => Promise<string | null>;
  };
  const { clientAjvPath } = await import('../../../core/kafka/load-client.mjs');
  const url = await freshBundle('core/kafka/producer-thread.ts', 'producer-thread');
  assert.ok(url, 'built');
  const code = readFileSync(new URL(url), 'utf8');
  // The client is bundled (not imported from node_modules), and its copy of ajv is amended.
  assert.doesNotMatch(code, /from ["']@platformatic\/kafka["']/);
  assert.match(code, /compileOnFirstUse\(module\.exports\.Ajv2020\)/);
  assert.ok(
    code.includes(
      `node_modules/${clientAjvPath().split('node_modules/').slice(1).join('node_modules/')}`,
    ),
  );
});
