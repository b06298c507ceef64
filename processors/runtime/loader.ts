import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../../core/errors/index.ts';
import { isProcessorDefinition } from '../api/index.ts';
import type { ErrorPolicy, ProcessorDefinition } from '../api/index.ts';
import { builtins } from '../builtins/index.ts';
import type { ChainNode } from './chain.ts';
import type { ProcessorEntry } from './config.ts';
import { zodToConfigError } from './config.ts';

/** A processor as given to the test kit: a definition, or a config entry. */
export type ProcessorSpec =
  ProcessorDefinition | ProcessorEntry | { definition: ProcessorDefinition; errors?: ErrorPolicy };

/** Resolves config entries to chain nodes: built-ins by name, modules by path (loaded now). */
export async function loadProcessors(
  entries: ProcessorSpec[],
  defaultPolicy: ErrorPolicy,
  baseDir = process.cwd(),
): Promise<ChainNode[]> {
  const nodes: ChainNode[] = [];
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const path = `processors[${i}]`;
    if (
      isProcessorDefinition(e) ||
      (typeof (e as unknown as ProcessorDefinition).process === 'function' && 'name' in e)
    ) {
      nodes.push({ definition: e as unknown as ProcessorDefinition, policy: defaultPolicy });
    } else if ('definition' in e) {
      nodes.push({ definition: e.definition, policy: e.errors ?? defaultPolicy });
    } else if ('builtin' in e) {
      nodes.push({
        definition: createBuiltin(e.builtin, e.config, path),
        policy: e.errors ?? defaultPolicy,
      });
    } else if ('module' in e) {
      nodes.push({
        definition: await loadModule(e.module, e.config, `${path}.module`, baseDir),
        policy: e.errors ?? defaultPolicy,
      });
    } else {
      throw new ConfigError(path, 'expected { builtin, config } or { module, config }');
    }
    const rename = (e as { name?: unknown }).name;
    if (('builtin' in e || 'module' in e) && typeof rename === 'string') {
      // Same methods, another name: an own `name` over the definition as prototype.
      const node = nodes[nodes.length - 1]!;
      node.definition = Object.assign(Object.create(node.definition) as ProcessorDefinition, {
        name: rename,
      });
    }
  }
  const names = new Set<string>();
  for (const [i, n] of nodes.entries()) {
    if (names.has(n.definition.name))
      throw new ConfigError(
        `processors[${i}]`,
        `a second processor is named "${n.definition.name}"; names must be unique in a chain (give it another \`name\`)`,
      );
    names.add(n.definition.name);
  }
  return nodes;
}

export function createBuiltin(name: string, config: unknown, path: string): ProcessorDefinition {
  const spec = builtins[name];
  if (!spec) {
    const near = Object.keys(builtins).find((b) => b.startsWith(name.slice(0, 3)));
    throw new ConfigError(
      `${path}.builtin`,
      `unknown built-in "${name}"${near ? ` — did you mean "${near}"?` : ''}; built-ins: ${Object.keys(builtins).join(', ')}`,
    );
  }
  const parsed = spec.schema.safeParse(config ?? {});
  if (!parsed.success) throw zodToConfigError(parsed.error, `${path}.config`);
  return spec.create(parsed.data as never);
}

export async function loadModule(
  modulePath: string,
  config: unknown,
  path: string,
  baseDir: string,
): Promise<ProcessorDefinition> {
  const file = resolve(baseDir, modulePath);
  if (!existsSync(file))
    throw new ConfigError(
      path,
      `cannot load processor module "${modulePath}": no such file (${file})`,
    );
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(
      path,
      `cannot load processor module "${modulePath}": ${(err as Error).message}`,
      { cause: err },
    );
  }
  let exported = mod.default ?? mod.processor;
  if (typeof exported === 'function') {
    try {
      exported = (exported as (c: unknown) => unknown)(config);
    } catch (err) {
      throw new ConfigError(
        path,
        `processor factory of "${modulePath}" threw: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  if (!isProcessorDefinition(exported))
    throw new ConfigError(
      path,
      `module "${modulePath}" does not export a processor: expected a default export made with defineProcessor({ name, process }) (or a factory returning one); exports: ${Object.keys(mod).join(', ') || '(none)'}`,
    );
  return exported;
}
