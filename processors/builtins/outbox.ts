import { z } from 'zod';
import { parseJson } from '../../core/events/index.ts';
import { defineProcessor } from '../api/index.ts';
import type { ProcessorDefinition } from '../api/index.ts';

/** Debezium Outbox Event Router options, with Debezium's names and defaults. */
export const outboxConfig = z.object({
  'table.field.event.id': z.string().default('id'),
  'table.field.event.key': z.string().default('aggregateid'),
  'table.field.event.type': z.string().default('type'),
  'table.field.event.payload': z.string().default('payload'),
  'route.by.field': z.string().default('aggregatetype'),
  'route.topic.replacement': z.string().default('outbox.event.${routedByValue}'),
  /** Parse a JSON text payload into JSON (Debezium's table.expand.json.payload). */
  'table.expand.json.payload': z.boolean().default(false),
  /** What to do with update/delete rows of the outbox table: warn-and-skip (Debezium's default) or error. */
  'debezium.op.invalid.behavior': z.enum(['warn', 'error']).default('warn'),
});

/**
 * outbox: Debezium Outbox Event Router. Each inserted outbox row becomes one event on
 * `outbox.event.<aggregatetype>`, keyed by the aggregate id, valued by the payload, with the
 * event id and type in headers `id` and `type`.
 */
export function outbox(input: z.input<typeof outboxConfig> = {}): ProcessorDefinition {
  const cfg = outboxConfig.parse(input);
  return defineProcessor({
    name: 'outbox',
    process(event, ctx) {
      const v = event.value;
      if (v.op !== 'c' && v.op !== 'r') {
        if (cfg['debezium.op.invalid.behavior'] === 'error')
          throw new Error(`outbox: unexpected op "${v.op}"; outbox rows are only inserted`);
        return;
      }
      const row = v.after!;
      const routed = row[cfg['route.by.field']];
      if (routed === undefined || routed === null)
        throw new Error(`outbox: column "${cfg['route.by.field']}" is missing or null`);
      let payload: unknown = row[cfg['table.field.event.payload']] ?? null;
      if (cfg['table.expand.json.payload'] && typeof payload === 'string')
        payload = parseJson(payload);
      const id = row[cfg['table.field.event.id']];
      const type = row[cfg['table.field.event.type']];
      const headers: Record<string, string> = {};
      if (id !== undefined && id !== null) headers.id = String(id);
      if (type !== undefined && type !== null) headers.type = String(type);
      const key = row[cfg['table.field.event.key']];
      ctx.forward({
        kind: 'plain',
        topic: cfg['route.topic.replacement'].replace('${routedByValue}', String(routed)),
        key: key === undefined ? null : key,
        value: payload,
        headers,
      });
    },
  });
}
