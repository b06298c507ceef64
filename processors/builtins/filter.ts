import { z } from 'zod';
import { defineProcessor, OPS_LIST } from './common.ts';
import type { ChangeEvent, ProcessorDefinition } from '../api/index.ts';
import { getPath, tableOf } from './fields.ts';

/** A declarative predicate over the event (paths like "after.status", "source.table", "op"). */
const condition = z
  .object({
    field: z.string().min(1),
    equals: z.unknown().optional(),
    notEquals: z.unknown().optional(),
    in: z.array(z.unknown()).optional(),
    exists: z.boolean().optional(),
    matches: z.string().optional(),
  })
  .strict();

export const filterConfig = z.object({
  /** Keep only these ops (c, u, d, r, t). */
  ops: z.array(z.enum(OPS_LIST)).optional(),
  /** Keep only these tables ("schema.table"). */
  tables: z.array(z.string()).optional(),
  /** Keep only events matching every condition. */
  where: z.array(condition).optional(),
  /** From code: keep only events for which this returns true. */
  predicate: z.custom<(event: ChangeEvent) => boolean>((v) => typeof v === 'function').optional(),
});

export function matches(event: ChangeEvent, c: z.infer<typeof condition>): boolean {
  const v = getPath({ ...event.value, key: event.key }, c.field);
  if (c.exists !== undefined && (v !== undefined && v !== null) !== c.exists) return false;
  if ('equals' in c && v !== c.equals) return false;
  if ('notEquals' in c && v === c.notEquals) return false;
  if (c.in && !c.in.includes(v)) return false;
  if (c.matches !== undefined && !new RegExp(c.matches).test(String(v))) return false;
  return true;
}

export function filter(input: z.input<typeof filterConfig>): ProcessorDefinition {
  const cfg = filterConfig.parse(input);
  return defineProcessor({
    name: 'filter',
    process(event, ctx) {
      if (cfg.ops && !cfg.ops.includes(event.value.op)) return;
      if (cfg.tables && !cfg.tables.includes(tableOf(event))) return;
      if (cfg.where && !cfg.where.every((c) => matches(event, c))) return;
      if (cfg.predicate && !cfg.predicate(event)) return;
      ctx.forward(event);
    },
  });
}
