/**
 * Signals: requests written into a source's own change stream, so they reach the running
 * capture in order with the changes (as Debezium's signal table does). Today there is one kind:
 * `execute-snapshot`, an ad-hoc incremental snapshot of some tables of one source.
 *
 * Format (JSON): {"type":"execute-snapshot","source":"<name>","tables":["public.orders"]};
 * without `tables`, every captured table. Versioned by `type`: new kinds get new types.
 */

export interface SnapshotSignal {
  type: 'execute-snapshot';
  source: string;
  /** Tables as "schema.table"; undefined = every table the source captures. */
  tables?: string[];
}

/** Parses a signal payload; a string result says why it is not a valid signal. */
export function parseSignal(payload: string): SnapshotSignal | string {
  let v: unknown;
  try {
    v = JSON.parse(payload);
  } catch {
    return 'not JSON';
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  if (o.type !== 'execute-snapshot')
    return `unknown type ${JSON.stringify(o.type)} (known: "execute-snapshot")`;
  if (typeof o.source !== 'string' || o.source === '') return '"source" must be a source name';
  if (o.tables !== undefined) {
    if (!Array.isArray(o.tables) || o.tables.some((t) => typeof t !== 'string'))
      return '"tables" must be a list of "schema.table" names';
    return { type: 'execute-snapshot', source: o.source, tables: o.tables as string[] };
  }
  return { type: 'execute-snapshot', source: o.source };
}

export function formatSignal(signal: SnapshotSignal): string {
  return JSON.stringify(signal);
}

/** True when signal position a is at or before b. */
export function signalAtOrBefore(
  a: { order: number; seq: number },
  b: { order: number; seq: number } | undefined,
): boolean {
  return b !== undefined && (a.order < b.order || (a.order === b.order && a.seq <= b.seq));
}
