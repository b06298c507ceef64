// `tributary status`: per task its state, worker and last error from the control plane, the
// capture slot's lag measured in PostgreSQL, and the consumer lag of processors and sinks.
import pg from 'pg';
import { resolveSecrets } from '../../core/config/index.ts';
import { KafkaAdmin } from '../../core/kafka/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import type { ControlStore } from '../control/index.ts';
import { listTasks, processorAppId, sinkGroup, sourceNames } from '../spec/index.ts';
import type { SourceSpec, TaskKind, Topology } from '../spec/index.ts';

export async function topologyStatus(
  t: Topology,
  kafka: KafkaConfig,
  control: ControlStore | undefined,
): Promise<string> {
  const lines: string[] = [`topology ${t.name}${t.description ? ` — ${t.description}` : ''}`];
  const stored = control?.getConfig('topology', t.name);
  if (!control) lines.push('  control plane: not reachable (task states unknown)');
  else if (!stored)
    lines.push(
      '  control plane: not deployed (no workers run it; `tributary run` runs it locally)',
    );
  else
    lines.push(
      `  control plane: version ${stored.version}, target state ${control.targetState('topology', t.name)}`,
    );
  const statuses = new Map(
    (stored ? control!.taskStatuses('topology', t.name) : []).map((s) => [s.task, s]),
  );
  const admin = new KafkaAdmin(kafka);
  const tasks = listTasks(t);
  const width = Math.max(...tasks.map((x) => x.id.length));
  try {
    for (const task of tasks) {
      const s = statuses.get(task.id);
      const state = s ? `${s.state} on ${s.workerId}` : stored ? 'UNASSIGNED' : '-';
      let lag = '';
      try {
        if (task.kind === 'source')
          lag = await slotLag(t.sources.find((x) => x.name === task.name)!);
        else {
          const group =
            task.kind === 'processor'
              ? processorAppId(t, { name: task.name })
              : sinkGroup(t, { name: task.name });
          const topics =
            task.kind === 'processor'
              ? t.processors.find((p) => p.name === task.name)!.inputs
              : t.sinks.find((x) => x.name === task.name)!.topics;
          const m = await admin.groupLag(group, topics);
          // Transactional topics end with a commit marker, so up to one per partition shows here.
          lag = `consumer lag ${[...m.values()].reduce((a, b) => a + b, 0)} records`;
        }
      } catch (err) {
        lag = `lag unknown (${(err as Error).message.split('\n')[0]})`;
      }
      lines.push(`  ${task.id.padEnd(width)}  ${state.padEnd(20)}  ${lag}`);
      if (s?.metrics && s.state === 'RUNNING')
        lines.push(`    ${describeMetrics(task.kind, s.metrics)}`);
      if (s?.trace) lines.push(`    last error: ${s.trace.split('\n')[0]}`);
    }
  } finally {
    await admin.close();
  }
  return lines.join('\n');
}

async function slotLag(s: SourceSpec): Promise<string> {
  const { slot } = sourceNames(s);
  const conn = resolveSecrets(s.connection, 'connection') as SourceSpec['connection'];
  const client = new pg.Client({ ...conn, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    const r = await client.query<{ active: boolean; wal_status: string; lag: string | null }>(
      `SELECT active, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text AS lag
         FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const row = r.rows[0];
    if (!row) return `slot ${slot} does not exist`;
    return `slot ${slot} lag ${row.lag ?? '?'} B, wal_status ${row.wal_status}, ${row.active ? 'active' : 'inactive'}`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** One line of a task's counters (from createTask's metrics(), locally or in a worker's status record). */
export function describeMetrics(kind: TaskKind, metrics: unknown): string {
  const m = (metrics ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  if (kind === 'source') {
    parts.push(`${num(m.events)} events in ${num(m.transactions)} transactions`);
    if (typeof m.lagBytes === 'number') parts.push(`slot lag ${m.lagBytes} B`);
    if (m.snapshotRows !== undefined) parts.push(`snapshot ${num(m.snapshotRows)} rows`);
  } else if (kind === 'processor') {
    parts.push(
      `${num(m.processed)} processed, ${num(m.emitted)} emitted, ${num(m.commits)} commits`,
    );
    const dl = Object.values((m.deadLettered ?? {}) as Record<string, number>).reduce(
      (a, b) => a + b,
      0,
    );
    if (dl) parts.push(`${dl} dead-lettered`);
  } else {
    parts.push(`${num(m.written)} written, ${num(m.consumed)} consumed, ${num(m.batches)} batches`);
    if (m.deadLettered) parts.push(`${num(m.deadLettered)} dead-lettered`);
    if (m.storeDown) parts.push('STORE DOWN');
  }
  return parts.join(', ');
}

function num(v: unknown): string {
  return typeof v === 'number' ? String(v) : '0';
}
