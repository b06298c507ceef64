// Runs one sink service from a YAML/JSON config file:
//   node --import tsx sinks/runtime/main.ts <config.yaml|json>
// Secrets may be referenced as ${env:NAME} or ${file:/path}. SIGTERM/SIGINT stop it cleanly
// (flush, commit, leave the group). It prints "sink ready" once partitions are assigned and a
// metrics line every 5 s on stderr.
import { readConfigFile, resolveSecrets } from '../../core/config/index.ts';
import { SinkRuntime } from './runtime.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node --import tsx sinks/runtime/main.ts <config.yaml|json>\n');
  process.exit(2);
}

let runtime: SinkRuntime;
try {
  runtime = new SinkRuntime(resolveSecrets(readConfigFile(file)) as never);
  await runtime.start();
} catch (err) {
  process.stderr.write(`sink failed to start: ${(err as Error).message}\n`);
  process.exit(1);
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void runtime.stop());
void runtime.ready.then(() => process.stderr.write('sink ready\n'));
const timer = setInterval(
  () => process.stderr.write(`metrics ${JSON.stringify(runtime.metrics())}\n`),
  5000,
);
try {
  await runtime.done;
  clearInterval(timer);
  process.exit(0);
} catch (err) {
  clearInterval(timer);
  process.stderr.write(`sink failed: ${(err as Error).message}\n`);
  process.exit(1);
}
