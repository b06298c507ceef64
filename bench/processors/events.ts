// The benchmark's Debezium-shaped events: orders (~300 bytes) referencing customers.
import type { ChangeEvent } from '../../core/events/index.ts';

export const BENCH_CUSTOMERS = 5_000;

const source = (table: string) => ({
  version: '3.0.0',
  connector: 'postgresql',
  name: 'bench',
  ts_ms: 1767225600000,
  db: 'shop',
  schema: 'public',
  table,
  lsn: 1,
});

export function order(topic: string, i: number): ChangeEvent {
  return {
    topic,
    key: { id: i },
    version: BigInt(i + 1),
    value: {
      before: null,
      after: {
        id: i,
        customer_id: i % BENCH_CUSTOMERS,
        email: `user${i}@example.com`,
        amt: (i * 37) % 10_000,
        status: 'paid',
        created_at: 1767225600000 + i,
      },
      source: source('orders'),
      transaction: null,
      op: 'c',
      ts_ms: 1767225600000 + i,
    },
  };
}

export function customer(topic: string, id: number): ChangeEvent {
  return {
    topic,
    key: { id },
    version: BigInt(id + 1),
    value: {
      before: null,
      after: { id, name: `Customer ${id}`, tier: id % 3 },
      source: source('customers'),
      transaction: null,
      op: 'r',
      ts_ms: 1767225600000,
    },
  };
}
