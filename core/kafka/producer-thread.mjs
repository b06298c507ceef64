// Entry of the producer worker thread (threaded-producer.ts). The sources are TypeScript, so
// tsx is registered in this thread first: Node 20 does not run the process's --import hooks in
// worker threads, and a process started through bin/tributary.js registers tsx only in its
// main thread. The Kafka client is loaded before that, without tsx's loader hooks, which would
// make its load about twice as slow.
const { loadKafkaClient } = await import('./load-client.mjs');
await loadKafkaClient();
const { register } = await import('tsx/esm/api');
register();
await import('./producer-thread.ts');
