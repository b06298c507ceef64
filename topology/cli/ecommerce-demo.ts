// `tributary demo`: the e-commerce demo (examples/ecommerce/demo.ts) with its options.
import { parseOptions } from './args.ts';

export async function runEcommerceDemoCommand(args: string[]): Promise<number> {
  const opts = parseOptions(args, { customers: 'int', orders: 'int', 'timeout-ms': 'int' });
  const { runEcommerceDemo } = await import('../../examples/ecommerce/demo.ts');
  return runEcommerceDemo({
    customers: (opts.customers as number | undefined) ?? 20,
    orders: (opts.orders as number | undefined) ?? 60,
    timeoutMs: (opts['timeout-ms'] as number | undefined) ?? 120_000,
  });
}
