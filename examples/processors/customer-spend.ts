// Example processor: keeps each customer's running spend from order events in a store, and
// forwards each order with the customer's total so far. A nightly-style report is emitted
// every hour with ctx.schedule. Run it with a config entry { "module": "examples/processors/customer-spend.ts" }.
import { defineProcessor } from '../../processors/api/index.ts';

interface Spend {
  orders: number;
  total: number;
}

export default defineProcessor({
  name: 'customer-spend',
  stores: ['spend-by-customer'],

  init(ctx) {
    ctx.schedule(60 * 60 * 1000, async (c, now) => {
      let customers = 0;
      for await (const entry of c.store<Spend>('spend-by-customer').range()) if (entry) customers++;
      c.forward(
        {
          kind: 'plain',
          key: { report: 'hourly' },
          value: { at: new Date(now).toISOString(), customers },
        },
        { topic: 'reports.customer-spend' },
      );
    });
  },

  async process(event, ctx) {
    const after = event.value.after;
    // Deletes and truncates carry no new amount: pass them through unchanged.
    if (!after || after.customer_id === undefined) return ctx.forward(event);
    const store = ctx.store<Spend>('spend-by-customer');
    const key = String(after.customer_id);
    const prev = (await store.get(key)) ?? { orders: 0, total: 0 };
    // An update replaces the old amount: subtract what the before-row counted.
    const previousAmount = event.value.op === 'u' ? Number(event.value.before?.amount ?? 0) : 0;
    const next = {
      orders: prev.orders + (event.value.op === 'u' ? 0 : 1),
      total: prev.total + Number(after.amount ?? 0) - previousAmount,
    };
    store.put(key, next);
    ctx.forward({
      ...event,
      value: { ...event.value, after: { ...after, customer_total: next.total } },
    });
  },
});
