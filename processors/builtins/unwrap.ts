import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ProcessorDefinition, Row } from '../api/index.ts';

export const unwrapConfig = z.object({
  /**
   * Metadata added as `__<name>` fields (Debezium's add.fields): op, table, schema, db, lsn,
   * source_ts_ms, ts_ms, version.
   */
  addFields: z
    .array(z.enum(['op', 'table', 'schema', 'db', 'lsn', 'source_ts_ms', 'ts_ms', 'version']))
    .default(['op', 'table', 'lsn', 'source_ts_ms']),
  /**
   * Deletes (Debezium's delete.tombstone.handling.mode): drop them, emit a tombstone, or rewrite
   * them as the before-row with `__deleted: "true"` (rows of other events get "false").
   */
  deleteHandling: z.enum(['drop', 'tombstone', 'rewrite']).default('tombstone'),
});

/** unwrap: Debezium ExtractNewRecordState — flattens an event to its row (a plain record). */
export function unwrap(input: z.input<typeof unwrapConfig> = {}): ProcessorDefinition {
  const cfg = unwrapConfig.parse(input);
  return defineProcessor({
    name: 'unwrap',
    process(event, ctx) {
      const v = event.value;
      if (v.op === 't') return; // truncates have no row
      let row: Row;
      if (v.op === 'd') {
        if (cfg.deleteHandling === 'drop') return;
        if (cfg.deleteHandling === 'tombstone') {
          ctx.forward({ kind: 'plain', key: event.key, value: null });
          return;
        }
        row = { ...(v.before ?? event.key) };
      } else row = { ...v.after! };
      for (const f of cfg.addFields) {
        switch (f) {
          case 'op':
            row.__op = v.op;
            break;
          case 'source_ts_ms':
            row.__source_ts_ms = v.source.ts_ms;
            break;
          case 'ts_ms':
            row.__ts_ms = v.ts_ms;
            break;
          case 'version':
            row.__version = event.version.toString();
            break;
          default:
            row[`__${f}`] = v.source[f] ?? null;
        }
      }
      if (cfg.deleteHandling === 'rewrite') row.__deleted = v.op === 'd' ? 'true' : 'false';
      ctx.forward({ kind: 'plain', key: event.key, value: row });
    },
  });
}
