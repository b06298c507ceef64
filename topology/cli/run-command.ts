// Runs one CLI command and turns its errors into a clear message and an exit code.
import { TributaryError } from '../../core/errors/index.ts';

export async function runCommand(
  name: string,
  run: (args: string[]) => Promise<number>,
  args: string[],
): Promise<number> {
  try {
    return await run(args);
  } catch (err) {
    if (err instanceof TributaryError) {
      console.error(`tributary ${name}: ${err.message} [${err.code}]`);
      return err.code === 'CONFIG_INVALID' ? 2 : 1;
    }
    console.error(`tributary ${name}: unexpected error`, err);
    return 1;
  }
}
