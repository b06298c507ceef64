// bin/bundle.mjs: `tributary capture` starts from a prebuilt bundle of its modules. The
// bundle must behave like the sources (each module keeps its own import.meta.url), be rebuilt
// as soon as any source it was built from changes, and never be used stale. A small project
// in a temporary directory stands for the repository.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
// @ts-expect-error: plain JavaScript without type declarations
import { freshBundle } from '../../../bin/bundle.mjs';

const bundle = freshBundle as (entry: string, name: string, root: string) => Promise<string | null>;

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'tributary-bundle-'));
  mkdirSync(join(root, 'cli'));
  mkdirSync(join(root, 'core'));
  writeFileSync(
    join(root, 'cli', 'entry.ts'),
    "import { where, answer } from '../core/lib.ts';\n" +
      'export const main = (): string => `${answer()} ${where} ${import.meta.url}`;\n',
  );
  writeFileSync(
    join(root, 'core', 'lib.ts'),
    "export const where: string = new URL('./data.txt', import.meta.url).pathname;\n" +
      'export const answer = (): number => 41;\n',
  );
  return root;
}

/** The checkout's cache directory (bin/bundle.mjs: one per checkout). */
function cacheDir(root: string): string {
  const id = createHash('sha1').update(root).digest('hex').slice(0, 12);
  return join(root, 'node_modules', '.cache', 'tributary', id);
}

/** Imports a bundle afresh (a query string, since ES modules are cached by URL). */
async function run(url: string, n: number): Promise<string> {
  const { main } = (await import(`${url}?run=${n}`)) as { main: () => string };
  return main();
}

test('a bundle keeps every module its own import.meta.url and is reused while fresh', async () => {
  const root = project();
  try {
    const url = await bundle('cli/entry.ts', 'entry', root);
    assert.ok(url, 'built');
    assert.equal(
      await run(url, 1),
      `41 ${join(root, 'core', 'data.txt')} ${pathToFileURL(join(root, 'cli', 'entry.ts')).href}`,
    );
    const manifest = join(cacheDir(root), 'entry.sources.json');
    const sources = JSON.parse(readFileSync(manifest, 'utf8')) as { sources: string[][] };
    assert.deepEqual(sources.sources.map(([file]) => file).sort(), [
      join('cli', 'entry.ts'),
      join('core', 'lib.ts'),
    ]);
    // Fresh: the same bundle, not rebuilt.
    const out = fileURLToPath(url);
    assert.match(out, /entry\.[0-9a-f]{16}\.mjs$/, 'named after its content');
    assert.equal(await bundle('cli/entry.ts', 'entry', root), url);
    // A manifest of another checkout (the same files elsewhere) is not trusted: rebuilt.
    const manifestText = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, manifestText.replace(JSON.stringify(root), '"/elsewhere"'));
    rmSync(out);
    assert.equal(await bundle('cli/entry.ts', 'entry', root), url, 'the same content again');
    assert.match(await run(url, 11), /^41 /);
    // A bundle built by another version of the bundler is not used: rebuilt.
    const current = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, current.replace(/"builder":"[0-9a-f]+"/, '"builder":"0000"'));
    assert.equal(await bundle('cli/entry.ts', 'entry', root), url, 'rebuilt, same content');
    assert.match(readFileSync(manifest, 'utf8'), /"builder":"[0-9a-f]{40}"/);
    // The bundle gone with its manifest left: built again.
    rmSync(out);
    assert.equal(await bundle('cli/entry.ts', 'entry', root), url);
    assert.match(await run(url, 12), /^41 /);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a changed, added or removed source rebuilds the bundle before it is used', async () => {
  const root = project();
  try {
    const url = (await bundle('cli/entry.ts', 'entry', root))!;
    assert.match(await run(url, 2), /^41 /);
    // A change in a module the entry imports.
    writeFileSync(
      join(root, 'core', 'lib.ts'),
      "export const where = 'here';\nexport const answer = (): number => 42;\n",
    );
    const rebuilt = (await bundle('cli/entry.ts', 'entry', root))!;
    assert.notEqual(rebuilt, url);
    assert.match(await run(rebuilt, 3), /^42 here /);
    // Only the newest bundle is kept.
    assert.deepEqual(
      readdirSync(cacheDir(root)).filter((f) => f.endsWith('.mjs')),
      [fileURLToPath(rebuilt).split('/').at(-1)],
    );
    // A new module imported by a changed one, then a change in only that new module.
    writeFileSync(join(root, 'core', 'extra.ts'), 'export const extra = 1;\n');
    writeFileSync(
      join(root, 'core', 'lib.ts'),
      "import { extra } from './extra.ts';\nexport const where = 'there';\n" +
        'export const answer = (): number => 42 + extra;\n',
    );
    assert.match(await run((await bundle('cli/entry.ts', 'entry', root))!, 4), /^43 there /);
    writeFileSync(join(root, 'core', 'extra.ts'), 'export const extra = 5;\n');
    assert.match(await run((await bundle('cli/entry.ts', 'entry', root))!, 5), /^47 there /);
    // A source gone: not fresh; the build fails, so no bundle (the CLI then loads the sources).
    rmSync(join(root, 'core', 'extra.ts'));
    assert.equal(await bundle('cli/entry.ts', 'entry', root), null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a module that uses import.meta beyond url gets no bundle', async () => {
  const root = project();
  try {
    writeFileSync(
      join(root, 'core', 'lib.ts'),
      'export const where = String(import.meta.dirname);\nexport const answer = () => 1;\n',
    );
    assert.equal(await bundle('cli/entry.ts', 'entry', root), null);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('packages are bundled too: CommonJS ones keep require, __dirname and __filename, and a changed package file rebuilds', async () => {
  const root = project();
  try {
    const pkg = join(root, 'node_modules', 'counter');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{"name":"counter","main":"index.js"}');
    // A CommonJS package that requires one of Node's modules and reads a file beside itself.
    writeFileSync(join(pkg, 'data.txt'), '7');
    writeFileSync(
      join(pkg, 'index.js'),
      "const { readFileSync } = require('node:fs');\n" +
        "const { join } = require('node:path');\n" +
        "exports.count = () => Number(readFileSync(join(__dirname, 'data.txt'), 'utf8'));\n" +
        'exports.file = __filename;\n',
    );
    // An ES module package that declares its own __dirname (the usual pattern): left as it is.
    const esm = join(root, 'node_modules', 'esm-dir');
    mkdirSync(esm, { recursive: true });
    writeFileSync(
      join(esm, 'package.json'),
      '{"name":"esm-dir","type":"module","main":"index.js"}',
    );
    writeFileSync(
      join(esm, 'index.js'),
      "import { dirname } from 'node:path';\nimport { fileURLToPath } from 'node:url';\n" +
        'const __dirname = dirname(fileURLToPath(import.meta.url));\n' +
        'export const where = __dirname;\n',
    );
    writeFileSync(
      join(root, 'cli', 'entry.ts'),
      "import { count, file } from 'counter';\nimport { where } from 'esm-dir';\n" +
        'export const main = (): string => `${count()} ${file} ${where}`;\n',
    );
    const url = (await bundle('cli/entry.ts', 'entry', root))!;
    assert.ok(url, 'built');
    assert.equal(await run(url, 20), `7 ${join(pkg, 'index.js')} ${esm}`);
    // The package is inside the bundle, not loaded from node_modules.
    assert.match(readFileSync(fileURLToPath(url), 'utf8'), /exports\.count = /);
    const manifest = JSON.parse(
      readFileSync(join(cacheDir(root), 'entry.sources.json'), 'utf8'),
    ) as { sources: unknown[][] };
    const recorded = manifest.sources.find(
      ([file]) => file === join('node_modules', 'counter', 'index.js'),
    );
    assert.equal(recorded?.length, 3, 'a package file is recorded by size and modification time');
    assert.equal(await bundle('cli/entry.ts', 'entry', root), url, 'fresh while unchanged');
    // A new version in the package's package.json rebuilds, whatever its files' times.
    const pkgJson = join('node_modules', 'counter', 'package.json');
    const hashOf = () =>
      (
        JSON.parse(readFileSync(join(cacheDir(root), 'entry.sources.json'), 'utf8')) as {
          sources: unknown[][];
        }
      ).sources.find(([file]) => file === pkgJson)?.[1];
    const before = hashOf();
    assert.match(String(before), /^[0-9a-f]{40}$/, "the package's package.json is hashed");
    writeFileSync(join(root, pkgJson), '{"name":"counter","main":"index.js","version":"2"}');
    assert.equal(await bundle('cli/entry.ts', 'entry', root), url, 'rebuilt, same content');
    assert.notEqual(hashOf(), before, 'rebuilt: the new package.json recorded');
    writeFileSync(join(pkg, 'index.js'), 'exports.count = () => 8;\nexports.file = __filename;\n');
    const rebuilt = (await bundle('cli/entry.ts', 'entry', root))!;
    assert.notEqual(rebuilt, url);
    assert.equal(await run(rebuilt, 21), `8 ${join(pkg, 'index.js')} ${esm}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
