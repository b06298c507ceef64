// Runs one test tier with Node's built-in test runner: node test/run.mjs <unit|integration> [filter]
// (Node 20's --test does not expand globs or find .ts files itself, so this collects them.)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const [tier, filter = ''] = process.argv.slice(2);
if (tier !== 'unit' && tier !== 'integration') {
  console.error('usage: node test/run.mjs <unit|integration> [path filter]');
  process.exit(2);
}

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return collect(p);
    return name.endsWith('.test.ts') ? [p] : [];
  });
}

const files = collect(join(root, 'test', tier))
  .map((f) => relative(root, f))
  .filter((f) => f.includes(filter))
  .sort();
if (files.length === 0) {
  console.error(`no ${tier} test files match "${filter}"`);
  process.exit(1);
}
// Integration tests share real services: run files one at a time to keep load predictable.
// A hung test must fail the run, not stall CI: each test gets at most 10 minutes and the whole
// tier is killed after 50 minutes. (Not --test-force-exit: on Node 20 it sometimes ends a file
// before all of its suites ran — 207 instead of 215 unit tests, reported as a pass.)
const args = ['--import', 'tsx', '--test', '--test-reporter=spec'];
args.push(`--test-timeout=${tier === 'integration' ? 600_000 : 60_000}`);
if (tier === 'integration') args.push('--test-concurrency=1');
const r = spawnSync(process.execPath, [...args, ...files], {
  cwd: root,
  stdio: 'inherit',
  timeout: 50 * 60_000,
  killSignal: 'SIGKILL',
});
if (r.error) console.error(`test run stopped: ${r.error.message}`);
process.exit(r.status ?? 1);
