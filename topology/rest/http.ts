/**
 * HTTP plumbing for the REST API: errors with a status code, JSON responses in Kafka Connect's
 * error shape (`{error_code, message}`), bounded body reading and parsing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import type { FieldError } from '../worker/connectors.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: {
      errors?: FieldError[];
      retryAfter?: number;
      headers?: Record<string, string>;
    } = {},
  ) {
    super(message);
  }
}

export const MAX_BODY_BYTES = 1024 * 1024;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = body === undefined ? '' : JSON.stringify(body, null, 2);
  res.writeHead(status, {
    ...(text ? { 'content-type': 'application/json' } : {}),
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, err: HttpError): void {
  const headers: Record<string, string> = { ...err.extra.headers };
  if (err.extra.retryAfter !== undefined) headers['retry-after'] = String(err.extra.retryAfter);
  const body: Record<string, unknown> = { error_code: err.status, message: err.message };
  if (err.extra.errors) body.errors = err.extra.errors;
  sendJson(res, err.status, body, headers);
}

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES)
    throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body (or YAML when `allowYaml` and the content type says so): 400 if malformed. */
export function parseBody(req: IncomingMessage, body: Buffer, allowYaml = false): unknown {
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  const text = body.toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'request body is empty; send a JSON object');
  if (allowYaml && /yaml/.test(type)) {
    try {
      return parseYaml(text);
    } catch (err) {
      throw new HttpError(400, `malformed YAML: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new HttpError(400, `malformed JSON: ${(err as Error).message}`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `true`/`false`/absent query flags; anything else is a 400. */
export function flag(params: URLSearchParams, name: string): boolean {
  const v = params.get(name);
  if (v === null || v === 'false') return false;
  if (v === 'true' || v === '') return true;
  throw new HttpError(400, `query parameter ${name} must be true or false`);
}

/** The version an If-Match header names ("3", 3, W/"3"), '*' for any, or undefined. */
export function ifMatch(req: IncomingMessage): number | '*' | undefined {
  const h = req.headers['if-match'];
  if (h === undefined) return undefined;
  const v = String(h).trim();
  if (v === '*') return '*';
  const m = /^(?:W\/)?"?(\d{1,15})"?$/.exec(v);
  if (!m)
    throw new HttpError(400, 'If-Match must be a version as returned in the ETag header, e.g. "3"');
  return Number(m[1]);
}
