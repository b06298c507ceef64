/**
 * deploy: executes a plan's create/change steps. Every step is idempotent (a topic that
 * appeared meanwhile is left as is, a publication gets only the tables it lacks, an existing
 * slot is kept), so running deploy twice changes nothing the second time.
 */
import pg from 'pg';
import { resolveSecrets } from '../../core/config/index.ts';
import { KafkaAdmin } from '../../core/kafka/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { SourceSpec } from '../spec/schema.ts';
import { PlanBlockedError } from './plan.ts';
import type { Plan, PlanStep } from './plan.ts';

export interface ApplyOptions {
  kafka: KafkaConfig;
  /** Stores the topology in the control plane (the ControlStep). */
  storeTopology?: () => Promise<{ version: number }>;
  log?: (line: string) => void;
}

export async function applyPlan(plan: Plan, options: ApplyOptions): Promise<PlanStep[]> {
  if (plan.problems.length) throw new PlanBlockedError(plan.problems);
  const log = options.log ?? (() => undefined);
  const todo = plan.steps.filter((s) => s.action === 'create' || s.action === 'change');
  const admin = new KafkaAdmin(options.kafka);
  try {
    for (const s of todo) {
      if (s.target !== 'topic') continue;
      if (s.action === 'create')
        await admin.ensureTopics([
          {
            name: s.name,
            partitions: s.desired.partitions,
            replicationFactor: s.desired.replicationFactor,
            configs: s.desired.configs,
          },
        ]);
      else {
        if (s.addPartitions) await admin.addPartitions(s.name, s.addPartitions);
        if (s.alterConfigs) await admin.alterTopicConfigs(s.name, s.alterConfigs);
      }
      log(`${s.action === 'create' ? 'created' : 'changed'} topic ${s.name} (${s.detail})`);
    }
  } finally {
    await admin.close();
  }
  const bySource = new Map<number, PlanStep[]>();
  for (const s of todo)
    if (s.target === 'publication' || s.target === 'slot')
      bySource.set(s.source, [...(bySource.get(s.source) ?? []), s]);
  for (const [index, steps] of bySource) {
    const source = plan.topology.sources[index]!;
    await withDatabase(source, `sources[${index}].connection`, async (client) => {
      for (const s of steps) {
        if (s.target === 'publication') {
          const list = (s.action === 'create' ? s.tables : s.missing).map(qualified).join(', ');
          await client.query(
            s.action === 'create'
              ? `CREATE PUBLICATION ${ident(s.name)} FOR TABLE ${list}`
              : `ALTER PUBLICATION ${ident(s.name)} ADD TABLE ${list}`,
          );
          log(
            `${s.action === 'create' ? 'created' : 'changed'} publication ${s.name} (${s.detail})`,
          );
        } else if (s.target === 'slot') {
          const exists = await client.query(
            'SELECT 1 FROM pg_replication_slots WHERE slot_name = $1',
            [s.name],
          );
          if (exists.rowCount === 0)
            await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [
              s.name,
            ]);
          log(`created replication slot ${s.name}`);
        }
      }
    });
  }
  for (const s of todo) {
    if (s.target !== 'control' || !options.storeTopology) continue;
    const r = await options.storeTopology();
    log(`stored topology ${s.name} in the control plane (version ${r.version})`);
  }
  return todo;
}

async function withDatabase(
  source: SourceSpec,
  path: string,
  fn: (client: pg.Client) => Promise<void>,
): Promise<void> {
  const conn = resolveSecrets(source.connection, path) as SourceSpec['connection'];
  const client = new pg.Client({ ...conn, application_name: 'tributary-deploy' });
  await client.connect();
  try {
    await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function qualified(table: string): string {
  return table.split('.').map(ident).join('.');
}
