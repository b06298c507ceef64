// The built-in processors, by the name used in processor configs ({ builtin: "mask", config }).
import type { z } from 'zod';
import type { ProcessorDefinition } from '../api/index.ts';
import { filter, filterConfig } from './filter.ts';
import { join, joinConfig } from './join.ts';
import { mask, maskConfig } from './mask.ts';
import { normalize, normalizeConfig } from './normalize.ts';
import { outbox, outboxConfig } from './outbox.ts';
import { drop, fieldListConfig, keep, rename, renameConfig } from './reshape.ts';
import { route, routeConfig } from './route.ts';
import { toastRefill, toastRefillConfig } from './toast-refill.ts';
import { unwrap, unwrapConfig } from './unwrap.ts';

export interface BuiltinSpec {
  description: string;
  schema: z.ZodType;
  create(config: never): ProcessorDefinition;
}

export const builtins: Record<string, BuiltinSpec> = {
  mask: {
    description: 'hash, redact, keep-last-N or null out PII',
    schema: maskConfig,
    create: mask,
  },
  rename: { description: 'rename columns', schema: renameConfig, create: rename },
  drop: { description: 'remove columns', schema: fieldListConfig, create: drop },
  keep: { description: 'keep only the listed columns', schema: fieldListConfig, create: keep },
  filter: {
    description: 'keep events by op, table or predicate',
    schema: filterConfig,
    create: filter,
  },
  route: {
    description: 'choose the output topic by table or field value',
    schema: routeConfig,
    create: route,
  },
  normalize: {
    description: 'coerce types, timestamps to UTC, field-name case',
    schema: normalizeConfig,
    create: normalize,
  },
  unwrap: {
    description: 'flatten to the row (ExtractNewRecordState)',
    schema: unwrapConfig,
    create: unwrap,
  },
  outbox: { description: 'Outbox Event Router', schema: outboxConfig, create: outbox },
  join: { description: 'stream–table enrichment', schema: joinConfig, create: join },
  'toast-refill': {
    description: 'refill unchanged-TOAST placeholders',
    schema: toastRefillConfig,
    create: toastRefill,
  },
};

export { drop, filter, join, keep, mask, normalize, outbox, rename, route, toastRefill, unwrap };
