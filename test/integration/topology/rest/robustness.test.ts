// Robustness: a few thousand random and malformed requests (bounded, loopback only) — random
// methods, paths, query strings, headers, tokens, JSON/YAML/garbage bodies, Debezium-shaped
// configs with random keys and values, and raw garbage on the socket. The server must never
// answer 5xx and must keep serving.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { ensureServices } from '../../helpers.ts';
import { debeziumConfig, RestHarness } from './helpers.ts';

let h: RestHarness;

before(async () => {
  ensureServices('kafka');
  h = new RestHarness();
  await h.start();
});

after(async () => {
  await h.close();
});

// A seeded generator so a failure can be replayed (the seed is printed on failure).
function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}

const SEGMENTS = [
  'connectors',
  'topologies',
  'workers',
  'config',
  'status',
  'restart',
  'pause',
  'resume',
  'tasks',
  'openapi.json',
  '',
  '..',
  '%00',
  '%E0%A4%A',
  '%2F',
  'orders',
  'x'.repeat(300),
  '😀',
  '{name}',
];
const ROUTES = [
  'GET /connectors',
  'POST /connectors',
  'GET /connectors/{n}',
  'DELETE /connectors/{n}',
  'GET /connectors/{n}/config',
  'PUT /connectors/{n}/config',
  'GET /connectors/{n}/status',
  'GET /connectors/{n}/tasks',
  'POST /connectors/{n}/restart',
  'PUT /connectors/{n}/pause',
  'PUT /connectors/{n}/resume',
  'GET /topologies',
  'POST /topologies',
  'GET /topologies/{n}',
  'PUT /topologies/{n}',
  'DELETE /topologies/{n}',
  'GET /topologies/{n}/status',
  'POST /topologies/{n}/restart',
  'PUT /topologies/{n}/pause',
  'PUT /topologies/{n}/resume',
  'GET /workers',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
const KEYS = [
  'connector.class',
  'database.hostname',
  'database.port',
  'database.password',
  'table.include.list',
  'snapshot.mode',
  'transforms',
  'transforms.r.type',
  'tasks.max',
  'value.converter.schemas.enable',
  'name',
  '__proto__',
  'constructor',
  '',
];

function randomValue(r: ReturnType<typeof rng>, depth = 0): unknown {
  switch (r.int(depth > 2 ? 5 : 8)) {
    case 0:
      return null;
    case 1:
      return r.next() < 0.5;
    case 2:
      return r.pick([0, -1, 1e308, 5432, Number.MAX_SAFE_INTEGER, 3.5]);
    case 3:
      return r.pick([
        '',
        'x',
        'true',
        '5432',
        'public.orders',
        'a,b,,c',
        '${env:NOPE}',
        '\u0000',
        '.*',
      ]);
    case 4:
      return 'y'.repeat(r.int(2000));
    case 5:
      return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    default:
      return Object.fromEntries(
        Array.from({ length: r.int(6) }, () => [r.pick(KEYS), randomValue(r, depth + 1)]),
      );
  }
}

function randomBody(r: ReturnType<typeof rng>): { raw?: string; type?: string } {
  switch (r.int(8)) {
    case 0:
      return {};
    case 1:
      return { raw: JSON.stringify(randomValue(r)) };
    case 2:
    case 7: {
      const cfg: Record<string, unknown> = debeziumConfig();
      for (let i = r.int(3); i > 0; i--) cfg[r.pick(KEYS)] = randomValue(r, 2);
      return { raw: JSON.stringify(r.next() < 0.5 ? cfg : { name: `c${r.int(40)}`, config: cfg }) };
    }
    case 3:
      return { raw: '{"name": "x", "config": {'.slice(0, r.int(26)) };
    case 4:
      return { raw: 'version: 1\nname: t\nsources: [', type: 'application/yaml' };
    case 5:
      return {
        raw: `version: 1\nname: t${r.int(5)}\nsources:\n  - {name: s, type: postgres, connection: {database: d, user: u}, tables: [public.a]}\n`,
        type: 'application/yaml',
      };
    default:
      return {
        raw: Buffer.from(Array.from({ length: r.int(200) }, () => r.int(256))).toString('latin1'),
      };
  }
}

test('3,000 random and malformed requests: never a 5xx, and the server keeps answering', async () => {
  const seed = Date.now() % 1_000_000;
  const r = rng(seed);
  const statuses = new Map<number, number>();
  const fivexx: string[] = [];
  const total = 3_000;
  let next = 0;
  for (const n of ['c1', 'c2'])
    assert.equal(
      (await h.call('PUT', `/connectors/${n}/config`, { body: debeziumConfig() })).status,
      201,
    );
  const topology = `version: 1\nname: t1\nsources:\n  - {name: s, type: postgres, connection: {database: d, user: u}, tables: [public.a]}\n`;
  const t1 = await h.call('PUT', '/topologies/t1', {
    raw: topology,
    headers: { 'content-type': 'application/yaml' },
  });
  assert.equal(t1.status, 201, t1.text);
  const worker = async () => {
    while (next < total) {
      next++;
      let method = r.pick(METHODS);
      let path: string;
      if (r.next() < 0.7) {
        const name = r.pick([
          'c1',
          'c1',
          'c2',
          'c2',
          't1',
          't1',
          'c3',
          '%2e%2e',
          'a%20b',
          'x'.repeat(200),
        ]);
        const [m, template] = r.pick(ROUTES).split(' ') as [string, string];
        method = m;
        path = template.replace('{n}', name);
      } else path = `/${Array.from({ length: 1 + r.int(4) }, () => r.pick(SEGMENTS)).join('/')}`;
      if (r.next() < 0.3)
        path += `?${r.pick(['includeTasks', 'onlyFailed', 'expand', '%zz', '&&=', 'a'])}=${r.pick(['true', 'false', 'status', 'maybe', '%', ''])}`;
      const headers: Record<string, string> = {};
      const auth = r.int(6);
      if (auth === 0 || auth >= 4) headers.authorization = `Bearer ${h.tokens.admin}`;
      else if (auth === 1) headers.authorization = `Bearer ${h.tokens.viewer}`;
      else if (auth === 2)
        headers.authorization = r.pick([
          'Bearer',
          'Basic x',
          'Bearer trb_zz.zz',
          'bearer   ',
          'x'.repeat(500),
        ]);
      if (r.next() < 0.2)
        headers['if-match'] = r.pick(['"1"', '*', 'W/"2"', 'nope', '"99999999999999999999"']);
      const body = method === 'GET' || method === 'HEAD' ? {} : randomBody(r);
      if (body.raw !== undefined)
        headers['content-type'] = body.type ?? r.pick(['application/json', 'text/plain', '']);
      let status: number;
      try {
        const res = await fetch(h.base + path, {
          method,
          headers,
          ...(body.raw !== undefined ? { body: body.raw } : {}),
        });
        await res.arrayBuffer();
        status = res.status;
      } catch (err) {
        // fetch refuses some inputs itself (e.g. invalid header values): not a server answer.
        if (/Headers|header|Invalid/i.test(String((err as Error).cause ?? err))) continue;
        throw err;
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status >= 500)
        fivexx.push(`${status} ${method} ${path} ${body.raw?.slice(0, 200) ?? ''}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));

  // Raw garbage on the socket: the server answers 400 (or closes), never crashes.
  for (let i = 0; i < 200; i++) {
    const garbage = Buffer.from(Array.from({ length: 1 + r.int(300) }, () => r.int(256)));
    const prefix =
      r.next() < 0.5 ? Buffer.from(`${r.pick(METHODS)} /connectors HTTP/1.1\r\n`) : Buffer.alloc(0);
    const reply = await rawRequest(
      h.base,
      Buffer.concat([prefix, garbage, Buffer.from('\r\n\r\n')]),
    );
    const m = /^HTTP\/1\.1 (\d{3})/.exec(reply);
    if (m) {
      const s = Number(m[1]);
      statuses.set(s, (statuses.get(s) ?? 0) + 1);
      if (s >= 500) fivexx.push(`${s} raw ${garbage.toString('hex').slice(0, 80)}`);
    }
  }

  // A conflict the random mix may not produce (it depends on the seed and on timing): creating
  // a connector whose name exists.
  for (let i = 0; i < 2; i++) {
    const res = await h.call('POST', '/connectors', {
      body: { name: 'c409', config: debeziumConfig() },
    });
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    assert.equal(res.status, i === 0 ? 201 : 409, res.text);
  }

  const summary = [...statuses]
    .sort((a, b) => a[0] - b[0])
    .map(([s, n]) => `${s}:${n}`)
    .join(' ');
  console.log(`seed ${seed}: ${summary}`);
  assert.deepEqual(fivexx.slice(0, 5), [], `seed ${seed}: 5xx answers (${fivexx.length})`);
  assert.equal(h.server.counts.get(500) ?? 0, 0);
  for (const s of [200, 201, 202, 204, 400, 401, 403, 404, 405, 409, 422])
    assert.ok((statuses.get(s) ?? 0) > 0, `saw ${s}: ${summary}`);
  const health = await h.call('GET', '/connectors');
  assert.equal(health.status, 200, 'still serving');
});

function rawRequest(base: string, bytes: Buffer): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let out = '';
    const timer = setTimeout(() => socket.destroy(), 2_000);
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
    socket.write(bytes, () => socket.end());
  });
}
