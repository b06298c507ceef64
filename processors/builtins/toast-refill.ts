import { z } from 'zod';
import { defineProcessor, keyString } from '../api/index.ts';
import type { ProcessorDefinition, Row } from '../api/index.ts';

export const toastRefillConfig = z.object({
  /** Local store keeping the last full row per key. */
  store: z.string().min(1).default('toast-refill'),
  /** Debezium's unavailable.value.placeholder. */
  placeholder: z.string().default('__debezium_unavailable_value'),
  /** Only these columns (default: any column holding the placeholder). */
  fields: z.array(z.string()).optional(),
});

/**
 * toast-refill: PostgreSQL does not log unchanged TOASTed values, so an update carries a
 * placeholder for them; this replaces the placeholder with the last value seen for the key.
 * A value never seen stays the placeholder (nothing is invented).
 */
export function toastRefill(input: z.input<typeof toastRefillConfig> = {}): ProcessorDefinition {
  const cfg = toastRefillConfig.parse(input);
  const candidates = (row: Row) =>
    (cfg.fields ?? Object.keys(row)).filter((f) => row[f] === cfg.placeholder);
  return defineProcessor({
    name: 'toast-refill',
    stores: [cfg.store],
    async process(event, ctx) {
      const store = ctx.store<Row>(cfg.store);
      const key = keyString(event.key);
      const v = event.value;
      if (v.op === 'd' || v.op === 't') {
        if (v.op === 'd') store.delete(key);
        ctx.forward(event);
        return;
      }
      let after = v.after!;
      const missing = candidates(after);
      if (missing.length > 0) {
        const last = await store.get(key);
        if (last) {
          after = { ...after };
          for (const f of missing) if (f in last && last[f] !== cfg.placeholder) after[f] = last[f];
        }
      }
      store.put(key, after);
      ctx.forward(after === v.after ? event : { ...event, value: { ...v, after } });
    },
  });
}
