// Runs one processor service from a JSON config file:
//   node --import tsx processors/runtime/main.ts <config.json>
// SIGTERM/SIGINT stop it cleanly (commit, close tasks, leave the group). It prints
// "processor ready" once its first tasks run and a metrics line every 5 s on stderr.
import { readFileSync } from 'node:fs';
import { runServiceMain } from '../../core/service/main.ts';
import { ProcessorRuntime } from './runtime.ts';

await runServiceMain(
  'processor',
  'node --import tsx processors/runtime/main.ts <config.json>',
  (file) => new ProcessorRuntime(JSON.parse(readFileSync(file, 'utf8'))),
);
