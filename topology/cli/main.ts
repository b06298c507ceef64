// The `tributary` command line. Each command lives in its own module; this file parses the
// command name, prints help, and turns errors into a clear message and an exit code.
import { readFileSync } from 'node:fs';
import { runCommand } from './run-command.ts';

interface Command {
  summary: string;
  /** A text, or read from the command's module when that module owns it. */
  usage: string | (() => Promise<string>);
  run(args: string[]): Promise<number>;
}

type Runner = (args: string[]) => Promise<number>;

/**
 * A command whose module is loaded only when it runs: `tributary capture` does not load the
 * worker, the sinks and the processors, so it starts in a fraction of the time.
 */
function lazy<M>(load: () => Promise<M>, pick: (m: M) => Runner): Runner {
  return async (args) => pick(await load())(args);
}

const capture = () => import('./capture.ts');
const topology = () => import('./topology.ts');
const worker = () => import('../worker/cli.ts');
const token = () => import('../rest/token-cli.ts');

const COMMANDS: Record<string, Command> = {
  capture: {
    summary: 'capture one PostgreSQL source into Kafka (snapshot + streaming, exactly-once)',
    usage: 'tributary capture --config <source.yaml> [--progress-interval-ms N]',
    run: lazy(capture, (m) => m.runCapture),
  },
  demo: {
    summary: 'the e-commerce demo: run examples/ecommerce end to end and check every store',
    usage: 'tributary demo [--customers N] [--orders N] [--timeout-ms N]',
    run: lazy(
      () => import('./ecommerce-demo.ts'),
      (m) => m.runEcommerceDemoCommand,
    ),
  },
  'demo-capture': {
    summary: 'smoke-test PostgreSQL capture alone: round-trip change events through Kafka',
    usage:
      'tributary demo-capture [--customers N] [--orders N] [--brokers host:port] [--pg-host H] [--pg-port N]',
    run: lazy(
      () => import('./demo.ts'),
      (m) => m.runDemo,
    ),
  },
  validate: {
    summary: 'check a topology file: schema, names, references (no connections)',
    usage: 'tributary validate <topology.yaml>',
    run: lazy(topology, (m) => m.runValidate),
  },
  plan: {
    summary: 'show the topics, slots and publications a topology would create or change',
    usage: 'tributary plan <topology.yaml> [--no-control] [--configs-topic T] [--status-topic T]',
    run: lazy(topology, (m) => m.runPlan),
  },
  deploy: {
    summary: 'create them (idempotent) and store the topology in the control plane',
    usage: 'tributary deploy <topology.yaml> [--no-control] [--configs-topic T] [--status-topic T]',
    run: lazy(topology, (m) => m.runDeploy),
  },
  run: {
    summary: 'run a whole topology in this process (development)',
    usage: 'tributary run <topology.yaml> [--progress-interval-ms N] [--keep-going] [--no-deploy]',
    run: lazy(topology, (m) => m.runRun),
  },
  status: {
    summary: "each task's state, lag and last error",
    usage: 'tributary status <topology.yaml> [--configs-topic T] [--status-topic T]',
    run: lazy(topology, (m) => m.runStatus),
  },
  pause: {
    summary: 'pause a deployed topology (workers stop its tasks)',
    usage: 'tributary pause <topology.yaml> [--configs-topic T] [--status-topic T]',
    run: lazy(topology, (m) => m.runPause),
  },
  resume: {
    summary: 'resume a paused topology',
    usage: 'tributary resume <topology.yaml> [--configs-topic T] [--status-topic T]',
    run: lazy(topology, (m) => m.runResume),
  },
  restart: {
    summary: "restart a deployed topology's tasks",
    usage:
      'tributary restart <topology.yaml> [--only-failed] [--configs-topic T] [--status-topic T]',
    run: lazy(topology, (m) => m.runRestart),
  },
  snapshot: {
    summary: 'ad-hoc snapshot: signal a running source to re-read its tables while streaming',
    usage: 'tributary snapshot <topology.yaml> --source <name> [--tables schema.table,...]',
    run: lazy(topology, (m) => m.runSnapshot),
  },
  worker: {
    summary: 'run the tasks Kafka assigns to this worker, and the REST API (--rest-port)',
    usage: async () => (await worker()).WORKER_USAGE,
    run: lazy(worker, (m) => m.runWorker),
  },
  token: {
    summary: 'create, list or revoke REST API bearer tokens (stored hashed in Kafka)',
    usage: async () => (await token()).TOKEN_USAGE,
    run: lazy(token, (m) => m.runToken),
  },
  version: {
    summary: 'print the Tributary version',
    usage: 'tributary version',
    run: async () => {
      console.log(packageVersion());
      return 0;
    },
  },
};

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  const lines = Object.entries(COMMANDS).map(
    ([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`,
  );
  return [
    `tributary ${packageVersion()} — change-data-capture on Apache Kafka`,
    '',
    'Usage: tributary <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run `tributary <command> --help` for a command’s options.',
    'Local services: infra/up, infra/status, infra/down (see README.md).',
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  if (name === '--version') return COMMANDS.version!.run([]);
  const command = COMMANDS[name];
  if (!command) {
    console.error(
      `tributary: unknown command "${name}"; valid commands: ${Object.keys(COMMANDS).join(', ')} (see tributary --help)`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const usage = typeof command.usage === 'string' ? command.usage : await command.usage();
    console.log(`Usage: ${usage}\n\n${command.summary}`);
    return 0;
  }
  return runCommand(name, command.run, rest);
}
