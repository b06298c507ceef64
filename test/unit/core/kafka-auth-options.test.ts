// TLS/SASL settings: the topology `kafka` section maps onto KafkaConfig, and the client options
// built from it carry TLS and SASL without exposing the password when printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { baseOptions, connectionOptions } from '../../../core/kafka/client.ts';
import { kafkaSpecSchema } from '../../../topology/spec/index.ts';
import { kafkaConfigFor } from '../../../topology/supervisor/index.ts';

test('plaintext config: no tls or sasl options at all', () => {
  assert.deepEqual(connectionOptions({ brokers: ['b:9092'], clientId: 'c' }), {});
});

test('tls and sasl reach the client options; the password is not printable', () => {
  const options = baseOptions(
    {
      brokers: ['b:9094'],
      clientId: 'c',
      tls: { ca: 'CA-PEM', servername: 'kafka.example', rejectUnauthorized: false },
      sasl: { mechanism: 'SCRAM-SHA-256', username: 'u', password: 'very-secret-pw' },
    },
    'producer',
  );
  assert.deepEqual(options.tls, { ca: 'CA-PEM', rejectUnauthorized: false });
  assert.equal(options.tlsServerName, 'kafka.example');
  assert.equal(options.sasl?.mechanism, 'SCRAM-SHA-256');
  assert.equal(options.sasl?.username, 'u');
  assert.equal(options.sasl?.password(), 'very-secret-pw');
  assert.ok(!JSON.stringify(options).includes('very-secret-pw'));
  assert.ok(!inspect(options, { depth: 10 }).includes('very-secret-pw'));
});

test('kafkaConfigFor maps the topology section: lowercase mechanism, env reference, tls off', () => {
  process.env.TRIBUTARY_UNIT_KAFKA_PW = 'pw-from-env';
  const config = kafkaConfigFor(
    kafkaSpecSchema.parse({
      brokers: ['k:9096'],
      clientId: 'shop',
      tls: { enabled: false, ca: 'ignored' },
      sasl: { mechanism: 'plain', username: 'u', password: '${env:TRIBUTARY_UNIT_KAFKA_PW}' },
    }),
    'sink-x',
  );
  assert.deepEqual(config, {
    brokers: ['k:9096'],
    clientId: 'shop-sink-x',
    sasl: { mechanism: 'PLAIN', username: 'u', password: 'pw-from-env' },
  });
  const tls = kafkaConfigFor(kafkaSpecSchema.parse({ tls: {} }), 'cli');
  assert.deepEqual(tls.tls, { rejectUnauthorized: true });
});
