// `tributary worker`: runs the tasks Kafka assigns to this process and (with --rest-port) the
// REST API. SIGTERM/SIGINT stop every task cleanly and leave the group, so the tasks move to
// the other workers at once instead of after the session timeout.
import { readConfigFile, validateConfig } from '../../core/config/index.ts';
import { ConfigError } from '../../core/errors/index.ts';
import { defaultKafkaConfig } from '../../core/kafka/index.ts';
import { parseOptions } from '../cli/args.ts';
import { ControlStore } from '../control/index.ts';
import { RestServer } from '../rest/server.ts';
import { kafkaSpecSchema } from '../spec/index.ts';
import { kafkaConfigFor } from '../supervisor/index.ts';
import { Worker } from './worker.ts';

export const WORKER_USAGE =
  'tributary worker [--rest-port N] [--rest-host 127.0.0.1] [--brokers host:port,...] [--kafka-config kafka.yaml] [--group tributary-workers] [--worker-id ID] [--task-slots 32] [--session-timeout-ms 10000] [--auth token|none] [--rate-limit 50] [--configs-topic T] [--status-topic T] [--coordination-topic T]';

export async function runWorker(args: string[]): Promise<number> {
  const o = parseOptions(args, {
    'rest-port': 'int',
    'rest-host': 'string',
    brokers: 'string',
    'kafka-config': 'string',
    group: 'string',
    'worker-id': 'string',
    'task-slots': 'int',
    'session-timeout-ms': 'int',
    auth: 'string',
    'rate-limit': 'string',
    'configs-topic': 'string',
    'status-topic': 'string',
    'coordination-topic': 'string',
  });
  const auth = (o.auth as string | undefined) ?? 'token';
  if (auth !== 'token' && auth !== 'none')
    throw new ConfigError('--auth', `must be "token" (default) or "none", got "${auth}"`);
  const rateLimit = Number(o['rate-limit'] ?? 50);
  if (!Number.isInteger(rateLimit) || rateLimit < 0)
    throw new ConfigError('--rate-limit', 'must be an integer ≥ 0 (0 = unlimited)');
  // --kafka-config: a file holding a topology's `kafka` section (brokers, tls, sasl; secrets as
  // ${env:..}/${file:..} references), for the worker's own clients and its connector tasks.
  const kafkaSpec = o['kafka-config']
    ? validateConfig(kafkaSpecSchema, readConfigFile(String(o['kafka-config'])), 'kafka')
    : undefined;
  const kafka = kafkaSpec
    ? kafkaConfigFor(kafkaSpec, 'worker')
    : defaultKafkaConfig('tributary-worker');
  if (o.brokers)
    kafka.brokers = String(o.brokers)
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean);
  if (kafkaSpec) kafkaSpec.brokers = kafka.brokers;
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const store = new ControlStore({
    kafka,
    ...(o['configs-topic'] ? { configsTopic: String(o['configs-topic']) } : {}),
    ...(o['status-topic'] ? { statusTopic: String(o['status-topic']) } : {}),
    ...(o['task-slots'] ? { taskSlots: o['task-slots'] as number } : {}),
    log,
  });
  const restHost = String(o['rest-host'] ?? '127.0.0.1');
  const restPort = o['rest-port'] as number | undefined;
  const worker = new Worker({
    kafka,
    ...(kafkaSpec ? { kafkaSpec } : {}),
    store,
    ...(o.group ? { groupId: String(o.group) } : {}),
    ...(o['worker-id'] ? { workerId: String(o['worker-id']) } : {}),
    ...(o['coordination-topic'] ? { coordinationTopic: String(o['coordination-topic']) } : {}),
    ...(o['session-timeout-ms'] ? { sessionTimeoutMs: o['session-timeout-ms'] as number } : {}),
    ...(restPort ? { restUrl: `http://${restHost}:${restPort}` } : {}),
    log,
  });
  let rest: RestServer | undefined;
  if (restPort) {
    rest = new RestServer({
      store,
      cluster: { brokers: kafka.brokers },
      auth: auth === 'token',
      rateLimit,
      workerId: worker.workerId,
      log,
    });
    await rest.listen(restPort, restHost);
  }
  await worker.start();
  process.stderr.write(`worker ready ${worker.workerId}\n`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log(`${signal}: stopping tasks cleanly and leaving the group`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await rest?.close();
  await worker.stop();
  await store.close();
  return 0;
}
