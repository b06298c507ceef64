#!/usr/bin/env node
// Entry point of the `tributary` CLI. The sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api';

// tsx's loader hooks make every module load slower, dependencies included (the Kafka client
// takes ~0.7 s through them, ~0.35 s without). Commands that reach Kafka load the large
// dependencies first, before the hooks are registered; help, version and validate do not.
const [command] = process.argv.slice(2);
const light = [undefined, 'help', '--help', '-h', 'version', '--version', 'validate'];
if (!light.includes(command) && !process.argv.includes('--help'))
  await Promise.all([import('@platformatic/kafka'), import('zod'), import('pg')]);

register();
const { main } = await import('../topology/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
