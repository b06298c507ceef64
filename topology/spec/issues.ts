/**
 * Turns zod issues into one line per problem: the exact path in the topology file and what to
 * do about it (the nearest valid key or value, the expected type, the accepted values).
 */
import type { z } from 'zod';
import { nearest } from '../../core/config/index.ts';

export type Path = ReadonlyArray<PropertyKey>;

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || '(root)';
}

export function valueAt(input: unknown, path: Path): unknown {
  let cur = input;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p as string];
  }
  return cur;
}

export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `string "${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return `${typeof v} ${String(v)}`;
}

interface Def {
  type?: string;
  shape?: Record<string, unknown>;
  element?: unknown;
  innerType?: unknown;
  in?: unknown;
  options?: unknown[];
  discriminator?: string;
  valueType?: unknown;
}

function defOf(s: unknown): Def | undefined {
  return (s as { def?: Def } | undefined)?.def;
}

/** Strips optional/default/pipe wrappers. */
function unwrap(s: unknown): unknown {
  let cur = s;
  for (let i = 0; i < 20; i++) {
    const d = defOf(cur);
    if (!d) return cur;
    if (d.innerType) cur = d.innerType;
    else if (d.type === 'pipe' && d.in) cur = d.in;
    else return cur;
  }
  return cur;
}

/** Picks the union option the input was meant for (by discriminator, else by shared keys). */
function pickOption(
  options: unknown[],
  discriminator: string | undefined,
  input: unknown,
): unknown {
  if (!input || typeof input !== 'object') return undefined;
  const keys = Object.keys(input);
  let best: unknown;
  let bestScore = -1;
  for (const o of options) {
    const shape = defOf(unwrap(o))?.shape;
    if (!shape) continue;
    if (discriminator) {
      const lit = defOf(unwrap(shape[discriminator])) as { values?: unknown[] } | undefined;
      if (lit?.values?.includes((input as Record<string, unknown>)[discriminator])) return o;
      continue;
    }
    const score = keys.filter((k) => k in shape).length;
    if (score > bestScore) {
      bestScore = score;
      best = o;
    }
  }
  return best;
}

/** The (unwrapped) schema that describes the value at `path`, following the input through unions. */
export function schemaAt(schema: unknown, path: Path, input: unknown): unknown {
  let s = unwrap(schema);
  for (let i = 0; i <= path.length; i++) {
    let d = defOf(s);
    if (d?.type === 'union' && d.options) {
      s = unwrap(pickOption(d.options, d.discriminator, valueAt(input, path.slice(0, i))));
      d = defOf(s);
    }
    if (i === path.length) return s;
    const p = path[i]!;
    if (typeof p === 'number') s = unwrap(d?.element);
    else s = unwrap(d?.shape?.[String(p)] ?? d?.valueType);
    if (!s) return undefined;
  }
  return s;
}

function keysOf(s: unknown): string[] {
  const d = defOf(s);
  if (d?.shape) return Object.keys(d.shape);
  if (d?.type === 'union' && d.options)
    return [...new Set(d.options.flatMap((o) => keysOf(unwrap(o))))];
  return [];
}

function unknownKey(path: Path, key: string, known: string[]): string {
  const hint = nearest(key, known);
  const where = formatPath([...path, key]);
  if (hint) return `${where}: unknown key — did you mean "${hint}"?`;
  return `${where}: unknown key; valid keys: ${known.join(', ')}`;
}

function oneOf(values: unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? `"${v}"` : String(v))).join(', ');
}

/** One message per problem, in the order zod found them, without duplicates. */
export function formatIssues(
  schema: z.ZodType,
  issues: z.core.$ZodIssue[],
  input: unknown,
  prefix: Path = [],
): string[] {
  const out: string[] = [];
  for (const issue of issues) out.push(...formatIssue(schema, issue, input, prefix));
  return [...new Set(out)];
}

function formatIssue(
  schema: z.ZodType,
  issue: z.core.$ZodIssue,
  input: unknown,
  prefix: Path,
): string[] {
  const path = [...prefix, ...(issue.path as PropertyKey[])];
  const rel = issue.path as PropertyKey[];
  const value = valueAt(input, rel);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = keysOf(schemaAt(schema, rel, input));
      return issue.keys.map((k) => unknownKey(path, k, known));
    }
    case 'invalid_type': {
      if (value === undefined) return [`${formatPath(path)}: required (${issue.expected})`];
      return [`${formatPath(path)}: expected ${issue.expected}, got ${describeValue(value)}`];
    }
    case 'invalid_value': {
      const values = issue.values as unknown[];
      if (values.length === 1 && rel.length === 1 && rel[0] === 'version')
        return [
          `version: unsupported topology version ${JSON.stringify(value)}; this Tributary reads version ${String(values[0])}`,
        ];
      const hint = typeof value === 'string' ? nearest(value, values.map(String)) : undefined;
      const given = value === undefined ? 'required' : `${describeValue(value)} is not allowed`;
      return [
        `${formatPath(path)}: ${given}; use one of ${oneOf(values)}${hint ? ` — did you mean "${hint}"?` : ''}`,
      ];
    }
    case 'invalid_union': {
      const u = issue as z.core.$ZodIssueInvalidUnion & {
        discriminator?: string;
        options?: unknown[];
      };
      if (u.discriminator) {
        // zod points the issue at the discriminator itself; older versions at the object.
        const atKey = rel[rel.length - 1] === u.discriminator;
        const dPath = atKey ? path : [...path, u.discriminator];
        const given = valueAt(input, atKey ? rel : [...rel, u.discriminator]);
        const valid = (u.options ?? []).map(String);
        if (given === undefined)
          return [`${formatPath(dPath)}: required; use one of ${oneOf(valid)}`];
        const hint = nearest(String(given), valid);
        return [
          `${formatPath(dPath)}: unknown ${u.discriminator} ${JSON.stringify(given)}${hint ? ` — did you mean "${hint}"?` : ''}; valid: ${oneOf(valid)}`,
        ];
      }
      // A plain union of objects: report keys no option knows, else the closest option's issues.
      const unionKeys = u.errors
        .flat()
        .filter((i) => i.code === 'unrecognized_keys')
        .flatMap((i) => (i as z.core.$ZodIssueUnrecognizedKeys).keys);
      const optionKeys = new Set(keysOfUnionAt(schema, rel, input));
      const stray = [...new Set(unionKeys)].filter((k) => !optionKeys.has(k));
      if (stray.length > 0) return stray.map((k) => unknownKey(path, k, [...optionKeys]));
      const best = [...u.errors].sort((a, b) => a.length - b.length)[0] ?? [];
      if (best.length === 0) return [`${formatPath(path)}: ${issue.message}`];
      return best.flatMap((i) =>
        formatIssue(schema, { ...i, path: [...rel, ...i.path] } as z.core.$ZodIssue, input, prefix),
      );
    }
    default:
      return [`${formatPath(path)}: ${issue.message}`];
  }
}

/** Every key any option of the union at `rel` accepts. */
function keysOfUnionAt(schema: unknown, rel: Path, input: unknown): string[] {
  const parent = rel.length === 0 ? unwrap(schema) : schemaAt(schema, rel.slice(0, -1), input);
  const last = rel[rel.length - 1];
  const pd = defOf(parent);
  const s =
    last === undefined
      ? parent
      : unwrap(
          typeof last === 'number' ? pd?.element : (pd?.shape?.[String(last)] ?? pd?.valueType),
        );
  const d = defOf(s);
  return d?.type === 'union' && d.options ? d.options.flatMap((o) => keysOf(unwrap(o))) : [];
}
