/**
 * What a topology needs to exist before its tasks start: Kafka topics with their settings, and
 * per PostgreSQL source a publication over its tables and a logical replication slot. Pure: no
 * I/O (tables of schema-wide sources are passed in once they are known).
 */
import type { ProcessorSpec, SourceSpec, TopicSpecEntry, Topology } from '../spec/schema.ts';
import { processorDlqTopic, sinkDlqTopic, sourceNames, sourceTopics } from '../spec/tasks.ts';

export interface DesiredTopic {
  name: string;
  partitions: number;
  replicationFactor: number;
  /** Topic configs the topology sets explicitly (others stay at the broker defaults). */
  configs: Record<string, string>;
  /** Who needs it, e.g. "source shop", "dead letters of processor enrich-orders". */
  role: string;
}

export interface DesiredSource {
  index: number;
  source: SourceSpec;
  slot: string;
  publication: string;
  /** Tables as schema.table; undefined when the source captures a whole schema not yet listed. */
  tables: string[] | undefined;
}

const DEFAULT_PARTITIONS = 3;

export function topicConfigs(t: Partial<TopicSpecEntry>): Record<string, string> {
  const c: Record<string, string> = { ...(t.configs ?? {}) };
  if (t.retentionMs !== undefined) c['retention.ms'] = String(t.retentionMs);
  if (t.retentionBytes !== undefined) c['retention.bytes'] = String(t.retentionBytes);
  if (t.cleanupPolicy !== undefined) c['cleanup.policy'] = t.cleanupPolicy;
  return c;
}

/**
 * Topics to create or check. `schemaTables` maps a source index to the tables of its schema
 * (from the database) for sources that capture a whole schema.
 */
export function desiredTopics(
  t: Topology,
  schemaTables: Map<number, string[]> = new Map(),
): DesiredTopic[] {
  const declared = new Map(t.topics.map((x) => [x.name, x]));
  const out = new Map<string, DesiredTopic>();
  const add = (name: string, partitions: number, role: string, base: Record<string, string>) => {
    if (out.has(name)) return;
    const d = declared.get(name);
    out.set(name, {
      name,
      partitions: d?.partitions ?? partitions,
      replicationFactor: d?.replicationFactor ?? 1,
      configs: { ...base, ...(d ? topicConfigs(d) : {}) },
      role,
    });
  };
  const offsets = new Set([
    t.kafka.offsetsTopic,
    ...t.sources.flatMap((s) => s.kafka?.offsetsTopic ?? []),
  ]);
  for (const o of offsets)
    add(o, 1, 'capture offsets', { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' });
  t.sources.forEach((s, i) => {
    const { prefix } = sourceNames(s);
    const exact = sourceTopics(s).exact;
    const fromSchema = (schemaTables.get(i) ?? []).map((table) => `${prefix}.${table}`);
    for (const name of [...exact, ...fromSchema])
      add(name, s.topic.partitions, `source ${s.name}`, {});
  });
  const partitionsOf = (name: string) =>
    out.get(name)?.partitions ?? declared.get(name)?.partitions;
  for (const p of t.processors) {
    if (p.output)
      add(
        p.output,
        p.outputPartitions ?? inputPartitions(p, partitionsOf),
        `processor ${p.name} output`,
        {},
      );
  }
  for (const x of t.topics) add(x.name, DEFAULT_PARTITIONS, 'declared', {});
  const dlq = { 'retention.ms': String(t.deadLetter.retentionMs) };
  for (const p of t.processors)
    add(
      processorDlqTopic(t, p),
      t.deadLetter.partitions,
      `dead letters of processor ${p.name}`,
      dlq,
    );
  for (const s of t.sinks)
    add(sinkDlqTopic(t, s), t.deadLetter.partitions, `dead letters of sink ${s.name}`, dlq);
  return [...out.values()];
}

function inputPartitions(
  p: ProcessorSpec,
  partitionsOf: (name: string) => number | undefined,
): number {
  const known = p.inputs.map(partitionsOf).filter((n): n is number => n !== undefined);
  return known.length ? Math.max(...known) : DEFAULT_PARTITIONS;
}

export function desiredSources(t: Topology): DesiredSource[] {
  return t.sources.map((source, index) => {
    const n = sourceNames(source);
    return { index, source, slot: n.slot, publication: n.publication, tables: source.tables };
  });
}
