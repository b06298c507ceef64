// Helpers for REST tests: a RestServer over a ControlStore on unique topics, tokens per role,
// a request function that records every response text (to check that no secret leaks).
import { defaultKafkaConfig } from '../../../../core/kafka/index.ts';
import { ControlStore } from '../../../../topology/control/index.ts';
import { RestServer } from '../../../../topology/rest/server.ts';
import type { RestServerOptions } from '../../../../topology/rest/server.ts';
import { uniqueName } from '../../helpers.ts';

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

export class RestHarness {
  readonly logs: string[] = [];
  readonly responses: string[] = [];
  readonly store: ControlStore;
  server!: RestServer;
  base = '';
  tokens: Record<'admin' | 'operator' | 'viewer', string> = { admin: '', operator: '', viewer: '' };

  constructor(
    private readonly serverOptions: Partial<RestServerOptions> = {},
    kafka = defaultKafkaConfig('rest-test'),
  ) {
    this.store = new ControlStore({
      kafka,
      configsTopic: uniqueName('rest-configs'),
      statusTopic: uniqueName('rest-status'),
      log: (m) => this.logs.push(m),
    });
  }

  async start(withTokens = true): Promise<void> {
    this.store.start();
    if (withTokens) {
      await this.store.sync(30_000);
      for (const role of ['admin', 'operator', 'viewer'] as const)
        this.tokens[role] = (await this.store.createToken(role, `test ${role}`)).token;
    }
    this.server = new RestServer({
      store: this.store,
      cluster: { brokers: defaultKafkaConfig().brokers },
      rateLimit: 0,
      workerId: 'test-worker',
      log: (l) => this.logs.push(l),
      ...this.serverOptions,
    });
    const port = await this.server.listen(0);
    this.base = `http://127.0.0.1:${port}`;
  }

  async call(
    method: string,
    path: string,
    opts: {
      token?: string | 'admin' | 'operator' | 'viewer' | null;
      body?: unknown;
      raw?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    const t = opts.token === undefined ? 'admin' : opts.token;
    if (t !== null)
      headers.authorization = `Bearer ${t in this.tokens ? this.tokens[t as 'admin'] : t}`;
    let body: string | undefined;
    if (opts.raw !== undefined) body = opts.raw;
    else if (opts.body !== undefined) body = JSON.stringify(opts.body);
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const res = await fetch(this.base + path, {
      method,
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    const text = await res.text();
    this.responses.push(`${res.status} ${JSON.stringify([...res.headers])} ${text}`);
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  }

  async close(): Promise<void> {
    await this.server?.close();
    await this.store.close();
  }
}

export const PG_CLASS = 'io.debezium.connector.postgresql.PostgresConnector';

export function debeziumConfig(extra: Record<string, string> = {}): Record<string, string> {
  return {
    'connector.class': PG_CLASS,
    'database.hostname': '127.0.0.1',
    'database.port': '5432',
    'database.user': 'tributary',
    'database.password': 'tributary',
    'database.dbname': 'tributary',
    'table.include.list': 'public.orders',
    'topic.prefix': 'shop',
    ...extra,
  };
}
