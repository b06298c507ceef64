// Prebuilt bundles of CLI entry points, so a command can start without loading each of its
// TypeScript modules through tsx's loader hooks (~4 ms per module: `tributary capture` loads
// ~45 of them, ~180 ms, against ~25 ms for one bundle of them).
//
// A bundle is built with esbuild into node_modules/.cache/tributary/<checkout>/ the first time it is
// needed and again whenever one of its source files changed: it records the SHA-1 of every
// file it was built from, exactly as read, and is used only while every one of them still
// hashes the same (~2 ms to check). Packages stay external (loaded from node_modules as
// usual). Each module keeps its own `import.meta.url` (rewritten to the source file's URL),
// so paths relative to a module resolve as they do from the sources. When a bundle cannot be
// built or written (no esbuild, a read-only node_modules), the caller loads the sources
// through tsx as before. Plain JavaScript: it runs before tsx is registered.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { extname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repository = fileURLToPath(new URL('..', import.meta.url));

const sha1 = (bytes) => createHash('sha1').update(bytes).digest('hex');

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
      packages: 'external',
      write: false,
      logLevel: 'silent',
      plugins: [ownImportMetaUrl(root, sources)],
    });
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
    writeFileSync(manifestPath + tmp, JSON.stringify({ root, entry, file, sources }));
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
      manifest.sources.length > 0 &&
      manifest.sources.every(([file, hash]) => sha1(readFileSync(join(root, file))) === hash);
    return fresh && existsSync(join(dir, manifest.file)) ? join(dir, manifest.file) : null;
  } catch {
    return null;
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
