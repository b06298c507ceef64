// Helper process of bench/processors/run.ts: counts the committed records of a topic with a
// read_committed reader and prints `done <epoch ms>` once `expected` are in. It runs in its own
// process so that reading the output costs the measured runtime neither time nor CPU.
//   node --import tsx bench/processors/count-output.ts <topic> <expected> <partitions>
import { defaultKafkaConfig, KafkaPartitionConsumer } from '../../core/kafka/index.ts';

const [topic, expectedArg, partitionsArg] = process.argv.slice(2);
const expected = Number(expectedArg);
const reader = new KafkaPartitionConsumer(defaultKafkaConfig('bench-processors-counter'));
const pos = new Map(
  Array.from({ length: Number(partitionsArg) }, (_, p) => [p, 0n] as [number, bigint]),
);
let seen = 0;
process.stdout.write('ready\n');
while (seen < expected) {
  const f = await reader
    .fetch(
      [...pos].map(([partition, offset]) => ({ topic: topic!, partition, offset })),
      100,
    )
    .catch(async () => {
      await new Promise((r) => setTimeout(r, 50)); // output topic not created yet
      return [];
    });
  for (const x of f) {
    seen += x.records.length;
    pos.set(x.partition, x.nextOffset);
  }
}
process.stdout.write(`done ${Date.now()}\n`);
await reader.close();
