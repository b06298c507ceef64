// Worker test harness: `tributary worker` child processes (killable with SIGKILL) on a private
// set of control topics and group, an admin token, and a small REST client.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { defaultKafkaConfig } from '../../../../core/kafka/index.ts';
import { ControlStore } from '../../../../topology/control/index.ts';
import { REPO, uniqueName } from '../../helpers.ts';
import { sleep } from '../../capture/postgres/harness.ts';

export interface Cluster {
  group: string;
  configsTopic: string;
  statusTopic: string;
  coordinationTopic: string;
  taskSlots: number;
  sessionTimeoutMs: number;
}

export function newCluster(sessionTimeoutMs = 6_000): Cluster {
  return {
    group: uniqueName('workers'),
    configsTopic: uniqueName('ctl-configs'),
    statusTopic: uniqueName('ctl-status'),
    coordinationTopic: uniqueName('ctl-tasks'),
    taskSlots: 4,
    sessionTimeoutMs,
  };
}

export async function adminToken(c: Cluster): Promise<string> {
  const store = new ControlStore({
    kafka: defaultKafkaConfig('test-token'),
    configsTopic: c.configsTopic,
    statusTopic: c.statusTopic,
  });
  store.start();
  try {
    await store.sync(30_000);
    return (await store.createToken('admin', 'test')).token;
  } finally {
    await store.close();
  }
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export class WorkerProcess {
  readonly output: string[] = [];
  readonly child: ChildProcess;
  private readonly exited: Promise<number | null>;

  constructor(
    readonly id: string,
    readonly port: number,
    c: Cluster,
  ) {
    this.child = spawn(
      process.execPath,
      [
        'bin/tributary.js',
        'worker',
        '--worker-id',
        id,
        '--rest-port',
        String(port),
        '--group',
        c.group,
        '--configs-topic',
        c.configsTopic,
        '--status-topic',
        c.statusTopic,
        '--coordination-topic',
        c.coordinationTopic,
        '--task-slots',
        String(c.taskSlots),
        '--session-timeout-ms',
        String(c.sessionTimeoutMs),
        '--rate-limit',
        '0',
      ],
      { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    );
    const collect = (d: Buffer) => this.output.push(...d.toString().split('\n').filter(Boolean));
    this.child.stdout!.on('data', collect);
    this.child.stderr!.on('data', collect);
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async waitFor(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const line = this.output.find((l) => pattern.test(l));
      if (line) return line;
      if (this.child.exitCode !== null)
        throw new Error(`worker ${this.id} exited before ${pattern}:\n${this.output.join('\n')}`);
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${pattern}:\n${this.output.join('\n')}`);
  }

  kill9(): Promise<number | null> {
    this.child.kill('SIGKILL');
    return this.exited;
  }

  stop(): Promise<number | null> {
    if (this.child.exitCode !== null) return this.exited;
    this.child.kill('SIGTERM');
    return this.exited;
  }
}

type Json = any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** Latest group generation a worker logged, with its slots. */
export function lastGeneration(
  w: WorkerProcess,
): { generation: number; slots: number[] } | undefined {
  for (let i = w.output.length - 1; i >= 0; i--) {
    const m = /generation (\d+): slots \[([\d, ]*)\]/.exec(w.output[i]!);
    if (m)
      return {
        generation: Number(m[1]),
        slots: m[2]!
          .split(',')
          .filter((x) => x.trim() !== '')
          .map(Number),
      };
  }
  return undefined;
}

/** Waits until every worker logged the same generation and each holds some slot. */
export async function groupSettled(workers: WorkerProcess[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const gens = workers.map(lastGeneration);
    if (gens.every((g) => g && g.generation === gens[0]!.generation && g.slots.length > 0)) return;
    if (Date.now() > deadline) throw new Error(`group did not settle: ${JSON.stringify(gens)}`);
    await sleep(100);
  }
}

/** A JSON REST call with the bearer token; returns status and parsed body. */
export async function rest(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Json }> {
  const res = await fetch(base + path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
}

/** Polls a connector's status until `ok(status)` holds. */
export async function waitForStatus(
  base: string,
  token: string,
  name: string,
  ok: (s: {
    connector: { state: string; worker_id: string };
    tasks: Array<{ state: string; worker_id: string; trace?: string }>;
  }) => boolean,
  timeoutMs = 60_000,
): Promise<{
  connector: { state: string; worker_id: string };
  tasks: Array<{ state: string; worker_id: string; trace?: string }>;
}> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    const r = await rest(base, token, 'GET', `/connectors/${name}/status`).catch((e: Error) => ({
      status: 0,
      json: e.message,
    }));
    last = r.json;
    if (r.status === 200 && ok(r.json)) return r.json;
    await sleep(200);
  }
  throw new Error(`connector ${name} status never matched: ${JSON.stringify(last)}`);
}
