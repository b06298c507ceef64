/**
 * Secrets never leave a worker: configs are redacted by key in every REST response, and known
 * secret values (and `password=…`-shaped fragments) are scrubbed from log lines and error
 * traces before they are written anywhere.
 */
import { isSecretProperty } from './connectors.ts';

export const HIDDEN = '[hidden]';

/** A deep copy of `value` with the value of every secret-looking key replaced by [hidden]. */
export function redactDeep(value: unknown, depth = 0): unknown {
  if (depth > 32) return HIDDEN;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, depth + 1));
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [
        k,
        isSecretProperty(k) && v !== null && typeof v !== 'object'
          ? HIDDEN
          : redactDeep(v, depth + 1),
      ]),
    );
  return value;
}

/**
 * The secret values found in configs: values of secret-looking keys, and what their
 * `${env:NAME}` references resolve to here.
 */
export function collectSecrets(values: unknown[]): string[] {
  const out = new Set<string>();
  const visit = (v: unknown, key: string, depth: number) => {
    if (depth > 32) return;
    if (typeof v === 'string') {
      // A pure reference (`${env:X}`) is not itself a secret; what it resolves to is.
      if (isSecretProperty(key) && v.length >= 3 && !/^\$\{[^}]+\}$/.test(v)) out.add(v);
      for (const m of v.matchAll(/\$\{env:([^}]+)\}/g)) {
        const resolved = process.env[m[1]!];
        if (isSecretProperty(key) && resolved && resolved.length >= 3) out.add(resolved);
      }
    } else if (Array.isArray(v)) v.forEach((x) => visit(x, key, depth + 1));
    else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) visit(x, k, depth + 1);
  };
  for (const v of values) visit(v, '', 0);
  return [...out].sort((a, b) => b.length - a.length);
}

// `password=…` (URLs, DSNs, key=value lists) and `"password":"…"` (JSON) fragments.
const INLINE = /((?:password|passwd|secret|token)(?:=|["']\s*:\s*["']))([^\s"',;&}]+)/gi;

/** `text` with every known secret value and every `password=…` fragment hidden. */
export function redactText(text: string, secrets: string[] = []): string {
  let out = text;
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join(HIDDEN);
  return out.replace(INLINE, (_m, prefix: string) => `${prefix}${HIDDEN}`);
}
