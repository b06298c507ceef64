import { test } from 'node:test';
import assert from 'node:assert/strict';
import { murmur2, partitionForKey } from '../../../core/kafka/partitioner.ts';

// Reference values from Kafka's own UtilsTest.testMurmur2 (org.apache.kafka.common.utils).
const CASES: Array<[string, number]> = [
  ['21', -973932308],
  ['foobar', -790332482],
  ['a-little-bit-long-string', -985981536],
  ['a-little-bit-longer-string', -1486304829],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ['abc', 479470107],
];

test('murmur2 matches Kafka Java client reference values', () => {
  for (const [input, expected] of CASES) {
    assert.equal(murmur2(Buffer.from(input)), expected, input);
  }
});

test('partitionForKey masks the sign bit like Utils.toPositive and stays in range', () => {
  assert.equal(partitionForKey(Buffer.from('21'), 10), (-973932308 & 0x7fffffff) % 10);
  for (let i = 0; i < 1000; i++) {
    const p = partitionForKey(Buffer.from(`{"id":${i}}`), 7);
    assert.ok(p >= 0 && p < 7);
  }
  assert.throws(() => partitionForKey(Buffer.from('x'), 0), /numPartitions must be >= 1/);
});
