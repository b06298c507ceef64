/**
 * The REST resources: Kafka Connect's /connectors paths and JSON shapes, plus /topologies for
 * whole topologies and /workers. Handlers read from the ControlStore (synced first, so a
 * worker answers for every worker) and write through it; they never touch tasks directly —
 * workers react to the records.
 */
import type { IncomingMessage } from 'node:http';
import { ConfigError } from '../../core/errors/index.ts';
import { ControlConflictError } from '../control/index.ts';
import type { ConfigKind, ConfigRecord, ControlStore, Role } from '../control/index.ts';
import {
  isSecretProperty,
  mapConnectorConfig,
  POSTGRES_CONNECTOR_CLASS,
  PROPERTIES,
} from '../worker/connectors.ts';
import { TRIBUTARY_VERSION } from '../../core/version.ts';
import { redactDeep } from '../worker/redact.ts';
import { topologyTaskIds } from '../worker/tasks.ts';
import { flag, HttpError, ifMatch, isObject, parseBody, readBody } from './http.ts';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext {
  req: IncomingMessage;
  params: URLSearchParams;
  /** Path segments matched by `{name}` placeholders. */
  args: string[];
  store: ControlStore;
  cluster: { brokers: string[]; offsetsTopic?: string };
}

export interface Route {
  method: string;
  /** e.g. /connectors/{name}/status */
  path: string;
  role: Role;
  summary: string;
  handle(ctx: RouteContext): Promise<Reply>;
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

function checkName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new HttpError(422, `invalid ${field}`, {
      errors: [{ field, message: 'use 1-128 letters, digits, ".", "_" or "-"' }],
    });
  return name;
}

function notFound(kind: ConfigKind, name: string): HttpError {
  return new HttpError(404, `${kind === 'connector' ? 'Connector' : 'Topology'} ${name} not found`);
}

function live(ctx: RouteContext, kind: ConfigKind): ConfigRecord {
  const name = ctx.args[0]!;
  const c = ctx.store.getConfig(kind, name);
  if (!c) throw notFound(kind, name);
  return c;
}

/** Store errors → HTTP: conflicts 409, unknown 404, slots exhausted 409, bad config 422. */
export function storeError(err: unknown): unknown {
  if (err instanceof ControlConflictError) {
    if (err.reason === 'missing') return new HttpError(404, err.message);
    return new HttpError(409, err.message);
  }
  if (err instanceof ConfigError) return new HttpError(422, err.message);
  return err;
}

// ---- connectors ----

function validateConnector(
  ctx: RouteContext,
  name: string,
  config: unknown,
): Record<string, unknown> {
  if (!isObject(config))
    throw new HttpError(422, 'config must be a JSON object of connector properties', {
      errors: [{ field: 'config', message: 'must be an object' }],
    });
  const mapped = mapConnectorConfig(name, config, ctx.cluster);
  if (mapped.errors.length > 0)
    throw new HttpError(
      422,
      `Connector configuration is invalid and contains the following ${mapped.errors.length} error(s):\n${mapped.errors.map((e) => `${e.field}: ${e.message}`).join('\n')}`,
      { errors: mapped.errors },
    );
  return { ...config, name };
}

function connectorInfo(c: ConfigRecord) {
  return {
    name: c.name,
    config: redactDeep({ ...c.config, name: c.name }),
    tasks: Object.keys(c.slots).map((t) => ({ connector: c.name, task: Number(t) })),
    type: 'source',
  };
}

function connectorStatus(store: ControlStore, c: ConfigRecord) {
  const statuses = store.taskStatuses('connector', c.name);
  const tasks = Object.keys(c.slots).map((t) => {
    const s = statuses.find((x) => x.task === t);
    return {
      id: Number(t),
      state: s?.state ?? 'UNASSIGNED',
      worker_id: s?.workerId ?? '',
      ...(s?.trace && s.state === 'FAILED' ? { trace: s.trace } : {}),
      ...(s?.metrics ? { metrics: s.metrics } : {}),
      version: s?.version ?? 0,
    };
  });
  const first = tasks[0];
  return {
    name: c.name,
    connector: { state: first?.state ?? 'UNASSIGNED', worker_id: first?.worker_id ?? '' },
    tasks,
    type: 'source',
    target: store.targetState('connector', c.name),
  };
}

const etag = (c: ConfigRecord) => ({ etag: `"${c.version}"` });

/** Stores a validated config; 201 + Location when it created the name, else 200. */
async function storeConfig(
  ctx: RouteContext,
  kind: ConfigKind,
  name: string,
  config: Record<string, unknown>,
  expect: 'absent' | number | undefined,
  tasks?: string[],
): Promise<Reply> {
  const { record, created } = await viaStore(() =>
    ctx.store.putConfig(kind, name, config, {
      ...(tasks ? { tasks } : {}),
      ...(expect !== undefined ? { expect } : {}),
    }),
  );
  const base = kind === 'connector' ? '/connectors' : '/topologies';
  return {
    status: created ? 201 : 200,
    body: kind === 'connector' ? connectorInfo(record) : topologyInfo(record),
    headers: { ...etag(record), ...(created ? { location: `${base}/${name}` } : {}) },
  };
}

/** GET and DELETE of one config, pause and resume: the same for connectors and topologies. */
function sharedRoutes(
  kind: ConfigKind,
  base: string,
  info: (c: ConfigRecord) => unknown,
  describe: { get: string; delete: string },
): Route[] {
  const label = kind === 'connector' ? 'connector' : 'topology';
  return [
    {
      method: 'GET',
      path: `${base}/{name}`,
      role: 'viewer',
      summary: describe.get,
      handle: async (ctx) => {
        const c = live(ctx, kind);
        return { status: 200, body: info(c), headers: etag(c) };
      },
    },
    {
      method: 'DELETE',
      path: `${base}/{name}`,
      role: 'admin',
      summary: describe.delete,
      handle: async (ctx) => {
        await viaStore(() => ctx.store.deleteConfig(kind, ctx.args[0]!));
        return { status: 204 };
      },
    },
    ...(['pause', 'resume'] as const).map((action): Route => ({
      method: 'PUT',
      path: `${base}/{name}/${action}`,
      role: 'operator',
      summary:
        action === 'pause'
          ? `Pause the ${label}: its tasks stop (a capture keeps its slot: WAL is retained and it resumes from its position)`
          : `Resume a paused ${label}`,
      handle: async (ctx) => {
        const c = live(ctx, kind);
        const state = action === 'pause' ? 'PAUSED' : 'RUNNING';
        await viaStore(() => ctx.store.setTargetState(kind, c.name, state));
        return { status: 202 };
      },
    })),
  ];
}

/** Runs a store call, turning its errors into HTTP errors. */
async function viaStore<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw storeError(err);
  }
}

const connectorRoutes: Route[] = [
  ...sharedRoutes('connector', '/connectors', connectorInfo, {
    get: 'Connector info: name, config (secrets hidden), tasks, type',
    delete: 'Delete a connector (its task stops; the slot and topics are kept)',
  }),
  {
    method: 'GET',
    path: '/connectors',
    role: 'viewer',
    summary: 'List connector names (?expand=status and/or ?expand=info as in Kafka Connect)',
    handle: async (ctx) => {
      const all = ctx.store.listConfigs('connector');
      const expand = ctx.params.getAll('expand');
      for (const e of expand)
        if (e !== 'status' && e !== 'info')
          throw new HttpError(400, 'expand must be "status" or "info"');
      if (expand.length === 0) return { status: 200, body: all.map((c) => c.name) };
      return {
        status: 200,
        body: Object.fromEntries(
          all.map((c) => [
            c.name,
            {
              ...(expand.includes('info') ? { info: connectorInfo(c) } : {}),
              ...(expand.includes('status') ? { status: connectorStatus(ctx.store, c) } : {}),
            },
          ]),
        ),
      };
    },
  },
  {
    method: 'POST',
    path: '/connectors',
    role: 'admin',
    summary: 'Create a connector from {name, config} (Debezium PostgreSQL properties)',
    handle: async (ctx) => {
      const body = parseBody(ctx.req, await readBody(ctx.req));
      if (!isObject(body))
        throw new HttpError(422, 'body must be {"name": ..., "config": {...}}', {
          errors: [{ field: '(body)', message: 'must be an object' }],
        });
      const name = checkName(body.name);
      const config = validateConnector(ctx, name, body.config);
      return storeConfig(ctx, 'connector', name, config, 'absent');
    },
  },
  {
    method: 'GET',
    path: '/connectors/{name}/config',
    role: 'viewer',
    summary: 'Connector config (secrets hidden); ETag = config version',
    handle: async (ctx) => {
      const c = live(ctx, 'connector');
      return { status: 200, body: redactDeep({ ...c.config, name: c.name }), headers: etag(c) };
    },
  },
  {
    method: 'PUT',
    path: '/connectors/{name}/config',
    role: 'admin',
    summary:
      'Create (201) or update (200) a connector; If-Match: "<version>" for optimistic locking',
    handle: async (ctx) => {
      const name = checkName(ctx.args[0]);
      const body = parseBody(ctx.req, await readBody(ctx.req));
      const config = validateConnector(ctx, name, body);
      const m = ifMatch(ctx.req);
      if (m === '*' && !ctx.store.getConfig('connector', name))
        throw new HttpError(404, `Connector ${name} not found`);
      return storeConfig(ctx, 'connector', name, config, m === '*' ? undefined : m);
    },
  },
  {
    method: 'GET',
    path: '/connectors/{name}/status',
    role: 'viewer',
    summary: 'Connector and task state (RUNNING, PAUSED, FAILED with trace, UNASSIGNED) and worker',
    handle: async (ctx) => ({
      status: 200,
      body: connectorStatus(ctx.store, live(ctx, 'connector')),
    }),
  },
  {
    method: 'GET',
    path: '/connectors/{name}/tasks',
    role: 'viewer',
    summary: 'Tasks of a connector with their configs (secrets hidden)',
    handle: async (ctx) => {
      const c = live(ctx, 'connector');
      return {
        status: 200,
        body: Object.keys(c.slots).map((t) => ({
          id: { connector: c.name, task: Number(t) },
          config: redactDeep({ ...c.config, name: c.name }),
        })),
      };
    },
  },
  {
    method: 'POST',
    path: '/connectors/{name}/restart',
    role: 'operator',
    summary: 'Restart (?includeTasks=true&onlyFailed=true as in Kafka Connect)',
    handle: async (ctx) => {
      const includeTasks = flag(ctx.params, 'includeTasks');
      const onlyFailed = flag(ctx.params, 'onlyFailed');
      const c = live(ctx, 'connector');
      await viaStore(() =>
        ctx.store.requestRestart('connector', c.name, { includeTasks, onlyFailed }),
      );
      if (!includeTasks && !onlyFailed) return { status: 204 };
      const status = connectorStatus(ctx.store, c);
      const restarting = (state: string) =>
        !onlyFailed || state === 'FAILED' ? 'RESTARTING' : state;
      return {
        status: 202,
        body: {
          ...status,
          connector: { ...status.connector, state: restarting(status.connector.state) },
          tasks: status.tasks.map((t) => ({ ...t, state: restarting(t.state) })),
        },
      };
    },
  },
];

// ---- topologies ----

function validateTopology(spec: unknown): string[] {
  try {
    return topologyTaskIds(spec);
  } catch (err) {
    if (err instanceof ConfigError) {
      const problems = (err.details.problems as string[] | undefined) ?? [err.message];
      throw new HttpError(422, `Topology is invalid: ${problems.length} problem(s)`, {
        errors: problems.map((p) => {
          const i = p.indexOf(': ');
          return i > 0
            ? { field: p.slice(0, i), message: p.slice(i + 2) }
            : { field: '(topology)', message: p };
        }),
      });
    }
    throw err;
  }
}

function topologyInfo(c: ConfigRecord) {
  return {
    name: c.name,
    version: c.version,
    spec: redactDeep(c.config),
    tasks: Object.keys(c.slots),
  };
}

function topologyStatus(store: ControlStore, c: ConfigRecord) {
  const statuses = store.taskStatuses('topology', c.name);
  return {
    name: c.name,
    version: c.version,
    target: store.targetState('topology', c.name),
    tasks: Object.keys(c.slots).map((id) => {
      const s = statuses.find((x) => x.task === id);
      return {
        id,
        state: s?.state ?? 'UNASSIGNED',
        worker_id: s?.workerId ?? '',
        ...(s?.trace && s.state === 'FAILED' ? { trace: s.trace } : {}),
        ...(s?.metrics ? { metrics: s.metrics } : {}),
      };
    }),
  };
}

async function putTopology(
  ctx: RouteContext,
  name: string,
  spec: unknown,
  expect: 'absent' | number | undefined,
): Promise<Reply> {
  if (!isObject(spec))
    throw new HttpError(422, 'body must be a topology (JSON or YAML object)', {
      errors: [{ field: '(body)', message: 'must be an object' }],
    });
  if (spec.name !== undefined && spec.name !== name)
    throw new HttpError(422, 'topology name differs from the path', {
      errors: [{ field: 'name', message: `"${String(spec.name)}" differs from "${name}"` }],
    });
  const withName = { ...spec, name };
  const tasks = validateTopology(withName);
  return storeConfig(ctx, 'topology', name, withName, expect, tasks);
}

const topologyRoutes: Route[] = [
  ...sharedRoutes('topology', '/topologies', topologyInfo, {
    get: 'A topology: spec (secrets hidden), version, task ids',
    delete: 'Delete a topology (its tasks stop)',
  }),
  {
    method: 'GET',
    path: '/topologies',
    role: 'viewer',
    summary: 'List topology names',
    handle: async (ctx) => ({
      status: 200,
      body: ctx.store.listConfigs('topology').map((c) => c.name),
    }),
  },
  {
    method: 'POST',
    path: '/topologies',
    role: 'admin',
    summary:
      'Create a topology (the YAML spec as JSON, or YAML with Content-Type: application/yaml)',
    handle: async (ctx) => {
      const spec = parseBody(ctx.req, await readBody(ctx.req), true);
      const name = checkName(isObject(spec) ? spec.name : undefined);
      return putTopology(ctx, name, spec, 'absent');
    },
  },
  {
    method: 'PUT',
    path: '/topologies/{name}',
    role: 'admin',
    summary: 'Create (201) or replace (200) a topology; If-Match: "<version>"',
    handle: async (ctx) => {
      const name = checkName(ctx.args[0]);
      const m = ifMatch(ctx.req);
      const spec = parseBody(ctx.req, await readBody(ctx.req), true);
      if (m === '*' && !ctx.store.getConfig('topology', name)) throw notFound('topology', name);
      return putTopology(ctx, name, spec, m === '*' ? undefined : m);
    },
  },
  {
    method: 'GET',
    path: '/topologies/{name}/status',
    role: 'viewer',
    summary: 'State, worker and last error of every task of a topology',
    handle: async (ctx) => ({
      status: 200,
      body: topologyStatus(ctx.store, live(ctx, 'topology')),
    }),
  },
  {
    method: 'POST',
    path: '/topologies/{name}/restart',
    role: 'operator',
    summary: 'Restart every task (?onlyFailed=true: only failed ones)',
    handle: async (ctx) => {
      const onlyFailed = flag(ctx.params, 'onlyFailed');
      const c = live(ctx, 'topology');
      await viaStore(() =>
        ctx.store.requestRestart('topology', c.name, { onlyFailed, includeTasks: true }),
      );
      return { status: 202, body: topologyStatus(ctx.store, c) };
    },
  },
];

const workerRoutes: Route[] = [
  {
    method: 'GET',
    path: '/workers',
    role: 'viewer',
    summary: 'Workers seen in the status topic, their slots and last heartbeat',
    handle: async (ctx) => ({
      status: 200,
      body: ctx.store.listWorkers().map((w) => ({
        id: w.workerId,
        rest_url: w.restUrl ?? null,
        slots: w.partitions,
        last_seen_ms: w.ts_ms,
        stopped: w.stopped,
      })),
    }),
  },
];

/**
 * Kafka Connect's plugin endpoints, which Debezium tooling calls before creating a connector:
 * the one connector class we run, and config validation in Connect's ConfigInfos shape
 * (always 200; problems are in `error_count` and each value's `errors`).
 */
const pluginRoutes: Route[] = [
  {
    method: 'GET',
    path: '/connector-plugins',
    role: 'viewer',
    summary: 'Connector classes this worker runs',
    handle: async () => ({
      status: 200,
      body: [{ class: POSTGRES_CONNECTOR_CLASS, type: 'source', version: TRIBUTARY_VERSION }],
    }),
  },
  {
    method: 'PUT',
    path: '/connector-plugins/{name}/config/validate',
    role: 'viewer',
    summary: 'Validate a connector config without storing it (Kafka Connect ConfigInfos)',
    handle: async (ctx) => {
      const body = parseBody(ctx.req, await readBody(ctx.req));
      if (!isObject(body)) throw new HttpError(400, 'body must be a JSON object of properties');
      const cls = ctx.args[0]!;
      const short = POSTGRES_CONNECTOR_CLASS.split('.').at(-1);
      if (cls !== POSTGRES_CONNECTOR_CLASS && cls !== short)
        throw new HttpError(404, `Connector plugin ${cls} not found`);
      const config: Record<string, unknown> = {
        'connector.class': POSTGRES_CONNECTOR_CLASS,
        ...body,
      };
      const name = typeof config.name === 'string' && config.name ? config.name : 'validate';
      const { errors } = mapConnectorConfig(name, config, ctx.cluster);
      const fields = [...new Set([...Object.keys(config), ...errors.map((e) => e.field)])];
      return {
        status: 200,
        body: {
          name: POSTGRES_CONNECTOR_CLASS,
          error_count: errors.length,
          groups: ['Common'],
          configs: fields.map((field) => ({
            definition: {
              name: field,
              type: 'STRING',
              required: false,
              documentation: PROPERTIES[field]?.doc ?? 'not supported by Tributary',
            },
            value: {
              name: field,
              value:
                field in config
                  ? isSecretProperty(field)
                    ? '[hidden]'
                    : String(config[field])
                  : null,
              recommended_values: [],
              errors: errors.filter((e) => e.field === field).map((e) => e.message),
              visible: true,
            },
          })),
        },
      };
    },
  },
];

export const ROUTES: Route[] = [
  ...connectorRoutes,
  ...topologyRoutes,
  ...workerRoutes,
  ...pluginRoutes,
];
