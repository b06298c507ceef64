/**
 * Snappy for the sink's pages: hysnappy's wasm compressor, compiled and instantiated once, reset
 * to its initial memory after every page.
 *
 * hysnappy's snappyCompress() decodes its base64 module and compiles it on every call (most of
 * its cost on the sink's pages). Its snappyCompressor() keeps one instance, but that instance's
 * output depends on what it compressed before: a file rewritten after a crash came out two bytes
 * longer than the same rows written by an uninterrupted sink (one column chunk compressed
 * differently), which breaks the sink's guarantee that a restart rewrites the same bytes. Here
 * one instance is kept and its memory is put back to its state as instantiated after every
 * call: exactly snappyCompress()'s bytes (test/unit/sinks/s3-parquet-snappy.test.ts) without
 * the decoding, compiling and memory growth per page.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { snappyCompress } from 'hysnappy';
import type { Compressor } from './column.ts';

interface SnappyExports {
  memory: WebAssembly.Memory;
  compress: (input: number, length: number, output: number) => number;
}

// hysnappy's memory layout: its C code uses the first 68 KB; the output follows the input.
const INPUT_START = 68_000;
const PAGE = 64 * 1024;

/** The compiled module from hysnappy's source, or undefined if its layout is not recognized. */
function compiledModule(): WebAssembly.Module | undefined {
  try {
    const file = createRequire(import.meta.url).resolve('hysnappy/js/compress.js');
    const m = /const wasm64 = '([A-Za-z0-9+/=]+)'/.exec(readFileSync(file, 'utf8'));
    return m ? new WebAssembly.Module(Buffer.from(m[1]!, 'base64')) : undefined;
  } catch {
    return undefined;
  }
}

/** A snappy compressor whose output depends on its input only. */
export function deterministicSnappy(): Compressor {
  const module = compiledModule();
  if (!module) return snappyCompress;
  const { memory, compress } = new WebAssembly.Instance(module).exports as unknown as SnappyExports;
  // The instance's memory as instantiated: restored after every call, so each call starts from
  // the state of a fresh instance (growing the memory and instantiating per call cost as much as
  // snappyCompress itself).
  const initial = new Uint8Array(memory.buffer).slice();
  return (input) => {
    const outputStart = INPUT_START + input.byteLength + 1000;
    const total = outputStart + input.byteLength + Math.floor(input.byteLength / 6) + 32;
    if (memory.buffer.byteLength < total)
      memory.grow(Math.ceil(total / PAGE) - memory.buffer.byteLength / PAGE);
    const bytes = new Uint8Array(memory.buffer);
    bytes.set(input, INPUT_START);
    const size = compress(INPUT_START, input.byteLength, outputStart);
    const out = size < 0 ? undefined : bytes.slice(outputStart, outputStart + size);
    bytes.set(initial, 0);
    if (total > initial.length) bytes.fill(0, initial.length, total);
    if (!out) throw new Error(`snappy: compressing a page failed (${size})`);
    return out;
  };
}
