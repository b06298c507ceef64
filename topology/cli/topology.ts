// `tributary validate | plan | deploy | run | status | pause | resume | restart | snapshot
// <topology.yaml>`: the topology commands. validate checks the file alone; plan and deploy
// also look at Kafka, PostgreSQL and the control plane; run starts every task in this process.
import { dirname, isAbsolute, resolve } from 'node:path';
import { emitSnapshotSignal, parsePostgresSource } from '../../capture/postgres/index.ts';
import { nearest, readConfigFile } from '../../core/config/index.ts';
import { ConfigError, TributaryError } from '../../core/errors/index.ts';
import type { KafkaConfig } from '../../core/kafka/index.ts';
import { ControlStore } from '../control/index.ts';
import { applyPlan, formatPlan, planTopology } from '../planner/index.ts';
import type { Plan } from '../planner/index.ts';
import { checkTopology, listTasks, problemsError, sourceConfig } from '../spec/index.ts';
import type { Topology } from '../spec/index.ts';
import { Supervisor, kafkaConfigFor } from '../supervisor/index.ts';
import type { TaskStatus } from '../supervisor/index.ts';
import { describeMetrics, topologyStatus } from './status.ts';

interface Loaded {
  file: string;
  raw: Record<string, unknown>;
  topology: Topology;
  baseDir: string;
  warnings: string[];
}

/** Splits `<file> [--option value | --flag]...`; flags listed in `flags` take no value. */
export function parseCommand(
  args: string[],
  known: Record<string, 'string' | 'int' | 'flag'>,
  usage: string,
): { file: string; opts: Record<string, string | number | boolean> } {
  const opts: Record<string, string | number | boolean> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) {
      positional.push(arg);
      continue;
    }
    const name = m[1]!;
    const kind = known[name];
    if (!kind)
      throw new ConfigError(
        arg,
        `unknown option; valid options: ${
          Object.keys(known)
            .map((k) => `--${k}`)
            .join(', ') || '(none)'
        }`,
      );
    if (kind === 'flag') {
      opts[name] = true;
      continue;
    }
    const raw = m[2] ?? args[++i];
    if (raw === undefined) throw new ConfigError(`--${name}`, 'needs a value');
    if (kind === 'int') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0)
        throw new ConfigError(`--${name}`, `must be a non-negative integer, got "${raw}"`);
      opts[name] = n;
    } else opts[name] = raw;
  }
  if (positional.length !== 1)
    throw new ConfigError(
      positional.length ? positional[1]! : '<topology.yaml>',
      positional.length ? 'only one topology file is accepted' : `required; usage: ${usage}`,
    );
  return { file: positional[0]!, opts };
}

export function loadTopology(file: string): Loaded {
  const raw = readConfigFile(file);
  const baseDir = dirname(resolve(file));
  const r = checkTopology(raw, { baseDir });
  if (!r.topology) throw problemsError(r.problems, file);
  return {
    file,
    raw: raw as Record<string, unknown>,
    topology: r.topology,
    baseDir,
    warnings: r.warnings,
  };
}

function printWarnings(l: Loaded): void {
  for (const w of l.warnings) console.error(`warning: ${w}`);
}

function summary(t: Topology): string {
  const n = (k: number, w: string) => `${k} ${w}${k === 1 ? '' : 's'}`;
  return `topology ${t.name}: ${n(t.sources.length, 'source')}, ${n(t.processors.length, 'processor')}, ${n(t.sinks.length, 'sink')}, ${n(listTasks(t).length, 'task')}`;
}

export async function runValidate(args: string[]): Promise<number> {
  const { file } = parseCommand(args, {}, 'tributary validate <topology.yaml>');
  const raw = readConfigFile(file);
  const r = checkTopology(raw, { baseDir: dirname(resolve(file)) });
  for (const w of r.warnings) console.error(`warning: ${w}`);
  if (!r.topology) {
    console.error(
      `${file}: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}:\n  ${r.problems.join('\n  ')}`,
    );
    return 2;
  }
  console.log(`${file}: valid — ${summary(r.topology)}`);
  return 0;
}

/** The form stored in the control plane: the file as written (secret references kept) with module paths made absolute. */
export function storedForm(l: Loaded): Record<string, unknown> {
  const copy = structuredClone(l.raw) as {
    processors?: Array<{ chain?: Array<{ module?: string }> }>;
  };
  for (const p of copy.processors ?? [])
    for (const e of p.chain ?? [])
      if (typeof e.module === 'string' && !isAbsolute(e.module))
        e.module = resolve(l.baseDir, e.module);
  return copy as Record<string, unknown>;
}

/** Options naming the control topics, as `tributary worker` takes them (default: the shared ones). */
const CONTROL_OPTIONS = { 'configs-topic': 'string', 'status-topic': 'string' } as const;
const CONTROL_USAGE = '[--configs-topic T] [--status-topic T]';

async function openControl(
  kafka: KafkaConfig,
  required: boolean,
  opts: Record<string, string | number | boolean>,
): Promise<ControlStore | undefined> {
  const store = new ControlStore({
    kafka: { ...kafka, clientId: `${kafka.clientId}-cli` },
    ...(opts['configs-topic'] ? { configsTopic: String(opts['configs-topic']) } : {}),
    ...(opts['status-topic'] ? { statusTopic: String(opts['status-topic']) } : {}),
  });
  store.start();
  try {
    await store.sync(10_000);
    return store;
  } catch (err) {
    await store.close().catch(() => undefined);
    if (required) throw err;
    console.error(
      `warning: control plane not reachable (${(err as Error).message}); planning without it`,
    );
    return undefined;
  }
}

async function makePlan(
  l: Loaded,
  kafka: KafkaConfig,
  control: ControlStore | undefined,
): Promise<Plan> {
  return planTopology(l.topology, {
    kafka,
    ...(control
      ? {
          control: { stored: (name: string) => control.getConfig('topology', name) },
          storedForm: storedForm(l),
        }
      : {}),
  });
}

/** plan and deploy: load, plan against Kafka, PostgreSQL and (unless --no-control) the control plane, print. */
async function withPrintedPlan(
  args: string[],
  command: 'plan' | 'deploy',
  then: (plan: Plan, l: Loaded, kafka: KafkaConfig, control?: ControlStore) => Promise<number>,
): Promise<number> {
  const { file, opts } = parseCommand(
    args,
    { 'no-control': 'flag', ...CONTROL_OPTIONS },
    `tributary ${command} <topology.yaml> [--no-control] ${CONTROL_USAGE}`,
  );
  const l = loadTopology(file);
  printWarnings(l);
  const kafka = kafkaConfigFor(l.topology.kafka, command);
  const control = opts['no-control'] ? undefined : await openControl(kafka, false, opts);
  try {
    const plan = await makePlan(l, kafka, control);
    console.log(`${summary(l.topology)}\n${formatPlan(plan)}`);
    return await then(plan, l, kafka, control);
  } finally {
    await control?.close();
  }
}

export function runPlan(args: string[]): Promise<number> {
  return withPrintedPlan(args, 'plan', async (plan) => (plan.problems.length ? 2 : 0));
}

export function runDeploy(args: string[]): Promise<number> {
  return withPrintedPlan(args, 'deploy', async (plan, l, kafka, control) => {
    if (plan.problems.length) {
      console.error('deploy: nothing changed; fix the problems above first');
      return 2;
    }
    const done = await applyPlan(plan, {
      kafka,
      log: (line) => console.log(`  ${line}`),
      ...(control
        ? {
            storeTopology: async () => {
              const r = await control.putConfig('topology', l.topology.name, storedForm(l), {
                tasks: listTasks(l.topology).map((t) => t.id),
              });
              return { version: r.record.version };
            },
          }
        : {}),
    });
    console.log(
      done.length
        ? `deployed: ${done.length} change${done.length === 1 ? '' : 's'} applied`
        : 'deployed: nothing to change',
    );
    return 0;
  });
}

export async function runRun(args: string[]): Promise<number> {
  const { file, opts } = parseCommand(
    args,
    { 'progress-interval-ms': 'int', 'keep-going': 'flag', 'no-deploy': 'flag' },
    'tributary run <topology.yaml> [--progress-interval-ms N] [--keep-going] [--no-deploy]',
  );
  const l = loadTopology(file);
  printWarnings(l);
  const t = l.topology;
  const kafka = kafkaConfigFor(t.kafka, 'run');
  if (!opts['no-deploy']) {
    const plan = await makePlan(l, kafka, undefined);
    if (plan.problems.length) throw problemsError(plan.problems, file);
    const done = await applyPlan(plan, { kafka, log: (line) => console.log(`[run] ${line}`) });
    console.log(
      `[run] deploy: ${done.length} change${done.length === 1 ? '' : 's'} applied (topics, publications, slots)`,
    );
  }
  const tasks = listTasks(t, l.baseDir);
  const supervisor = new Supervisor(tasks, {
    failFast: !opts['keep-going'],
    log: (id, m) => console.log(`[${id}] ${m}`),
    onStateChange: (s) =>
      console.log(`[run] ${s.id}: ${s.state}${s.lastError ? ` — ${s.lastError}` : ''}`),
  });
  let signalled = false;
  const onSignal = (sig: string) => {
    if (signalled) return;
    signalled = true;
    console.log(
      `[run] ${sig}: stopping every task (sources first; open transactions are finished)`,
    );
    void supervisor.stop();
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  console.log(`[run] starting ${summary(t)}`);
  await supervisor.start();
  supervisor.ready().then(
    () => console.log(`[run] all ${tasks.length} tasks running (Ctrl-C to stop)`),
    (err: Error) => console.log(`[run] ${err.message}`),
  );
  const every = (opts['progress-interval-ms'] as number | undefined) ?? 5_000;
  const timer =
    every > 0 ? setInterval(() => printProgress(supervisor.status()), every) : undefined;
  try {
    await supervisor.done;
    printProgress(supervisor.status());
    console.log('[run] stopped');
    return supervisor.status().some((s) => s.state === 'failed') ? 1 : 0;
  } catch (err) {
    printProgress(supervisor.status());
    console.error(`[run] stopped: ${(err as Error).message}`);
    return 1;
  } finally {
    if (timer) clearInterval(timer);
  }
}

function printProgress(statuses: TaskStatus[]): void {
  for (const s of statuses) console.log(`[progress] ${s.id} ${s.state} ${progressOf(s)}`);
}

function progressOf(s: TaskStatus): string {
  const parts = [describeMetrics(s.kind, s.metrics)];
  if (s.lastError) parts.push(`last error: ${s.lastError}`);
  return parts.join(', ');
}

export async function runStatus(args: string[]): Promise<number> {
  const { file, opts } = parseCommand(
    args,
    CONTROL_OPTIONS,
    `tributary status <topology.yaml> ${CONTROL_USAGE}`,
  );
  const l = loadTopology(file);
  const kafka = kafkaConfigFor(l.topology.kafka, 'status');
  const control = await openControl(kafka, false, opts);
  try {
    console.log(await topologyStatus(l.topology, kafka, control));
    return 0;
  } finally {
    await control?.close();
  }
}

async function controlCommand(
  args: string[],
  usage: string,
  known: Record<string, 'string' | 'int' | 'flag'>,
  act: (
    store: ControlStore,
    l: Loaded,
    opts: Record<string, string | number | boolean>,
  ) => Promise<string>,
): Promise<number> {
  const { file, opts } = parseCommand(
    args,
    { ...known, ...CONTROL_OPTIONS },
    `${usage} ${CONTROL_USAGE}`,
  );
  const l = loadTopology(file);
  const kafka = kafkaConfigFor(l.topology.kafka, 'cli');
  const store = (await openControl(kafka, true, opts))!;
  try {
    if (!store.getConfig('topology', l.topology.name))
      throw new TributaryError(
        'TOPOLOGY_NOT_DEPLOYED',
        `topology "${l.topology.name}" is not stored in the control plane; run \`tributary deploy ${file}\` first (a \`tributary run\` process is stopped with Ctrl-C)`,
      );
    console.log(await act(store, l, opts));
    return 0;
  } finally {
    await store.close();
  }
}

export function runPause(args: string[]): Promise<number> {
  return controlCommand(args, 'tributary pause <topology.yaml>', {}, async (store, l) => {
    await store.setTargetState('topology', l.topology.name, 'PAUSED');
    return `topology ${l.topology.name}: target state PAUSED (workers stop its tasks; capture keeps its slot, so PostgreSQL retains WAL until resume)`;
  });
}

export function runResume(args: string[]): Promise<number> {
  return controlCommand(args, 'tributary resume <topology.yaml>', {}, async (store, l) => {
    await store.setTargetState('topology', l.topology.name, 'RUNNING');
    return `topology ${l.topology.name}: target state RUNNING (tasks continue from their stored positions)`;
  });
}

export function runRestart(args: string[]): Promise<number> {
  return controlCommand(
    args,
    'tributary restart <topology.yaml> [--only-failed]',
    { 'only-failed': 'flag' },
    async (store, l, opts) => {
      const r = await store.requestRestart('topology', l.topology.name, {
        includeTasks: true,
        onlyFailed: Boolean(opts['only-failed']),
      });
      return `topology ${l.topology.name}: restart requested (request ${r.requestId}${opts['only-failed'] ? ', failed tasks only' : ''})`;
    },
  );
}

export async function runSnapshot(args: string[]): Promise<number> {
  const usage = 'tributary snapshot <topology.yaml> --source <name> [--tables a,b]';
  const { file, opts } = parseCommand(args, { source: 'string', tables: 'string' }, usage);
  const l = loadTopology(file);
  const names = l.topology.sources.map((s) => s.name);
  const source = opts.source as string | undefined;
  const spec = l.topology.sources.find((s) => s.name === source);
  if (!source || !spec)
    throw new ConfigError(
      '--source',
      `${source ? `unknown source "${source}"` : 'required'}; sources: ${names.join(', ')}`,
    );
  const config = parsePostgresSource(sourceConfig(l.topology, spec), `sources[${source}]`);
  let tables: string[] | undefined;
  if (opts.tables !== undefined) {
    tables = String(opts.tables)
      .split(',')
      .map((t) => t.trim())
      .filter(Boolean);
    for (const t of tables) {
      const known = config.tables;
      const ok = known ? known.includes(t) : t.startsWith(`${config.schema}.`);
      if (!/^[^.]+\.[^.]+$/.test(t) || !ok) {
        const hint = known ? nearest(t, known) : undefined;
        throw new ConfigError(
          '--tables',
          `"${t}" is not captured by source "${source}"${hint ? ` — did you mean "${hint}"?` : ''}; it captures ${known ? known.join(', ') : `every table of schema ${config.schema}`}`,
        );
      }
    }
    if (tables.length === 0) throw new ConfigError('--tables', 'lists no table');
  }
  const r = await emitSnapshotSignal(config, tables);
  const what = tables ? tables.join(', ') : 'every captured table';
  if (r.lsn === null) {
    console.error(
      `source ${source}: replication slot ${r.slot} does not exist, so no capture would read a signal; nothing written. Deploy and start the source first (tributary deploy ${file}).`,
    );
    return 1;
  }
  console.log(
    `source ${source}: execute-snapshot signal for ${what} written at LSN ${r.lsn} (prefix tributary.signal)`,
  );
  console.log(
    r.slotActive
      ? `the running capture reads it in order with the changes and snapshots the tables in chunks while streaming (progress: tributary status ${file})`
      : `slot ${r.slot} is not active: the capture snapshots the tables when it starts again`,
  );
  return 0;
}
