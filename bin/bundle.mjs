// Prebuilt bundles of CLI entry points, so a command starts without loading each of its modules
// one by one: `tributary capture` loads ~50 TypeScript modules (through tsx's loader hooks, ~4 ms
// each) and ~540 files of its packages (the Kafka client, pg, zod: ~330 ms on a 2-core machine
// through Node's module loader, ~140 ms as part of one bundle).
//
// A bundle is built with esbuild into node_modules/.cache/tributary/<checkout>/ the first time it is
// needed and again whenever one of its source files changed: it records the SHA-1 of every
// source file of the project it was built from, exactly as read, the size and modification
// time of every file of a package and the SHA-1 of the package's package.json, and is used only
// while every one of them is still the same (~12 ms to check) and it was built by this very
// version of this file. Packages with native code stay external (loaded from node_modules as
// usual); CommonJS packages inside the bundle get a `require` made for the bundle's directory.
// Each module keeps its own `import.meta.url` (rewritten to the source file's URL), so paths
// relative to a module resolve as they do from the sources. When a bundle cannot be built or written (no esbuild, a read-only node_modules, a
// module using import.meta beyond url), the caller loads the sources as before. Plain
// JavaScript: it runs before tsx is registered.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repository = fileURLToPath(new URL('..', import.meta.url));

const sha1 = (bytes) => createHash('sha1').update(bytes).digest('hex');

/** This file's own hash: a bundle built by another version of it is not used. */
const BUILDER = sha1(readFileSync(fileURLToPath(import.meta.url)));

/** Packages with native code (or optional native parts): never bundled. */
const EXTERNAL = ['@node-rs/*', '@duckdb/*', 'rocksdb', 'pg-native', '*.node'];

/**
 * Source code appended to a package's module when it is bundled, by the module's path: the
 * Kafka client's copy of ajv compiles validators on first use (core/kafka/lazy-validators.cjs),
 * as core/kafka/load-client.mjs arranges when the client is loaded from node_modules. The file
 * that says where that copy is, is recorded in `sources` (a change of it rebuilds).
 */
async function amendments(root, sources) {
  const out = new Map();
  try {
    const finder = join(root, 'core/kafka/load-client.mjs');
    const { clientAjvPath } = await import(pathToFileURL(finder));
    const lazy = JSON.stringify(join(root, 'core/kafka/lazy-validators.cjs'));
    out.set(clientAjvPath(), `\n;require(${lazy}).compileOnFirstUse(module.exports.Ajv2020);\n`);
    sources.push([relative(root, finder), sha1(readFileSync(finder))]);
  } catch {
    // Another project (the tests' small ones), or a client without that layout.
  }
  return out;
}

/**
 * The package.json of every package a bundle holds files of, by SHA-1: a package's version is
 * in it, so an upgrade rebuilds even where its files kept their sizes and modification times
 * (node_modules restored from a cache that keeps them).
 */
function packageManifests(root, sources) {
  const dirs = new Set();
  for (const [file] of sources) {
    const m = /^(.*node_modules[\\/](?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/.exec(file);
    if (m) dirs.add(m[1]);
  }
  const out = [];
  for (const dir of dirs) {
    const file = join(dir, 'package.json');
    if (existsSync(join(root, file))) out.push([file, sha1(readFileSync(join(root, file)))]);
  }
  return out;
}

/**
 * The file URL of an up-to-date bundle of `entry` (a path from `root`, the repository by
 * default) named `name`, built now when missing or stale; null when it cannot be built.
 */
export async function freshBundle(entry, name, root = repository) {
  // One directory per checkout: checkouts sharing a node_modules never use each other's
  // bundles (their import.meta.url differ).
  const dir = join(root, 'node_modules', '.cache', 'tributary', sha1(root).slice(0, 12));
  const manifestPath = join(dir, `${name}.sources.json`);
  const fresh = freshFile(root, dir, manifestPath, entry);
  if (fresh !== null) return pathToFileURL(fresh).href;
  try {
    const { build } = await import('esbuild');
    const sources = [];
    const result = await build({
      entryPoints: [join(root, entry)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      external: EXTERNAL,
      // Bundled CommonJS modules require Node's built-in modules (and external packages)
      // through this: an ES module has no `require` of its own.
      banner: {
        js: `import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(${JSON.stringify(join(dir, 'bundle.mjs'))});`,
      },
      write: false,
      logLevel: 'silent',
      plugins: [ownImportMetaUrl(root, sources, await amendments(root, sources))],
    });
    sources.push(...packageManifests(root, sources));
    const code = result.outputFiles[0].contents;
    // Only import.meta.url is carried over: any other import.meta would be the bundle's.
    if (Buffer.from(code).includes('import.meta')) return null;
    mkdirSync(dir, { recursive: true });
    // The bundle is named after its content and never changes once written; the manifest
    // that names it is written last. Both are written under temporary names and renamed, so
    // a concurrent start reads either the old pair or the new one, never half a file.
    const file = `${name}.${sha1(code).slice(0, 16)}.mjs`;
    const tmp = `.${process.pid}.tmp`;
    writeFileSync(join(dir, file) + tmp, code);
    renameSync(join(dir, file) + tmp, join(dir, file));
    writeFileSync(
      manifestPath + tmp,
      JSON.stringify({ root, entry, builder: BUILDER, file, sources }),
    );
    renameSync(manifestPath + tmp, manifestPath);
    // Older bundles of this name go (a start that still imports one falls back to tsx).
    for (const old of readdirSync(dir))
      if (old.startsWith(`${name}.`) && old.endsWith('.mjs') && old !== file)
        rmSync(join(dir, old), { force: true });
    return pathToFileURL(join(dir, file)).href;
  } catch {
    return null;
  }
}

/**
 * The bundle the manifest names, when it exists, the manifest is for `entry` in `root` and
 * every source still has its recorded hash; null otherwise.
 */
function freshFile(root, dir, manifestPath, entry) {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    const fresh =
      manifest.root === root &&
      manifest.entry === entry &&
      manifest.builder === BUILDER &&
      manifest.sources.length > 0 &&
      manifest.sources.every((source) => same(root, source));
    return fresh && existsSync(join(dir, manifest.file)) ? join(dir, manifest.file) : null;
  } catch {
    return null;
  }
}

/** A source as recorded: [file, sha1] (the project's) or [file, size, mtimeMs] (a package's). */
function recorded(root, path, bytes) {
  const file = relative(root, path);
  if (!file.split(sep).includes('node_modules')) return [file, sha1(bytes)];
  const { size, mtimeMs } = statSync(path);
  return [file, size, mtimeMs];
}

function same(root, [file, ...was]) {
  const path = join(root, file);
  if (was.length === 1) return sha1(readFileSync(path)) === was[0];
  const { size, mtimeMs } = statSync(path);
  return size === was[0] && mtimeMs === was[1];
}

/** An ES module's mark: import.meta, or a line that starts with import or export. */
const ES_MODULE = /\bimport\.meta\b|^\s*(?:import|export)\b/m;

const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' };

/**
 * Loads every source file itself: records it (see recorded()), replaces `import.meta.url` with
 * the file's own URL (a bundle is one module, whose import.meta.url would be the bundle's),
 * gives a package's CommonJS module that uses `__dirname` or `__filename` its own (declared in
 * front of its code: an ES module has neither, and one that declares them itself is left as
 * it is), and appends what `amended` has for it.
 */
function ownImportMetaUrl(root, sources, amended = new Map()) {
  return {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /.*/ }, (args) => {
        const bytes = readFileSync(args.path);
        sources.push(recorded(root, args.path, bytes));
        const url = JSON.stringify(pathToFileURL(args.path).href);
        const text = bytes.toString('utf8');
        let contents = text.replace(/\bimport\.meta\.url\b/g, url);
        if (
          args.path.includes(`${sep}node_modules${sep}`) &&
          /\b__(?:dirname|filename)\b/.test(text) &&
          !ES_MODULE.test(text)
        )
          contents =
            `var __dirname = ${JSON.stringify(dirname(args.path))}, ` +
            `__filename = ${JSON.stringify(args.path)};\n${contents}`;
        contents += amended.get(args.path) ?? '';
        return { contents, loader: LOADERS[extname(args.path)] ?? 'js' };
      });
    },
  };
}
