import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ChangeEvent, ProcessorDefinition } from '../api/index.ts';
import { getPath } from './fields.ts';

export const routeConfig = z
  .object({
    /** Topic template: {db}, {schema}, {table}, {op}, and {field:<path>} are replaced. */
    topic: z.string().min(1).optional(),
    /** Route by a field value: the value's topic from `topics`, else `default`. */
    byField: z
      .object({
        field: z.string().min(1),
        topics: z.record(z.string(), z.string().min(1)),
        default: z.string().min(1).optional(),
      })
      .optional(),
    /** Route by table ("schema.table" -> topic). */
    byTable: z.record(z.string(), z.string().min(1)).optional(),
  })
  .refine((c) => c.topic || c.byField || c.byTable, {
    message: 'give `topic`, `byField` or `byTable`',
  });

function render(template: string, event: ChangeEvent): string {
  const s = event.value.source;
  return template.replace(
    /\{(db|schema|table|op|field:([^}]+))\}/g,
    (_m, what: string, path?: string) => {
      if (path !== undefined)
        return String(getPath({ ...event.value, key: event.key }, path) ?? '');
      if (what === 'op') return event.value.op;
      return String(s[what] ?? '');
    },
  );
}

/** route: sends each event to a topic chosen by table or field value (or a template). */
export function route(input: z.input<typeof routeConfig>): ProcessorDefinition {
  const cfg = routeConfig.parse(input);
  return defineProcessor({
    name: 'route',
    process(event, ctx) {
      const s = event.value.source;
      const table = `${String(s.schema ?? s.db)}.${String(s.table ?? '')}`;
      let topic: string | undefined;
      if (cfg.byTable) topic = cfg.byTable[table];
      if (topic === undefined && cfg.byField) {
        const v = getPath({ ...event.value, key: event.key }, cfg.byField.field);
        topic = cfg.byField.topics[String(v)] ?? cfg.byField.default;
      }
      if (topic === undefined && cfg.topic) topic = render(cfg.topic, event);
      if (topic === undefined) throw new Error(`route: no topic for table ${table}`);
      ctx.forward(event, { topic });
    },
  });
}
