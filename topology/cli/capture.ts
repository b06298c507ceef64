// `tributary capture --config <file>`: runs one PostgreSQL source until SIGTERM/SIGINT, which
// finish the open Kafka transaction and exit cleanly.
import { ConfigError } from '../../core/errors/index.ts';
import { createPostgresCapture, loadPostgresSource } from '../../capture/postgres/index.ts';
import { parseOptions } from './args.ts';

export async function runCapture(args: string[]): Promise<number> {
  const opts = parseOptions(args, { config: 'string', 'progress-interval-ms': 'int' });
  if (!opts.config)
    throw new ConfigError(
      '--config',
      'required: the path of a PostgreSQL source config (YAML or JSON)',
    );
  const config = loadPostgresSource(String(opts.config));
  const engine = createPostgresCapture(config, {
    progressIntervalMs: (opts['progress-interval-ms'] as number | undefined) ?? 2_000,
  });
  const stop = (signal: string) => {
    console.log(
      `[capture ${config.name}] ${signal}: finishing the open Kafka transaction and stopping`,
    );
    void engine.stop();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await engine.run();
  return 0;
}
