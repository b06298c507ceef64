/**
 * The worker's REST API on node:http (no framework: a dozen routes, JSON in and out).
 *
 * Request pipeline: rate limit per client address (429 + Retry-After) → public routes
 * (`/`, `/openapi.json`) → bearer-token authentication against the control topic (401; 503
 * while the control topics cannot be read) → route lookup (404/405) → role check (403) →
 * handler. Every failure is a 4xx with Kafka Connect's error body `{error_code, message}`
 * (plus `errors: [{field, message}]` for 422); Kafka being unreachable is a 503. A 500 means a
 * bug: it is logged (redacted) and answered without details.
 *
 * Lifecycle: listen() once, close() once. Handlers may run concurrently.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TributaryError } from '../../core/errors/index.ts';
import { TRIBUTARY_VERSION } from '../../core/version.ts';
import type { ControlStore, Role } from '../control/index.ts';
import { collectSecrets, redactText } from '../worker/redact.ts';
import { allows, bearerToken, RateLimiter } from './auth.ts';
import { HttpError, sendError, sendJson } from './http.ts';
import { openApiDocument } from './openapi.ts';
import { ROUTES } from './routes.ts';
import type { Route } from './routes.ts';

export interface RestServerOptions {
  store: ControlStore;
  /** The Kafka cluster tasks run against (connector configs carry no brokers). */
  cluster: { brokers: string[]; offsetsTopic?: string };
  /** false only for local development: every request is treated as admin. Default true. */
  auth?: boolean;
  /** Requests per second per client address (0 = unlimited; default 50, bursts of 100). */
  rateLimit?: number;
  workerId?: string;
  log?: (line: string) => void;
}

interface CompiledRoute {
  route: Route;
  pattern: RegExp;
}

const compiled: CompiledRoute[] = ROUTES.map((route) => ({
  route,
  pattern: new RegExp(`^${route.path.replace(/\{name\}/g, '([^/]+)')}/?$`),
}));

export class RestServer {
  private readonly server: Server;
  private readonly limiter: RateLimiter;
  private readonly auth: boolean;
  private readonly log: (line: string) => void;
  /** Requests answered per status code (for tests and metrics). */
  readonly counts = new Map<number, number>();

  constructor(private readonly options: RestServerOptions) {
    this.auth = options.auth ?? true;
    const perSecond = options.rateLimit ?? 50;
    this.limiter = new RateLimiter(perSecond, perSecond * 2);
    const base = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
    this.log = (l) =>
      base(redactText(l, collectSecrets(options.store.listConfigs().map((c) => c.config))));
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.requestTimeout = 30_000;
    this.server.headersTimeout = 10_000;
    this.server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.log(
      `REST API on http://${host}:${bound}${this.auth ? '' : ' — AUTHENTICATION OFF (--auth none): every request is admin'}`,
    );
    return bound;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = req.method ?? 'GET';
    let path = '?';
    try {
      const url = splitUrl(req.url ?? '/');
      path = url.path;
      const wait = this.limiter.take(req.socket.remoteAddress ?? '?');
      if (wait > 0)
        throw new HttpError(429, `too many requests; retry in ${wait} s`, { retryAfter: wait });
      if (method === 'GET' && (path === '/' || path === '')) {
        sendJson(res, 200, {
          version: TRIBUTARY_VERSION,
          commit: '',
          kafka_cluster_id: null,
          worker_id: this.options.workerId ?? null,
        });
        return this.done(method, path, 200, started);
      }
      if (method === 'GET' && path === '/openapi.json') {
        sendJson(res, 200, openApiDocument());
        return this.done(method, path, 200, started);
      }
      const role = await this.authenticate(req);
      const { route, args } = this.lookup(method, path);
      if (!allows(role, route.role))
        throw new HttpError(
          403,
          `role ${role} may not ${method} ${route.path} (needs ${route.role})`,
        );
      await this.options.store.sync(5_000).catch((err: unknown) => {
        throw unavailable(err);
      });
      const reply = await route.handle({
        req,
        params: url.params,
        args,
        store: this.options.store,
        cluster: this.options.cluster,
      });
      if (reply.body === undefined) sendJson(res, reply.status, undefined, reply.headers);
      else sendJson(res, reply.status, reply.body, reply.headers);
      this.done(method, path, reply.status, started);
    } catch (err) {
      const e = toHttpError(err);
      if (e.status >= 500 && e.status !== 503)
        this.log(
          `REST ${method} ${path} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
        );
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
      this.done(method, path, e.status, started);
      // Unread request bodies would otherwise keep the connection busy.
      if (!req.complete) req.resume();
    }
  }

  private async authenticate(req: IncomingMessage): Promise<Role> {
    if (!this.auth) return 'admin';
    const token = bearerToken(req.headers.authorization);
    if (!token)
      throw new HttpError(401, 'missing bearer token (Authorization: Bearer <token>)', {
        headers: { 'www-authenticate': 'Bearer' },
      });
    // Tokens live in the control topic: without it nobody can be told apart.
    await this.options.store.sync(5_000).catch((err: unknown) => {
      throw unavailable(err);
    });
    const role = this.options.store.verifyToken(token);
    if (!role)
      throw new HttpError(401, 'invalid or revoked token', {
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      });
    return role;
  }

  private lookup(method: string, path: string): { route: Route; args: string[] } {
    let pathMatched = false;
    for (const c of compiled) {
      const m = c.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (c.route.method !== method) continue;
      const args = m.slice(1).map((a) => {
        try {
          return decodeURIComponent(a);
        } catch {
          throw new HttpError(400, 'malformed percent-encoding in the path');
        }
      });
      return { route: c.route, args };
    }
    if (pathMatched) throw new HttpError(405, `method ${method} not allowed on ${path}`);
    throw new HttpError(404, `no such resource: ${path}`);
  }

  private done(method: string, path: string, status: number, started: number): void {
    this.counts.set(status, (this.counts.get(status) ?? 0) + 1);
    this.log(`REST ${method} ${path} ${status} ${Date.now() - started}ms`);
  }
}

function splitUrl(raw: string): { path: string; params: URLSearchParams } {
  const q = raw.indexOf('?');
  const path = (q < 0 ? raw : raw.slice(0, q)).replace(/\/{2,}/g, '/');
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
  } catch {
    throw new HttpError(400, 'malformed query string');
  }
  return { path, params };
}

function unavailable(err: unknown): HttpError {
  const why = err instanceof Error ? err.message : String(err);
  return new HttpError(503, `Kafka is unreachable: ${why}`, { retryAfter: 5 });
}

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof TributaryError && (err.retryable || err.code === 'KAFKA_ERROR'))
    return unavailable(err);
  return new HttpError(500, 'internal error (logged on the worker)');
}
