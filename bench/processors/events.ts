// The benchmark's Debezium-shaped events (orders of ~300 bytes referencing customers) and chain.
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

/** The benchmarked chain: mask (HMAC-SHA-256 of email) -> rename -> join (global store). */
export function benchChain(customers: string) {
  return [
    {
      builtin: 'mask',
      config: { rules: [{ fields: ['email'], action: 'hash', secret: 'bench-secret' }] },
    },
    { builtin: 'rename', config: { fields: { amt: 'amount' } } },
    {
      builtin: 'join',
      config: { store: 'customers', table: customers, on: 'customer_id', as: 'customer' },
    },
  ];
}
