import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ProcessorDefinition, Row } from '../api/index.ts';
import { forEachSelected, withRowsCopied, withRowsShallowCopied } from './fields.ts';
import { hmacSha256Hex } from './hmac.ts';

const rule = z
  .object({
    /** Dotted field paths, e.g. ["email", "address.zip"]. */
    fields: z.array(z.string().min(1)).optional(),
    /** Regular expression matched against whole column names, e.g. "(.*_)?email". */
    pattern: z.string().optional(),
    action: z.enum(['hash', 'redact', 'keep-last', 'null']),
    /** hash: HMAC-SHA-256 with `secret`, or SHA-256 over salt + value. */
    algorithm: z.enum(['hmac-sha256', 'sha256']).default('hmac-sha256'),
    secret: z.string().min(1).optional(),
    salt: z.string().default(''),
    /** keep-last: how many trailing characters stay readable. */
    keep: z.number().int().min(0).default(4),
    /** redact / keep-last: the replacement text or mask character. */
    replacement: z.string().default('****'),
    maskChar: z.string().length(1).default('*'),
  })
  .refine((r) => r.fields?.length || r.pattern !== undefined, {
    message: 'each rule needs `fields` or `pattern`',
  })
  .refine((r) => r.action !== 'hash' || r.algorithm !== 'hmac-sha256' || r.secret, {
    message: 'hash with hmac-sha256 needs a `secret`',
    path: ['secret'],
  });

export const maskConfig = z.object({ rules: z.array(rule).min(1) });
export type MaskConfig = z.input<typeof maskConfig>;

/** mask: hash, redact, keep the last N characters of, or null out PII in before and after. */
export function mask(input: MaskConfig): ProcessorDefinition {
  const cfg = maskConfig.parse(input);
  const rules = cfg.rules.map((r) => ({ selector: r, replace: replacement(r) }));
  // Fields of rules without a pattern or nested path: plain column names, checked directly.
  const columnsOnly = cfg.rules.every(
    (r) => r.pattern === undefined && !r.fields!.some((f) => f.includes('.')),
  );
  const apply = (row: Row) => {
    for (const { selector, replace } of rules) {
      if (columnsOnly) {
        for (const key of selector.fields!) {
          if (!(key in row)) continue;
          const v = row[key];
          if (v !== null && v !== undefined) row[key] = replace(v);
        }
        continue;
      }
      forEachSelected(row, selector, (container, key) => {
        const v = container[key];
        if (v !== null && v !== undefined) container[key] = replace(v);
      });
    }
  };
  // Rules on top-level columns only replace values of the row itself: a shallow copy suffices.
  const nested = cfg.rules.some((r) => r.fields?.some((f) => f.includes('.')));
  const copy = nested ? withRowsCopied : withRowsShallowCopied;
  return defineProcessor({
    name: 'mask',
    process(event, ctx) {
      const out = copy(event);
      if (out.value.before) apply(out.value.before);
      if (out.value.after) apply(out.value.after);
      ctx.forward(out);
    },
  });
}

/** The masked form of a non-null value under one rule. */
function replacement(r: z.output<typeof rule>): (v: unknown) => unknown {
  const text = (v: unknown) => (typeof v === 'string' ? v : JSON.stringify(v));
  switch (r.action) {
    case 'hash': {
      if (r.algorithm === 'hmac-sha256') {
        const hmac = hmacSha256Hex(r.secret!);
        return (v) => hmac(text(v));
      }
      return (v) =>
        createHash('sha256')
          .update(r.salt + text(v))
          .digest('hex');
    }
    case 'redact':
      return () => r.replacement;
    case 'keep-last':
      return (v) => {
        const t = text(v);
        return t.length <= r.keep
          ? r.maskChar.repeat(t.length)
          : r.maskChar.repeat(t.length - r.keep) + t.slice(t.length - r.keep);
      };
    case 'null':
      return () => null;
  }
}
