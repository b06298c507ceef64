// Entry of the producer worker thread (threaded-producer.ts). The thread's modules load from a
// bundle of them and their packages (bin/bundle.mjs, as `tributary capture` does; rebuilt
// whenever one of them changed), or, when no bundle can be had, from the sources: the Kafka
// client first, without tsx's loader hooks, which would make its load about twice as slow,
// then the thread's own modules through tsx, registered in this thread: Node 20 does not run
// the process's --import hooks in worker threads, and a process started through
// bin/tributary.js registers tsx only in its main thread.
const { freshBundle } = await import('../../bin/bundle.mjs');
const bundle = await freshBundle('core/kafka/producer-thread.ts', 'producer-thread');
let loaded = false;
if (bundle !== null) {
  try {
    await import(bundle);
    loaded = true;
  } catch {
    // Removed meanwhile by a newer build, or failing in the bundle only (it holds packages'
    // code, amended: see bin/bundle.mjs): the sources instead. A failure of the module itself
    // shows again there.
  }
}
if (!loaded) {
  const { loadKafkaClient } = await import('./load-client.mjs');
  await loadKafkaClient();
  const { register } = await import('tsx/esm/api');
  register();
  await import('./producer-thread.ts');
}
