#!/usr/bin/env node
// Entry point of the `tributary` CLI. The sources are TypeScript, loaded through tsx.

// `tributary capture` starts from a prebuilt bundle of its modules and their packages when one
// can be had (see bin/bundle.mjs); everything else loads the TypeScript sources through tsx.
const [command] = process.argv.slice(2);
const light = [undefined, 'help', '--help', '-h', 'version', '--version', 'validate'];
const capture = command === 'capture' && !process.argv.includes('--help');
let main = null;
if (capture) {
  // The capture's producer thread starts now and loads its modules while this thread loads
  // its own (the capture's ThreadedTransactionalProducer takes it).
  const { startProducerThreadEarly } = await import('../core/kafka/early-thread.mjs');
  startProducerThreadEarly();
  const { freshBundle } = await import('./bundle.mjs');
  const bundle = await freshBundle('topology/cli/capture-main.ts', 'capture');
  // A bundle removed meanwhile (a newer one replaced it) or unloadable: the sources instead.
  if (bundle !== null) main = await import(bundle).then((m) => m.main).catch(() => null);
}
if (main === null) {
  // tsx's loader hooks make every module load slower, dependencies included (the Kafka client
  // takes ~0.7 s through them, ~0.3 s without, ~0.15 s with its validators compiled on first
  // use: core/kafka/load-client.mjs). Commands that reach Kafka load the large dependencies
  // first, before the hooks are registered; help, version and validate do not.
  if (!light.includes(command) && !process.argv.includes('--help')) {
    const { loadKafkaClient } = await import('../core/kafka/load-client.mjs');
    await Promise.all([loadKafkaClient(), import('zod'), import('pg')]);
  }
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../topology/cli/main.ts'));
}
process.exitCode = await main(process.argv.slice(2));
