// The Kafka client (@platformatic/kafka) compiles about 60 JSON-schema validators (ajv) when it
// is imported, ~150 ms of its load, in every thread that loads it; a capture uses a handful.
// compileOnFirstUse(Ajv2020) makes each validator compile the first time it runs; it then
// behaves exactly as before (including its `errors`, which the client reads to word a
// UserError). Applied to the client's own copy of ajv, before the client's modules run: by
// load-client.mjs when the client is loaded from node_modules, and by bin/bundle.mjs, which
// appends a call of it to that copy's module when the client is bundled. CommonJS, so the
// bundled copy of ajv (CommonJS too) can require it.
'use strict';

function compileOnFirstUse(Ajv2020) {
  const proto = Ajv2020.prototype;
  if (proto.compileOnFirstUse) return;
  const compile = proto.compile;
  proto.compileOnFirstUse = true;
  proto.compile = function (schema, meta) {
    return compiledOnFirstUse(() => compile.call(this, schema, meta), schema);
  };
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

module.exports = { compileOnFirstUse };
