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
const args = ['--import', 'tsx', '--test', '--test-reporter=spec'];
if (tier === 'integration') args.push('--test-concurrency=1');
const r = spawnSync(process.execPath, [...args, ...files], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
