// Runs one sink service from a YAML/JSON config file:
//   node --import tsx sinks/runtime/main.ts <config.yaml|json>
// Secrets may be referenced as ${env:NAME} or ${file:/path}. SIGTERM/SIGINT stop it cleanly
// (flush, commit, leave the group). It prints "sink ready" once partitions are assigned and a
// metrics line every 5 s on stderr.
import { readConfigFile, resolveSecrets } from '../../core/config/index.ts';
import { runServiceMain } from '../../core/service/main.ts';
import { SinkRuntime } from './runtime.ts';

await runServiceMain(
  'sink',
  'node --import tsx sinks/runtime/main.ts <config.yaml|json>',
  (file) => new SinkRuntime(resolveSecrets(readConfigFile(file)) as never),
);
