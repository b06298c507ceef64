// rename, drop, keep: reshape the rows of before and after.
import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ChangeEvent, ProcessorDefinition, Row } from '../api/index.ts';

export const renameConfig = z.object({
  /** old column name -> new column name. */
  fields: z.record(z.string(), z.string().min(1)),
  /** Also rename key columns (changes the Kafka key). */
  applyToKey: z.boolean().default(false),
});
export const fieldListConfig = z.object({ fields: z.array(z.string().min(1)).min(1) });

/** `fn` builds new rows (it never mutates its input), so the rows need no copy first. */
function mapRows(event: ChangeEvent, fn: (row: Row) => Row, key = false): ChangeEvent {
  const v = event.value;
  return {
    ...event,
    key: key ? fn(event.key) : event.key,
    value: {
      ...v,
      before: v.before ? fn(v.before) : null,
      after: v.after ? fn(v.after) : null,
    },
  };
}

function filterRow(row: Row, keepKey: (k: string) => boolean): Row {
  const out: Row = {};
  for (const k in row) if (keepKey(k)) out[k] = row[k];
  return out;
}

export function rename(input: z.input<typeof renameConfig>): ProcessorDefinition {
  const cfg = renameConfig.parse(input);
  const renames = new Map(Object.entries(cfg.fields));
  const renameRow = (row: Row): Row => {
    const out: Row = {};
    for (const k in row) out[renames.get(k) ?? k] = row[k];
    return out;
  };
  return defineProcessor({
    name: 'rename',
    process(event, ctx) {
      ctx.forward(mapRows(event, renameRow, cfg.applyToKey));
    },
  });
}

export function drop(input: z.input<typeof fieldListConfig>): ProcessorDefinition {
  const cfg = fieldListConfig.parse(input);
  const dropped = new Set(cfg.fields);
  return defineProcessor({
    name: 'drop',
    process(event, ctx) {
      ctx.forward(mapRows(event, (row) => filterRow(row, (k) => !dropped.has(k))));
    },
  });
}

export function keep(input: z.input<typeof fieldListConfig>): ProcessorDefinition {
  const cfg = fieldListConfig.parse(input);
  const kept = new Set(cfg.fields);
  return defineProcessor({
    name: 'keep',
    process(event, ctx) {
      ctx.forward(mapRows(event, (row) => filterRow(row, (k) => kept.has(k))));
    },
  });
}
