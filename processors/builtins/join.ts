import { z } from 'zod';
import { defineProcessor, keyString } from '../api/index.ts';
import type { ProcessorDefinition, Row } from '../api/index.ts';
import { getPath } from './fields.ts';

export const joinConfig = z.object({
  /** Store holding the table's rows (key: the table's row key as JSON; value: its after-row). */
  store: z.string().min(1),
  /** The table's change-event topic that fills the store. */
  table: z.string().min(1),
  /**
   * global: every instance holds the whole table (any join key works);
   * co-partitioned: the table topic is partitioned like the input by the join key (same key
   * bytes, same partition count), so each task holds only its partition of the table.
   */
  mode: z.enum(['global', 'co-partitioned']).default('global'),
  /** Join column in the stream's row (dotted path), e.g. "customer_id". */
  on: z.string().min(1),
  /** The table's key column the join column refers to, e.g. "id". */
  tableKey: z.string().min(1).default('id'),
  /** Field added to the row holding the table row, e.g. "customer". */
  as: z.string().min(1),
  /** When no table row matches: keep the event with `as: null`, drop it, or fail it. */
  missing: z.enum(['keep', 'drop', 'fail']).default('keep'),
});

/** join: stream–table enrichment of before and after rows by a foreign key. */
export function join(input: z.input<typeof joinConfig>): ProcessorDefinition {
  const cfg = joinConfig.parse(input);
  const lookupKey = (row: Row | null) => {
    if (!row) return undefined;
    const v = getPath(row, cfg.on);
    return v === undefined || v === null ? undefined : keyString({ [cfg.tableKey]: v });
  };
  return defineProcessor({
    name: 'join',
    stores: [{ name: cfg.store, fromTopic: cfg.table, global: cfg.mode === 'global' }],
    async process(event, ctx) {
      const table = ctx.store<Row>(cfg.store);
      const v = event.value;
      const afterKey = lookupKey(v.after);
      const beforeKey = lookupKey(v.before);
      const afterRow = afterKey === undefined ? undefined : await table.get(afterKey);
      const beforeRow =
        beforeKey === undefined
          ? undefined
          : beforeKey === afterKey
            ? afterRow
            : await table.get(beforeKey);
      const primary = v.after ? afterRow : beforeRow;
      if (primary === undefined) {
        if (cfg.missing === 'drop') return;
        if (cfg.missing === 'fail')
          throw new Error(
            `join: no row in "${cfg.store}" for ${cfg.on}=${String(getPath(v.after ?? v.before, cfg.on))}`,
          );
      }
      ctx.forward({
        ...event,
        value: {
          ...v,
          before: v.before ? { ...v.before, [cfg.as]: beforeRow ?? null } : null,
          after: v.after ? { ...v.after, [cfg.as]: afterRow ?? null } : null,
        },
      });
    },
  });
}
