// Loads the Kafka client (@platformatic/kafka) from node_modules with its option validators
// compiled on first use (lazy-validators.cjs). Plain JavaScript, so it runs before tsx's loader
// hooks are registered (see bin/tributary.js). A capture started from its bundle does not come
// here: the bundle holds the client, amended the same way (bin/bundle.mjs).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The path of the Kafka client's own copy of ajv's 2020 module (the one its modules import). */
export function clientAjvPath() {
  const clientDir = require.resolve('@platformatic/kafka').replace(/dist[/\\]index\.js$/, '');
  return createRequire(clientDir + 'package.json').resolve('ajv/dist/2020.js');
}

export async function loadKafkaClient() {
  try {
    const { Ajv2020 } = require(clientAjvPath());
    require('./lazy-validators.cjs').compileOnFirstUse(Ajv2020);
  } catch {
    // A client without that layout loads as it is, only slower.
  }
  return import('@platformatic/kafka');
}
