/**
 * plan: compares what a topology needs (topology/planner/desired.ts) with what exists — Kafka
 * topics and their settings, PostgreSQL publications, slots and tables, the topology stored in
 * the control plane — and lists each step as create / change / unchanged, or a problem that
 * blocks deploying (an unknown table, a table without a primary key, wal_level not logical).
 * Nothing is changed here; apply.ts executes the steps. Reading is side-effect free except for
 * the control store, whose topics are created when missing.
 */
import pg from 'pg';
import { nearest, resolveSecrets } from '../../core/config/index.ts';
import { TributaryError } from '../../core/errors/index.ts';
import { KafkaAdmin } from '../../core/kafka/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { SourceSpec, Topology } from '../spec/schema.ts';
import { desiredSources, desiredTopics } from './desired.ts';
import type { DesiredSource, DesiredTopic } from './desired.ts';

export type StepAction = 'create' | 'change' | 'unchanged' | 'unknown';

interface StepBase {
  action: StepAction;
  name: string;
  /** Human-readable: what exists and what would change. */
  detail: string;
}
export interface TopicStep extends StepBase {
  target: 'topic';
  desired: DesiredTopic;
  addPartitions?: number;
  alterConfigs?: Record<string, string>;
}
export interface PublicationStep extends StepBase {
  target: 'publication';
  source: number;
  tables: string[];
  /** Tables to add to an existing publication. */
  missing: string[];
}
export interface SlotStep extends StepBase {
  target: 'slot';
  source: number;
}
export interface ControlStep extends StepBase {
  target: 'control';
  version?: number;
}
export type PlanStep = TopicStep | PublicationStep | SlotStep | ControlStep;

export interface Plan {
  topology: Topology;
  steps: PlanStep[];
  /** Blockers: deploy refuses to run while there are any. */
  problems: string[];
  warnings: string[];
}

/** What the plan compares the control plane against (the stored topology, if any). */
export interface ControlView {
  stored(name: string): { version: number; config: Record<string, unknown> } | undefined;
}

export interface PlanOptions {
  kafka: KafkaConfig;
  /** The control plane to store the topology in; omit to plan without it. */
  control?: ControlView;
  /** The object deploy would store (secret references unresolved). */
  storedForm?: Record<string, unknown>;
  /** Timeout for database connections (ms). */
  connectTimeoutMs?: number;
}

export async function planTopology(t: Topology, options: PlanOptions): Promise<Plan> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const sourceSteps: PlanStep[] = [];
  const schemaTables = new Map<number, string[]>();
  for (const d of desiredSources(t)) {
    const r = await inspectSource(d, options.connectTimeoutMs ?? 5_000);
    sourceSteps.push(...r.steps);
    problems.push(...r.problems);
    warnings.push(...r.warnings);
    if (r.schemaTables) schemaTables.set(d.index, r.schemaTables);
  }
  const topics = desiredTopics(t, schemaTables);
  const topicSteps = await inspectTopics(topics, options.kafka, warnings);
  const steps: PlanStep[] = [...topicSteps, ...sourceSteps];
  if (options.control && options.storedForm) {
    const stored = options.control.stored(t.name);
    const same = stored && stableJson(stored.config) === stableJson(options.storedForm);
    steps.push({
      target: 'control',
      name: t.name,
      action: stored ? (same ? 'unchanged' : 'change') : 'create',
      detail: stored
        ? same
          ? `topology stored in the control plane (version ${stored.version})`
          : `update the stored topology (version ${stored.version} → ${stored.version + 1})`
        : 'store the topology in the control plane (workers run its tasks)',
      ...(stored ? { version: stored.version } : {}),
    });
  }
  return { topology: t, steps, problems, warnings };
}

async function inspectTopics(
  topics: DesiredTopic[],
  kafka: KafkaConfig,
  warnings: string[],
): Promise<TopicStep[]> {
  const admin = new KafkaAdmin(kafka);
  try {
    const existing = new Set(await admin.listTopics());
    const present = topics.filter((x) => existing.has(x.name)).map((x) => x.name);
    const counts = present.length ? await admin.partitionCounts(present) : new Map();
    const configs = await admin.topicConfigs(present);
    return topics.map((d): TopicStep => {
      const base = { target: 'topic' as const, name: d.name, desired: d };
      const settings = describeSettings(d);
      if (!existing.has(d.name))
        return { ...base, action: 'create', detail: `${settings} — ${d.role}` };
      const changes: string[] = [];
      const step: TopicStep = { ...base, action: 'unchanged', detail: '' };
      const have = counts.get(d.name) ?? 0;
      if (have < d.partitions) {
        changes.push(`partitions ${have} → ${d.partitions}`);
        step.addPartitions = d.partitions;
        if (d.role.startsWith('source') || d.role.startsWith('processor'))
          warnings.push(
            `topic ${d.name}: adding partitions moves keys to other partitions; per-key order holds only for records written after the change`,
          );
      } else if (have > d.partitions) {
        warnings.push(
          `topic ${d.name}: has ${have} partitions, the topology asks for ${d.partitions}; Kafka cannot remove partitions (left as is)`,
        );
      }
      const current = configs.get(d.name) ?? {};
      const alter = Object.fromEntries(
        Object.entries(d.configs).filter(([k, v]) => current[k] !== v),
      );
      for (const [k, v] of Object.entries(alter))
        changes.push(`${k} ${current[k] ?? '(default)'} → ${v}`);
      if (Object.keys(alter).length) step.alterConfigs = alter;
      if (changes.length) {
        step.action = 'change';
        step.detail = `${changes.join(', ')} — ${d.role}`;
      } else step.detail = `${describeSettings({ ...d, partitions: have })} — ${d.role}`;
      return step;
    });
  } finally {
    await admin.close();
  }
}

function describeSettings(d: DesiredTopic): string {
  const c = Object.entries(d.configs).map(([k, v]) => `${k}=${v}`);
  return [
    `${d.partitions} partition${d.partitions === 1 ? '' : 's'}`,
    `rf ${d.replicationFactor}`,
    ...c,
  ].join(', ');
}

interface SourceInspection {
  steps: PlanStep[];
  problems: string[];
  warnings: string[];
  schemaTables?: string[];
}

async function inspectSource(d: DesiredSource, timeoutMs: number): Promise<SourceInspection> {
  const where = `sources[${d.index}]`;
  const s = d.source;
  const unknownSteps = (why: string): PlanStep[] => [
    {
      target: 'publication',
      source: d.index,
      name: d.publication,
      action: 'unknown',
      detail: why,
      tables: d.tables ?? [],
      missing: [],
    },
    { target: 'slot', source: d.index, name: d.slot, action: 'unknown', detail: why },
  ];
  let conn: SourceSpec['connection'];
  try {
    conn = resolveSecrets(s.connection, `${where}.connection`) as SourceSpec['connection'];
  } catch (err) {
    return {
      steps: unknownSteps('not checked: a secret is missing'),
      problems: [(err as Error).message],
      warnings: [],
    };
  }
  const client = new pg.Client({
    ...conn,
    connectionTimeoutMillis: timeoutMs,
    application_name: 'tributary-plan',
  });
  try {
    await client.connect();
  } catch (err) {
    const why = `database ${conn.host}:${conn.port}/${conn.database} unreachable (${(err as Error).message})`;
    return {
      steps: unknownSteps(`not checked: ${why}`),
      problems: [],
      warnings: [`${where}: ${why}; tables, publication and slot not checked`],
    };
  }
  try {
    return await inspectDatabase(client, d, where);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function inspectDatabase(
  client: pg.Client,
  d: DesiredSource,
  where: string,
): Promise<SourceInspection> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const steps: PlanStep[] = [];
  const wal = (await client.query<{ wal_level: string }>('SHOW wal_level')).rows[0]!.wal_level;
  if (wal !== 'logical')
    problems.push(
      `${where}.connection: wal_level is "${wal}"; set wal_level = logical in postgresql.conf and restart PostgreSQL`,
    );
  const all = (
    await client.query<{ name: string; pk: boolean }>(
      `SELECT n.nspname || '.' || c.relname AS name,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1`,
    )
  ).rows;
  const names = all.map((r) => r.name);
  let tables: string[];
  let schemaTables: string[] | undefined;
  if (d.tables) {
    tables = [];
    d.tables.forEach((t, i) => {
      if (names.includes(t)) tables.push(t);
      else {
        const hint = nearest(t, names);
        problems.push(
          `${where}.tables[${i}]: unknown table "${t}"${hint ? ` — did you mean "${hint}"?` : ''}`,
        );
      }
    });
  } else {
    const schema = d.source.schema!;
    tables = names.filter((n) => n.startsWith(`${schema}.`));
    schemaTables = tables;
    if (tables.length === 0) {
      const schemas = [...new Set(names.map((n) => n.split('.')[0]!))];
      const hint = nearest(schema, schemas);
      problems.push(
        `${where}.schema: no tables in schema "${schema}"${hint ? ` — did you mean "${hint}"?` : ''}`,
      );
    }
  }
  for (const t of tables)
    if (!all.find((r) => r.name === t)!.pk)
      problems.push(
        `${where}: table "${t}" has no primary key; change events are keyed by it — add one`,
      );

  const pub = await client.query<{ name: string }>(
    `SELECT p.pubname, pt.schemaname || '.' || pt.tablename AS name
       FROM pg_publication p LEFT JOIN pg_publication_tables pt ON pt.pubname = p.pubname
      WHERE p.pubname = $1`,
    [d.publication],
  );
  if (pub.rowCount === 0) {
    steps.push({
      target: 'publication',
      source: d.index,
      name: d.publication,
      action: tables.length ? 'create' : 'unknown',
      detail: tables.length
        ? `FOR TABLE ${tables.join(', ')} — source ${d.source.name}`
        : 'no existing table to publish (see the problems below)',
      tables,
      missing: tables,
    });
  } else {
    const have = new Set(pub.rows.map((r) => r.name).filter(Boolean));
    const missing = tables.filter((t) => !have.has(t));
    steps.push({
      target: 'publication',
      source: d.index,
      name: d.publication,
      action: missing.length ? 'change' : 'unchanged',
      detail: missing.length ? `add tables ${missing.join(', ')}` : `covers ${tables.join(', ')}`,
      tables,
      missing,
    });
    const extra = [...have].filter((t) => !tables.includes(t));
    if (extra.length)
      warnings.push(
        `publication ${d.publication} also publishes ${extra.join(', ')} (not captured; left as is)`,
      );
  }

  const slot = (
    await client.query<{
      plugin: string;
      database: string;
      wal_status: string | null;
      active: boolean;
    }>(
      'SELECT plugin, database, wal_status, active FROM pg_replication_slots WHERE slot_name = $1',
      [d.slot],
    )
  ).rows[0];
  if (!slot) {
    steps.push({
      target: 'slot',
      source: d.index,
      name: d.slot,
      action: 'create',
      detail: `logical, pgoutput — PostgreSQL keeps WAL from now on for source ${d.source.name}`,
    });
  } else if (slot.plugin !== 'pgoutput' || slot.database !== d.source.connection.database) {
    problems.push(
      `${where}${d.source.slot ? '.slot' : ''}: replication slot "${d.slot}" exists with plugin ${slot.plugin} on database ${slot.database}; use another slot name or drop it`,
    );
  } else {
    steps.push({
      target: 'slot',
      source: d.index,
      name: d.slot,
      action: 'unchanged',
      detail: `exists (wal_status ${slot.wal_status ?? '?'}${slot.active ? ', in use' : ''})`,
    });
    if (slot.wal_status === 'lost')
      warnings.push(
        `slot ${d.slot}: wal_status lost; the capture will need a new snapshot (onSlotLoss)`,
      );
  }
  return { steps, problems, warnings, ...(schemaTables ? { schemaTables } : {}) };
}

/** JSON with sorted keys, for comparing stored and new configs. */
export function stableJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : x,
  );
}

/** Formats a plan: one line per step, grouped by target, then problems and warnings. */
export function formatPlan(plan: Plan): string {
  const sign: Record<StepAction, string> = {
    create: '+',
    change: '~',
    unchanged: '=',
    unknown: '?',
  };
  const lines: string[] = [];
  const groups: Array<[PlanStep['target'], string]> = [
    ['topic', 'Kafka topics'],
    ['publication', 'PostgreSQL publications'],
    ['slot', 'PostgreSQL replication slots'],
    ['control', 'Control plane'],
  ];
  for (const [target, title] of groups) {
    const steps = plan.steps.filter((s) => s.target === target);
    if (!steps.length) continue;
    lines.push(`${title}:`);
    const width = Math.max(...steps.map((s) => s.name.length));
    for (const s of steps)
      lines.push(
        `  ${sign[s.action]} ${s.name.padEnd(width)}  ${s.action === 'unchanged' ? '' : `${s.action}: `}${s.detail}`,
      );
  }
  const count = (a: StepAction) => plan.steps.filter((s) => s.action === a).length;
  lines.push(
    `Plan: ${count('create')} to create, ${count('change')} to change, ${count('unchanged')} unchanged${count('unknown') ? `, ${count('unknown')} not checked` : ''}.`,
  );
  for (const w of plan.warnings) lines.push(`warning: ${w}`);
  for (const p of plan.problems) lines.push(`problem: ${p}`);
  return lines.join('\n');
}

export class PlanBlockedError extends TributaryError {
  constructor(problems: string[]) {
    super('PLAN_BLOCKED', `the topology cannot be deployed:\n  ${problems.join('\n  ')}`, {
      details: { problems },
    });
  }
}
