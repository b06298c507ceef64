// Change events for processor tests.
import type { ChangeEvent, Op, Row } from '../../../core/events/index.ts';

let version = 1000n;

export function changeEvent(
  op: Op,
  key: Record<string, unknown>,
  rows: { before?: Row | null; after?: Row | null },
  table = 'orders',
  topic = `raw.public.${table}`,
): ChangeEvent {
  return {
    topic,
    key,
    version: version++,
    value: {
      before: rows.before ?? null,
      after: rows.after ?? null,
      source: {
        version: '3.0.0',
        connector: 'postgresql',
        name: 'raw',
        ts_ms: 1767225600000,
        snapshot: 'false',
        db: 'shop',
        schema: 'public',
        table,
        txId: 77,
        lsn: 123456,
      },
      transaction: null,
      op,
      ts_ms: 1767225600100,
    },
  };
}

export const insert = (key: Record<string, unknown>, after: Row, table?: string) =>
  changeEvent('c', key, { after }, table);
export const update = (
  key: Record<string, unknown>,
  before: Row | null,
  after: Row,
  table?: string,
) => changeEvent('u', key, { before, after }, table);
export const remove = (key: Record<string, unknown>, before: Row, table?: string) =>
  changeEvent('d', key, { before }, table);
