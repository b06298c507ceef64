// Minimal `--name value` option parsing with errors that name the option.
import { ConfigError } from '../../core/errors/index.ts';

export function parseOptions(
  args: string[],
  known: Record<string, 'string' | 'int'>,
): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m || !(m[1]! in known)) {
      throw new ConfigError(
        arg,
        `unknown option; valid options: ${Object.keys(known)
          .map((k) => `--${k}`)
          .join(', ')}`,
      );
    }
    const name = m[1]!;
    const raw = m[2] ?? args[++i];
    if (raw === undefined) throw new ConfigError(`--${name}`, 'needs a value');
    if (known[name] === 'int') {
      const n = Number(raw);
      if (!Number.isInteger(n) || n <= 0)
        throw new ConfigError(`--${name}`, `must be a positive integer, got "${raw}"`);
      out[name] = n;
    } else out[name] = raw;
  }
  return out;
}
