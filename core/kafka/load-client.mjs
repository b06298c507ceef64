// Loads the Kafka client (@platformatic/kafka) with its option validators compiled on first
// use instead of at load. The client compiles about 60 JSON-schema validators (ajv) when it is
// imported, ~150 ms of a ~300 ms load, in every thread that loads it; a capture uses a handful.
// Each validator is compiled the first time it runs and then behaves exactly as before
// (including its `errors`, which the client reads to word a UserError). Plain JavaScript, so
// it runs before tsx's loader hooks are registered (see bin/tributary.js).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export async function loadKafkaClient() {
  try {
    // The client's own copy of ajv (the one its modules import).
    const clientDir = require.resolve('@platformatic/kafka').replace(/dist[/\\]index\.js$/, '');
    const { Ajv2020 } = createRequire(clientDir + 'package.json')('ajv/dist/2020.js');
    const proto = Ajv2020.prototype;
    if (!proto.compileOnFirstUse) {
      const compile = proto.compile;
      proto.compileOnFirstUse = true;
      proto.compile = function (schema, meta) {
        return compiledOnFirstUse(() => compile.call(this, schema, meta), schema);
      };
    }
  } catch {
    // A client without that layout loads as it is, only slower.
  }
  return import('@platformatic/kafka');
}

/** A validator that compiles itself (`compileNow`) when it first runs. */
function compiledOnFirstUse(compileNow, schema) {
  let compiled;
  const validate = (data) => {
    compiled ??= compileNow();
    const valid = compiled(data);
    validate.errors = compiled.errors;
    return valid;
  };
  validate.errors = null;
  validate.schema = schema;
  return validate;
}
