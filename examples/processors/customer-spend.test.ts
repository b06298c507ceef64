// The example's unit test: the test kit runs the processor in memory, no Kafka needed.
// Run with `npm run test:unit` (test/unit/processors/examples.test.ts imports this file).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChangeEvent } from '../../processors/api/index.ts';
import { ProcessorTestDriver } from '../../processors/testing/index.ts';

function order(
  op: 'c' | 'u',
  id: number,
  customer: number,
  amount: number,
  before?: number,
): ChangeEvent {
  return {
    topic: 'shop.public.orders',
    key: { id },
    version: BigInt(id * 10 + (op === 'u' ? 1 : 0)),
    value: {
      before: before === undefined ? null : { id, customer_id: customer, amount: before },
      after: { id, customer_id: customer, amount },
      source: {
        version: '3.0.0',
        connector: 'postgresql',
        name: 'shop',
        ts_ms: 0,
        db: 'shop',
        schema: 'public',
        table: 'orders',
      },
      transaction: null,
      op,
      ts_ms: 0,
    },
  };
}

test('customer-spend keeps a running total per customer and reports hourly', async () => {
  const driver = await ProcessorTestDriver.create({
    processors: [{ module: 'examples/processors/customer-spend.ts' }],
    output: 'shop.orders.with-spend',
  });
  await driver.pipe([
    order('c', 1, 7, 10),
    order('c', 2, 7, 5),
    order('u', 1, 7, 12, 10),
    order('c', 3, 8, 1),
  ]);

  const totals = driver
    .readOutput('shop.orders.with-spend')
    .map((o) => o.event!.value.after!.customer_total);
  assert.deepEqual(totals, [10, 15, 17, 1]);
  assert.deepEqual(
    await driver.storeEntries('spend-by-customer'),
    new Map([
      ['7', { orders: 2, total: 17 }],
      ['8', { orders: 1, total: 1 }],
    ]),
  );

  await driver.advanceTime(60 * 60 * 1000);
  const [report] = driver.readOutput('reports.customer-spend');
  assert.deepEqual((report!.value as { customers: number }).customers, 2);
  await driver.close();
});
