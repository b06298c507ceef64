/**
 * Generates docs/topology-reference.md from the topology schema (through its JSON Schema), so
 * the reference cannot drift from what validation accepts. Regenerate with
 *   node --import tsx topology/spec/docs.ts
 * (test/unit/topology/docs.test.ts fails when the committed file is out of date).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { builtins } from '../../processors/builtins/index.ts';
import { TOPOLOGY_VERSION, topologySchema } from './schema.ts';

interface Json {
  type?: string | string[];
  properties?: Record<string, Json>;
  required?: string[];
  items?: Json;
  anyOf?: Json[];
  oneOf?: Json[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minItems?: number;
  minLength?: number;
  maxLength?: number;
  additionalProperties?: Json | boolean;
}

const COMPONENT_DOCS: Record<string, string> = {
  'sources[] (type: postgres)': '[docs/capture-postgres.md](capture-postgres.md)',
  'processors[]': '[docs/processors.md](processors.md)',
  'sinks[]': '[docs/sinks.md](sinks.md)',
};

export const REFERENCE_PATH = fileURLToPath(
  new URL('../../docs/topology-reference.md', import.meta.url),
);

function toJson(schema: z.ZodType): Json {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
}

function typeOf(j: Json): string {
  if (j.const !== undefined) return `\`${JSON.stringify(j.const)}\``;
  if (j.enum) return j.enum.map((v) => `\`${String(v)}\``).join(' | ');
  const variants = j.anyOf ?? j.oneOf;
  if (variants) return [...new Set(variants.map(typeOf))].join(' | ');
  if (j.type === 'array') return `list of ${j.items ? typeOf(j.items) : 'values'}`;
  if (j.type === 'object' && !j.properties && j.additionalProperties)
    return `map of ${typeof j.additionalProperties === 'object' ? typeOf(j.additionalProperties) : 'values'}`;
  if (j.type === 'object') return 'mapping';
  if (Array.isArray(j.type)) return j.type.join(' | ');
  return j.type ?? 'any';
}

function constraints(j: Json): string {
  const c: string[] = [];
  if (j.pattern) c.push(`pattern \`${j.pattern}\``);
  if (j.minimum !== undefined && j.minimum > -Number.MAX_SAFE_INTEGER) c.push(`≥ ${j.minimum}`);
  if (j.exclusiveMinimum !== undefined) c.push(`> ${j.exclusiveMinimum}`);
  if (j.maximum !== undefined && j.maximum < Number.MAX_SAFE_INTEGER) c.push(`≤ ${j.maximum}`);
  if (j.minItems) c.push(`at least ${j.minItems}`);
  if (j.maxLength !== undefined) c.push(`length ≤ ${j.maxLength}`);
  return c.join(', ');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** Sections: one table per object, nested objects and list items get their own section. */
function render(path: string, j: Json, out: string[]): void {
  const variants = j.anyOf ?? j.oneOf;
  if (variants && variants.every((v) => v.type === 'object')) {
    for (const v of variants) {
      const tag = Object.entries(v.properties ?? {}).find(([, p]) => p.const !== undefined);
      const req = v.required?.[0];
      render(
        tag ? `${path} (${tag[0]}: ${String(tag[1].const)})` : req ? `${path} (with ${req})` : path,
        v,
        out,
      );
    }
    return;
  }
  if (j.type === 'array' && j.items) return render(`${path}[]`, j.items, out);
  if (j.type !== 'object' || !j.properties) return;
  out.push(`### \`${path || '(top level)'}\``, '');
  if (j.description) out.push(j.description, '');
  if (COMPONENT_DOCS[path]) out.push(`Behaviour and more detail: ${COMPONENT_DOCS[path]}.`, '');
  out.push('| key | type | required / default | description |', '|---|---|---|---|');
  const nested: Array<[string, Json]> = [];
  for (const [key, p] of Object.entries(j.properties)) {
    const required = j.required?.includes(key) && p.default === undefined;
    const dflt =
      p.default !== undefined
        ? `default \`${JSON.stringify(p.default)}\``
        : required
          ? '**required**'
          : 'optional';
    const desc = [p.description ?? '', constraints(p)].filter(Boolean).join(' ');
    out.push(`| \`${key}\` | ${cell(typeOf(p))} | ${dflt} | ${cell(desc)} |`);
    const inner = p.type === 'array' ? p.items : p;
    if (
      inner &&
      (inner.properties || (inner.anyOf ?? inner.oneOf)?.some((v) => v.type === 'object'))
    )
      nested.push([path ? `${path}.${key}` : key, p]);
  }
  out.push('');
  for (const [p, child] of nested) render(p, child, out);
}

export function renderReference(): string {
  const out: string[] = [
    '# Topology file reference',
    '',
    '<!-- Generated from topology/spec/schema.ts by `node --import tsx topology/spec/docs.ts`; do not edit by hand. -->',
    '',
    `A topology file is YAML (or JSON) with \`version: ${TOPOLOGY_VERSION}\`. How to use it: [docs/topology.md](topology.md).`,
    'Any string may be a secret reference — `${env:NAME}` or `${file:/path}` — resolved only when a',
    'task starts. Unknown keys are errors (with the nearest valid key suggested).',
    '',
  ];
  render('', toJson(topologySchema), out);
  out.push(
    '## Built-in processors',
    '',
    `A chain entry \`{ builtin: <name>, config }\` names one of: ${Object.keys(builtins)
      .map((b) => `\`${b}\``)
      .join(
        ', ',
      )}. Each \`config\` is validated with that built-in's own schema when the topology is validated; their options are described in [docs/processors.md](processors.md).`,
    '',
  );
  return `${out.join('\n').trimEnd()}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(REFERENCE_PATH, renderReference());
  console.log(`wrote ${REFERENCE_PATH}`);
}
