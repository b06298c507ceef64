// Builders of pgoutput messages for tests and benches (the wire format pgoutput.ts decodes).

/** Builds a pgoutput message from parts: numbers need an explicit width. */
export function msg(...parts: Array<string | Buffer | [number, 1 | 2 | 4 | 8]>): Buffer {
  return Buffer.concat(
    parts.map((p) => {
      if (typeof p === 'string') return Buffer.from(p);
      if (Buffer.isBuffer(p)) return p;
      const [v, w] = p;
      const b = Buffer.alloc(w);
      if (w === 1) b.writeUInt8(v);
      else if (w === 2) b.writeUInt16BE(v);
      else if (w === 4) b.writeInt32BE(v);
      else b.writeBigInt64BE(BigInt(v));
      return b;
    }),
  );
}

/** A NUL-terminated string. */
export const cstr = (s: string): Buffer => Buffer.concat([Buffer.from(s), Buffer.from([0])]);

/** A text column value ('t', length, bytes). */
export const text = (s: string): Buffer => msg('t', [Buffer.byteLength(s), 4], s);

/** TupleData: text values, null ('n') and 'TOAST' for an unchanged TOAST value ('u'). */
export function tuple(cells: Array<string | null>): Buffer {
  return msg(
    [cells.length, 2],
    ...cells.map((c) => (c === null ? msg('n') : c === 'TOAST' ? msg('u') : text(c))),
  );
}
