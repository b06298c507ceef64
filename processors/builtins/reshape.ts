// rename, drop, keep: reshape the rows of before and after.
import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ChangeEvent, ProcessorDefinition, Row } from '../api/index.ts';
import { withRowsCopied } from './fields.ts';

export const renameConfig = z.object({
  /** old column name -> new column name. */
  fields: z.record(z.string(), z.string().min(1)),
  /** Also rename key columns (changes the Kafka key). */
  applyToKey: z.boolean().default(false),
});
export const fieldListConfig = z.object({ fields: z.array(z.string().min(1)).min(1) });

function mapRows(event: ChangeEvent, fn: (row: Row) => Row, key = false): ChangeEvent {
  const out = withRowsCopied(event);
  if (out.value.before) out.value.before = fn(out.value.before);
  if (out.value.after) out.value.after = fn(out.value.after);
  if (key) out.key = fn({ ...out.key });
  return out;
}

export function rename(input: z.input<typeof renameConfig>): ProcessorDefinition {
  const cfg = renameConfig.parse(input);
  const renameRow = (row: Row): Row => {
    const out: Row = {};
    for (const [k, v] of Object.entries(row)) out[cfg.fields[k] ?? k] = v;
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
      ctx.forward(
        mapRows(event, (row) =>
          Object.fromEntries(Object.entries(row).filter(([k]) => !dropped.has(k))),
        ),
      );
    },
  });
}

export function keep(input: z.input<typeof fieldListConfig>): ProcessorDefinition {
  const cfg = fieldListConfig.parse(input);
  const kept = new Set(cfg.fields);
  return defineProcessor({
    name: 'keep',
    process(event, ctx) {
      ctx.forward(
        mapRows(event, (row) =>
          Object.fromEntries(Object.entries(row).filter(([k]) => kept.has(k))),
        ),
      );
    },
  });
}
