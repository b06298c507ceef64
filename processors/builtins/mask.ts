import { createHash, createHmac } from 'node:crypto';
import { z } from 'zod';
import { defineProcessor } from '../api/index.ts';
import type { ProcessorDefinition, Row } from '../api/index.ts';
import { forEachSelected, withRowsCopied, withRowsShallowCopied } from './fields.ts';

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
  const apply = (row: Row) => {
    for (const r of cfg.rules) {
      forEachSelected(row, r, (container, key) => {
        const v = container[key];
        if (v === null || v === undefined) return;
        const text = typeof v === 'string' ? v : JSON.stringify(v);
        switch (r.action) {
          case 'hash':
            container[key] =
              r.algorithm === 'hmac-sha256'
                ? createHmac('sha256', r.secret!).update(text).digest('hex')
                : createHash('sha256')
                    .update(r.salt + text)
                    .digest('hex');
            break;
          case 'redact':
            container[key] = r.replacement;
            break;
          case 'keep-last':
            container[key] =
              text.length <= r.keep
                ? r.maskChar.repeat(text.length)
                : r.maskChar.repeat(text.length - r.keep) + text.slice(text.length - r.keep);
            break;
          case 'null':
            container[key] = null;
            break;
        }
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
