/**
 * Validation of a topology: the schema (types, required fields, unknown keys), then what a
 * schema cannot see — duplicate names, references to topics nothing produces or declares,
 * unknown built-in processors and their configs, missing processor modules. Every problem
 * names its exact path and, where one is close, the name that was probably meant. Secrets
 * stay unresolved here (a stored topology carries references, not values); inline secrets are
 * reported as warnings.
 */
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { nearest, readConfigFile } from '../../core/config/index.ts';
import { ConfigError } from '../../core/errors/index.ts';
import { builtins } from '../../processors/builtins/index.ts';
import { formatIssues, formatPath } from './issues.ts';
import type { Path } from './issues.ts';
import { topologySchema } from './schema.ts';
import type { Topology } from './schema.ts';
import {
  processorAppId,
  processorDlqTopic,
  sinkDlqTopic,
  sourceNames,
  sourceTopics,
} from './tasks.ts';

export interface TopologyCheck {
  /** Set when there are no problems. */
  topology?: Topology;
  problems: string[];
  warnings: string[];
}

export interface CheckOptions {
  /** Directory processor module paths are relative to (default: cwd). */
  baseDir?: string;
}

/** Validates without throwing: every problem and warning, one line each. */
export function checkTopology(input: unknown, options: CheckOptions = {}): TopologyCheck {
  const warnings = inlineSecretWarnings(input);
  const parsed = topologySchema.safeParse(input);
  if (!parsed.success)
    return { problems: formatIssues(topologySchema, parsed.error.issues, input), warnings };
  const t = parsed.data;
  const problems = [
    ...duplicateNames(t),
    ...chainProblems(t, options.baseDir ?? process.cwd()),
    ...danglingTopics(t),
  ];
  return problems.length ? { problems, warnings } : { topology: t, problems, warnings };
}

/** Validates and returns the topology with defaults applied; throws one ConfigError listing every problem. */
export function parseTopology(input: unknown, options: CheckOptions = {}): Topology {
  const r = checkTopology(input, options);
  if (r.topology) return r.topology;
  throw problemsError(r.problems);
}

export function problemsError(problems: string[], prefix = ''): ConfigError {
  const message =
    problems.length === 1
      ? problems[0]!
      : `${problems.length} problems:\n  ${problems.join('\n  ')}`;
  return new ConfigError(prefix, message, { details: { problems } });
}

/** Reads a topology file (YAML or JSON) and validates it; module paths are relative to the file. */
export function readTopologyFile(path: string): Topology {
  return parseTopology(readConfigFile(path), { baseDir: dirname(resolve(path)) });
}

function duplicateNames(t: Topology): string[] {
  const out: string[] = [];
  const seen = new Map<string, string>();
  const claim = (key: string, label: string, where: string, what: string) => {
    const first = seen.get(key);
    if (first) out.push(`${where}: duplicate ${what} ${JSON.stringify(label)} (first at ${first})`);
    else seen.set(key, where);
  };
  t.sources.forEach((s, i) => claim(`c:${s.name}`, s.name, `sources[${i}].name`, 'name'));
  t.processors.forEach((p, i) => claim(`c:${p.name}`, p.name, `processors[${i}].name`, 'name'));
  t.sinks.forEach((s, i) => claim(`c:${s.name}`, s.name, `sinks[${i}].name`, 'name'));
  t.topics.forEach((x, i) => claim(`t:${x.name}`, x.name, `topics[${i}].name`, 'topic'));
  t.sources.forEach((s, i) => {
    const n = sourceNames(s);
    claim(`s:${n.slot}`, n.slot, `sources[${i}]${s.slot ? '.slot' : ''}`, 'replication slot');
    claim(
      `p:${s.connection.host}:${s.connection.port}/${s.connection.database}/${n.publication}`,
      n.publication,
      `sources[${i}]${s.publication ? '.publication' : ''}`,
      'publication',
    );
  });
  return out;
}

function chainProblems(t: Topology, baseDir: string): string[] {
  const out: string[] = [];
  const names = Object.keys(builtins);
  t.processors.forEach((p, i) =>
    p.chain.forEach((entry, j) => {
      const where = `processors[${i}].chain[${j}]`;
      if ('builtin' in entry) {
        const spec = builtins[entry.builtin];
        if (!spec) {
          const hint = nearest(entry.builtin, names);
          out.push(
            `${where}.builtin: unknown built-in processor "${entry.builtin}"${hint ? ` — did you mean "${hint}"?` : ''}; built-ins: ${names.join(', ')}`,
          );
          return;
        }
        const r = spec.schema.safeParse(entry.config ?? {});
        if (!r.success)
          out.push(
            ...formatIssues(spec.schema, r.error.issues, entry.config ?? {}, [
              'processors',
              i,
              'chain',
              j,
              'config',
            ] as Path),
          );
      } else if (!existsSync(resolve(baseDir, entry.module))) {
        out.push(
          `${where}.module: file ${JSON.stringify(entry.module)} not found (relative to ${baseDir})`,
        );
      }
    }),
  );
  return out;
}

/** Topics produced or declared in the topology: exact names and name patterns. */
export function knownTopics(t: Topology): { exact: Set<string>; patterns: RegExp[] } {
  const exact = new Set<string>(t.topics.map((x) => x.name));
  const patterns: RegExp[] = [];
  for (const s of t.sources) {
    const st = sourceTopics(s);
    st.exact.forEach((x) => exact.add(x));
    st.prefixes.forEach((p) => patterns.push(new RegExp(`^${escapeRe(p)}[^.]+$`)));
  }
  for (const p of t.processors) {
    if (p.output) exact.add(p.output);
    exact.add(processorDlqTopic(t, p));
    for (const e of p.chain) {
      if (!('builtin' in e) || e.builtin !== 'route') continue;
      const c = (e.config ?? {}) as {
        topic?: string;
        byField?: { topics?: Record<string, string>; default?: string };
        byTable?: Record<string, string>;
      };
      Object.values(c.byTable ?? {}).forEach((x) => exact.add(x));
      Object.values(c.byField?.topics ?? {}).forEach((x) => exact.add(x));
      if (c.byField?.default) exact.add(c.byField.default);
      if (c.topic)
        patterns.push(
          new RegExp(
            `^${c.topic
              .split(/\{[^}]+\}/)
              .map(escapeRe)
              .join('[A-Za-z0-9._-]*')}$`,
          ),
        );
    }
  }
  for (const s of t.sinks) exact.add(sinkDlqTopic(t, s));
  return { exact, patterns };
}

function danglingTopics(t: Topology): string[] {
  const known = knownTopics(t);
  const out: string[] = [];
  const check = (topic: string, where: string, role: string) => {
    if (known.exact.has(topic) || known.patterns.some((re) => re.test(topic))) return;
    const hint = nearest(topic, [...known.exact]);
    out.push(
      `${where}: topic ${JSON.stringify(topic)} is not produced by any source or processor nor declared under topics${hint ? ` — did you mean "${hint}"?` : ''} (${role})`,
    );
  };
  t.processors.forEach((p, i) => {
    p.inputs.forEach((x, j) => check(x, `processors[${i}].inputs[${j}]`, 'processor input'));
    p.chain.forEach((e, j) => {
      if ('builtin' in e && e.builtin === 'join') {
        const table = (e.config as { table?: unknown } | undefined)?.table;
        if (typeof table === 'string')
          check(table, `processors[${i}].chain[${j}].config.table`, 'join table topic');
      }
    });
    if (p.output && p.inputs.includes(p.output))
      out.push(
        `processors[${i}].output: "${p.output}" is also an input of ${processorAppId(t, p)}; that would loop forever`,
      );
  });
  t.sinks.forEach((s, i) =>
    s.topics.forEach((x, j) => check(x, `sinks[${i}].topics[${j}]`, 'sink input')),
  );
  return out;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const SECRET_KEY = /(^|_|-)(password|passwd|secret|token|key)$/i;

/** Inline secrets (a literal password instead of `${env:...}`/`${file:...}`): warnings, not errors. */
export function inlineSecretWarnings(input: unknown, path: Path = []): string[] {
  if (typeof input === 'string') {
    const key = path[path.length - 1];
    const isRef = /\$\{(env|file):[^}]+\}/.test(input);
    if (
      typeof key === 'string' &&
      SECRET_KEY.test(key) &&
      (key !== 'key' || path.includes('tls')) &&
      input &&
      !isRef
    )
      return [
        `${formatPath(path)}: inline secret; reference it instead: \${env:NAME} or \${file:/path}`,
      ];
    const url = /^[a-z][a-z0-9+.-]*:\/\/[^/:@\s]+:([^@\s]+)@/i.exec(input);
    if (url && !/\$\{(env|file):/.test(url[1]!))
      return [
        `${formatPath(path)}: password inline in the URL; reference it instead: \${env:NAME} or \${file:/path}`,
      ];
    return [];
  }
  if (Array.isArray(input)) return input.flatMap((v, i) => inlineSecretWarnings(v, [...path, i]));
  if (input && typeof input === 'object')
    return Object.entries(input).flatMap(([k, v]) => inlineSecretWarnings(v, [...path, k]));
  return [];
}
