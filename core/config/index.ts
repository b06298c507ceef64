/**
 * Config loading shared by every component: read a YAML/JSON file, resolve secret references
 * (`${env:NAME}`, `${file:/path}`), validate against the component's zod schema with defaults
 * applied, and report every problem with its exact path and, for unknown keys, the nearest
 * valid key.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors/index.ts';

/** Reads and parses a YAML or JSON file; errors name the file and the line. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      path,
      `cannot read the config file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  try {
    return parseYaml(text, { prettyErrors: true });
  } catch (err) {
    throw new ConfigError(path, `not valid YAML/JSON: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Replaces `${env:NAME}` and `${file:/path}` in every string value. */
export function resolveSecrets(value: unknown, path = ''): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{(env|file):([^}]+)\}/g, (_m, kind: string, ref: string) => {
      if (kind === 'env') {
        const v = process.env[ref];
        if (v === undefined)
          throw new ConfigError(
            path,
            `environment variable ${ref} is not set (referenced as \${env:${ref}})`,
          );
        return v;
      }
      try {
        return readFileSync(ref, 'utf8').trim();
      } catch {
        throw new ConfigError(
          path,
          `cannot read secret file ${ref} (referenced as \${file:${ref}})`,
        );
      }
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecrets(v, `${path}[${i}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, resolveSecrets(v, path ? `${path}.${k}` : k)]),
    );
  }
  return value;
}

/** Validates `input` against `schema`; throws one ConfigError listing every problem. */
export function validateConfig<S extends z.ZodType>(
  schema: S,
  input: unknown,
  root = '',
): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const path = formatPath(root, issue.path as PropertyKey[]);
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path as PropertyKey[], input);
      return issue.keys
        .map((k) => {
          const hint = nearest(k, known);
          return `${formatPath(root, [...(issue.path as PropertyKey[]), k])}: unknown key${hint ? ` — did you mean "${hint}"?` : known.length ? `; valid keys: ${known.join(', ')}` : ''}`;
        })
        .join('\n');
    }
    return `${path || '(root)'}: ${issue.message}`;
  });
  const message =
    lines.length === 1 ? lines[0]! : `${lines.length} problems:\n  ${lines.join('\n  ')}`;
  throw new ConfigError('', message, { details: { problems: lines } });
}

function formatPath(root: string, path: PropertyKey[]): string {
  let out = root;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out;
}

/**
 * Keys allowed at `path` in an object schema (best effort, for suggestions). Unions are resolved
 * with the input: the option whose discriminator literal matches (e.g. a sink's `type`).
 */
function knownKeys(schema: z.ZodType, path: PropertyKey[], input: unknown): string[] {
  let s: unknown = schema;
  let value = input;
  for (const p of [...path, null]) {
    s = pickUnionOption(unwrap(s), value);
    const def = (s as { def?: { shape?: Record<string, unknown>; element?: unknown } }).def;
    if (p === null) return def?.shape ? Object.keys(def.shape) : [];
    if (typeof p === 'number') s = def?.element;
    else s = def?.shape?.[String(p)];
    value = (value as Record<PropertyKey, unknown> | undefined)?.[p];
    if (!s) return [];
  }
  return [];
}

type SchemaNode = { def?: Record<string, unknown> } | undefined;

function pickUnionOption(s: unknown, value: unknown): unknown {
  const def = (s as SchemaNode)?.def;
  if (def?.type !== 'union' || !Array.isArray(def.options)) return s;
  const disc = def.discriminator as string | undefined;
  const wanted = disc ? (value as Record<string, unknown> | undefined)?.[disc] : undefined;
  for (const option of def.options) {
    const o = unwrap(option) as SchemaNode;
    const shape = o?.def?.shape as Record<string, unknown> | undefined;
    const lit = (unwrap(shape?.[disc ?? '']) as SchemaNode)?.def;
    const values = (lit?.values as unknown[] | undefined) ?? [lit?.value];
    if (disc && values.includes(wanted)) return o;
  }
  return s;
}

function unwrap(s: unknown): unknown {
  let cur = s as { def?: { innerType?: unknown; type?: string; in?: unknown } } | undefined;
  for (let i = 0; i < 10 && cur?.def; i++) {
    if (cur.def.innerType) cur = cur.def.innerType as typeof cur;
    else if (cur.def.type === 'pipe' && cur.def.in) cur = cur.def.in as typeof cur;
    else break;
  }
  return cur;
}

/** The candidate within edit distance 3 (and less than half the word), if any. */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.min(3, Math.max(1, Math.floor(word.length / 2))) ? best : undefined;
}

function levenshtein(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}
