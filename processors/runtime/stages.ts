import type { RepartitionSpec } from '../api/index.ts';
import { ProcessorChain } from './chain.ts';
import type { ChainNode } from './chain.ts';
import { emptyMetrics, RecordPipeline } from './pipeline.ts';
import type { PipelineMetrics, PipelineOptions } from './pipeline.ts';
import type { StagedStore } from './stores/staged-store.ts';

/**
 * A piece of the processor chain between repartition topics. Stage 0 reads the inputs; stage
 * i > 0 reads the repartition topic `source` the stage before it writes (`sink`).
 */
export interface Stage {
  nodes: ChainNode[];
  /** The repartition topic this stage reads (stages after the first). */
  source?: string;
  /** The repartition topic this stage writes to (every stage but the last). */
  sink?: { topic: string; spec: RepartitionSpec };
}

export function repartitionTopic(app: string, name: string): string {
  return `${app}-${name}-repartition`;
}

/** Cuts the chain in front of every processor that declares `repartition`. */
export function splitStages(nodes: ChainNode[], app: string): Stage[] {
  const stages: Stage[] = [{ nodes: [] }];
  for (const node of nodes) {
    const spec = node.definition.repartition;
    if (spec) {
      const topic = repartitionTopic(app, spec.name);
      stages[stages.length - 1]!.sink = { topic, spec };
      stages.push({ nodes: [], source: topic });
    }
    stages[stages.length - 1]!.nodes.push(node);
  }
  return stages;
}

/** One pipeline (chain instance) per stage for one task, over the task's stores. */
export function stagePipelines(
  stages: Stage[],
  stores: Map<string, StagedStore>,
  partition: number,
  clock: () => number,
  options: PipelineOptions,
): RecordPipeline[] {
  return stages.map((st) => {
    const chain = new ProcessorChain(st.nodes, stores, partition, clock);
    const o: PipelineOptions = { ...options };
    if (st.sink) o.repartition = { topic: st.sink.topic, key: (e) => st.sink!.spec.key(e) };
    if (st.source) o.fromRepartition = true;
    return new RecordPipeline(chain, o);
  });
}

/** Adds the counters of `m` to `into`. */
export function addPipelineMetrics(into: PipelineMetrics, m: PipelineMetrics): void {
  into.processed += m.processed;
  into.emitted += m.emitted;
  into.repartitioned += m.repartitioned;
  into.inputTombstones += m.inputTombstones;
  for (const [k, v] of Object.entries(m.skipped)) into.skipped[k] = (into.skipped[k] ?? 0) + v;
  for (const [k, v] of Object.entries(m.deadLettered))
    into.deadLettered[k] = (into.deadLettered[k] ?? 0) + v;
}

/** The counters of a task's stages as one: `processed` counts inputs, not repartition hops. */
export function combinedMetrics(pipelines: RecordPipeline[]): PipelineMetrics | undefined {
  if (pipelines.length <= 1) return pipelines[0]?.metrics;
  const m: PipelineMetrics = emptyMetrics();
  for (const p of pipelines) addPipelineMetrics(m, p.metrics);
  m.processed = pipelines[0]!.metrics.processed;
  return m;
}
