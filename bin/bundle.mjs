// Prebuilt bundles of CLI entry points, so a command can start without loading each of its
// TypeScript modules through tsx's loader hooks (~4 ms per module: `tributary capture` loads
// ~45 of them, ~180 ms, against ~25 ms for one bundle of them).
//
// A bundle is built with esbuild into node_modules/.cache/tributary/ the first time it is
// needed and again whenever one of its source files changed: it records the SHA-1 of every
// file it was built from, exactly as read, and is used only while every one of them still
// hashes the same (~2 ms to check). Packages stay external (loaded from node_modules as
// usual). Each module keeps its own `import.meta.url` (rewritten to the source file's URL),
// so paths relative to a module resolve as they do from the sources. When a bundle cannot be
// built or written (no esbuild, a read-only node_modules), the caller loads the sources
// through tsx as before. Plain JavaScript: it runs before tsx is registered.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repository = fileURLToPath(new URL('..', import.meta.url));

const sha1 = (bytes) => createHash('sha1').update(bytes).digest('hex');

/**
 * The file URL of an up-to-date bundle of `entry` (a path from `root`, the repository by
 * default) named `name`, built now when missing or stale; null when it cannot be built.
 */
export async function freshBundle(entry, name, root = repository) {
  const dir = join(root, 'node_modules', '.cache', 'tributary');
  const out = join(dir, `${name}.mjs`);
  const manifestPath = join(dir, `${name}.sources.json`);
  if (isFresh(root, manifestPath, entry)) return pathToFileURL(out).href;
  try {
    const { build } = await import('esbuild');
    const sources = [];
    const result = await build({
      entryPoints: [join(root, entry)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      logLevel: 'silent',
      plugins: [ownImportMetaUrl(root, sources)],
    });
    const code = result.outputFiles[0].contents;
    // Only import.meta.url is carried over: any other import.meta would be the bundle's.
    if (Buffer.from(code).includes('import.meta')) return null;
    mkdirSync(dir, { recursive: true });
    // Written under temporary names and renamed, so a concurrent start never reads half a
    // file; the manifest goes last, so it never vouches for an older bundle.
    const tmp = `.${process.pid}.tmp`;
    writeFileSync(out + tmp, code);
    renameSync(out + tmp, out);
    writeFileSync(manifestPath + tmp, JSON.stringify({ root, entry, sources }));
    renameSync(manifestPath + tmp, manifestPath);
    return pathToFileURL(out).href;
  } catch {
    return null;
  }
}

/**
 * True when the manifest exists for `entry`, was built in `root` (checkouts that share a
 * node_modules do not share bundles: their import.meta.url differ) and every source still has
 * its recorded hash.
 */
function isFresh(root, manifestPath, entry) {
  try {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    return (
      manifest.root === root &&
      manifest.entry === entry &&
      manifest.sources.length > 0 &&
      manifest.sources.every(([file, hash]) => sha1(readFileSync(join(root, file))) === hash)
    );
  } catch {
    return false;
  }
}

const LOADERS = { '.ts': 'ts', '.mts': 'ts', '.js': 'js', '.mjs': 'js', '.json': 'json' };

/**
 * Loads every source file itself: records its hash, and replaces `import.meta.url` with the
 * file's own URL (a bundle is one module, whose import.meta.url would be the bundle's).
 */
function ownImportMetaUrl(root, sources) {
  return {
    name: 'own-import-meta-url',
    setup(b) {
      b.onLoad({ filter: /.*/ }, (args) => {
        const bytes = readFileSync(args.path);
        sources.push([relative(root, args.path), sha1(bytes)]);
        const url = JSON.stringify(pathToFileURL(args.path).href);
        const contents = bytes.toString('utf8').replace(/\bimport\.meta\.url\b/g, url);
        return { contents, loader: LOADERS[extname(args.path)] ?? 'js' };
      });
    },
  };
}
