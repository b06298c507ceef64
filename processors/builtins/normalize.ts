import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ProcessorDefinition, Row } from '../api/index.ts';
import { withRowsCopied } from './fields.ts';

export const normalizeConfig = z.object({
  /** column -> target type. Values that cannot be converted make the record fail (error policy). */
  coerce: z.record(z.string(), z.enum(['string', 'number', 'integer', 'boolean'])).optional(),
  timestamps: z
    .object({
      fields: z.array(z.string().min(1)).min(1),
      /**
       * How the source encodes them: epoch-ms, epoch-us (Debezium MicroTimestamp), epoch-days
       * (Debezium Date), iso (any Date.parse-able text), or auto (numbers as ms, text parsed).
       */
      from: z.enum(['auto', 'epoch-ms', 'epoch-us', 'epoch-days', 'iso']).default('auto'),
      to: z.enum(['iso', 'epoch-ms']).default('iso'),
    })
    .optional(),
  /** Field-name case convention applied to every column. */
  case: z.enum(['snake', 'camel', 'lower', 'upper']).optional(),
});

function toCase(name: string, c: 'snake' | 'camel' | 'lower' | 'upper'): string {
  switch (c) {
    case 'lower':
      return name.toLowerCase();
    case 'upper':
      return name.toUpperCase();
    case 'snake':
      return name
        .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
        .replace(/[-\s]+/g, '_')
        .toLowerCase();
    case 'camel':
      return name
        .toLowerCase()
        .replace(/[_\-\s]+([a-z0-9])/g, (_m, ch: string) => ch.toUpperCase());
  }
}

function coerce(
  v: unknown,
  to: 'string' | 'number' | 'integer' | 'boolean',
  field: string,
): unknown {
  if (v === null || v === undefined) return v;
  switch (to) {
    case 'string':
      return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
    case 'number':
    case 'integer': {
      const n = typeof v === 'bigint' ? Number(v) : typeof v === 'boolean' ? Number(v) : Number(v);
      if (!Number.isFinite(n))
        throw new Error(`normalize: ${field}=${JSON.stringify(String(v))} is not a number`);
      if (to === 'integer') {
        if (typeof v === 'string' && /^-?\d+$/.test(v.trim()) && !Number.isSafeInteger(n))
          return BigInt(v.trim());
        return Math.trunc(n);
      }
      return n;
    }
    case 'boolean':
      if (typeof v === 'boolean') return v;
      if (v === 1 || v === '1' || v === 'true' || v === 't') return true;
      if (v === 0 || v === '0' || v === 'false' || v === 'f') return false;
      throw new Error(`normalize: ${field}=${JSON.stringify(v)} is not a boolean`);
  }
}

function toEpochMs(v: unknown, from: string, field: string): number {
  if (typeof v === 'bigint') v = Number(v);
  if (typeof v === 'number') {
    if (from === 'epoch-us') return Math.trunc(v / 1000);
    if (from === 'epoch-days') return v * 86_400_000;
    if (from === 'iso') throw new Error(`normalize: ${field} is a number, expected ISO text`);
    return v;
  }
  if (typeof v === 'string') {
    const t = Date.parse(/[zZ]|[+-]\d\d:?\d\d$/.test(v) ? v : `${v}Z`);
    if (Number.isNaN(t))
      throw new Error(`normalize: ${field}=${JSON.stringify(v)} is not a timestamp`);
    return t;
  }
  throw new Error(`normalize: ${field} has no timestamp value`);
}

/** normalize: type coercion, timestamps to UTC ISO-8601 or epoch ms, field-name case. */
export function normalize(input: z.input<typeof normalizeConfig>): ProcessorDefinition {
  const cfg = normalizeConfig.parse(input);
  const apply = (row: Row): Row => {
    for (const [f, to] of Object.entries(cfg.coerce ?? {}))
      if (f in row) row[f] = coerce(row[f], to, f);
    if (cfg.timestamps)
      for (const f of cfg.timestamps.fields) {
        const v = row[f];
        if (v === null || v === undefined) continue;
        const ms = toEpochMs(v, cfg.timestamps.from, f);
        row[f] = cfg.timestamps.to === 'iso' ? new Date(ms).toISOString() : ms;
      }
    if (!cfg.case) return row;
    const out: Row = {};
    for (const [k, v] of Object.entries(row)) out[toCase(k, cfg.case)] = v;
    return out;
  };
  return defineProcessor({
    name: 'normalize',
    process(event, ctx) {
      const out = withRowsCopied(event);
      if (out.value.before) out.value.before = apply(out.value.before);
      if (out.value.after) out.value.after = apply(out.value.after);
      ctx.forward(out);
    },
  });
}
