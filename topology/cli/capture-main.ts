// `tributary capture` on its own, for bin/tributary.js to load as one prebuilt bundle
// (bin/bundle.mjs): the capture command and the CLI's error handling, none of the other
// commands. `main` takes the whole argument list, like main.ts's.
import { runCapture } from './capture.ts';
import { runCommand } from './run-command.ts';

export function main(argv: string[]): Promise<number> {
  return runCommand('capture', runCapture, argv.slice(1));
}
