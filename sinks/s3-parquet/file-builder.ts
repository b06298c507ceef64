/**
 * One Parquet file being built in memory: rows are buffered column by column and encoded as a
 * row group every `rowGroupRows` rows (hyparquet-writer), so at most one row group of values is
 * held as JS objects; the encoded bytes are kept until the file is finished and uploaded.
 */
import type { KeyValue, SchemaElement } from 'hyparquet';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { Compressors } from 'hyparquet-writer/src/types.js';
import { snappyCompress } from 'hysnappy';

export type Compression = 'snappy' | 'zstd';

let zstd: ((b: Uint8Array) => Uint8Array) | undefined;

/** The compressor for `codec` (zstd's wasm module is loaded on first use). */
export async function compressorsFor(codec: Compression): Promise<Compressors> {
  if (codec === 'snappy') return { SNAPPY: snappyCompress };
  if (!zstd) {
    const z = await import('@bokuweb/zstd-wasm');
    await z.init();
    zstd = (b) => z.compress(b, 3);
  }
  return { ZSTD: zstd };
}

export interface FileBuilderOptions {
  codec: Compression;
  compressors: Compressors;
  rowGroupRows: number;
}

export class ParquetFileBuilder {
  private readonly bytes = new ByteWriter(1 << 20);
  private readonly writer: ParquetWriter;
  private readonly columns: unknown[][];
  private buffered = 0;
  /** Rows in the file so far (encoded and buffered). */
  rows = 0;

  constructor(
    private readonly schema: SchemaElement[],
    private readonly options: FileBuilderOptions,
  ) {
    this.writer = new ParquetWriter({
      writer: this.bytes,
      schema: [{ name: 'root', num_children: schema.length }, ...schema],
      codec: options.codec === 'snappy' ? 'SNAPPY' : 'ZSTD',
      compressors: options.compressors,
      createdBy: 'tributary s3-parquet sink (hyparquet-writer)',
    });
    this.columns = schema.map(() => []);
  }

  /** Appends one row: one value per schema column, already converted. */
  add(values: unknown[]): void {
    for (let i = 0; i < values.length; i++) this.columns[i]!.push(values[i]);
    this.buffered++;
    this.rows++;
    if (this.buffered >= this.options.rowGroupRows) this.encodeRowGroup();
  }

  /** Encoded bytes so far (the buffered rows are not counted). */
  get encodedBytes(): number {
    return this.bytes.offset;
  }

  /** Encodes the remaining rows, writes the footer with `kv` and returns the file. */
  finish(kv: Record<string, string>): Uint8Array {
    this.encodeRowGroup();
    this.writer.kvMetadata = Object.entries(kv).map(([key, value]): KeyValue => ({ key, value }));
    void this.writer.finish();
    return this.bytes.getBytes();
  }

  private encodeRowGroup(): void {
    if (this.buffered === 0) return;
    void this.writer.write({
      columnData: this.schema.map((e, i) => ({ name: e.name, data: this.columns[i]! as never })),
      rowGroupSize: this.buffered,
    });
    for (let i = 0; i < this.columns.length; i++) this.columns[i] = [];
    this.buffered = 0;
  }
}
