/**
 * The OpenAPI 3.1 document served at /openapi.json, generated from the route table so it
 * cannot drift from what the server answers.
 */
import { TRIBUTARY_VERSION } from '../../core/version.ts';
import { PROPERTIES } from '../worker/connectors.ts';
import { ROUTES } from './routes.ts';

const error = {
  type: 'object',
  required: ['error_code', 'message'],
  properties: {
    error_code: { type: 'integer' },
    message: { type: 'string' },
    errors: {
      type: 'array',
      items: {
        type: 'object',
        properties: { field: { type: 'string' }, message: { type: 'string' } },
      },
    },
  },
};

const STATUS_TEXT: Record<number, string> = {
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  400: 'Malformed JSON/YAML, query parameter or header',
  401: 'Missing or invalid bearer token',
  403: 'The token’s role may not do this',
  404: 'Unknown connector or topology',
  405: 'Method not allowed on this path',
  409: 'Name exists, or If-Match version conflict',
  413: 'Body larger than 1 MiB',
  422: 'Invalid config: per-field errors (unsupported properties listed)',
  429: 'Rate limited: see Retry-After',
  503: 'Kafka (the control topics) unreachable: see Retry-After',
};

function successCodes(method: string, path: string): number[] {
  if (method === 'DELETE') return [204];
  if (method === 'POST' && !path.includes('{')) return [201];
  if (method === 'PUT' && /(pause|resume)$/.test(path)) return [202];
  if (path.endsWith('/validate')) return [200];
  if (method === 'PUT') return [200, 201];
  if (path.endsWith('/restart')) return path.startsWith('/connectors') ? [202, 204] : [202];
  return [200];
}

export function openApiDocument(): unknown {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of ROUTES) {
    const codes = [
      ...successCodes(r.method, r.path),
      400,
      401,
      403,
      ...(r.path.includes('{') ? [404] : []),
      ...(r.role === 'admin' && r.method !== 'DELETE' ? [409, 413, 422] : []),
      429,
      503,
    ];
    const parameters: unknown[] = [];
    if (r.path.includes('{name}'))
      parameters.push({ name: 'name', in: 'path', required: true, schema: { type: 'string' } });
    if (r.path.endsWith('/restart'))
      for (const q of ['includeTasks', 'onlyFailed'])
        parameters.push({ name: q, in: 'query', schema: { type: 'boolean', default: false } });
    if (r.method === 'PUT' && !/(pause|resume)$/.test(r.path))
      parameters.push({
        name: 'If-Match',
        in: 'header',
        schema: { type: 'string', example: '"3"' },
      });
    (paths[r.path] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      description: `Requires role ${r.role} (viewer < operator < admin).`,
      security: [{ bearer: [] }],
      parameters,
      ...(r.method === 'POST' || (r.method === 'PUT' && !/(pause|resume)$/.test(r.path))
        ? {
            requestBody: {
              required: !r.path.endsWith('/restart'),
              content: {
                'application/json': {
                  schema:
                    r.path === '/connectors'
                      ? {
                          type: 'object',
                          required: ['name', 'config'],
                          properties: {
                            name: { type: 'string' },
                            config: { $ref: '#/components/schemas/ConnectorConfig' },
                          },
                        }
                      : r.path.startsWith('/connector')
                        ? { $ref: '#/components/schemas/ConnectorConfig' }
                        : {
                            type: 'object',
                            description: 'A topology (docs/topology-reference.md)',
                          },
                },
                ...(r.path.startsWith('/topologies')
                  ? { 'application/yaml': { schema: { type: 'object' } } }
                  : {}),
              },
            },
          }
        : {}),
      responses: Object.fromEntries(
        codes.map((c) => [
          String(c),
          {
            description: STATUS_TEXT[c] ?? '',
            ...(c >= 400
              ? {
                  content: {
                    'application/json': { schema: { $ref: '#/components/schemas/Error' } },
                  },
                }
              : {}),
          },
        ]),
      ),
    };
  }
  paths['/'] = {
    get: {
      summary: 'Version of the worker',
      security: [],
      responses: { '200': { description: 'OK' } },
    },
  };
  paths['/openapi.json'] = {
    get: { summary: 'This document', security: [], responses: { '200': { description: 'OK' } } },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tributary worker REST API',
      version: TRIBUTARY_VERSION,
      description:
        'Kafka Connect compatible connector management plus whole topologies. Secrets are never returned ([hidden]).',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: error,
        ConnectorConfig: {
          type: 'object',
          description: 'Debezium PostgreSQL connector properties; any other property is a 422.',
          properties: Object.fromEntries(
            Object.entries(PROPERTIES).map(([k, p]) => [k, { type: 'string', description: p.doc }]),
          ),
        },
      },
    },
    paths,
  };
}
