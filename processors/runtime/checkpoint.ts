// Checkpoint files: how far a local store has been restored from its changelog (or a global
// store from its topic). Versioned and only ever extended; old versions stay loadable
// (test/fixtures/processors/checkpoint-v1.json).
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TributaryError } from '../../core/errors/index.ts';

export const CHECKPOINT_VERSION = 1;

export interface Checkpoint {
  version: 1;
  /** topic -> partition -> next offset to restore from (decimal string on disk). */
  offsets: Record<string, Record<string, bigint>>;
}

export function emptyCheckpoint(): Checkpoint {
  return { version: 1, offsets: {} };
}

export function readCheckpoint(file: string): Checkpoint | undefined {
  if (!existsSync(file)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new TributaryError(
      'CHECKPOINT_INVALID',
      `checkpoint ${file} is not JSON; delete it to restore from the changelog`,
      { cause: err },
    );
  }
  const r = raw as { version?: unknown; offsets?: Record<string, Record<string, string>> };
  if (r.version !== 1 || typeof r.offsets !== 'object' || r.offsets === null)
    throw new TributaryError(
      'CHECKPOINT_INVALID',
      `checkpoint ${file} has unknown version ${String(r.version)}`,
    );
  const offsets: Checkpoint['offsets'] = {};
  for (const [topic, parts] of Object.entries(r.offsets)) {
    offsets[topic] = {};
    for (const [p, o] of Object.entries(parts)) {
      if (!/^\d+$/.test(String(o)))
        throw new TributaryError(
          'CHECKPOINT_INVALID',
          `checkpoint ${file}: offset of ${topic}[${p}] is not an integer`,
        );
      offsets[topic][p] = BigInt(o);
    }
  }
  return { version: 1, offsets };
}

/** Writes atomically (temp file + rename), so a crash leaves the old or the new checkpoint. */
export function writeCheckpoint(file: string, cp: Checkpoint): void {
  mkdirSync(dirname(file), { recursive: true });
  const offsets: Record<string, Record<string, string>> = {};
  for (const [topic, parts] of Object.entries(cp.offsets)) {
    offsets[topic] = {};
    for (const [p, o] of Object.entries(parts)) offsets[topic][p] = o.toString();
  }
  const tmp = join(dirname(file), `.checkpoint-${process.pid}.tmp`);
  writeFileSync(tmp, JSON.stringify({ version: CHECKPOINT_VERSION, offsets }, null, 2));
  renameSync(tmp, file);
}

export function removeFile(file: string): void {
  rmSync(file, { force: true });
}
