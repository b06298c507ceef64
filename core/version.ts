import { readFileSync } from 'node:fs';

/** Tributary's version (package.json), shown in `source.version` of every change event. */
export const TRIBUTARY_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;
