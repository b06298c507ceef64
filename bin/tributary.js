#!/usr/bin/env node
// Entry point of the `tributary` CLI. The sources are TypeScript, loaded through tsx.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../topology/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
