import { z } from 'zod';
import { defineProcessor, keyString } from '../api/index.ts';
import type {
  ChangeEvent,
  KeyValueStore,
  ProcessorContext,
  ProcessorDefinition,
  Row,
  RowKey,
} from '../api/index.ts';
import { getPath } from './fields.ts';

export const joinConfig = z.object({
  /** Store holding the table's rows (key: the table's row key as JSON; value: its after-row). */
  store: z.string().min(1),
  /** The table's change-event topic that fills the store. */
  table: z.string().min(1),
  /**
   * global: every instance holds the whole table (any join key works);
   * co-partitioned: the table topic is partitioned like the input by the join key (same key
   * bytes, same partition count), so each task holds only its partition of the table;
   * repartition: the stream is keyed differently (orders by order id, joined by customer_id):
   * the runtime re-keys it by the join key through the internal topic
   * `<app>-<repartitionName>-repartition`, co-partitioned with the table topic.
   */
  mode: z.enum(['global', 'co-partitioned', 'repartition']).default('global'),
  /** Name of the repartition topic (mode repartition): `<app>-<name>-repartition`; default: the store name. */
  repartitionName: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, ".", "_" and "-" only')
    .optional(),
  /** Join column in the stream's row (dotted path), e.g. "customer_id". */
  on: z.string().min(1),
  /** The table's key column the join column refers to, e.g. "id". */
  tableKey: z.string().min(1).default('id'),
  /** Field added to the row holding the table row, e.g. "customer". */
  as: z.string().min(1),
  /** When no table row matches: keep the event with `as: null`, drop it, or fail it. */
  missing: z.enum(['keep', 'drop', 'fail']).default('keep'),
});

const MISS = Symbol('miss');

/** A store that can answer from memory without a promise (the runtime's and the test kit's). */
interface ReadNow {
  getNow<M>(key: string, miss: M): Row | undefined | M;
}

/** The row, or a promise of it when the store has to read its backend. */
function readRow(
  table: KeyValueStore<Row>,
  key: string,
): Row | undefined | Promise<Row | undefined> {
  if (typeof (table as Partial<ReadNow>).getNow === 'function') {
    const row = (table as unknown as ReadNow).getNow(key, MISS);
    if (row !== MISS) return row;
  }
  return table.get(key);
}

/** join: stream–table enrichment of before and after rows by a foreign key. */
export function join(input: z.input<typeof joinConfig>): ProcessorDefinition {
  const cfg = joinConfig.parse(input);
  const joinRowKey = (row: Row | null): RowKey | undefined => {
    if (!row) return undefined;
    const v = getPath(row, cfg.on);
    return v === undefined || v === null ? undefined : { [cfg.tableKey]: v };
  };
  // keyString({[tableKey]: v}) without the object for the common number and string values.
  const keyPrefix = `{${JSON.stringify(cfg.tableKey)}:`;
  const lookupKey = (row: Row | null) => {
    if (!row) return undefined;
    const v = getPath(row, cfg.on);
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'number' && Number.isFinite(v)) return `${keyPrefix}${v}}`;
    if (typeof v === 'string') return `${keyPrefix}${JSON.stringify(v)}}`;
    return keyString({ [cfg.tableKey]: v });
  };
  const repartitioned = cfg.mode === 'repartition';
  const as = cfg.as;
  // A copy plus one assignment: cheaper than a spread with a computed key in one literal.
  const withField = (row: Row, value: Row | null): Row => {
    const out = { ...row };
    out[as] = value;
    return out;
  };
  const emit = (
    event: ChangeEvent,
    ctx: ProcessorContext,
    afterRow: Row | undefined,
    beforeRow: Row | undefined,
  ): void => {
    const v = event.value;
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
        before: v.before ? withField(v.before, beforeRow ?? null) : null,
        after: v.after ? withField(v.after, afterRow ?? null) : null,
      },
    });
  };
  return defineProcessor({
    name: 'join',
    stores: [{ name: cfg.store, fromTopic: cfg.table, global: cfg.mode === 'global' }],
    ...(repartitioned
      ? {
          repartition: {
            name: cfg.repartitionName ?? cfg.store,
            // The row the event is about decides its partition: after, or before for a delete.
            key: (event: ChangeEvent) => joinRowKey(event.value.after ?? event.value.before),
            coPartitionWith: cfg.table,
          },
        }
      : {}),
    process(event, ctx) {
      const table = ctx.store<Row>(cfg.store);
      const v = event.value;
      const afterKey = lookupKey(v.after);
      const beforeKey = lookupKey(v.before);
      const afterRow = afterKey === undefined ? undefined : readRow(table, afterKey);
      // Re-keyed by the after-row's join key, this task holds only that key's table partition:
      // a before-row that referenced another key (the join column changed) is not looked up.
      const beforeRow =
        beforeKey === undefined || (repartitioned && v.after && beforeKey !== afterKey)
          ? undefined
          : beforeKey === afterKey
            ? afterRow
            : readRow(table, beforeKey);
      // Rows held in memory (a global store's read cache, staged writes) are joined without a
      // promise; a lookup that has to wait for the backend makes this call asynchronous.
      if (afterRow instanceof Promise || beforeRow instanceof Promise)
        return Promise.all([afterRow, beforeRow]).then(([a, b]) => emit(event, ctx, a, b));
      emit(event, ctx, afterRow, beforeRow);
    },
  });
}
