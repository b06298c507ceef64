// Field selection shared by the built-ins: dotted paths into a row ("address.zip") and
// column-name patterns (regular expressions matched against the whole column name).
import type { ChangeEvent, Row } from '../api/index.ts';

export type Selector = { fields?: string[]; pattern?: string };

const splitPaths = new Map<string, string[]>();
const patterns = new Map<string, RegExp>();

function pathParts(path: string): string[] {
  let parts = splitPaths.get(path);
  if (!parts) splitPaths.set(path, (parts = path.split('.')));
  return parts;
}

function patternRegex(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (!re) patterns.set(pattern, (re = new RegExp(`^(?:${pattern})$`)));
  return re;
}

/** Calls fn(container, key) for every field of `row` the selector picks (nested paths too). */
export function forEachSelected(
  row: Row,
  selector: Selector,
  fn: (container: Record<string, unknown>, key: string) => void,
): void {
  for (const path of selector.fields ?? []) {
    const parts = pathParts(path);
    let container: unknown = row;
    for (let i = 0; i < parts.length - 1; i++) {
      container =
        container && typeof container === 'object' ? (container as Row)[parts[i]!] : undefined;
    }
    const last = parts[parts.length - 1]!;
    if (container && typeof container === 'object' && last in (container as Row))
      fn(container as Record<string, unknown>, last);
  }
  if (selector.pattern !== undefined) {
    const re = patternRegex(selector.pattern);
    for (const key of Object.keys(row)) if (re.test(key)) fn(row, key);
  }
}

/** A copy of the event whose before/after rows are deep-copied (built-ins never mutate input). */
export function withRowsCopied(event: ChangeEvent): ChangeEvent {
  return {
    ...event,
    value: {
      ...event.value,
      before: event.value.before ? structuredCopy(event.value.before) : null,
      after: event.value.after ? structuredCopy(event.value.after) : null,
    },
  };
}

/** A copy of the event with new before/after row objects (nested values shared). */
export function withRowsShallowCopied(event: ChangeEvent): ChangeEvent {
  const v = event.value;
  return {
    ...event,
    value: {
      ...v,
      before: v.before ? { ...v.before } : null,
      after: v.after ? { ...v.after } : null,
    },
  };
}

function structuredCopy<T>(v: T): T {
  if (Array.isArray(v)) return v.map(structuredCopy) as T;
  if (v && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = structuredCopy(x);
    return out as T;
  }
  return v;
}

/** Reads a dotted path from an object. */
export function getPath(obj: unknown, path: string): unknown {
  let cur = obj;
  for (const p of pathParts(path)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** `schema.table` of an event (PostgreSQL) or `db.table` when the source has no schema. */
export function tableOf(event: ChangeEvent): string {
  const s = event.value.source;
  const schema = typeof s.schema === 'string' ? s.schema : s.db;
  return `${schema}.${String(s.table ?? '')}`;
}
