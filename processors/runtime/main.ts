// Runs one processor service from a JSON config file:
//   node --import tsx processors/runtime/main.ts <config.json>
// SIGTERM/SIGINT stop it cleanly (commit, close tasks, leave the group). It prints
// "processor ready" once its first tasks run and a metrics line every 5 s on stderr.
import { readFileSync } from 'node:fs';
import { ProcessorRuntime } from './runtime.ts';

const file = process.argv[2];
if (!file) {
  process.stderr.write('usage: node --import tsx processors/runtime/main.ts <config.json>\n');
  process.exit(2);
}

let runtime: ProcessorRuntime;
try {
  runtime = new ProcessorRuntime(JSON.parse(readFileSync(file, 'utf8')));
  await runtime.start();
} catch (err) {
  process.stderr.write(`processor failed to start: ${(err as Error).message}\n`);
  process.exit(1);
}
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => void runtime.stop());
void runtime.ready.then(() => process.stderr.write('processor ready\n'));
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
  process.stderr.write(`processor failed: ${(err as Error).message}\n`);
  process.exit(1);
}
