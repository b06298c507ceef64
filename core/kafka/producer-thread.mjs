// Entry of the producer worker thread (threaded-producer.ts). The sources are TypeScript: when
// the process was not started with tsx's --import hook (which workers inherit), tsx is
// registered in this thread first.
if (!process.execArgv.some((a) => a.includes('tsx'))) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import('./producer-thread.ts');
